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
from conftest import assert_one_line_error

from filmcolor import restore
from filmcolor.cli import main
from filmcolor.config import RestoreConfig, TemporalConfig, parse_rate
from filmcolor.errors import InputError, UsageError
from filmcolor.media.sequence import find_sequence, scan_folder
from filmcolor.report import Progress

START = 86400
W, H = 64, 48


def encode_picture(path: Path, data: np.ndarray, pix_fmt: str, codec: str) -> None:
    """One picture file written by PyAV's image encoder ``codec``: ``data`` is ``(H, W)``
    or ``(H, W, C)`` (packed formats) or ``(3, H, W)`` (planar ones, in plane order)."""
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = W, H, pix_fmt
    ctx.time_base = Fraction(1, 24)
    if data.ndim == 3 and data.shape[0] == 3:  # planar: fill the planes
        frame = av.VideoFrame(W, H, pix_fmt)
        for plane, values in zip(frame.planes, data, strict=True):
            view = np.frombuffer(plane, values.dtype).reshape(H, -1)
            view[:, :W] = values
    else:
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


def test_sequence_film_in_segments(tmp_path: Path, config: RestoreConfig) -> None:
    """A long sequence is restored in resumable segments like any film (here 0.5 s ones):
    the same frames and timing as one pass."""
    pattern = make_dpx_scans(tmp_path / "s", count=24)
    cfg = dataclasses.replace(
        config, segments=dataclasses.replace(config.segments, segment_seconds=0.5)
    )
    with_film_header(tmp_path / "s" / f"reel_{START:06d}.dpx", 24.0, 0x01020304)
    report = restore(str(pattern), tmp_path / "film.mkv", cfg)
    assert report.segments is not None and report.segments["count"] >= 2, report.segments
    with av.open(str(tmp_path / "film.mkv")) as container:
        frames = list(container.decode(video=0))
        tags = {k.lower(): v for k, v in container.streams.video[0].metadata.items()}
    assert len(frames) == 24 and report.frames_out == 24
    assert tags.get("timecode") == "01:02:03:04"


@pytest.mark.parametrize(
    ("ext", "codec", "pix_fmt", "out_fmt"),
    [
        (".dpx", "dpx", "gbrp10le", "gbrp10le"),
        (".png", "png", "gray16be", "rgb48be"),
        (".tif", "tiff", "rgb48le", "rgb48le"),
        (".jpg", "mjpeg", "yuvj444p", "yuvj444p"),
        (".exr", "exr", "gbrpf32le", "gbrpf32le"),
    ],
)
def test_formats_keep_their_kind_and_bits(
    tmp_path: Path, config: RestoreConfig, ext: str, codec: str, pix_fmt: str, out_fmt: str
) -> None:
    """10-bit DPX, PNG, TIFF, JPEG and EXR sequences (8/10/16-bit, float; gray or RGB) → the
    same format and depth, luma kept (EXR: linear light, compared as displayed)."""
    folder = tmp_path / "s"
    folder.mkdir()
    for k in range(4):
        v = scan_luma(k).astype(np.float64) / 65535  # as displayed, 0..1
        if codec == "exr":
            linear = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
            data = np.stack([linear.astype(np.float32)] * 3)  # G, B, R planes
        elif pix_fmt == "yuvj444p":
            y = np.rint(v * 255).astype(np.uint8)
            data = np.stack([y, np.full_like(y, 128), np.full_like(y, 128)])
        elif pix_fmt == "gbrp10le":
            data = np.stack([scan_luma(k) >> 6] * 3)
        elif pix_fmt == "rgb48le":
            data = np.stack([scan_luma(k)] * 3, -1)
        else:
            data = scan_luma(k)
        encode_picture(folder / f"shot_{k + 7:04d}{ext}", data, pix_fmt, codec)
    out = tmp_path / "out"
    out.mkdir()
    restore(str(folder / f"shot_%04d{ext}"), out, config)  # a folder: the input's names
    assert sorted(p.name for p in out.iterdir()) == [f"shot_{k + 7:04d}{ext}" for k in range(4)]
    frame = read_picture_file(out / f"shot_0008{ext}")
    assert frame.format.name == out_fmt
    rgb = frame.to_ndarray(format="rgb48le").astype(np.float64) / 65535
    if codec == "exr":
        planes = [np.frombuffer(p, np.float32).reshape(H, -1)[:, :W] for p in frame.planes]
        linear = np.stack([planes[2], planes[0], planes[1]], -1).clip(0, 1)  # G, B, R planes
        rgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    if codec == "mjpeg":  # JPEG: BT.601, 8 bits, lossy (ringing at the square's edges)
        err = np.abs(rgb @ np.array([0.299, 0.587, 0.114]) - scan_luma(1) / 65535)
        assert np.quantile(err, 0.95) < 0.01
    else:
        assert np.abs(bt709_luma(rgb) - scan_luma(1) / 65535).max() < 0.005
    assert np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 0.02  # colour added


