#!/usr/bin/env python3
"""A bounded, deterministic mutation fuzzer of ``filmcolor restore``.

It damages a small MP4 (H.264 + AAC) in seeded ways (bit flips, overwritten and zeroed
ranges, truncations, duplicated and removed chunks), restores each mutant in its own
``python -m filmcolor restore`` process (as a user would: a crash, a traceback or a hang
shows as it would to them), and checks the contract a damaged file must keep:

- the exit code is 0, 3 (input) or 4 (media), never 1 (internal error) or a signal;
- stderr holds no traceback; on failure it is one line, ``filmcolor: error: ...``;
- on failure nothing is at OUTPUT, and nothing is ever left beside it (no temporary or
  ``.part`` files, no work folders) or beside the input;
- on success OUTPUT opens and holds at least one video frame.

Mutant ``k`` of seed ``s`` is always the same bytes (``--only k`` replays it, ``--keep
DIR`` keeps the failing ones). Usage::

    python tools/fuzz_media.py --mutants 60 --seed 0 [--input FILE.mp4] [--jobs 2]

Prints one line per failing mutant and a summary (counts by exit code, time); exits 1 if
any mutant broke the contract.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

#: Exit codes a damaged input may end with: done, input error, media error.
ALLOWED_EXIT_CODES = frozenset({0, 3, 4})
#: Seconds one restore may take before it counts as a hang.
DEFAULT_TIMEOUT = 120.0


# --------------------------------------------------------------------------- seed clip


def make_seed(
    path: Path,
    *,
    frames: int = 24,
    width: int = 96,
    height: int = 64,
    faststart: bool = True,
) -> Path:
    """Write the clip to mutate: H.264 (B-frames, a keyframe every 8 frames) and AAC stereo
    in MP4, ``frames`` frames at 24 fps of moving test pictures, about one second. With
    ``faststart`` the index (``moov``) comes first, so a cut or damaged end leaves a file
    that still opens (with the index last, most damage makes the file unreadable)."""
    rate = Fraction(24)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", container_options=options) as out:
        video = out.add_stream("libx264", rate=rate, options={"g": "8", "bf": "2"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=48000, layout="stereo")
        yy, xx = np.mgrid[0:height, 0:width]
        for i in range(frames):
            y = ((xx * 3 + yy * 2 + 9 * i) % 256).astype(np.uint8)
            y[(i * 3) % height :][:12, (i * 5) % width :][:, :12] = 235
            frame = av.VideoFrame.from_ndarray(y, format="gray").reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = 1 / rate
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        ctx = audio.codec_context
        samples = round(frames / rate * ctx.sample_rate)
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / ctx.sample_rate)
        for start in range(0, samples, ctx.frame_size):
            chunk = tone[start : start + ctx.frame_size].astype(np.float32)
            planes = np.ascontiguousarray(np.repeat(chunk[None], 2, axis=0))
            frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = ctx.sample_rate, start
            frame.time_base = Fraction(1, ctx.sample_rate)
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return path


# --------------------------------------------------------------------------- mutations


def _flip(data: bytearray, rng: random.Random) -> str:
    count = rng.randint(1, 64)
    for _ in range(count):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return f"flip {count} bits"


def _overwrite(data: bytearray, rng: random.Random) -> str:
    start, length = _range(data, rng, 64)
    data[start : start + length] = rng.randbytes(length)
    return f"overwrite {length} bytes at {start}"


def _zero(data: bytearray, rng: random.Random) -> str:
    start, length = _range(data, rng, 4096)
    data[start : start + length] = bytes(length)
    return f"zero {length} bytes at {start}"


def _truncate(data: bytearray, rng: random.Random) -> str:
    keep = rng.randrange(1, len(data))
    del data[keep:]
    return f"truncate to {keep} bytes"


def _duplicate(data: bytearray, rng: random.Random) -> str:
    start, length = _range(data, rng, 4096)
    chunk = data[start : start + length]
    at = rng.randrange(len(data) + 1)
    data[at:at] = chunk
    return f"duplicate {length} bytes from {start} at {at}"


def _remove(data: bytearray, rng: random.Random) -> str:
    start, length = _range(data, rng, 4096)
    del data[start : start + length]
    return f"remove {length} bytes at {start}"


def _range(data: bytearray, rng: random.Random, longest: int) -> tuple[int, int]:
    length = rng.randint(1, min(longest, max(1, len(data) // 4)))
    return rng.randrange(max(1, len(data) - length)), length


#: The mutations, each ``(bytes, rng) -> description`` changing the bytes in place.
MUTATIONS: dict[str, Callable[[bytearray, random.Random], str]] = {
    "flip": _flip,
    "overwrite": _overwrite,
    "zero": _zero,
    "truncate": _truncate,
    "duplicate": _duplicate,
    "remove": _remove,
}


def mutate(data: bytes, seed: int, index: int) -> tuple[bytes, list[str]]:
    """Mutant ``index`` of ``seed``: one to three mutations of ``data`` (the same bytes on
    every run), and what was done."""
    rng = random.Random(f"{seed}:{index}")
    out = bytearray(data)
    done = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        if len(out) < 2:
            break
        done.append(MUTATIONS[rng.choice(sorted(MUTATIONS))](out, rng))
    return bytes(out), done


# --------------------------------------------------------------------------- running


@dataclass(frozen=True, slots=True)
class MutantResult:
    """How one mutant's restore ended."""

    index: int
    mutations: tuple[str, ...]
    #: The process's exit code (negative: killed by that signal; None: timed out).
    exit_code: int | None
    seconds: float
    #: Broken promises (empty: the mutant kept the contract).
    problems: tuple[str, ...]
    stderr: str


