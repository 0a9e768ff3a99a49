"""Segmented restores: the same file as one pass, resume after a crash, the work folder."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import TEST_RENDER
from mediagen import make_video

from filmcolor.config import EncodeConfig, PostConfig, RestoreConfig, SegmentConfig
from filmcolor.errors import UsageError
from filmcolor.facade import restore
from filmcolor.media.probe import probe
from filmcolor.segments import (
    WorkDir,
    default_work_dir,
    plan_segments,
    restore_segmented,
    should_segment,
)

pytestmark = pytest.mark.slow


def _config(const_config: RestoreConfig, seconds: float, **segments: object) -> RestoreConfig:
    return dataclasses.replace(
        const_config,
        encode=EncodeConfig(codec="ffv1"),
        segments=SegmentConfig(segment_seconds=seconds, **segments),  # type: ignore[arg-type]
    )


def _frames(path: Path) -> list[tuple[int, np.ndarray]]:
    with av.open(str(path)) as c:
        return [(f.pts, f.to_ndarray()) for f in c.decode(c.streams.video[0])]


def _audio(path: Path) -> list[tuple[int | None, bytes]]:
    with av.open(str(path)) as c:
        return [(p.pts, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size]


def assert_same_film(one: Path, seg: Path, boundaries: list[int], height: int) -> None:
    """Frame count, pts and audio packets equal; luma identical; chroma within 2 code
    values on average and 8 at most on the frames next to a boundary (everywhere, in fact)."""
    a, b = _frames(one), _frames(seg)
    assert [p for p, _ in a] == [p for p, _ in b]
    assert _audio(one) == _audio(seg)
    near = {i + d for i in boundaries for d in (-1, 0, 1)}
    for i, ((_, fa), (_, fb)) in enumerate(zip(a, b, strict=True)):
        assert np.array_equal(fa[:height], fb[:height]), f"luma differs at frame {i}"
        diff = np.abs(fa[height:].astype(int) - fb[height:].astype(int))
        assert diff.mean() <= 2 and diff.max() <= 8, (i, i in near, diff.mean(), diff.max())


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seg") / "film.mp4"
    make_video(
        path,
        frames=120,
        content="shots",
        audio=[{"codec": "aac"}],
        codec_options={"g": "12"},
        start_pts=3,
    )
    return path


def test_plan_cuts_at_keyframes(clip: Path, const_config: RestoreConfig) -> None:
    info = probe(clip)
    config = _config(const_config, 1.0)
    segments = plan_segments(clip, info, config)
    assert len(segments) >= 3
    with av.open(str(clip)) as c:
        packets = [p for p in c.demux(c.streams.video[0]) if p.size]
    keys = {p.pts for p in packets if p.is_keyframe}
    pts = sorted(p.pts for p in packets)
    assert sum(s.frames for s in segments) == len(pts)
    for s, nxt in zip(segments, [*segments[1:], None], strict=True):
        assert s.start_pts in keys
        assert pts[s.first_index] == s.start_pts
        assert s.end_pts == (nxt.start_pts if nxt else None)
        if s.index:
            assert s.warm_index == max(0, s.first_index - config.segments.overlap_frames)
            assert pts[s.warm_index] == s.warm_pts
            if s.warm_index:
                assert s.seek_pts in keys and s.seek_pts <= s.warm_pts
    assert should_segment(info, config)
    assert not should_segment(info, _config(const_config, 0))
    assert not should_segment(info, _config(const_config, 100))
    ivtc = dataclasses.replace(config, post=PostConfig(ivtc=True))
    assert not should_segment(info, ivtc)  # frame-count-changing filters run in one pass


def test_segmented_equals_single_pass(
    clip: Path, const_config: RestoreConfig, tmp_path: Path
) -> None:
    one = tmp_path / "one.mkv"
    seg = tmp_path / "seg.mkv"
    restore(clip, one, _config(const_config, 0))
    report = restore(clip, seg, _config(const_config, 1.0))
    assert report.segments is not None and report.segments["count"] >= 3
    assert report.frames_out == 120
    assert not default_work_dir(seg).exists()  # removed after success
    segments = plan_segments(clip, probe(clip), _config(const_config, 1.0))
    assert_same_film(one, seg, [s.first_index for s in segments[1:]], 240)


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_segmented_h264_keeps_every_pts(
    clip: Path, const_config: RestoreConfig, tmp_path: Path, ext: str
) -> None:
    """The default encoder (B-frames: dts before pts, and Matroska stores no dts) joins
    with every frame at its time and the audio untouched."""
    config = dataclasses.replace(const_config, segments=SegmentConfig(segment_seconds=1.0))
    out = tmp_path / f"seg{ext}"
    report = restore(clip, out, config)
    assert report.segments is not None and report.segments["count"] >= 3
    assert _times(out) == _times(clip)
    assert [data for _, data in _audio(out)] == [data for _, data in _audio(clip)]


def test_resume_reuses_finished_segments_and_start_over(
    clip: Path, const_config: RestoreConfig, tmp_path: Path
) -> None:
    config = _config(const_config, 1.0, work_dir=str(tmp_path / "work"))
    out = tmp_path / "out.mkv"
    calls: list[int] = []

    def crash_after_two(src, jobs, cfg, on_done):  # type: ignore[no-untyped-def]
        from filmcolor.segments import restore_segment

        for job in jobs[:2]:
            calls.append(job[0].index)
            on_done(job, restore_segment(src, job[0], job[1], cfg))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        restore_segmented(clip, out, config, runner=crash_after_two)
    assert not out.exists()
    manifest = json.loads((tmp_path / "work" / "manifest.json").read_text())
    assert sorted(manifest["done"]) == ["0", "1"]
    report = restore_segmented(clip, out, config)
    assert report.segments is not None
    assert report.segments["reused"] == [0, 1]
    assert report.segments["run"] == list(range(2, report.segments["count"]))
    assert not (tmp_path / "work").exists()
    # a run with other settings does not reuse them
    with pytest.raises(KeyboardInterrupt):
        restore_segmented(clip, tmp_path / "b.mkv", config, runner=crash_after_two)
    changed = dataclasses.replace(config, post=PostConfig(saturation=0.5))
    report = restore_segmented(clip, tmp_path / "b.mkv", changed)
    assert report.segments is not None and report.segments["reused"] == []
    assert any("starting over" in w for w in report.warnings)
    # --no-resume starts over too
    with pytest.raises(KeyboardInterrupt):
        restore_segmented(clip, tmp_path / "c.mkv", config, runner=crash_after_two)
    no_resume = dataclasses.replace(
        config, segments=dataclasses.replace(config.segments, resume=False)
    )
    report = restore_segmented(clip, tmp_path / "c.mkv", no_resume)
    assert report.segments is not None and report.segments["reused"] == []


def test_work_folder_is_locked(clip: Path, const_config: RestoreConfig, tmp_path: Path) -> None:
    work = tmp_path / "work"
    WorkDir(work).claim(clip, tmp_path / "o.mkv", default=False)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (work / "lock").write_text(f"{sleeper.pid}\n")
        with pytest.raises(UsageError, match="another filmcolor run"):
            restore_segmented(
                clip, tmp_path / "o.mkv", _config(const_config, 1.0, work_dir=str(work))
            )
    finally:
        sleeper.kill()
        sleeper.wait()
    # the lock of a dead process is taken over
    report = restore_segmented(
        clip, tmp_path / "o.mkv", _config(const_config, 1.0, work_dir=str(work))
    )
    assert report.frames_out == 120
    assert WorkDir(work).load() is None


def test_killed_run_resumes_from_its_manifest(const_weights: Path, tmp_path: Path) -> None:
    """SIGKILL mid-run; the same command again redoes only the unfinished segments."""
    src = tmp_path / "long.mp4"
    make_video(
        src, frames=480, content="shots", audio=[{"codec": "aac"}], codec_options={"g": "12"}
    )
    out = tmp_path / "out.mkv"
    work = tmp_path / "work"
    cmd = [
        sys.executable, "-m", "filmcolor", "restore", str(src), "-o", str(out),
        "--weights", str(const_weights), "--device", "cpu", "--render-size", str(TEST_RENDER),
        "--codec", "ffv1", "--segment-seconds", "0.5", "--work-dir", str(work), "-q",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    manifest = work / "manifest.json"
    deadline = time.monotonic() + 120
    done: list[str] = []
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = list(json.loads(manifest.read_text())["done"])
        except (OSError, ValueError, KeyError):
            done = []
        if len(done) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    finished = sorted(int(i) for i in json.loads(manifest.read_text())["done"])
    total = len(json.loads(manifest.read_text())["segments"])
    assert 3 <= len(finished) < total
    report_path = tmp_path / "report.json"
    rerun = subprocess.run(
        [*cmd, "--report", str(report_path)], capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(report_path.read_text())
    assert report["segments"]["reused"] == finished
    assert sorted(report["segments"]["run"]) == sorted(set(range(total)) - set(finished))
    assert not work.exists()
    assert _times(out) == _times(src)  # Matroska keeps milliseconds
    assert [data for _, data in _audio(out)] == [data for _, data in _audio(src)]


def _times(path: Path) -> list[int]:
    """The video frames' times in whole milliseconds, rounded as FFmpeg rescales (half
    away from zero)."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return [math.floor(f.pts * stream.time_base * 1000 + 0.5) for f in c.decode(stream)]
