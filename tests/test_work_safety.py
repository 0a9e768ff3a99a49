"""Only what filmcolor made is ever removed: the segment work folder, no-clobber renames,
the report, and SIGTERM while the command is still starting."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TEST_RENDER, assert_one_line_error
from mediagen import make_video

from filmcolor.atomic import atomic_output
from filmcolor.cli import main
from filmcolor.config import RestoreConfig, SegmentConfig
from filmcolor.errors import UsageError
from filmcolor.facade import restore
from filmcolor.segments import WORK_MARKER, WorkDir, default_work_dir


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds with audio and a keyframe every 12 frames: 2 segments of 1 s."""
    path = tmp_path_factory.mktemp("film") / "film.mp4"
    make_video(path, frames=48, audio=[{"codec": "aac"}], codec_options={"g": "12"})
    return path


def _segmented(const_config: RestoreConfig, work_dir: Path | None) -> RestoreConfig:
    return dataclasses.replace(
        const_config,
        segments=SegmentConfig(
            segment_seconds=1.0, work_dir=str(work_dir) if work_dir is not None else None
        ),
    )


def _cli(*args: str | Path, weights: Path) -> tuple[int, str]:
    argv = [str(a) for a in args]
    argv += ["--device", "cpu", "--render-size", str(TEST_RENDER), "-q", "--weights", str(weights)]
    result = CliRunner().invoke(main, argv)
    return result.exit_code, result.stderr