def run_mutant(
    data: bytes,
    seed: int,
    index: int,
    work: Path,
    restore_args: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
    *,
    in_process: bool = False,
) -> MutantResult:
    """Restore mutant ``index`` of ``data`` in a fresh folder under ``work`` and check the
    contract (module docstring). The output is ``.mp4`` for even indices, ``.mkv`` for
    odd ones.

    By default the restore runs as ``python -m filmcolor`` in a process of its own (what a
    user sees; a crash or hang is caught; about 2 s of start-up each). ``in_process`` runs
    it through click's test runner in this process instead (no start-up, torch and the
    weights loaded once: a fraction of a second each; one at a time; an uncaught exception
    counts as a traceback; no timeout).
    """
    mutant, mutations = mutate(data, seed, index)
    case = work / f"mutant-{index:04d}"
    inputs, outputs = case / "in", case / "out"
    inputs.mkdir(parents=True)
    outputs.mkdir()
    src = inputs / "film.mp4"
    src.write_bytes(mutant)
    dst = outputs / ("film.mkv" if index % 2 else "film.mp4")
    args = ["restore", str(src), "-o", str(dst), "-q", *restore_args]
    t = time.perf_counter()
    code: int | None
    if in_process:
        code, stderr = _restore_in_process(args)
    else:
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "filmcolor", *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                cwd=case,
            )
            code, stderr = proc.returncode, proc.stderr
        except subprocess.TimeoutExpired as exc:
            code = None
            stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
    seconds = time.perf_counter() - t
    problems = _check(code, stderr, src, dst, inputs, outputs, case)
    return MutantResult(index, tuple(mutations), code, seconds, tuple(problems), stderr)


def _restore_in_process(args: list[str]) -> tuple[int, str]:
    """``filmcolor ARGS`` through click's test runner: exit code and stderr (an exception
    that escaped the command is written there as a traceback)."""
    import traceback

    from click.testing import CliRunner

    from filmcolor.cli import main as filmcolor_main

    result = CliRunner().invoke(filmcolor_main, args)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return result.exit_code, stderr


def _check(
    code: int | None,
    stderr: str,
    src: Path,
    dst: Path,
    inputs: Path,
    outputs: Path,
    case: Path,
) -> list[str]:
    problems = []
    if code is None:
        problems.append("hung (timed out)")
    elif code < 0:
        problems.append(f"killed by signal {-code}")
    elif code not in ALLOWED_EXIT_CODES:
        problems.append(f"exit {code}")
    if "Traceback" in stderr:
        problems.append("traceback on stderr")
    lines = [line for line in stderr.splitlines() if line.strip()]
    if code:
        if len(lines) != 1 or not lines[0].startswith("filmcolor: error: "):
            problems.append(f"stderr is not one error line ({len(lines)} lines)")
        if dst.exists():
            problems.append("a file is left at OUTPUT after a failure")
    left = sorted(p.name for p in outputs.iterdir() if p != dst)
    if left:
        problems.append(f"left beside OUTPUT: {', '.join(left)}")
    beside_input = sorted(p.name for p in inputs.iterdir() if p != src)
    beside_input += sorted(p.name for p in case.iterdir() if p not in (inputs, outputs))
    if beside_input:
        problems.append(f"left beside the input: {', '.join(beside_input)}")
    if code == 0:
        problems.extend(_check_output(dst))
    return problems


