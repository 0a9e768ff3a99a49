"""Mutation fuzzing of ``restore``: damaged MP4s (H.264 + AAC) end with exit 0, 3 or 4,
no traceback, one error line on failure, and nothing left at OUTPUT or beside it.

Measured on two shared cores: a mutant in a process of its own took 2 s idle and up to
10 s under load (mostly start-up: importing torch), in this process 0.3-2 s. So the CI run
restores 15 mutants in this process and 3 more as ``python -m filmcolor`` processes, as a
user runs it (a crash, a hang or a traceback at exit shows only there): 45 s under load.
The longer run is ``python tools/fuzz_media.py --mutants 60``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TEST_RENDER

from tools import fuzz_media

#: Mutants per CI run (seed 0): restored in this process, and as processes of their own.
IN_PROCESS = range(15)
AS_PROCESSES = range(15, 18)


@pytest.fixture(scope="module")
def seed_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return fuzz_media.make_seed(tmp_path_factory.mktemp("fuzz") / "seed.mp4").read_bytes()


def test_mutations_are_deterministic_and_change_the_file(seed_clip: bytes) -> None:
    a = [fuzz_media.mutate(seed_clip, 0, k) for k in IN_PROCESS]
    b = [fuzz_media.mutate(seed_clip, 0, k) for k in IN_PROCESS]
    assert a == b
    assert all(data != seed_clip and done for data, done in a)
    kinds = {d.split()[0] for _, done in a for d in done}
    assert {"flip", "truncate", "duplicate", "zero"} <= kinds


def test_the_checker_catches_a_broken_contract(tmp_path: Path) -> None:
    # The checks must be able to fail: a traceback, debris, a two-line error.
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir()
    src, dst = inputs / "film.mp4", outputs / "film.mp4"
    src.write_bytes(b"x")
    (outputs / ".film.1234.part.mp4").write_bytes(b"")
    problems = fuzz_media._check(
        1, "Traceback (most recent call last):\n  boom\n", src, dst, inputs, outputs, tmp_path
    )
    text = "; ".join(problems)
    assert "exit 1" in text and "traceback" in text and "one error line" in text
    assert ".film.1234.part.mp4" in text
    assert fuzz_media._check(4, "filmcolor: error: bad\n", src, dst, inputs, outputs, tmp_path) == [
        "left beside OUTPUT: .film.1234.part.mp4"
    ]


@pytest.mark.slow
def test_damaged_mp4_mutants_keep_the_contract(
    tmp_path: Path, seed_clip: bytes, const_weights: Path
) -> None:
    args = ["--weights", str(const_weights), "--device", "cpu", "--render-size", str(TEST_RENDER)]
    results = fuzz_media.fuzz(seed_clip, 0, IN_PROCESS, tmp_path, args, in_process=True)
    results += fuzz_media.fuzz(seed_clip, 0, AS_PROCESSES, tmp_path, args, jobs=2)
    broken = [
        f"mutant {r.index} ({'; '.join(r.mutations)}): {'; '.join(r.problems)}\n{r.stderr}"
        for r in results
        if r.problems
    ]
    assert not broken, "\n".join(broken)
    # the run means something: some mutants restore, some are refused
    codes = {r.exit_code for r in results}
    assert 0 in codes and codes & {3, 4}
