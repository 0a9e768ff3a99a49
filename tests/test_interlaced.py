"""Interlaced video: the field order is read from the stream, each field is coloured as its
own picture (``filmcolor.fields``) and the output stays interlaced with the same field order,
unless a deinterlacing filter is asked for.

Sources are made here with PyAV from a moving scene (bars and a disc moving 5 pixels per
field): H.264 MBAFF (libx264 with ``+ildct+ilme``) and MPEG-2 interlaced, each frame woven
from two instants of the scene and flagged with FFmpeg's ``setfield``.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import av
import av.filter
import cv2
import numpy as np
import pytest
import torch
from conftest import CONST_AB

from filmcolor.color import lab_to_rgb, luma_to_L, rgb_to_lab
from filmcolor.config import EncodeConfig, GuideConfig, PostConfig, RestoreConfig
from filmcolor.facade import restore
from filmcolor.fields import split_fields, weave_fields
from filmcolor.guide.sources import format_timecode
from filmcolor.media.encode import (
    FieldFlags,
    build_frame,
    choose_output_format,
    configure_video_stream,
)
from filmcolor.media.probe import probe
from filmcolor.report import RestoreReport

W, H = 96, 64
FRAMES = 8  # interlaced frames: 16 fields
STEP = 5  # pixels the scene moves per field
RATE = 25  # frames per second (50 fields)
ILACE = av.codec.context.Flags.interlaced_dct | av.codec.context.Flags.interlaced_me


def scene(t: int) -> np.ndarray:
    """The scene at field instant ``t``: ``(H, W)`` uint8 limited-range luma, bars and a
    bright disc moving right by ``STEP`` pixels per field."""
    x = np.arange(W)[None, :]
    y = np.arange(H)[:, None]
    bars = np.where(((x - STEP * t) // 16) % 2 == 0, 50, 200) + 0 * y
    disc = (x - 24 - STEP * t) ** 2 + (y - 32) ** 2 < 15**2
    return np.where(disc, 235, bars).astype(np.uint8)


def woven(k: int, tff: bool) -> np.ndarray:
    """Interlaced frame ``k``: its first field from instant 2k, its second from 2k + 1."""
    first, second = scene(2 * k), scene(2 * k + 1)
    out = first.copy()
    if tff:
        out[1::2] = second[1::2]
    else:
        out[0::2] = second[0::2]
    return out


def write(
    path: Path,
    codec: str,
    lumas: list[np.ndarray],
    rate: int,
    options: dict[str, str],
    field: str | None = None,
) -> None:
    """A gray yuv420p video of ``lumas``; ``field`` (``tff``/``bff``): interlaced coding,
    the frames flagged by ``setfield``."""
    graph = None
    if field is not None:
        graph = av.filter.Graph()
        src = graph.add(
            "buffer", f"video_size={W}x{H}:pix_fmt=yuv420p:time_base=1/{rate}:pixel_aspect=1/1"
        )
        flags = graph.add("setfield", f"mode={field}")
        sink = graph.add("buffersink")
        src.link_to(flags)
        flags.link_to(sink)
        graph.configure()
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        if field is not None:
            stream.codec_context.flags |= ILACE
        for k, y in enumerate(lumas):
            yuv = np.concatenate([y, np.full((H // 2, W), 128, np.uint8)])
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts, frame.time_base = k, Fraction(1, rate)
            if graph is not None:
                graph.push(frame)
                frame = graph.pull()
                frame.pts = k
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def mbaff(path: Path, tff: bool = True) -> Path:
    """H.264 MBAFF, (nearly) lossless."""
    field = "tff" if tff else "bff"
    options = {"preset": "ultrafast", "qp": "1", "x264-params": f"{field}=1"}
    write(path, "libx264", [woven(k, tff) for k in range(FRAMES)], RATE, options, field)
    return path


def mpeg2(path: Path, tff: bool = False) -> Path:
    """MPEG-2 interlaced (field DCT and motion), fine quantiser."""
    field = "tff" if tff else "bff"
    options = {"qmin": "1", "qmax": "2", "g": "6"}
    write(path, "mpeg2video", [woven(k, tff) for k in range(FRAMES)], RATE, options, field)
    return path


def progressive(path: Path) -> Path:
    """The same moving scene rendered progressively: one whole frame per field instant
    (2 × FRAMES frames at the field rate), lossless."""
    write(path, "ffv1", [scene(t) for t in range(2 * FRAMES)], 2 * RATE, {})
    return path


def read(path: Path) -> tuple[int, list[bool], np.ndarray]:
    """The video's field order (FFmpeg's AVFieldOrder), each frame's interlaced flag and
    its chroma ``(T, 2, H/2, W/2)`` float64 code values (8-bit yuv420p outputs)."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        order = stream.codec_context.field_order
        flags, chroma = [], []
        for f in c.decode(stream):
            assert f.format.name == "yuv420p"
            flags.append(f.interlaced_frame)
            planes = []
            for p in f.planes[1:3]:
                rows = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)
                planes.append(rows[:, : p.width].astype(np.float64))
            chroma.append(np.stack(planes))
    return order, flags, np.stack(chroma)


