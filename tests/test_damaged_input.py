"""Damaged captures keep every good frame and packet: a packet the muxer refuses is left
out and counted (``packets_dropped``), a frame with a damaged timestamp costs that frame
only, ``--strict`` fails on either; an input that is not a regular file is refused."""

from __future__ import annotations

import dataclasses
import json
import os
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TEST_RENDER, assert_one_line_error
from mediagen import (
    aac_payload,
    damage_bytes,
    make_video,
    probe_streams,
    rescale,
    set_ts_pes_pts,
)

from filmcolor.cli import main
from filmcolor.config import RestoreConfig, SegmentConfig
from filmcolor.errors import MediaError
from filmcolor.facade import restore
from filmcolor.report import RestoreReport

pytestmark = pytest.mark.slow

#: 90 kHz: the MPEG-TS clock.
TS_TB = Fraction(1, 90000)


def cli(*args: str | Path, weights: Path) -> tuple[int, str]:
    argv = [str(a) for a in args]
    argv += ["--device", "cpu", "--render-size", str(TEST_RENDER), "-q", "--weights", str(weights)]
    result = CliRunner().invoke(main, argv)
    return result.exit_code, result.stderr


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A broadcast-like capture: MPEG-2 video and AAC audio in MPEG-TS, 24 frames."""
    path = tmp_path_factory.mktemp("ts") / "capture.ts"
    make_video(
        path,
        width=96,
        height=64,
        frames=24,
        rate=25,
        codec="mpeg2video",
        audio=[{"codec": "aac"}],
        codec_options={"g": "12"},
    )
    return path


def _stream_times(path: Path) -> tuple[list[int], Fraction, list[bytes]]:
    """Decoded video pts, their time base, and the audio frames (AAC without ADTS)."""
    streams = probe_streams(path)
    video = streams["video"][0]
    audio = [aac_payload(p) for p in streams["audio"][0]["packets"]]
    return video["pts"], Fraction(video["time_base"]), audio


def _assert_kept(src: Path, out: Path, *, frames_lost: set[int], packets_lost: int) -> None:
    """Every frame of ``src`` but the pts in ``frames_lost`` is in ``out`` at its time, and
    all but ``packets_lost`` audio packets are there, untouched."""
    pts_in, tb_in, audio_in = _stream_times(src)
    pts_out, tb_out, audio_out = _stream_times(out)
    kept = [rescale(p, tb_in, tb_out) for p in pts_in if p not in frames_lost]
    assert pts_out == kept
    assert len(audio_out) == len(audio_in) - packets_lost
    assert set(audio_out) <= set(audio_in)


def _no_debris(folder: Path, *keep: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)


@pytest.mark.parametrize(("where", "ext"), [("back", ".mp4"), ("ahead", ".mkv")])
def test_audio_packet_with_damaged_timestamp_is_dropped_and_counted(
    tmp_path: Path, capture: Path, const_weights: Path, where: str, ext: str
) -> None:
    # One AAC packet stamped before zero ("back": the muxer refuses it) or an hour ahead
    # ("ahead": written, it would make the muxer refuse every packet after it).
    src = tmp_path / "capture.ts"
    set_ts_pes_pts(capture, src, "audio", 20, 0 if where == "back" else 3600 * 90000)
    out, report = tmp_path / f"out{ext}", tmp_path / "r.json"
    code, err = cli("restore", src, "-o", out, "--report", report, weights=const_weights)
    assert code == 0, err
    data = json.loads(report.read_text())
    assert data["packets_dropped"] == {"1": 1}
    assert any("audio stream #1: 1 damaged packet(s) left out" in w for w in data["warnings"])
    assert data["frames_out"] == data["frames_in"] == 24
    _assert_kept(src, out, frames_lost=set(), packets_lost=1)

    strict = tmp_path / f"strict{ext}"
    code, err = cli("restore", src, "-o", strict, "--strict", weights=const_weights)
    assert code == 4
    assert_one_line_error(err, "audio stream #1", "damaged packet", "--strict")
    _no_debris(tmp_path, src.name, out.name, report.name)


def test_video_frame_with_damaged_timestamp_costs_that_frame_only(
    tmp_path: Path, capture: Path, const_weights: Path
) -> None:
    # A frame stamped an hour ahead used to push every later frame out ("does not come
    # after"): half the film gone. Now that frame alone is left out.
    src = tmp_path / "capture.ts"
    set_ts_pes_pts(capture, src, "video", 12, 3600 * 90000)
    pts_in, _, _ = _stream_times(src)
    assert 3600 * 90000 in pts_in
    out, report = tmp_path / "out.mp4", tmp_path / "r.json"
    code, err = cli("restore", src, "-o", out, "--report", report, weights=const_weights)
    assert code == 0, err
    data = json.loads(report.read_text())
    assert (data["frames_in"], data["frames_out"], data["frames_dropped"]) == (24, 23, 1)
    assert any("jumps ahead" in w for w in data["warnings"])
    _assert_kept(src, out, frames_lost={3600 * 90000}, packets_lost=0)


@pytest.mark.parametrize("seed", [3, 20])
def test_capture_with_bytes_damaged_in_its_middle_third_restores(
    tmp_path: Path, capture: Path, const_weights: Path, seed: int
) -> None:
    # 4 runs of 10 random bytes: these seeds hit an AAC frame header, which the muxer's
    # ADTS filter refuses ("Invalid data found when processing input"); that used to
    # fail the whole film with exit 4.
    src = tmp_path / "capture.ts"
    damage_bytes(capture, src, seed=seed)
    out, report = tmp_path / "out.mkv", tmp_path / "r.json"
    code, err = cli("restore", src, "-o", out, "--report", report, weights=const_weights)
    assert code == 0, err
    data = json.loads(report.read_text())
    assert data["packets_dropped"] and set(data["packets_dropped"]) == {"1"}
    lost = data["frames_in"] - data["frames_out"]
    assert lost == data["frames_undecodable"] + data["frames_dropped"]
    pts_out, _, audio_out = _stream_times(out)
    assert len(pts_out) == data["frames_out"] >= 20
    _, _, audio_in = _stream_times(src)
    assert len(audio_out) == len(audio_in) - data["packets_dropped"]["1"]


def test_segmented_run_drops_damaged_packets_when_joining(
    tmp_path: Path, capture: Path, const_config: RestoreConfig
) -> None:
    # The segments are joined with the source's audio (segments.stitch): same rule there.
    src = tmp_path / "capture.ts"
    set_ts_pes_pts(capture, src, "audio", 20, 3600 * 90000)
    config = dataclasses.replace(const_config, segments=SegmentConfig(segment_seconds=0.5))
    out = tmp_path / "out.mkv"
    report = restore(src, out, config)
    assert isinstance(report, RestoreReport)
    assert report.segments is not None and report.segments["count"] >= 2
    assert report.packets_dropped == {"1": 1}
    _assert_kept(src, out, frames_lost=set(), packets_lost=1)
    with pytest.raises(MediaError, match=r"audio stream #1: damaged packet.*--strict"):
        restore(src, tmp_path / "strict.mkv", dataclasses.replace(config, strict=True))
    assert not (tmp_path / "strict.mkv").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_input_is_refused_without_opening_it(tmp_path: Path, const_weights: Path) -> None:
    # Opening a FIFO for reading blocks until a writer comes: the check must not open it.
    fifo = tmp_path / "stream.ts"
    os.mkfifo(fifo)
    out = tmp_path / "o.mp4"
    code, err = cli("restore", fifo, "-o", out, weights=const_weights)
    assert code == 3
    assert_one_line_error(err, "stream.ts", "not a regular file")
    _no_debris(tmp_path, fifo.name)
