"""Colour and tone post-processing on generated frames with known answers."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from filmcolor.config import LOOKS, HueRange, PostConfig
from filmcolor.post.adjust import (
    CHROMA_KNEE,
    Deflicker,
    adjust_chroma,
    adjust_luma,
    colour_is_identity,
    tone_is_identity,
)

# --------------------------------------------------------------------------- helpers


def _const_ab(a: float, b: float, n: int = 1, h: int = 4, w: int = 5) -> torch.Tensor:
    return torch.tensor([a, b], dtype=torch.float32).view(1, 2, 1, 1).expand(n, 2, h, w).clone()


def _hue(ab: torch.Tensor) -> torch.Tensor:
    return torch.atan2(ab[:, 1], ab[:, 0])


def _chroma(ab: torch.Tensor) -> torch.Tensor:
    return torch.hypot(ab[:, 0], ab[:, 1])


def _textured(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth random texture in [0, 1] (float64): blurred noise plus a gentle ramp."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((h // 8 + 2, w // 8 + 2))
    # Bilinear upsampling of coarse noise gives blobs a few tiles wide.
    yy = np.linspace(0, noise.shape[0] - 1.001, h)
    xx = np.linspace(0, noise.shape[1] - 1.001, w)
    y0, x0 = yy.astype(int), xx.astype(int)
    fy, fx = (yy - y0)[:, None], (xx - x0)[None, :]
    n = (
        noise[y0][:, x0] * (1 - fy) * (1 - fx)
        + noise[y0 + 1][:, x0] * fy * (1 - fx)
        + noise[y0][:, x0 + 1] * (1 - fy) * fx
        + noise[y0 + 1][:, x0 + 1] * fy * fx
    )
    n = (n - n.mean()) / n.std()
    return np.clip(0.5 + 0.12 * n + 0.1 * np.linspace(-1, 1, w)[None, :], 0.0, 1.0)


def _codes(u: np.ndarray, bits: int, full_range: bool = False) -> np.ndarray:
    lo, hi = (0, (1 << bits) - 1) if full_range else (16 << (bits - 8), 235 << (bits - 8))
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.rint(lo + np.clip(u, 0, 1) * (hi - lo)).astype(dtype)


# --------------------------------------------------------------------------- colour


def test_gray_world_removes_known_cast() -> None:
    torch.manual_seed(0)
    ab = torch.randn(2, 2, 32, 40) * 15
    ab = ab - ab.mean(dim=(2, 3), keepdim=True)
    ab[0, 0] += 12.0
    ab[0, 1] -= 7.0
    ab[1, 0] -= 5.0
    ab[1, 1] += 20.0
    out = adjust_chroma(ab, PostConfig(white_balance="gray-world"))
    assert out.shape == ab.shape
    assert out.mean(dim=(2, 3)).abs().max() < 0.5


def test_gray_world_with_L_ignores_black_and_white() -> None:
    # Mid-tones carry a (+10, −6) cast; black and white pixels carry a wild (+60, +60).
    ab = _const_ab(10.0, -6.0, h=20, w=20)
    L = torch.full((1, 1, 20, 20), 50.0)
    ab[:, :, :5] = 60.0
    L[:, :, :5] = 0.0
    ab[:, :, -5:] = 60.0
    L[:, :, -5:] = 100.0
    out = adjust_chroma(ab, PostConfig(white_balance="gray-world"), L=L)
    assert out[:, :, 5:-5].abs().max() < 1e-4  # the mid-tones are neutral
    # L given at another size (full resolution) and as (N, H, W) works the same.
    big = torch.nn.functional.interpolate(L, scale_factor=4, mode="nearest")[:, 0]
    out2 = adjust_chroma(ab, PostConfig(white_balance="gray-world"), L=big)
    assert torch.allclose(out, out2, atol=1e-4)


def test_temperature_and_tint_shift_means_exactly() -> None:
    torch.manual_seed(1)
    ab = torch.randn(2, 2, 8, 8) * 10
    out = adjust_chroma(ab, PostConfig(temperature=6.0, tint=-3.5))
    delta = (out - ab).mean(dim=(0, 2, 3))
    assert torch.allclose(delta, torch.tensor([-3.5, 6.0]), atol=1e-5)


def test_hue_shift_90_maps_plus_a_to_plus_b() -> None:
    out = adjust_chroma(_const_ab(20.0, 0.0), PostConfig(hue_shift=90.0))
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.0, 20.0]), atol=1e-4)


def test_hue_range_grays_blue_and_leaves_red() -> None:
    blue = (0.0, -40.0)  # hue 270°
    red = (40.0, 5.0)
    ab = torch.cat((_const_ab(*blue), _const_ab(*red)))
    cfg = PostConfig(hue_ranges=(HueRange(center=270.0, width=90.0, saturation=0.0),))
    out = adjust_chroma(ab, cfg)
    assert out[0].abs().max() < 1e-4
    assert torch.equal(out[1], ab[1])


def test_hue_range_fades_with_raised_cosine_and_shifts() -> None:
    # A pixel at a quarter of the half-width from the centre gets weight (1 + cos(π/4)) / 2.
    width, center = 80.0, 180.0
    angle = math.radians(center + width / 8)
    ab = _const_ab(30 * math.cos(angle), 30 * math.sin(angle))
    cfg = PostConfig(hue_ranges=(HueRange(center, width, saturation=0.5, shift=-20.0),))
    out = adjust_chroma(ab, cfg)
    w = 0.5 * (1 + math.cos(math.pi / 4))
    assert math.isclose(float(_chroma(out)[0, 0, 0]), 30 * (1 + (0.5 - 1) * w), rel_tol=1e-4)
    got = math.degrees(float(_hue(out)[0, 0, 0])) % 360
    assert math.isclose(got, center + width / 8 - 20 * w, abs_tol=1e-3)


def test_saturation_zero_gives_gray() -> None:
    ab = torch.randn(1, 2, 6, 6) * 30
    assert torch.equal(adjust_chroma(ab, PostConfig(saturation=0.0)), torch.zeros_like(ab))


def test_vibrance_raises_weak_more_and_never_lowers() -> None:
    C = torch.linspace(0, 120, 241)
    ab = torch.stack((C, torch.zeros_like(C))).view(1, 2, 1, -1)
    out = adjust_chroma(ab, PostConfig(vibrance=1.0))
    C2 = _chroma(out).flatten()
    assert (C2 >= C - 1e-5).all()
    assert (C2[C >= 60] == C[C >= 60]).all()
    gain = C2[1:] / C[1:]
    assert gain[0] > 1.9 and (gain[:-1] >= gain[1:] - 1e-6).all()  # weak gains most
    assert (C2[1:] >= C2[:-1]).all()  # monotonic: no colour overtakes a stronger one


def test_chroma_limit_caps_and_keeps_hue() -> None:
    torch.manual_seed(2)
    ab = torch.randn(2, 2, 16, 16) * 60
    out = adjust_chroma(ab, PostConfig(chroma_limit=50.0))
    assert _chroma(out).max() <= 50.0 + 1e-4  # float32 rounding of the rescaled (a, b)
    strong = _chroma(ab) > 1.0
    dh = torch.remainder(_hue(out) - _hue(ab) + math.pi, 2 * math.pi) - math.pi
    assert dh[strong].abs().max() < 1e-4
    weak = _chroma(ab) <= CHROMA_KNEE * 50.0 - 1e-3
    assert torch.allclose(out.permute(1, 0, 2, 3)[:, weak], ab.permute(1, 0, 2, 3)[:, weak])


def test_identity_returns_input_unchanged() -> None:
    ab = torch.randn(3, 2, 7, 9) * 40
    assert adjust_chroma(ab, PostConfig()) is ab
    neutral = PostConfig(hue_ranges=(HueRange(90.0, saturation=1.0),), hue_shift=360.0)
    assert colour_is_identity(neutral)
    assert adjust_chroma(ab, neutral) is ab
    for bits, dtype in ((8, np.uint8), (10, np.uint16), (16, np.uint16)):
        y = np.random.default_rng(bits).integers(0, 1 << bits, (11, 13)).astype(dtype)
        out = adjust_luma(y, bits, False, PostConfig())
        assert out is y


def test_looks_are_colour_only_and_natural_is_identity() -> None:
    ab = torch.randn(2, 2, 8, 8) * 40
    L = torch.rand(2, 1, 8, 8) * 100
    assert colour_is_identity(LOOKS["natural"])
    for name, look in LOOKS.items():
        assert tone_is_identity(look), name
        out = adjust_chroma(ab, look, L=L)
        assert out.shape == ab.shape and torch.isfinite(out).all(), name
    assert _chroma(adjust_chroma(ab, LOOKS["faded"])).max() < 45.0


def test_chroma_keeps_dtype_and_rejects_bad_input() -> None:
    ab = (torch.randn(1, 2, 4, 4) * 20).double()
    assert adjust_chroma(ab, PostConfig(saturation=2.0)).dtype == torch.float64
    with pytest.raises(ValueError, match=r"\(N, 2, h, w\)"):
        adjust_chroma(torch.zeros(2, 4, 4), PostConfig(saturation=2.0))
    with pytest.raises(ValueError, match="floating"):
        adjust_chroma(torch.zeros(1, 2, 4, 4, dtype=torch.int32), PostConfig())
    with pytest.raises(ValueError, match="white_balance"):
        adjust_chroma(torch.zeros(1, 2, 4, 4), PostConfig(white_balance="auto"))
    with pytest.raises(ValueError, match="vibrance"):
        adjust_chroma(torch.zeros(1, 2, 4, 4), PostConfig(vibrance=2.0))
    with pytest.raises(ValueError, match="L must have shape"):
        adjust_chroma(ab, PostConfig(white_balance="gray-world"), L=torch.zeros(2, 1, 4, 4))


# --------------------------------------------------------------------------- tone


def test_contrast_raises_std_and_gamma_brightens() -> None:
    ramp = np.tile(np.linspace(0.3, 0.7, 200), (10, 1))
    for bits in (8, 10):
        y = _codes(ramp, bits)
        more = adjust_luma(y, bits, False, PostConfig(contrast=1.5))
        assert more.dtype == y.dtype and more.shape == y.shape
        assert more.astype(float).std() > 1.4 * y.astype(float).std()
        bright = adjust_luma(y, bits, False, PostConfig(gamma=1.5))
        assert bright.astype(float).mean() > y.astype(float).mean() + (4 << (bits - 8))
    # Clipped to the legal (limited) range.
    y = _codes(np.tile(np.linspace(0, 1, 256), (4, 1)), 8)
    out = adjust_luma(y, 8, False, PostConfig(contrast=3.0))
    assert out.min() == 16 and out.max() == 235


def test_clahe_raises_local_contrast_alike_at_8_and_10_bits() -> None:
    u = 0.45 + 0.2 * (_textured(256, 320) - 0.5)  # low contrast
    cfg = PostConfig(clahe=2.0, clahe_tiles=4)
    spreads = []
    for bits in (8, 10):
        y = _codes(u, bits)
        out = adjust_luma(y, bits, False, cfg)
        before = np.percentile(y, 95) - np.percentile(y, 5)
        after = np.percentile(out, 95) - np.percentile(out, 5)
        assert after > 1.5 * before
        spreads.append(after / (1 << (bits - 8)))
    # The clip limit means the same at both depths (within a few 8-bit code values).
    assert abs(spreads[0] - spreads[1]) < 0.1 * spreads[0]


def test_unsharp_raises_edge_energy() -> None:
    # A soft edge (a blurred step): unsharp masking steepens it.
    x = np.arange(64) - 31.5
    u = np.tile(0.3 + 0.4 / (1 + np.exp(-x / 2.0)), (16, 1))
    for bits, full in ((8, True), (10, False)):
        y = _codes(u, bits, full)
        out = adjust_luma(y, bits, full, PostConfig(sharpen=1.0, sharpen_radius=1.5))
        # High-frequency energy: sum of squared differences of neighbours.
        energy = [float((np.diff(a.astype(float), axis=1) ** 2).sum()) for a in (y, out)]
        assert energy[1] > 1.1 * energy[0], energy
        assert abs(out.astype(float).mean() - y.astype(float).mean()) < 1 << (bits - 8)


def test_luma_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="uint16"):
        adjust_luma(np.zeros((4, 4), np.uint8), 10, False, PostConfig(contrast=2.0))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        adjust_luma(np.zeros((4, 4, 3), np.uint8), 8, False, PostConfig(contrast=2.0))
    with pytest.raises(ValueError, match="2\\*\\*10"):
        adjust_luma(np.full((4, 4), 1024, np.uint16), 10, False, PostConfig(contrast=2.0))
    with pytest.raises(ValueError, match="gamma"):
        adjust_luma(np.zeros((4, 4), np.uint8), 8, False, PostConfig(gamma=0.0))


# --------------------------------------------------------------------------- deflicker


def _per_frame_means(frames: list[np.ndarray]) -> np.ndarray:
    return np.array([f.astype(float).mean() for f in frames])


@pytest.mark.parametrize(("bits", "period"), [(8, 7.0), (10, 5.3)])
def test_deflicker_cuts_oscillation(bits: int, period: float) -> None:
    base = 0.2 + 0.5 * _textured(90, 160)
    gains = [1.0 + 0.2 * math.sin(2 * math.pi * t / period) for t in range(60)]
    frames = [_codes(base * g, bits) for g in gains]
    deflicker = Deflicker(PostConfig(deflicker=24))
    out = [deflicker(f, bits, False) for f in frames]
    skip = 24
    before = _per_frame_means(frames[skip:]).std()
    after = _per_frame_means(out[skip:]).std()
    assert after < 0.2 * before, (before, after)
    assert out[0] is frames[0]  # the first frame is its own reference


def test_deflicker_static_sequence_and_reset_and_off() -> None:
    y = _codes(_textured(), 8)
    deflicker = Deflicker(PostConfig(deflicker=10))
    for _ in range(15):
        out = deflicker(y, 8, False)
        assert np.abs(out.astype(int) - y.astype(int)).max() <= 1
    # After bright frames a darker frame is pulled up; after reset it is left alone.
    dark = _codes(_textured() * 0.6, 8)
    assert deflicker(dark, 8, False).astype(float).mean() > dark.astype(float).mean() + 5
    deflicker.reset()
    assert deflicker(dark, 8, False) is dark
    off = Deflicker(PostConfig())
    assert not off.enabled and off(y, 8, False) is y
    with pytest.raises(ValueError, match="deflicker"):
        Deflicker(dataclasses.replace(PostConfig(), deflicker=-1))


def test_tone_is_identity_fields() -> None:
    assert tone_is_identity(PostConfig(denoise=2.0, deinterlace="bwdif"))
    for field in ({"contrast": 1.1}, {"gamma": 0.9}, {"clahe": 2.0}, {"sharpen": 0.5}):
        assert not tone_is_identity(PostConfig(**field)), field
    assert not tone_is_identity(PostConfig(deflicker=5))
    assert not colour_is_identity(PostConfig(chroma_limit=80.0))


def test_combined_steps_match_steps_applied_one_by_one() -> None:
    torch.manual_seed(3)
    ab = torch.randn(2, 2, 12, 12) * 50
    band = HueRange(center=200.0, width=120.0, saturation=0.6, shift=15.0)
    steps = [
        {"hue_shift": 30.0},
        {"hue_ranges": (band,)},
        {"saturation": 1.3},
        {"vibrance": 0.5},
        {"chroma_limit": 70.0},
    ]
    expected = ab
    for step in steps:
        expected = adjust_chroma(expected, PostConfig(**step))
    combined = {k: v for step in steps for k, v in step.items()}
    got = adjust_chroma(ab, PostConfig(**combined))
    assert torch.allclose(got, expected, atol=1e-3)