def test_work_dir_dot_in_the_films_folder_is_refused(
    film: Path, const_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``cd films; filmcolor restore film.mp4 -o film-colour.mp4 --work-dir .`` once left an
    empty folder: the input, the user's other files and the output removed."""
    films = tmp_path / "films"
    films.mkdir()
    (films / "film.mp4").write_bytes(film.read_bytes())
    (films / "letters.txt").write_text("the only copy")
    before = _tree(films)
    monkeypatch.chdir(films)
    code, err = _cli(
        "restore", "film.mp4", "-o", "film-colour.mp4", "--segment-seconds", "1",
        "--work-dir", ".", weights=const_weights,
    )  # fmt: skip
    assert code == 2
    assert_one_line_error(err, "--work-dir", "holds the input")
    assert _tree(films) == before


def test_work_dir_holding_the_output_is_refused(
    film: Path, const_config: RestoreConfig, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "earlier.mkv").write_bytes(b"an earlier result")
    before = _tree(out_dir)
    for work in (out_dir, tmp_path):  # the output's folder, and a folder above it
        with pytest.raises(UsageError, match="holds the output"):
            restore(film, out_dir / "new.mkv", _segmented(const_config, work))
    assert _tree(out_dir) == before


def test_work_dir_with_other_files_is_refused_untouched(
    film: Path, const_config: RestoreConfig, tmp_path: Path
) -> None:
    work = tmp_path / "scratch"
    (work / "sub").mkdir(parents=True)
    (work / "notes.txt").write_text("mine")
    (work / "part-00000.mp4").write_bytes(b"a name like filmcolor's, but the user's file")
    (work / "manifest.json").write_text("{}")
    (work / "sub" / "x").write_text("x")
    before = _tree(work)
    with pytest.raises(UsageError, match="did not make"):
        restore(film, tmp_path / "o.mp4", _segmented(const_config, work))
    assert _tree(work) == before
    assert not (tmp_path / "o.mp4").exists()


def test_work_dir_that_is_a_file_is_refused(
    film: Path, const_config: RestoreConfig, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.write_text("a file")
    with pytest.raises(UsageError, match="is a file"):
        restore(film, tmp_path / "o.mp4", _segmented(const_config, work))
    assert work.read_text() == "a file"


@pytest.mark.slow
def test_new_work_dir_is_made_and_removed_an_empty_one_is_kept(
    film: Path, const_config: RestoreConfig, tmp_path: Path
) -> None:
    new = tmp_path / "new" / "work"
    report = restore(film, tmp_path / "a.mp4", _segmented(const_config, new))
    assert report.segments is not None and report.segments["count"] == 2
    assert not new.exists() and (tmp_path / "new").is_dir()
    empty = tmp_path / "empty"
    empty.mkdir()
    restore(film, tmp_path / "b.mp4", _segmented(const_config, empty))
    assert empty.is_dir() and list(empty.iterdir()) == []  # the user's folder stays


@pytest.mark.slow
def test_only_filmcolor_files_are_removed_from_its_own_folder(
    film: Path, const_config: RestoreConfig, tmp_path: Path
) -> None:
    """A user's file dropped into a work folder filmcolor made survives, and so does the
    folder (with a warning)."""
    work = tmp_path / "work"
    out = tmp_path / "o.mp4"
    WorkDir(work).claim(film, out, default=False)
    (work / "notes.txt").write_text("mine")
    (work / "part-notes.txt").write_text("mine too")
    report = restore(film, out, _segmented(const_config, work))
    assert report.frames_out == 48
    assert sorted(p.name for p in work.iterdir()) == [WORK_MARKER, "notes.txt", "part-notes.txt"]
    assert any("left the work folder" in w for w in report.warnings)


@pytest.mark.slow
def test_default_work_folder_of_an_earlier_version_is_taken_over(
    film: Path, const_config: RestoreConfig, tmp_path: Path
) -> None:
    out = tmp_path / "o.mp4"
    legacy = default_work_dir(out)
    legacy.mkdir()
    (legacy / "manifest.json").write_text(json.dumps({"version": 0}))
    report = restore(film, out, _segmented(const_config, None))
    assert report.frames_out == 48
    assert not legacy.exists()


def test_a_link_to_a_work_folder_shares_its_lock(
    film: Path, const_config: RestoreConfig, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    out = tmp_path / "o.mp4"
    WorkDir(work).claim(film, out, default=False)
    link = tmp_path / "link"
    link.symlink_to(work)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (work / "lock").write_text(f"{sleeper.pid}\n")
        for spelling in (link, tmp_path / "link" / ".." / "work"):
            with pytest.raises(UsageError, match="another filmcolor run"):
                restore(film, out, _segmented(const_config, spelling))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not out.exists()


def test_no_clobber_rename_refuses_a_file_that_appeared(tmp_path: Path) -> None:
    target = tmp_path / "o.txt"
    with pytest.raises(UsageError, match="appeared while writing"):
        with atomic_output(target, overwrite=False) as tmp:
            tmp.write_text("ours")
            target.write_text("the user's, written meanwhile")
    assert target.read_text() == "the user's, written meanwhile"
    assert [p.name for p in tmp_path.iterdir()] == ["o.txt"]
    with atomic_output(target, overwrite=True) as tmp:
        tmp.write_text("ours")
    assert target.read_text() == "ours"


@pytest.mark.slow
def test_report_is_written_atomically_and_never_clobbered(
    film: Path, const_weights: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    report.write_text("the user's")
    code, err = _cli(
        "restore", film, "-o", tmp_path / "o.mp4", "--report", report, weights=const_weights
    )
    assert code == 2 and report.read_text() == "the user's"
    assert_one_line_error(err, "report.json", "--overwrite")
    code, _ = _cli(
        "restore", film, "-o", tmp_path / "o.mp4", "--report", tmp_path / "r2.json",
        weights=const_weights,
    )  # fmt: skip
    assert code == 0
    assert json.loads((tmp_path / "r2.json").read_text())["frames_out"] == 48
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4", "r2.json", "report.json"]


def _wait_loading_torch(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until the process has torch's library mapped: it is importing the pipeline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if "libtorch" in Path(f"/proc/{proc.pid}/maps").read_text():
                return
        except OSError:
            pass
        time.sleep(0.005)
    raise AssertionError("the command never started loading torch")


def test_sigterm_while_starting_exits_130_with_one_line(
    film: Path, const_weights: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.mp4"
    argv = [sys.executable, "-m", "filmcolor", "restore", str(film), "-o", str(out)]
    argv += ["--weights", str(const_weights), "--device", "cpu", "-q"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_loading_torch(proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, err)
    assert_one_line_error(err.decode(), "interrupted")
    assert os.listdir(tmp_path) == []