def alternation(C: np.ndarray) -> float:
    """Line-alternation energy: mean |C[y] − (C[y−1] + C[y+1]) / 2| over the planes."""
    return float(np.abs(C[..., 1:-1, :] - (C[..., :-2, :] + C[..., 2:, :]) / 2).mean())


def field_alternation(C: np.ndarray) -> float:
    """``alternation`` within each field: over the chroma rows of one parity at a time (in
    interlaced 4:2:0 chroma row j belongs to field j mod 2)."""
    return (alternation(C[..., 0::2, :]) + alternation(C[..., 1::2, :])) / 2


def woven_chroma(progressive: np.ndarray, tff: bool) -> np.ndarray:
    """Interlaced chroma ``(T, 2, H/2, W/2)`` woven from the chroma of progressive frames
    at the field rate ``(2T, 2, H/2, W/2)``, as ``woven`` weaves the luma: in interlaced
    4:2:0, chroma row j belongs to field j mod 2; frame k's first field is instant 2k."""
    first = 0 if tff else 1
    out = progressive[0::2].copy()
    out[:, :, 1 - first :: 2] = progressive[1::2, :, 1 - first :: 2]
    return out


def restored(src: Path, dst: Path, config: RestoreConfig, codec: str = "ffv1") -> RestoreReport:
    config = dataclasses.replace(config, encode=EncodeConfig(codec=codec))
    report = restore(src, dst, config)
    assert isinstance(report, RestoreReport)
    return report


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, const_config: RestoreConfig) -> np.ndarray:
    """The chroma of the progressive rendering of the scene, restored (FFV1)."""
    folder = tmp_path_factory.mktemp("progressive")
    src = progressive(folder / "progressive.mkv")
    restored(src, folder / "out.mkv", const_config)
    order, flags, chroma = read(folder / "out.mkv")
    assert not any(flags) and order != 2
    return chroma


# ------------------------------------------------------------------------- units


