"""Image sequences (film scans) in and out: a printf pattern or a ``--sequence`` folder read
as one film, written as a film or as numbered images that keep the scans' names and bits."""

from __future__ import annotations

import dataclasses
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from filmcolor import restore
from filmcolor.cli import main
from filmcolor.config import RestoreConfig, TemporalConfig, parse_rate
from filmcolor.errors import InputError, UsageError
from filmcolor.report import Progress
from filmcolor.media.sequence import find_sequence, scan_folder

from conftest import assert_one_line_error

START = 86400
W, H = 64, 48


def encode_picture(path: Path, data: np.ndarray, pix_fmt: str, codec: str) -> None:
    """One picture file written by PyAV's image encoder ``codec``: ``data`` is ``(H, W)``
    or ``(H, W, C)`` (packed formats) or ``(C, H, W)`` (planar ones)."""
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = W, H, pix_fmt
    ctx.time_base = Fraction(1, 24)
    frame = av.VideoFrame.from_ndarray(data, format=pix_fmt)
    path.write_bytes(b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)]))


def scan_luma(k: int) -> np.ndarray:
    """Frame ``k`` of a moving 16-bit gray film: a bright square sliding over a ramp."""
    y, x = np.mgrid[0:H, 0:W]
    luma = 8000 + x * 700 + y * 150
    x0 = 4 + 2 * k
    luma[10:30, x0 : x0 + 16] = 60000
    return luma.astype(np.uint16)


def make_dpx_scans(folder: Path, count: int = 24, rgb: bool = False) -> Path:
    """``count`` 16-bit DPX scans ``reel_086400.dpx`` … in ``folder``; their pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        luma = scan_luma(k)
        data, fmt = (np.stack([luma] * 3, -1), "rgb48le") if rgb else (luma, "gray16le")
        encode_picture(folder / f"reel_{START + k:06d}.dpx", data, fmt, "dpx")
    return folder / "reel_%06d.dpx"


def with_film_header(path: Path, rate: float, timecode: int) -> None:
    """Give a DPX file written by FFmpeg (a 1664-byte header) the film and TV headers:
    frame rate at 1724 and 1940, timecode (BCD) at 1920, as scanners write them."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"XPDS"  # little-endian
    head, pixels = data[:1664], data[1664:]
    out = head + bytearray(2048 - 1664) + pixels
    out[4:8] = struct.pack("<I", 2048)
    out[16:20] = struct.pack("<I", len(out))
    out[808:812] = struct.pack("<I", 2048)  # image element 1: offset to data
    out[1724:1728] = struct.pack("<f", rate)
    out[1920:1924] = struct.pack("<I", timecode)
    out[1940:1944] = struct.pack("<f", rate)
    path.write_bytes(bytes(out))


def read_picture_file(path: Path) -> av.VideoFrame:
    with av.open(str(path), "r", format="image2") as container:
        return next(container.decode(video=0))


def bt709_luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722


@pytest.fixture
def config(const_config: RestoreConfig) -> RestoreConfig:
    return dataclasses.replace(const_config, temporal=TemporalConfig(keyframe_interval=2))


def test_dpx_pattern_to_dpx_pattern_keeps_names_and_16_bits(
    tmp_path: Path, config: RestoreConfig
) -> None:
    """Acceptance: 24 16-bit DPX scans from 86400 → the same 24 names, 16-bit DPX, luma
    within 0.5 % of range of the source, colour added; one film (the temporal stage ran:
    fewer model frames than frames)."""
    pattern = make_dpx_scans(tmp_path / "scans")
    out = tmp_path / "out"
    out.mkdir()
    report = restore(str(pattern), out / "reel_%06d.dpx", config)
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"reel_{START + k:06d}.dpx" for k in range(24)]
    assert report.frames_out == 24 and 0 < report.frames_model < 24
    for k in (0, 11, 23):
        frame = read_picture_file(out / f"reel_{START + k:06d}.dpx")
        assert frame.format.name == "rgb48le"
        rgb = frame.to_ndarray().astype(np.float64)
        error = np.abs(bt709_luma(rgb) - scan_luma(k)).max() / 65535
        assert error < 0.005, (k, error)
        assert np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 1000  # colour added
        assert len(np.unique(rgb[..., 1])) > 256  # 16 bits, not 8 scaled up
    assert not list(out.glob(".*")), "the resume manifest is gone after success"


