"""Colour conversions against published values, round trips, and input checks."""

import pytest
import torch

from filmcolor.color import (
    lab_to_rgb,
    luma_to_L,
    quantize_chroma,
    rgb_to_chroma,
    rgb_to_lab,
)


def _px(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(3, 1, 1)


@pytest.mark.parametrize(
    ("rgb", "lab"),
    [
        ((1.0, 0.0, 0.0), (53.24, 80.09, 67.20)),  # sRGB red
        ((0.0, 1.0, 0.0), (87.73, -86.18, 83.18)),  # sRGB green
        ((0.0, 0.0, 1.0), (32.30, 79.19, -107.86)),  # sRGB blue
        ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
        ((0.5, 0.5, 0.5), (53.39, 0.0, 0.0)),
    ],
)
def test_rgb_to_lab_known_values(rgb: tuple, lab: tuple) -> None:
    got = rgb_to_lab(_px(*rgb)).flatten()
    assert torch.allclose(got, torch.tensor(lab), atol=0.05)


def test_lab_round_trip_and_batch_shapes() -> None:
    rgb = torch.rand(2, 5, 3, 7, 9)
    lab = rgb_to_lab(rgb)
    assert lab.shape == rgb.shape
    assert torch.allclose(lab_to_rgb(lab), rgb, atol=1e-4)


def test_shape_errors_name_what_was_received() -> None:
    with pytest.raises(ValueError, match=r"\(4, 2, 2\)"):
        rgb_to_lab(torch.rand(4, 2, 2))
    with pytest.raises(ValueError, match="lab"):
        lab_to_rgb(torch.rand(2, 2))


@pytest.mark.parametrize(("bits", "full"), [(8, True), (8, False), (10, False), (16, True)])
def test_luma_to_L_is_the_L_of_the_gray_pixel(bits: int, full: bool) -> None:
    top = (1 << bits) - 1
    lo, hi = (0, top) if full else (16 << (bits - 8), 235 << (bits - 8))
    codes = torch.linspace(lo, hi, 50).round().long()
    L = luma_to_L(codes, bits, full)
    unit = (codes.float() - lo) / (hi - lo)
    expected = rgb_to_lab(unit.view(1, 1, -1).expand(3, 1, -1))[0, 0]
    assert torch.allclose(L, expected, atol=1e-3)
    assert L[0] == pytest.approx(0.0, abs=1e-4) and L[-1] == pytest.approx(100.0, abs=1e-3)


def test_limited_range_clips_below_black_and_above_white() -> None:
    L = luma_to_L(torch.tensor([0, 16, 235, 255], dtype=torch.uint8), 8, False)
    assert L.tolist() == pytest.approx([0.0, 0.0, 100.0, 100.0], abs=1e-3)


def test_uint16_luma() -> None:
    y = torch.tensor([64, 940], dtype=torch.uint16)
    assert luma_to_L(y, 10, False).tolist() == pytest.approx([0.0, 100.0], abs=1e-3)


@pytest.mark.parametrize("matrix", ["bt601", "bt709", "bt2020"])
def test_gray_has_neutral_chroma(matrix: str) -> None:
    gray = torch.full((3, 2, 2), 0.3)
    c = quantize_chroma(rgb_to_chroma(gray, matrix, 8, False), 8, False)
    assert (c == 128).all()
    c10 = quantize_chroma(rgb_to_chroma(gray, matrix, 10, True), 10, True)
    assert (c10 == 512).all()


def test_bt709_chroma_of_primaries() -> None:
    # BT.709, 8-bit limited: red has Cr = 240, blue has Cb = 240 (the extremes).
    c = rgb_to_chroma(torch.eye(3).view(3, 3, 1), "bt709", 8, False)
    cb, cr = c[0, :, 0], c[1, :, 0]
    assert cr[0] == pytest.approx(240.0, abs=0.01)
    assert cb[2] == pytest.approx(240.0, abs=0.01)
    assert (quantize_chroma(c, 8, False) <= 240).all()