@pytest.mark.parametrize("tff", [True, False])
@pytest.mark.parametrize("height", [8, 7])
def test_fields_split_in_time_order_and_weave_back(tff: bool, height: int) -> None:
    frames = torch.arange(2 * height * 3, dtype=torch.float32).reshape(2, 1, height, 3)
    fields = split_fields(frames, tff)
    assert fields.shape == (4, 1, -(-height // 2), 3)
    first = 0 if tff else 1
    assert torch.equal(fields[0, 0, : height // 2], frames[0, 0, first::2][: height // 2])
    assert torch.equal(fields[3, 0, : height // 2], frames[1, 0, 1 - first :: 2][: height // 2])
    back = weave_fields(fields.numpy(), height, tff)
    np.testing.assert_array_equal(back, frames.numpy())


def test_probe_reads_the_field_order(tmp_path: Path) -> None:
    top = probe(mbaff(tmp_path / "tff.mp4", tff=True))
    assert (top.interlaced, top.field_order, top.top_field_first) == (True, "tt", True)
    bottom = probe(mpeg2(tmp_path / "bff.ts", tff=False))
    assert (bottom.interlaced, bottom.field_order, bottom.top_field_first) == (True, "bb", False)
    flat = probe(progressive(tmp_path / "p.mkv"))
    assert not flat.interlaced
    assert flat.to_dict()["field_order"] == flat.field_order


# ------------------------------------------------------------------------- restore


@pytest.mark.parametrize(
    ("make", "ext", "tff"),
    [(mbaff, ".mp4", True), (mpeg2, ".ts", False)],
    ids=["h264-mbaff-tff", "mpeg2-bff"],
)
def test_interlaced_source_keeps_its_field_order_and_colours_each_field(
    tmp_path: Path, const_config: RestoreConfig, reference: np.ndarray, make, ext, tff
) -> None:
    """The acceptance test. "The same content restored progressive" is the same moving
    scene rendered progressively at the field rate (one whole frame per field instant, see
    ``progressive``), restored with the same settings, and presented as the interlaced
    output is: its chroma woven, each field's rows from the progressive frame of that
    field's instant (``woven_chroma``).

    The line-alternation energy over the whole woven frame is then compared like with like:
    on moving content correct chroma alternates with the luma's own combing (about 8 × the
    energy of the progressive frames themselves here), and chroma smeared across the
    fields loses that alternation (the control below). It is also compared within each
    field (chroma rows of one parity; ``field_alternation``), where neighbouring lines of
    one picture are two rows apart, and each output field is compared with the progressive
    frame of its instant.
    """
    src = make(tmp_path / f"src{ext}", tff=tff)
    report = restored(src, tmp_path / "out.mkv", const_config)
    assert report.frames_out == FRAMES and report.media["interlaced"]
    order, flags, chroma = read(tmp_path / "out.mkv")
    assert order == (2 if tff else 3)  # AV_FIELD_TT / AV_FIELD_BB, as the source
    assert all(flags)
    got, want = field_alternation(chroma), field_alternation(reference)
    assert want > 0.1  # the scene has vertical chroma structure to measure
    assert abs(got - want) <= 0.1 * want, (got, want)
    got, want = alternation(chroma), alternation(woven_chroma(reference, tff))
    assert abs(got - want) <= 0.1 * want, (got, want)
    # control: the same output with each pair of chroma rows averaged across the fields
    smeared = np.repeat((chroma[:, :, 0::2] + chroma[:, :, 1::2]) / 2, 2, axis=2)
    assert alternation(smeared) < 0.5 * want
    # each field's chroma is that of its own instant (no smear across the fields)
    first = 0 if tff else 1
    error = np.mean(
        [
            np.abs(chroma[k, :, p::2] - reference[2 * k + (p != first), :, p::2]).mean()
            for k in range(FRAMES)
            for p in (0, 1)
        ]
    )
    spread = np.abs(reference[1:] - reference[:-1]).mean()  # a field's worth of motion
    assert error < 0.25 * spread, (error, spread)


def test_h264_output_is_mbaff_with_the_source_field_order(
    tmp_path: Path, const_config: RestoreConfig
) -> None:
    src = mpeg2(tmp_path / "bff.ts", tff=False)
    restored(src, tmp_path / "out.mp4", const_config, codec="libx264")
    out = probe(tmp_path / "out.mp4")  # MP4 has no field-order tag: the H.264 stream says it
    assert (out.interlaced, out.field_order) == (True, "bb")
    order, flags, _ = read(tmp_path / "out.mp4")
    assert order == 3 and all(flags)


def test_deinterlace_writes_progressive_frames(tmp_path: Path, const_config: RestoreConfig) -> None:
    src = mbaff(tmp_path / "src.mp4")
    config = dataclasses.replace(const_config, post=PostConfig(deinterlace="bwdif"))
    report = restored(src, tmp_path / "out.mkv", config, codec="libx264")
    assert report.frames_out == FRAMES
    order, flags, _ = read(tmp_path / "out.mkv")
    assert order in (0, 1) and not any(flags)  # unknown or progressive: not interlaced
    assert not probe(tmp_path / "out.mkv").interlaced


def test_reference_guides_both_fields_of_every_frame(
    tmp_path: Path, const_config: RestoreConfig
) -> None:
    """The guide counts frames, not fields: a colour reference of frame 0 is found at
    frame 0, guides every frame, and both fields of the last frame take its colour."""
    src = mbaff(tmp_path / "src.mp4")
    # frame 0's first field in green-yellow, at the scene's own lightness
    L = luma_to_L(torch.from_numpy(scene(0).astype(np.int64)), 8, False)[None]
    green = torch.tensor([-40.0, 40.0]).reshape(2, 1, 1).expand(2, H, W)
    rgb = (lab_to_rgb(torch.cat((L, green))).clamp(0, 1) * 255).round().byte()
    ref = tmp_path / f"{format_timecode(Fraction(0))}.png"
    cv2.imwrite(str(ref), cv2.cvtColor(rgb.permute(1, 2, 0).numpy(), cv2.COLOR_RGB2BGR))
    config = dataclasses.replace(const_config, guide=GuideConfig(references=(str(ref),)))
    report = restored(src, tmp_path / "out.mkv", config)
    assert report.guide is not None
    (info,) = report.guide["references"]
    assert info["frame"] == 0
    assert report.guide["frames_guided"] == FRAMES
    want = rgb_to_lab(rgb.float() / 255)[1:, torch.from_numpy(scene(0) == 200)].mean(dim=1)
    with av.open(str(tmp_path / "out.mkv")) as c:
        last = list(c.decode(video=0))[-1].to_ndarray(format="rgb24")
    lab = rgb_to_lab(torch.from_numpy(last).permute(2, 0, 1).float() / 255)
    first = 0  # MBAFF top field first
    for p in (0, 1):  # each field's bright bars, at that field's instant
        bright = torch.from_numpy(scene(2 * (FRAMES - 1) + (p != first))[p::2] == 200)
        ab = lab[1:, p::2][:, bright].mean(dim=1)
        assert float((ab - want).norm()) < 10.0, (p, ab, want)
        assert float((ab - torch.tensor(CONST_AB)).norm()) > 60.0


def test_encoders_that_cannot_code_fields_say_so(tmp_path: Path) -> None:
    """x264 codes interlaced 4:2:0 only at heights divisible by 4, and x265 never: the
    frames are then coded progressive (the container's tag keeps the order), with a warning."""
    info = probe(mpeg2(tmp_path / "src.ts"))
    assert choose_output_format(info, EncodeConfig(codec="libx264"))[1] == []
    (warning,) = choose_output_format(info, EncodeConfig(codec="libx265"))[1]
    assert "HEVC" in warning
    short = dataclasses.replace(info, height=H - 2)
    fmt, (warning,) = choose_output_format(short, EncodeConfig(codec="libx264"))
    assert "divisible by 4" in warning
    with av.open(str(tmp_path / "out.mkv"), "w") as out:  # opens, and encodes
        stream = configure_video_stream(out, short, fmt, EncodeConfig(codec="libx264"), None)
        luma = np.full((H - 2, W), 100, np.uint8)
        chroma = np.full((2, (H - 2) // 2, W // 2), 128, np.uint8)
        frame = FieldFlags(True)(build_frame(luma, chroma, fmt, 0, Fraction(1, RATE)))
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    order, flags, _ = read(tmp_path / "out.mkv")
    assert order == 3 and flags == [False]  # the source's bb tag, progressive coding


def test_undeclared_field_order_is_top_first_with_a_warning(
    tmp_path: Path, const_config: RestoreConfig
) -> None:
    src = tmp_path / "src.mkv"  # FFV1: frames flagged interlaced, no field order declared
    write(src, "ffv1", [woven(k, True) for k in range(FRAMES)], RATE, {}, "tff")
    info = probe(src)
    assert (info.interlaced, info.field_order, info.top_field_first) == (True, "unknown", True)
    report = restored(src, tmp_path / "out.mkv", const_config)
    assert any("top field first assumed" in w for w in report.warnings), report.warnings
    order, flags, _ = read(tmp_path / "out.mkv")
    assert order == 2 and all(flags)