def test_reference_named_like_a_scan_anchors_to_it(tmp_path: Path, config: RestoreConfig) -> None:
    """reel_086412.png colours scan reel_086412.dpx: on a still shot, where every frame
    looks alike and luma matching cannot tell them apart, the name alone anchors it (given
    with --reference, or in a --references folder)."""
    folder = tmp_path / "s"
    folder.mkdir()
    still = scan_luma(0)
    for k in range(16):
        encode_picture(folder / f"reel_{START + k:06d}.dpx", still, "gray16le", "dpx")
    y = (still >> 8).astype(np.uint8)
    colour = np.stack([y, (y * 0.6).astype(np.uint8), (y * 0.3).astype(np.uint8)], -1)
    refs = tmp_path / "refs"
    refs.mkdir()
    encode_picture(refs / f"reel_{START + 12:06d}.png", colour, "rgb24", "png")
    guide = dataclasses.replace(config.guide, references=(str(refs / "reel_086412.png"),))
    cfg = dataclasses.replace(config, guide=guide)
    report = restore(str(folder / "reel_%06d.dpx"), tmp_path / "a.mkv", cfg)
    assert report.guide is not None
    (info,) = report.guide["references"]
    assert info["frame"] == 12, info
    guide = dataclasses.replace(config.guide, references_dir=str(refs))
    report = restore(
        str(folder / "reel_%06d.dpx"), tmp_path / "b.mkv", dataclasses.replace(config, guide=guide)
    )
    assert report.guide is not None and report.guide["references"][0]["frame"] == 12


