"""Post-processing through ``restore``: frame-preserving filters keep every frame and pts;
defaults leave the luma alone; tone options change it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from mediagen import make_video, probe_streams

from filmcolor.config import PostConfig, RestoreConfig
from filmcolor.pipeline import RestoreReport, restore

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
