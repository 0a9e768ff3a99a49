"""Colour conversions on tensors: luma code values ↔ Lab L, Lab ↔ sRGB, RGB → YCbCr chroma.

Conventions used everywhere in filmcolor:

- Lab is CIE L*a*b* under D65 with sRGB primaries and transfer, as OpenCV and skimage define
  it: ``L`` in [0, 100], ``a``/``b`` roughly in [-110, 110].
- RGB tensors are gamma-encoded sRGB in [0, 1], channels first: ``(*, 3, H, W)``.
- Video luma is a code value of ``bit_depth`` bits, limited ("tv", 16–235 at 8 bits) or full
  ("pc") range. A gray pixel has R' = G' = B' = Y' (normalised), so its Lab L follows from Y'.

Written here rather than taken from kornia: the few formulas below are all filmcolor needs,
and they must also map integer luma code values of any bit depth through a lookup table.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import torch

Matrix = Literal["bt601", "bt709", "bt2020"]

#: Luma coefficients (Kr, Kb) of each YCbCr matrix.
KR_KB: dict[str, tuple[float, float]] = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
}

# D65 white point and the sRGB ↔ XYZ matrices (IEC 61966-2-1).
_WHITE = (0.950456, 1.0, 1.088754)
_RGB2XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_EPS = 216 / 24389  # (6/29)^3
_KAPPA = 24389 / 27


def _check_channels(x: torch.Tensor, channels: int, name: str) -> None:
    if x.dim() < 3 or x.shape[-3] != channels:
        raise ValueError(f"{name} must have shape (*, {channels}, H, W); got {tuple(x.shape)}")


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """sRGB gamma-encoded values in [0, 1] → linear light in [0, 1] (any shape)."""
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Linear light in [0, 1] → sRGB gamma-encoded values in [0, 1] (any shape)."""
    x = x.clamp(0.0, 1.0)
    return torch.where(
        x <= 0.0031308, x * 12.92, 1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055
    )


def _f(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > _EPS, t.clamp(min=_EPS) ** (1 / 3), (_KAPPA * t + 16) / 116)


def _f_inv(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > 6 / 29, t**3, (116 * t - 16) / _KAPPA)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """``(*, 3, H, W)`` sRGB in [0, 1] → ``(*, 3, H, W)`` Lab (L in [0, 100], a/b ≈ ±110)."""
    _check_channels(rgb, 3, "rgb")
    lin = srgb_to_linear(rgb.float())
    m = torch.tensor(_RGB2XYZ, dtype=lin.dtype, device=lin.device)
    xyz = torch.einsum("ij,...jhw->...ihw", m, lin)
    white = torch.tensor(_WHITE, dtype=lin.dtype, device=lin.device).view(3, 1, 1)
    fx, fy, fz = _f(xyz / white).unbind(-3)
    lab = torch.stack((116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)), dim=-3)
    return lab


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """``(*, 3, H, W)`` Lab → ``(*, 3, H, W)`` sRGB in [0, 1] (out-of-gamut values clipped)."""
    _check_channels(lab, 3, "lab")
    lab = lab.float()
    L, a, b = lab.unbind(-3)
    fy = (L + 16) / 116
    fx = fy + a / 500
    fz = fy - b / 200
    white = torch.tensor(_WHITE, dtype=lab.dtype, device=lab.device).view(3, 1, 1)
    xyz = _f_inv(torch.stack((fx, fy, fz), dim=-3)) * white
    m = torch.linalg.inv(torch.tensor(_RGB2XYZ, dtype=torch.float64)).to(lab.dtype).to(lab.device)
    lin = torch.einsum("ij,...jhw->...ihw", m, xyz)
    return linear_to_srgb(lin)


def luma_range(bit_depth: int, full_range: bool) -> tuple[float, float]:
    """(black, white) code values of luma at ``bit_depth`` bits in the given range."""
    if full_range:
        return 0.0, float((1 << bit_depth) - 1)
    scale = 1 << (bit_depth - 8)
    return 16.0 * scale, 235.0 * scale


def luma_to_unit(y: torch.Tensor, bit_depth: int, full_range: bool) -> torch.Tensor:
    """Luma code values (any integer or float tensor) → Y' in [0, 1], float32, clipped."""
    lo, hi = luma_range(bit_depth, full_range)
    return ((y.float() - lo) / (hi - lo)).clamp(0.0, 1.0)


@lru_cache(maxsize=16)
def _luma_lut_cpu(bit_depth: int, full_range: bool) -> torch.Tensor:
    codes = torch.arange(1 << bit_depth, dtype=torch.float64)
    unit = luma_to_unit(codes, bit_depth, full_range).double()
    lin = srgb_to_linear(unit)
    return (116 * _f(lin) - 16).float()


def luma_to_L(y: torch.Tensor, bit_depth: int, full_range: bool) -> torch.Tensor:
    """Luma code values ``(...)`` uint8/uint16/int → Lab L ``(...)`` float32 in [0, 100].

    A gray pixel with R' = G' = B' = Y' has exactly this L. Integer input goes through a
    lookup table (2**bit_depth entries), so the cost is one gather per pixel.
    """
    lut = _luma_lut_cpu(bit_depth, full_range).to(y.device)
    if y.dtype == torch.uint16:
        y = y.to(torch.int32)
    if y.is_floating_point():
        unit = luma_to_unit(y, bit_depth, full_range)
        return 116 * _f(srgb_to_linear(unit)) - 16
    return lut[y.long().clamp(0, (1 << bit_depth) - 1)]


def rgb_to_chroma(
    rgb: torch.Tensor, matrix: Matrix, bit_depth: int, full_range: bool
) -> torch.Tensor:
    """``(*, 3, H, W)`` sRGB in [0, 1] → ``(*, 2, H, W)`` float Cb, Cr code values.

    Code values are unrounded and unclipped; ``quantize_chroma`` makes integers of them.
    """
    _check_channels(rgb, 3, "rgb")
    kr, kb = KR_KB[matrix]
    r, g, b = rgb.float().unbind(-3)
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb = (b - y) / (2 * (1 - kb))
    cr = (r - y) / (2 * (1 - kr))
    top = (1 << bit_depth) - 1
    mid = float(1 << (bit_depth - 1))
    scale = top if full_range else 224.0 * (1 << (bit_depth - 8))
    return torch.stack((cb * scale + mid, cr * scale + mid), dim=-3)


def quantize_chroma(chroma: torch.Tensor, bit_depth: int, full_range: bool) -> torch.Tensor:
    """Float Cb/Cr code values → rounded and clipped to the legal range, same shape, int32."""
    if full_range:
        lo, hi = 0, (1 << bit_depth) - 1
    else:
        lo, hi = 16 << (bit_depth - 8), 240 << (bit_depth - 8)
    return chroma.round().clamp(lo, hi).to(torch.int32)