def test_numbered_photos_without_sequence_stay_separate(
    tmp_path: Path, config: RestoreConfig
) -> None:
    """A folder of photos, numbered or not, without --sequence: each restored on its own
    into a file of its own name, as always."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for k, name in enumerate(["img_0001.png", "img_0002.png", "beach.png"]):
        encode_picture(folder / name, (scan_luma(k) >> 8).astype(np.uint8), "gray", "png")
    out = tmp_path / "out"
    report = restore(folder, out, config)
    assert sorted(r.kind for r in report.files) == ["image"] * 3
    assert sorted(p.name for p in out.iterdir()) == ["beach.png", "img_0001.png", "img_0002.png"]


def run_cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["restore", *map(str, args), "--device", "cpu"])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("fps", "code"),
    [("24000/1001", 0), ("25", 0), ("0", 2), ("-24", 2), ("abc", 2), ("24/0", 2), ("2000", 2)],
)
def test_fps_parsing(fps: str, code: int) -> None:
    if code == 0:
        assert parse_rate(fps) == Fraction(fps)
        return
    with pytest.raises(ValueError, match="frame rate"):
        parse_rate(fps)
    exit_code, out = run_cli("in_%04d.png", "-o", "out.mkv", "--fps", fps)
    assert exit_code == 2
    assert_one_line_error(out, "--fps", "24000/1001")


def test_sequence_errors_are_one_line_with_exit_codes(tmp_path: Path, const_weights: Path) -> None:
    pattern = make_dpx_scans(tmp_path / "s", count=6)
    weights = ("--weights", const_weights)
    # no file matches (wrong number of digits): exit 3, naming what the pattern expects
    code, out = run_cli(tmp_path / "s" / "reel_%04d.dpx", "-o", tmp_path / "a.mkv", *weights)
    assert code == 3
    assert_one_line_error(out, "no file matches", "reel_86400.dpx")
    code, out = run_cli(tmp_path / "nowhere" / "r_%04d.dpx", "-o", tmp_path / "a.mkv")
    assert code == 3
    assert_one_line_error(out, "no such folder")
    # one file (not a sequence) with --fps, --sequence, or numbered images out: exit 2
    one = pattern.with_name(f"reel_{START:06d}.dpx")
    for extra, words in [
        (("-o", tmp_path / "c.mkv", "--fps", "24"), ("--fps", "own timing")),
        (("-o", tmp_path / "c.mkv", "--sequence"), ("--sequence", "folder")),
        (("-o", tmp_path / "c_%04d.png"), ("image sequence", ".mov")),
    ]:
        code, out = run_cli(one, *extra, *weights)
        assert code == 2, out
        assert_one_line_error(out, *words)
    # scans larger than --max-pixels: exit 3, from the header, before decoding
    code, out = run_cli(pattern, "-o", tmp_path / "a.mkv", "--max-pixels", 1000, *weights)
    assert code == 3
    assert_one_line_error(out, "64x48", "--max-pixels")
    # a frame-count-changing filter cannot keep the scans' numbers: exit 2
    code, out = run_cli(pattern, "-o", tmp_path / "x_%06d.dpx", "--ivtc", *weights)
    assert code == 2
    assert_one_line_error(out, "--ivtc", "numbers")
    # mixed sizes: exit 3, naming the odd one
    odd = tmp_path / "s" / f"reel_{START + 3:06d}.dpx"
    ctx = av.CodecContext.create("dpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 32, 24, "gray16le"
    frame = av.VideoFrame.from_ndarray(np.zeros((24, 32), np.uint16), format="gray16le")
    odd.write_bytes(b"".join(bytes(p) for p in ctx.encode(frame)))
    code, out = run_cli(pattern, "-o", tmp_path / "a.mkv", *weights)
    assert code == 3
    assert_one_line_error(out, odd.name, "32x24", "64x48")
    # a gap: exit 3, naming the missing frames
    odd.unlink()
    (tmp_path / "s" / f"reel_{START + 4:06d}.dpx").unlink()
    code, out = run_cli(tmp_path / "s", "-o", tmp_path / "a.mkv", "--sequence", *weights)
    assert code == 3
    assert_one_line_error(out, "2 frame(s) missing", "86403–86404")
    with pytest.raises(InputError, match="missing"):
        find_sequence(pattern)


def test_sequence_folder_scan(tmp_path: Path) -> None:
    """--sequence: the numbered images of a folder, in number order (10 after 9 whatever
    the padding), sidecars passed over; two sequences in one folder are refused."""
    folder = tmp_path / "s"
    folder.mkdir()
    for k in (8, 9, 10, 11):
        encode_picture(folder / f"f{k}.png", scan_luma(k) >> 8, "gray16be", "png")
    (folder / "f.xml").write_text("<scan/>")
    seq = scan_folder(folder)
    assert (seq.pattern.name, seq.start, seq.count) == ("f%d.png", 8, 4)
    assert seq.path(2).name == "f10.png"
    encode_picture(folder / "other_0001.png", scan_luma(0), "gray16be", "png")
    with pytest.raises(InputError, match="more than one sequence"):
        scan_folder(folder)


def test_pattern_output_refuses_foreign_frames(tmp_path: Path, config: RestoreConfig) -> None:
    """Frames at the output's names that no interrupted run of this command left are never
    written over without --overwrite (exit 2); nor may a video become numbered images."""
    pattern = make_dpx_scans(tmp_path / "s", count=3)
    out = tmp_path / "out"
    out.mkdir()
    (out / f"reel_{START + 1:06d}.dpx").write_bytes(b"someone else's scan")
    with pytest.raises(UsageError, match="1 of the 3 frames exist"):
        restore(str(pattern), out / "reel_%06d.dpx", config)
    assert (out / f"reel_{START + 1:06d}.dpx").read_bytes() == b"someone else's scan"
    other = dataclasses.replace(config, post=dataclasses.replace(config.post, saturation=0.5))
    restore(str(pattern), out / "x_%06d.dpx", config)
    (out / f"x_{START + 2:06d}.dpx").unlink()
    (out / ".x_%06d.dpx.filmcolor.json").write_text('{"input": "another film"}')
    with pytest.raises(UsageError, match="other settings"):
        restore(str(pattern), out / "x_%06d.dpx", other)


def test_info_on_a_pattern(tmp_path: Path) -> None:
    """``filmcolor info`` on a pattern: the sequence's size, depth, frames and timing."""
    import json

    pattern = make_dpx_scans(tmp_path / "s", count=3, rgb=True)
    result = CliRunner().invoke(main, ["info", str(pattern), "--json"])
    assert result.exit_code == 0, result.output
    media = json.loads(result.output)
    assert (media["width"], media["height"], media["bit_depth"]) == (W, H, 16)
    assert media["frame_count"] == 3
    assert media["sequence"] == {
        "start": START,
        "rate": "24",
        "rate_from": "default",
        "timecode": None,
    }


