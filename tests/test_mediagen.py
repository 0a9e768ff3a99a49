"""Fast checks that the media generators in ``mediagen`` produce what they claim."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

try:  # tests/ as a package or as a plain rootdir (pytest prepend import mode)
    from . import mediagen as mg
except ImportError:
    import mediagen as mg  # type: ignore[no-redef]


def test_default_clip_frames_and_pts(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    pts = mg.make_video(path, frames=12)
    info = mg.probe_streams(path)
    (video,) = info["video"]
    assert (video["width"], video["height"], video["pix_fmt"]) == (320, 240, "yuv420p")
    assert video["pts"] == pts
    assert len(pts) == 12
    # 1001/24000 is stored by the mp4 muxer as 1/24000: one frame = 1001 ticks.
    assert video["time_base"] == Fraction(1, 24000)
    assert pts[:3] == [0, 1001, 2002]


def test_frames_differ_and_have_edges(tmp_path: Path) -> None:
    path = tmp_path / "a.mkv"
    mg.make_video(path, frames=3, codec="ffv1")
    with av.open(str(path)) as c:
        ys = [mg.y_plane(f).copy() for f in c.decode(video=0)]
    assert not np.array_equal(ys[0], ys[1])
    assert np.abs(np.diff(ys[0].astype(int), axis=1)).max() > 50


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_full_featured_clip(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"full.{ext}"
    pts = mg.make_video(
        path,
        frames=12,
        audio=[{"codec": "aac"}, {"codec": "aac"}],
        subtitles=True,
        chapters=True,
        rotation=90,
        metadata={"title": "Film"},
        video_metadata={"language": "ita"},
    )
    info = mg.probe_streams(path)
    assert info["metadata"]["title"] == "Film"
    (video,) = info["video"]
    assert video["pts"] == pts
    assert video["rotation"] == 90
    assert video["display_matrix"] == [0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30]
    assert video["language"] == "ita"
    a1, a2 = info["audio"]
    assert (a1["language"], a2["language"]) == ("eng", "fra")
    assert a1["disposition"] & av.stream.Disposition.default
    assert not a2["disposition"] & av.stream.Disposition.default
    assert a1["packets"] and all(a1["packets"])
    (sub,) = info["subtitle"]
    assert sub["language"] == "eng"
    texts = b"".join(sub["packets"])
    assert b"Hello" in texts and b"World" in texts
    assert [ch["metadata"]["title"] for ch in info["chapters"]] == ["Opening", "Ending"]
    if ext == "mp4":
        # The mov muxer stores chapters as an extra text track the demuxer discards.
        (chap,) = info["data"]
        assert chap["discard"]


@pytest.mark.parametrize("ext", ["mkv", "mp4", "mov"])
def test_vfr_pts_irregular_and_exact(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"vfr.{ext}"
    pts = mg.make_video(path, frames=12, vfr=True, time_base=Fraction(1, 90000))
    steps = {b - a for a, b in itertools.pairwise(pts)}
    assert len(steps) >= 3
    assert mg.probe_streams(path)["video"][0]["pts"] == pts


@pytest.mark.parametrize("ext", ["mp4", "mov"])
def test_nonzero_start_pts_survives_mp4(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"start.{ext}"
    pts = mg.make_video(path, frames=6, time_base=Fraction(1, 24000), start_pts=12012)
    assert pts[0] == 12012
    assert mg.probe_streams(path)["video"][0]["pts"] == pts


@pytest.mark.parametrize(
    ("codec", "pix_fmt", "bits"),
    [
        ("libx264", "yuv444p", 8),
        ("ffv1", "yuv420p", 8),
        ("ffv1", "gray10le", 10),
        ("ffv1", "yuv420p10le", 10),
        ("libx264rgb", "rgb24", 8),
    ],
)
def test_odd_size_and_formats(tmp_path: Path, codec: str, pix_fmt: str, bits: int) -> None:
    path = tmp_path / "odd.mkv"
    mg.make_video(path, width=321, height=241, frames=3, codec=codec, pix_fmt=pix_fmt)
    (video,) = mg.probe_streams(path)["video"]
    assert (video["width"], video["height"], video["bits"]) == (321, 241, bits)
    assert len(video["pts"]) == 3


@pytest.mark.parametrize("gray", [True, False])
def test_pal8_png_in_mov(tmp_path: Path, gray: bool) -> None:
    path = tmp_path / "pal.mov"
    pts = mg.make_video(path, frames=3, codec="png", pix_fmt="pal8", gray=gray)
    (video,) = mg.probe_streams(path)["video"]
    assert (video["codec"], video["pix_fmt"], video["pts"]) == ("png", "pal8", pts)


def test_odd_size_yuv420p_x264_fails(tmp_path: Path) -> None:
    with pytest.raises(av.error.ExternalError):
        mg.make_video(tmp_path / "odd.mp4", width=321, height=241, frames=2)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p10le"])
def test_gray_has_neutral_chroma(tmp_path: Path, pix_fmt: str) -> None:
    path = tmp_path / "gray.mkv"
    mg.make_video(path, frames=2, codec="ffv1", pix_fmt=pix_fmt, gray=True)
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
    neutral = mg.neutral_chroma(frame.format)
    for i in (1, 2):
        assert np.all(mg._plane_view(frame, i) == neutral)


def test_pcm_audio_in_mov(tmp_path: Path) -> None:
    path = tmp_path / "pcm.mov"
    mg.make_video(path, frames=6, audio=[{"codec": "pcm_s16le"}])
    (audio,) = mg.probe_streams(path, decode=False)["audio"]
    assert audio["codec"] == "pcm_s16le"


def test_audio_only(tmp_path: Path) -> None:
    path = tmp_path / "a.m4a"
    mg.make_audio_only(path)
    info = mg.probe_streams(path)
    assert not info["video"] and len(info["audio"]) == 1


def test_truncated(tmp_path: Path) -> None:
    src, dst = tmp_path / "a.mkv", tmp_path / "t.mkv"
    mg.make_video(src, frames=24)
    mg.make_truncated(src, dst, keep_fraction=0.6)
    assert dst.stat().st_size < src.stat().st_size
    with av.open(str(dst)) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert 0 < n < 24


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_corrupt_middle(tmp_path: Path, ext: str) -> None:
    src, dst = tmp_path / f"a.{ext}", tmp_path / f"c.{ext}"
    mg.make_video(src, frames=48, codec_options={"g": "12"})
    hit = mg.make_corrupt_middle(src, dst)
    assert len(hit) == 3
    decoded, errors = 0, 0
    with av.open(str(dst)) as c:
        for packet in c.demux(video=0):
            try:
                decoded += len(packet.decode())
            except av.error.InvalidDataError:
                errors += 1
    assert errors >= 1
    assert 24 <= decoded < 48


@pytest.mark.parametrize(
    ("name", "gray", "bits", "channels"),
    [
        ("g.png", True, 8, 1),
        ("g16.png", True, 16, 1),
        ("c16.tif", False, 16, 3),
        ("c.webp", False, 8, 3),
        ("c.jpg", False, 8, 3),
    ],
)
def test_make_image(tmp_path: Path, name: str, gray: bool, bits: int, channels: int) -> None:
    path = tmp_path / name
    mg.make_image(path, width=33, height=17, gray=gray, bits=bits)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img.shape[:2] == (17, 33)
    assert (img.ndim == 2) == (channels == 1)
    assert img.dtype == (np.uint16 if bits == 16 else np.uint8)


def test_make_image_exif_orientation(tmp_path: Path) -> None:
    path = tmp_path / "o.jpg"
    mg.make_image(path, width=64, height=40, exif_orientation=6)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.shape == (40, 64)
    # OpenCV 5 applies EXIF orientation unless IMREAD_UNCHANGED/IGNORE_ORIENTATION.
    shown = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    assert shown.shape == (64, 40)
    assert shown[:5, -5:].mean() > 200  # bright top-left block moved to top-right
    with av.open(str(path)) as c:
        assert next(c.decode(video=0)).rotation == -90
