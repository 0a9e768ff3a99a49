"""Post-processing through ``restore``: frame-preserving filters keep every frame and pts;
defaults leave the luma alone; tone options change it."""

from __future__ import annotations

import dataclasses
import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
from mediagen import make_telecined, make_video, probe_streams

from filmcolor.config import PostConfig, RestoreConfig
from filmcolor.facade import restore
from filmcolor.report import RestoreReport

EVERYTHING = PostConfig(
    saturation=1.2,
    vibrance=0.3,
    white_balance="gray-world",
    temperature=3.0,
    tint=-2.0,
    hue_shift=10.0,
    chroma_limit=60.0,
    contrast=1.1,
    gamma=1.1,
    clahe=2.0,
    sharpen=0.5,
    deflicker=5,
    denoise=2.0,
    deinterlace="bwdif",
)


def lossless(config: RestoreConfig, post: PostConfig) -> RestoreConfig:
    encode = dataclasses.replace(config.encode, codec="ffv1")
    return dataclasses.replace(config, post=post, encode=encode)


def y_planes(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        out = []
        for f in c.decode(video=0):
            p = f.planes[0]
            rows = np.frombuffer(p, np.uint8).reshape(f.height, p.line_size)
            out.append(rows[:, : f.width].copy())
        return out


def test_every_frame_preserving_option_keeps_count_and_pts(
    tmp_path: Path, const_config: RestoreConfig
) -> None:
    src = tmp_path / "vfr.mkv"
    pts = make_video(src, width=96, height=64, frames=20, vfr=True, audio=[{"codec": "aac"}])
    dst = tmp_path / "all.mkv"
    report = restore(src, dst, lossless(const_config, EVERYTHING))
    assert isinstance(report, RestoreReport)
    got = probe_streams(dst)
    assert got["video"][0]["pts"] == pts
    assert report.frames_out == 20
    assert len(got["audio"]) == 1
    assert report.settings["post"]["deinterlace"] == "bwdif"
    # the luma did change (tone options and filters are on)
    assert any(not np.array_equal(a, b) for a, b in zip(y_planes(src), y_planes(dst), strict=True))


def test_colour_options_leave_the_luma_untouched(
    tmp_path: Path, const_config: RestoreConfig
) -> None:
    src = tmp_path / "clip.mkv"
    make_video(src, width=96, height=64, frames=6, codec="ffv1", pix_fmt="yuv420p")
    colour_only = PostConfig(saturation=0.5, white_balance="gray-world", hue_shift=30.0)
    for name, post in {"default": PostConfig(), "colour": colour_only}.items():
        dst = tmp_path / f"{name}.mkv"
        restore(src, dst, lossless(const_config, post))
        for a, b in zip(y_planes(src), y_planes(dst), strict=True):
            np.testing.assert_array_equal(a, b)


def test_inverse_telecine_restores_film_frames_and_reports_the_retiming(
    tmp_path: Path, const_config: RestoreConfig
) -> None:
    src = tmp_path / "telecined.mkv"
    assert make_telecined(src, film_frames=24) == 30
    dst = tmp_path / "film.mp4"  # MP4 keeps the 1001/24000 time base (Matroska: ms)
    report = restore(src, dst, dataclasses.replace(const_config, post=PostConfig(ivtc=True)))
    assert isinstance(report, RestoreReport)
    assert report.frames_in == 30
    assert report.frames_out == 24  # 4 of every 5
    assert report.retiming == {
        "filter": "ivtc",
        "time_base_in": "1/1000",  # the Matroska source
        "time_base_out": "1001/24000",
        "rate_in": "30000/1001",
        "rate_out": "24000/1001",
        "frames_in": 30,
        "frames_out": 24,
    }
    video = probe_streams(dst)["video"][0]
    times = [Fraction(p) * video["time_base"] for p in video["pts"]]
    assert len(times) == 24
    steps = {round(float(b - a), 4) for a, b in itertools.pairwise(times)}
    assert steps == {round(1001 / 24000, 4)}  # regular film frames at 23.976 fps


def test_field_rate_deinterlace_doubles_the_frames(
    tmp_path: Path, const_config: RestoreConfig
) -> None:
    src = tmp_path / "clip.mkv"
    make_video(src, width=96, height=64, frames=10, rate=25)
    source = probe_streams(src)["video"][0]
    source_times = [Fraction(p) * source["time_base"] for p in source["pts"]]
    dst = tmp_path / "fields.mp4"
    post = PostConfig(deinterlace="bwdif-field")
    report = restore(src, dst, dataclasses.replace(const_config, post=post))
    assert isinstance(report, RestoreReport)
    assert report.frames_out == 20
    assert report.retiming is not None and report.retiming["time_base_out"] == "1/2000"
    video = probe_streams(dst)["video"][0]
    times = [Fraction(p) * video["time_base"] for p in video["pts"]]
    assert times[::2] == source_times  # every source frame, then its second field
    assert all(b - a == Fraction(1, 50) for a, b in itertools.pairwise(times))


def test_defaults_change_neither_count_nor_timing(tmp_path: Path, const_config) -> None:
    src = tmp_path / "clip.mkv"
    make_video(src, width=96, height=64, frames=5)
    report = restore(src, tmp_path / "out.mkv", const_config)
    assert isinstance(report, RestoreReport) and report.retiming is None


def test_help_says_which_options_change_frame_count_and_timing() -> None:
    from click.testing import CliRunner

    from filmcolor.cli import main

    text = " ".join(CliRunner().invoke(main, ["restore", "--help"]).output.split())
    assert "--ivtc" in text and "--deinterlace" in text
    assert text.count("CHANGES the frame count") == 2  # bwdif-field and --ivtc