def test_preview_on_a_pattern(tmp_path: Path) -> None:
    """``filmcolor preview`` takes a pattern: times count from the first scan at the
    sequence's rate (24 fps here), and the sheet goes beside the scans as ``reel-preview.png``."""
    pattern = make_dpx_scans(tmp_path / "scans", count=12)
    args = ["preview", str(pattern), "--at", "0.3", "--device", "cpu", "--render-size", "64"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    sheet = tmp_path / "scans" / "reel-preview.png"
    picture = read_picture_file(sheet).to_ndarray(format="rgb24")
    assert picture.shape[0] > 0 and picture.std() > 0
    # 12 frames at 24 fps last 0.5 s: a time past the end is a usage error naming it
    late = CliRunner().invoke(main, [*args[:2], "--at", "0.6", *args[4:], "--overwrite"])
    assert late.exit_code == 2
    assert "beyond the end" in late.output


def test_a_scan_folder_without_sequence_gets_a_hint(tmp_path: Path, config: RestoreConfig) -> None:
    """A folder of nothing but numbered DPX scans, given without --sequence, is still
    restored file by file (as any folder), with a warning that says to pass --sequence; a
    folder of numbered photos gets no such warning."""
    pattern = make_dpx_scans(tmp_path / "scans", count=3)
    report = restore(pattern.parent, tmp_path / "out", config)
    assert len(report.files) == 3
    assert len(report.warnings) == 1
    assert "reel_%06d.dpx, 3 frames" in report.warnings[0]
    assert "--sequence" in report.warnings[0]
    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(2):
        encode_picture(
            photos / f"img_{k:04d}.png", (scan_luma(k) >> 8).astype(np.uint8), "gray", "png"
        )
    assert restore(photos, tmp_path / "out2", config).warnings == []


def test_keyframes_of_a_pattern_guide_its_restore(tmp_path: Path, config: RestoreConfig) -> None:
    """``filmcolor keyframes`` takes a pattern: one timecode-named gray PNG per shot, times
    from the first scan; coloured and passed back with --references, it guides the
    sequence's restore from its first frame."""
    pattern = make_dpx_scans(tmp_path / "scans", count=6)
    keys = tmp_path / "keys"
    args = ["keyframes", str(pattern), "-o", str(keys)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    pictures = sorted(p.name for p in keys.glob("*.png"))
    assert pictures == ["00-00-00.000.png"]
    gray = read_picture_file(keys / pictures[0]).to_ndarray(format="gray")
    assert gray.shape == (H, W)
    red = np.stack([gray, gray // 3, gray // 3], -1).astype(np.uint8)
    encode_picture(keys / pictures[0], red, "rgb24", "png")
    guided = dataclasses.replace(
        config, guide=dataclasses.replace(config.guide, references_dir=str(keys))
    )
    report = restore(str(pattern), tmp_path / "film.mkv", guided)
    assert report.guide is not None and report.guide["frames_guided"] == 6
