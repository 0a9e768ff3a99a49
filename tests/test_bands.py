"""Bounded memory for large frames: row bands give the whole picture's result, and batches
and queues are sized to a byte budget."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import TEST_RENDER

from filmcolor.compose import (
    ComposeStage,
    LumaStage,
    frame_groups,
    luma_L,
    luma_tensor,
    rgb_bands,
    rgb_picture,
    shrink_frames,
)
from filmcolor.config import ColorizeConfig, EncodeConfig, RestoreConfig
from filmcolor.media.decode import LumaFrame
from filmcolor.media.encode import OutputFormat, x264_lookahead
from filmcolor.model.bands import area_band, area_windows, bilinear_band, row_bands
from filmcolor.model.colorizer import Colorizer
from filmcolor.pipeline import frame_bytes, frames_within, restore_video
from filmcolor.stage import FrameBatch


@pytest.mark.parametrize(("n_in", "n_out"), [(37, 19), (40, 20), (41, 7), (30, 30), (53, 16)])
def test_area_band_equals_whole_picture_area_resize(n_in: int, n_out: int) -> None:
    x = torch.rand(2, 1, n_in, 29) * 100
    whole = F.interpolate(x, size=(n_out, 11), mode="area")
    start, stop = area_windows(n_in, n_out)
    parts = []
    for r0, r1 in row_bands(n_out, 1, 3):  # bands of 3 output rows
        s, e = int(start[r0]), int(stop[r1 - 1])
        parts.append(area_band(x[..., s:e, :], start[r0:r1] - s, stop[r0:r1] - s, 11))
    assert torch.allclose(torch.cat(parts, dim=-2), whole, atol=1e-4)


@pytest.mark.parametrize(("n_in", "n_out"), [(10, 37), (16, 64), (7, 7), (13, 100)])
def test_bilinear_band_equals_whole_picture_bilinear_resize(n_in: int, n_out: int) -> None:
    x = torch.randn(1, 4, n_in, 9) * 30
    whole = F.interpolate(x, size=(n_out, 9), mode="bilinear", align_corners=False)
    parts = [bilinear_band(x, n_out, r0, r1) for r0, r1 in row_bands(n_out, 9, 9 * 5)]
    assert torch.allclose(torch.cat(parts, dim=-2), whole, atol=1e-4)


def test_row_bands_cover_every_row_once_within_the_budget() -> None:
    bands = row_bands(103, 40, 400)
    assert bands[0] == (0, 10) and bands[-1] == (100, 103)
    assert [r for b in bands for r in range(*b)] == list(range(103))
    assert row_bands(5, 1000, 10) == [(i, i + 1) for i in range(5)]  # one row at least


def test_frame_groups_split_a_batch_by_pixels() -> None:
    assert frame_groups(8, 100, 800) == [(0, 8)]
    assert frame_groups(8, 100, 350) == [(0, 3), (3, 6), (6, 8)]
    assert frame_groups(3, 1000, 999) is None  # one frame alone is larger: bands


def _batch(frames: list[np.ndarray], colorizer: Colorizer, bits: int, pixels: int) -> FrameBatch:
    batch = FrameBatch([LumaFrame(i, y) for i, y in enumerate(frames)])
    LumaStage(colorizer, bits, False, pixels).push(batch)
    assert batch.L_low is not None
    torch.manual_seed(1)
    n, _, h, w = batch.L_low.shape
    # colour with structure at render size, and luma edges at full size: the guided filter's
    # fit and its upsampling both matter
    ab_low = torch.randn(n, 2, h, w) * 25
    batch.coef = colorizer.coefficients(batch.L_low, ab_low)
    return batch


@pytest.mark.parametrize(
    ("pix_fmt", "shift", "bits", "size"),
    [
        ("yuv420p", (1, 1), 8, (140, 192)),
        ("yuv420p10le", (1, 1), 10, (151, 197)),  # odd: uneven area windows (FFV1 4:2:0)
        ("yuv444p16le", (0, 0), 16, (128, 160)),
        ("yuv422p10le", (1, 0), 10, (130, 166)),
    ],
)
def test_banded_compose_equals_the_whole_frame_within_one_code_value(
    const_weights: Path, pix_fmt: str, shift: tuple[int, int], bits: int, size: tuple[int, int]
) -> None:
    colorizer = Colorizer(const_weights, ColorizeConfig(device="cpu", render_size=TEST_RENDER))
    rng = np.random.default_rng(0)
    top = (1 << bits) - 1
    H, W = size
    frames = []
    for _ in range(3):
        y = rng.integers(0, top + 1, (H, W))
        y[:, W // 3 :] //= 3  # a hard edge the colour must follow
        frames.append(y.astype(np.uint8 if bits <= 8 else np.uint16))
    fmt = OutputFormat(pix_fmt, bits, shift, False, "bt709")
    big = 1 << 24
    whole = _batch(frames, colorizer, bits, big)
    assert whole.L is not None  # the small batch keeps its full-size L
    ComposeStage(fmt, bits, False, pixels=big).push(whole)
    # 5 chroma rows a band, and the luma shrunk a few rows at a time
    banded = _batch(frames, colorizer, bits, 5 * (W >> shift[0]))
    assert banded.L is None
    assert torch.allclose(banded.L_low, whole.L_low, atol=1e-3)
    assert banded.coef is not None and whole.coef is not None
    ComposeStage(fmt, bits, False, pixels=5 * -(-W // (1 << shift[0]))).push(banded)
    assert whole.chroma is not None and banded.chroma is not None
    for a, b in zip(whole.chroma, banded.chroma, strict=True):
        assert a.shape == b.shape == (2, -(-H // (1 << shift[1])), -(-W // (1 << shift[0])))
        diff = np.abs(a.astype(np.int32) - b.astype(np.int32))
        assert diff.max() <= 1
        assert (diff > 0).mean() < 0.01


def test_frames_within_a_byte_budget() -> None:
    mb = 1 << 20
    assert frames_within(128, 2 * mb, 32) == 32  # 1080p: the configured depth
    assert frames_within(128, 25 * mb, 32) == 5  # a 4K 16-bit scan: fewer
    assert frames_within(256, 102 * mb, 32, 2) == 2  # 8K 16-bit: never below the floor
    assert frames_within(256, 102 * mb, 8) == 2
    assert frames_within(256, 300 * mb, 8) == 1


def test_frame_bytes_of_luma_and_chroma() -> None:
    class Info:
        width, height, bit_depth = 4096, 3112, 16

    fmt = OutputFormat("yuv420p10le", 10, (1, 1), False, "bt709")
    assert frame_bytes(Info(), fmt) == (4096 * 3112 * 2, 2 * 1556 * 2048 * 2)  # type: ignore[arg-type]


def test_restore_in_bands_and_small_batches_gives_the_same_film(
    tmp_path: Path, const_config: RestoreConfig
) -> None:
    src = tmp_path / "in.mkv"
    rng = np.random.default_rng(3)
    with av.open(str(src), "w") as out:
        v = out.add_stream("ffv1", rate=24)
        v.width, v.height, v.pix_fmt = 96, 64, "gray"
        v.time_base = Fraction(1, 24)
        for i in range(7):
            y = rng.integers(16, 236, (64, 96), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(y, format="gray")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    whole = ColorizeConfig(device="cpu", render_size=TEST_RENDER, batch_size=4)
    tiny = ColorizeConfig(device="cpu", render_size=TEST_RENDER, batch_size=3, band_pixels=48 * 3)
    ffv1 = EncodeConfig(codec="ffv1")
    outputs = []
    for name, config in (
        ("whole.mkv", RestoreConfig(weights=const_config.weights, colorize=whole, encode=ffv1)),
        # 3 chroma rows a band, other batch boundaries (the budget cuts batches at 4K/8K)
        ("bands.mkv", RestoreConfig(weights=const_config.weights, colorize=tiny, encode=ffv1)),
    ):
        restore_video(src, tmp_path / name, config)
        with av.open(str(tmp_path / name)) as inp:
            outputs.append([f.to_ndarray(channel_last=False) for f in inp.decode(video=0)])
    assert len(outputs[0]) == len(outputs[1]) == 7
    for a, b in zip(*outputs, strict=True):
        assert np.abs(a.astype(np.int32) - b.astype(np.int32)).max() <= 1


def test_x264_lookahead_is_cut_for_large_pictures_only() -> None:
    assert x264_lookahead(1920, 1080, 8, "medium") is None
    assert x264_lookahead(1920, 1080, 10, "medium") is None
    assert x264_lookahead(1920, 1080, 8, "veryslow") is None
    assert x264_lookahead(3840, 2160, 8, "medium") == 23
    assert x264_lookahead(4096, 3112, 10, "medium") == 10
    assert x264_lookahead(8192, 6224, 10, "medium") == 10  # never under 10
    assert x264_lookahead(8192, 6224, 10, "veryfast") is None  # the preset's is shorter


@pytest.mark.parametrize("bits", [8, 16])
def test_banded_still_picture_equals_the_whole_one_within_one_code_value(
    const_weights: Path, bits: int
) -> None:
    colorizer = Colorizer(const_weights, ColorizeConfig(device="cpu", render_size=TEST_RENDER))
    rng = np.random.default_rng(2)
    y = rng.integers(0, 1 << bits, (150, 203)).astype(np.uint8 if bits == 8 else np.uint16)
    y[60:] //= 4
    big = 1 << 24
    L_low, L = shrink_frames([y], colorizer, bits, True, big)
    assert L is not None
    L_low_banded, none = shrink_frames([y], colorizer, bits, True, 203 * 7)
    assert none is None and torch.allclose(L_low_banded, L_low, atol=1e-3)
    ab_low = torch.randn(1, 2, *L_low.shape[-2:], generator=torch.Generator().manual_seed(0))
    coef = colorizer.coefficients(L_low, ab_low * 25)
    staging = colorizer.staging
    whole = rgb_bands(y, bits, True, coef, bits, staging, big)
    # the picture as before bands existed: L, the guided upsampling, rgb_picture
    L_full = luma_L(luma_tensor(y, staging), bits, True)
    assert np.array_equal(
        whole, rgb_picture(L_full, colorizer.upsample(L_low, ab_low * 25, L_full), bits)[0]
    )
    banded = rgb_bands(y, bits, True, coef, bits, staging, 203 * 4)  # 4 rows a band
    diff = np.abs(whole.astype(np.int32) - banded.astype(np.int32))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