def _check_output(dst: Path) -> list[str]:
    """A finished OUTPUT opens and decodes at least one video frame."""
    if not dst.is_file():
        return ["exit 0 but no OUTPUT"]
    try:
        with av.open(str(dst)) as container:
            if not container.streams.video:
                return ["OUTPUT has no video stream"]
            next(container.decode(container.streams.video[0]))
    except (av.error.FFmpegError, StopIteration) as exc:
        return [f"OUTPUT does not decode: {type(exc).__name__}: {exc}"]
    return []


def fuzz(
    data: bytes,
    seed: int,
    indices: Sequence[int],
    work: Path,
    restore_args: Sequence[str] = (),
    *,
    jobs: int = 1,
    timeout: float = DEFAULT_TIMEOUT,
    in_process: bool = False,
    on_result: Callable[[MutantResult], None] | None = None,
) -> list[MutantResult]:
    """Run the mutants ``indices`` of ``data`` (``jobs`` processes at a time; one at a time
    ``in_process``), in index order; see ``run_mutant``."""

    def one(index: int) -> MutantResult:
        result = run_mutant(data, seed, index, work, restore_args, timeout, in_process=in_process)
        if on_result is not None:
            on_result(result)
        return result

    if in_process:  # the CLI installs signal handlers: the main thread only
        return [one(index) for index in indices]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, indices))


def summary(results: Sequence[MutantResult], seconds: float) -> str:
    """Counts by exit code, failures and time, as a few lines."""
    codes = Counter("timeout" if r.exit_code is None else str(r.exit_code) for r in results)
    by_code = ", ".join(f"exit {code}: {n}" for code, n in sorted(codes.items()))
    failed = [r for r in results if r.problems]
    mean = sum(r.seconds for r in results) / max(1, len(results))
    return (
        f"{len(results)} mutants: {by_code}; {len(failed)} broke the contract; "
        f"{seconds:.1f} s ({mean:.2f} s per mutant)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=int, default=60, help="how many (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="mutation seed (default 0)")
    parser.add_argument("--only", type=int, action="append", help="replay mutant K only")
    parser.add_argument("--input", type=Path, help="clip to mutate (default: a generated one)")
    parser.add_argument("--jobs", type=int, default=1, help="restores at a time (default 1)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds each")
    parser.add_argument("--keep", type=Path, help="copy failing mutants' folders here")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="restore in this process (fast; no crash or hang isolation)",
    )
    parser.add_argument(
        "restore_args",
        nargs="*",
        help="options for filmcolor restore after --, e.g. -- --device cpu --render-size 64",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="filmcolor-fuzz-") as tmp:
        work = Path(tmp)
        seed_clip = args.input or make_seed(work / "seed.mp4")
        data = seed_clip.read_bytes()
        indices = args.only or list(range(args.mutants))

        def report(result: MutantResult) -> None:
            if result.problems:
                print(
                    f"mutant {result.index} ({'; '.join(result.mutations)}): "
                    f"{'; '.join(result.problems)}\n  {result.stderr.strip()[-2000:]}",
                    flush=True,
                )
                if args.keep is not None:
                    target = args.keep / f"seed{args.seed}-mutant-{result.index:04d}"
                    shutil.copytree(work / f"mutant-{result.index:04d}", target)

        t = time.perf_counter()
        results = fuzz(
            data,
            args.seed,
            indices,
            work,
            args.restore_args,
            jobs=args.jobs,
            timeout=args.timeout,
            in_process=args.in_process,
            on_result=report,
        )
        print(summary(results, time.perf_counter() - t))
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