def test_sequence_folder_to_prores_mov(tmp_path: Path, const_weights: Path) -> None:
    """Acceptance: the scans as a folder with --sequence --fps 24 --codec prores → a ProRes
    .mov of 24 frames at 24 fps, with the warning that ProRes keeps 10 of the 16 bits."""
    make_dpx_scans(tmp_path / "scans", rgb=True)
    (tmp_path / "scans" / "notes.txt").write_text("reel 1, scanned 2026")  # passed over
    out = tmp_path / "reel.mov"
    args = ["restore", str(tmp_path / "scans"), "-o", str(out), "--sequence", "--fps", "24"]
    args += ["--codec", "prores", "--weights", str(const_weights), "--device", "cpu"]
    result = CliRunner().invoke(main, [*args, "--render-size", "64"])
    assert result.exit_code == 0, result.output
    assert "keeps only 10" in result.output and "16 bits" in result.output
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "prores"
        assert stream.average_rate == 24
        frames = list(container.decode(stream))
    assert len(frames) == 24
    assert [f.pts * f.time_base for f in frames] == [Fraction(k, 24) for k in range(24)]
    assert frames[0].format.name == "yuv422p10le"


def test_header_rate_and_timecode_and_fps_override(tmp_path: Path) -> None:
    """The DPX header's frame rate and timecode are read; --fps overrides the rate; a
    sequence without one is 24 fps."""
    pattern = make_dpx_scans(tmp_path / "s", count=3)
    for k in range(3):
        with_film_header(tmp_path / "s" / f"reel_{START + k:06d}.dpx", 25.0, 0x10000000)
    seq = find_sequence(pattern)
    assert (seq.start, seq.count, seq.rate, seq.rate_source) == (START, 3, 25, "header")
    assert seq.timecode == "10:00:00:00"
    seq = find_sequence(pattern, "24000/1001")
    assert (seq.rate, seq.rate_source) == (Fraction(24000, 1001), "--fps")
    make_dpx_scans(tmp_path / "t", count=2)
    assert find_sequence(tmp_path / "t" / "reel_%06d.dpx").rate == 24


def test_film_output_of_a_sequence_is_timed_by_fps(tmp_path: Path, config: RestoreConfig) -> None:
    """--fps 24000/1001: frame k is at k × 1001/24000 s exactly (MP4); FFV1 keeps the 16
    bits of the scans' luma, and their timecode becomes the film's."""
    pattern = make_dpx_scans(tmp_path / "s", count=5)
    with_film_header(tmp_path / "s" / f"reel_{START:06d}.dpx", 24.0, 0x01020304)
    cfg = dataclasses.replace(config, fps="24000/1001")
    restore(str(pattern), tmp_path / "film.mp4", cfg)
    with av.open(str(tmp_path / "film.mp4")) as container:
        frames = list(container.decode(video=0))
    assert [f.pts * f.time_base for f in frames] == [Fraction(1001 * k, 24000) for k in range(5)]
    cfg = dataclasses.replace(cfg, encode=dataclasses.replace(cfg.encode, codec="ffv1"))
    report = restore(str(pattern), tmp_path / "film.mkv", cfg)
    assert not any("bits" in w for w in report.warnings), report.warnings
    with av.open(str(tmp_path / "film.mkv")) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        tags = {k.lower(): v for k, v in stream.metadata.items()}  # Matroska: TIMECODE
    assert tags.get("timecode") == "01:02:03:04"
    assert frames[0].format.name == "yuv420p16le"
    y = np.frombuffer(frames[2].planes[0], np.uint16).reshape(H, -1)[:, :W]
    np.testing.assert_array_equal(y, scan_luma(2))  # the scan's own 16-bit luma


def test_pattern_output_resumes_after_interruption(tmp_path: Path, config: RestoreConfig) -> None:
    """A run stopped part-way (Ctrl-C) leaves complete frames only; the same command again
    writes the missing frames alone, and they match those of an uninterrupted run."""
    pattern = make_dpx_scans(tmp_path / "s", count=12)
    full, part = tmp_path / "full", tmp_path / "part"
    full.mkdir()
    part.mkdir()
    restore(str(pattern), full / "f_%06d.tif", config)

    def interrupt(p: Progress) -> None:
        if p.frames_done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        restore(str(pattern), part / "f_%06d.tif", config, interrupt)
    written = sorted(part.glob("f_*.tif"))
    assert 0 < len(written) < 12
    assert not list(part.glob("*.tmp"))
    report = restore(str(pattern), part / "f_%06d.tif", config)
    assert report.frames_out == 12 - len(written)
    assert f"resumed: {len(written)} frames were written by an earlier run" in report.warnings
    assert sorted(p.name for p in part.iterdir()) == sorted(p.name for p in full.iterdir())
    for k in range(12):
        a = read_picture_file(full / f"f_{START + k:06d}.tif").to_ndarray().astype(int)
        b = read_picture_file(part / f"f_{START + k:06d}.tif").to_ndarray().astype(int)
        assert a.dtype == b.dtype and np.abs(a - b).max() <= 512, k
    # complete: a rerun refuses to write over it; --overwrite writes it all again
    with pytest.raises(UsageError, match="--overwrite"):
        restore(str(pattern), part / "f_%06d.tif", config)
    again = restore(str(pattern), part / "f_%06d.tif", dataclasses.replace(config, overwrite=True))
    assert again.frames_out == 12
