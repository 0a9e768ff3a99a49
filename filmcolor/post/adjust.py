"""Colour and tone adjustments of ``PostConfig``: pure functions plus a streaming deflicker.

Colour (``adjust_chroma``) acts on the predicted Lab chroma ``ab`` (Lab units, see
``filmcolor.color``), in this order:

1. white balance: ``gray-world`` subtracts each frame's mean a and b (weighted towards
   mid-tones when L is given), then ``tint`` is added to a and ``temperature`` to b;
2. ``hue_shift``: every (a, b) rotated by that many degrees (counter-clockwise, so 90° takes
   +a to +b, as the hue angles of ``HueRange`` count);
3. ``hue_ranges``: per pixel, a raised-cosine weight ``w`` of the hue's angular distance from
   each band's centre (1 at the centre, 0 from ±width/2 on); the chroma is scaled by
   ``1 + (saturation − 1)·w`` and the hue rotated by ``shift·w``. All bands see the hue as it
   enters this step (factors multiply, rotations add), so overlapping bands do not depend on
   their order;
4. ``saturation``: chroma × saturation;
5. ``vibrance``: chroma × ``1 + vibrance·max(0, 1 − C / VIBRANCE_REF)``;
6. ``chroma_limit``: a soft knee that keeps the hue and every C up to
   ``CHROMA_KNEE·limit`` and compresses the rest smoothly below the limit.

Tone (``adjust_luma``) acts on one frame's Y' code values: contrast around mid-gray, gamma,
CLAHE, unsharp mask. ``Deflicker`` evens out each frame's brightness and contrast over a
sliding window. Every step whose parameters are neutral is skipped, so a neutral config
returns its input unchanged (the very same object).
"""

from __future__ import annotations

import math
from collections import deque
from functools import lru_cache

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..color import luma_range
from ..config import HueRange, PostConfig

__all__ = [
    "CHROMA_KNEE",
    "DEFLICKER_MAX_GAIN",
    "DEFLICKER_STATS_PIXELS",
    "GRAY_WORLD_MARGIN",
    "VIBRANCE_REF",
    "Deflicker",
    "adjust_chroma",
    "adjust_luma",
    "colour_is_identity",
    "tone_is_identity",
]

#: Chroma (Lab units) from which vibrance no longer raises a colour: a weak colour C gains
#: ``vibrance·(1 − C/60)``, one of C ≥ 60 (already strong) is left alone.
VIBRANCE_REF = 60.0
#: The chroma limit leaves |ab| up to this fraction of the limit unchanged.
CHROMA_KNEE = 0.8
#: Gray-world with L: full weight for L in [margin, 100 − margin], falling linearly to 0 at
#: L = 0 and 100 (near black and white the chroma says little about the cast).
GRAY_WORLD_MARGIN = 20.0
#: The deflicker never scales a frame's contrast by more than this (or less than its inverse).
DEFLICKER_MAX_GAIN = 2.0
#: The deflicker measures each frame on a strided copy of about this many pixels.
DEFLICKER_STATS_PIXELS = 1 << 16
#: Below this standard deviation (normalised luma) a frame is flat: its contrast is kept.
_FLAT_STD = 1e-3
_WHITE_BALANCE = ("none", "gray-world")


# --------------------------------------------------------------------------- identity tests


def _hue_range_is_identity(saturation: float, shift: float) -> bool:
    return saturation == 1.0 and shift % 360.0 == 0.0


def colour_is_identity(cfg: PostConfig) -> bool:
    """True when ``adjust_chroma`` leaves the chroma unchanged (every colour field neutral)."""
    return (
        cfg.white_balance == "none"
        and cfg.temperature == 0.0
        and cfg.tint == 0.0
        and cfg.hue_shift % 360.0 == 0.0
        and all(_hue_range_is_identity(r.saturation, r.shift) for r in cfg.hue_ranges)
        and cfg.saturation == 1.0
        and cfg.vibrance == 0.0
        and cfg.chroma_limit == 0.0
    )


def tone_is_identity(cfg: PostConfig) -> bool:
    """True when the tone operations are all off: contrast, gamma, CLAHE, sharpen, deflicker.

    Denoise and deinterlace are FFmpeg filters (``post/filters.py``) and not counted here.
    A deflicker window of 1 frame matches each frame to itself, so it counts as off.
    """
    return (
        cfg.contrast == 1.0
        and cfg.gamma == 1.0
        and cfg.clahe == 0.0
        and cfg.sharpen == 0.0
        and cfg.deflicker <= 1
    )


# --------------------------------------------------------------------------- validation


def _check_colour_config(cfg: PostConfig) -> None:
    """The numbers of ``cfg`` were checked when it was built (``PostConfig``'s bounds); the
    white balance mode is checked here."""
    if cfg.white_balance not in _WHITE_BALANCE:
        raise ValueError(
            f"post: white_balance must be one of {_WHITE_BALANCE}; got {cfg.white_balance!r}"
        )


def _check_luma(y: np.ndarray, bits: int, name: str = "y") -> None:
    if not isinstance(bits, int) or not 8 <= bits <= 16:
        raise ValueError(f"{name}: bits must be an integer in 8..16; got {bits!r}")
    if not isinstance(y, np.ndarray) or y.ndim != 2:
        got = f"{type(y).__name__} {getattr(y, 'shape', '')}"
        raise ValueError(f"{name} must be a 2-D (H, W) numpy array; got {got}")
    want = np.uint8 if bits == 8 else np.uint16
    if y.dtype != want:
        raise ValueError(f"{name} at {bits} bits must be {np.dtype(want).name}; got {y.dtype}")
    if y.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {y.shape}")
    if 8 < bits < 16 and int(y.max()) >> bits:
        raise ValueError(f"{name} has code values ≥ 2**{bits}: max {int(y.max())}")


# --------------------------------------------------------------------------- colour


def _gray_world_mean(ab: torch.Tensor, L: torch.Tensor | None) -> torch.Tensor:
    """Per-frame mean of a and b, ``(N, 2, 1, 1)``; weighted by mid-tones when L is given."""
    plain = ab.mean(dim=(2, 3), keepdim=True)
    if L is None:
        return plain
    w = (torch.minimum(L, 100.0 - L) / GRAY_WORLD_MARGIN).clamp(0.0, 1.0)
    wsum = w.sum(dim=(2, 3), keepdim=True)
    weighted = (ab * w).sum(dim=(2, 3), keepdim=True) / wsum.clamp(min=1e-6)
    # A frame with (almost) nothing but black and white has no mid-tones to measure: fall back
    # to the plain mean rather than dividing by ~0.
    return torch.where(wsum >= 1.0, weighted, plain)


def _prepare_L(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Checks L and brings it to ``(N, 1, h, w)`` float32 on ab's device and size."""
    if not isinstance(L, torch.Tensor):
        raise ValueError(f"L must be a torch.Tensor; got {type(L).__name__}")
    if L.dim() == 3:
        L = L.unsqueeze(1)
    n = ab.shape[0]
    if L.dim() != 4 or L.shape[0] != n or L.shape[1] != 1:
        raise ValueError(f"L must have shape ({n}, 1, H, W) or ({n}, H, W); got {tuple(L.shape)}")
    L = L.to(device=ab.device, dtype=torch.float32)
    if L.shape[-2:] != ab.shape[-2:]:
        # Full-resolution L with render-size ab: area averaging gives each ab pixel the mean
        # L of the picture area it covers.
        L = F.interpolate(L, size=tuple(ab.shape[-2:]), mode="area")
    return L


def _band_fields(hue: torch.Tensor, bands: list[HueRange]) -> tuple[torch.Tensor, torch.Tensor]:
    """Hue ``(N, 1, h, w)`` degrees → (chroma factor, rotation in degrees) of the bands."""
    factor = torch.ones_like(hue)
    angle = torch.zeros_like(hue)
    for r in bands:
        half = r.width / 2.0
        # Signed angular distance in [−180, 180), clamped to ±half: the raised cosine is then
        # exactly 0 at the band's edges and beyond, with no branch.
        d = torch.remainder(hue - (r.center - 180.0), 360.0).sub_(180.0).clamp_(-half, half)
        w = torch.cos(d.mul_(math.pi / half)).add_(1.0).mul_(0.5)
        if r.saturation != 1.0:
            factor.mul_(w * (r.saturation - 1.0) + 1.0)
        if r.shift % 360.0 != 0.0:
            angle.add_(w, alpha=r.shift)
    return factor, angle


def _soft_limit(C: torch.Tensor, limit: float) -> torch.Tensor:
    """``min(C, knee) + (limit − knee)·tanh(max(C − knee, 0) / (limit − knee))``.

    With ``knee = CHROMA_KNEE·limit``: C up to the knee is kept exactly, the curve has slope 1
    at the knee and stays below ``limit`` (to float precision) however large C is.
    """
    knee = CHROMA_KNEE * limit
    span = limit - knee
    excess = (C - knee).clamp_(min=0.0).div_(span)
    return torch.clamp(C, max=knee).add_(torch.tanh_(excess), alpha=span)


def adjust_chroma(ab: torch.Tensor, cfg: PostConfig, L: torch.Tensor | None = None) -> torch.Tensor:
    """Applies the colour operations of ``cfg`` (order: see the module docstring).

    After the white balance (a translation of a and b) every other step is, per pixel, a
    rotation and a scaling of (a, b); they are collected into one angle and one factor and
    applied together, which is the same as applying them in turn (rotations keep C).

    Args:
        ab: ``(N, 2, h, w)`` floating Lab a, b in Lab units (about ±110), any device.
        cfg: the post config; only its colour fields are used.
        L: optional ``(N, 1, H, W)`` or ``(N, H, W)`` Lab L in [0, 100] of the same frames
            (any size: it is area-resized to h × w). With it, gray-world weighs each pixel by
            ``clamp(min(L, 100 − L) / GRAY_WORLD_MARGIN, 0, 1)``, so the mid-tones decide the
            cast; without it every pixel counts the same.

    Returns:
        ``(N, 2, h, w)`` a, b in ab's dtype and device (computed in float32). A neutral config
        returns ``ab`` itself.
    """
    if not isinstance(ab, torch.Tensor):
        raise ValueError(f"ab must be a torch.Tensor; got {type(ab).__name__}")
    if ab.dim() != 4 or ab.shape[1] != 2 or not ab.is_floating_point():
        raise ValueError(
            f"ab must be a floating (N, 2, h, w) tensor; got {ab.dtype} {tuple(ab.shape)}"
        )
    _check_colour_config(cfg)
    if colour_is_identity(cfg):
        return ab
    out = ab.float()

    # 1. White balance: first neutralise the measured cast, then add the one asked for.
    if cfg.white_balance == "gray-world":
        Lp = _prepare_L(L, out) if L is not None else None
        out = out - _gray_world_mean(out, Lp)
    if cfg.tint != 0.0 or cfg.temperature != 0.0:
        shift = torch.tensor([cfg.tint, cfg.temperature], dtype=out.dtype, device=out.device)
        out = out + shift.view(1, 2, 1, 1)

    a, b = out[:, :1], out[:, 1:]
    # 2. Global hue rotation (a plain angle) ...
    hue_shift = cfg.hue_shift % 360.0
    angle: float | torch.Tensor = hue_shift
    scale: float | torch.Tensor = 1.0

    # 3. ... plus the bands' rotations, weighted by the hue after the global rotation.
    bands = [r for r in cfg.hue_ranges if not _hue_range_is_identity(r.saturation, r.shift)]
    if bands:
        hue = torch.rad2deg(torch.atan2(b, a)).add_(hue_shift)
        factor, band_angle = _band_fields(hue, bands)
        scale = factor
        angle = band_angle.add_(hue_shift)

    # 4. Saturation.
    if cfg.saturation != 1.0:
        scale = scale * cfg.saturation

    # 5-6. Vibrance and the limit depend on the chroma C as it reaches them.
    if cfg.vibrance != 0.0 or cfg.chroma_limit > 0.0:
        C = torch.hypot(a, b).mul_(scale)
        if cfg.vibrance != 0.0:
            # A gain falling linearly from 1 + v at C = 0 to 1 at C = VIBRANCE_REF.
            gain = (C / -VIBRANCE_REF).add_(1.0).clamp_(min=0.0).mul_(cfg.vibrance).add_(1.0)
            scale = scale * gain
            C.mul_(gain)
        if cfg.chroma_limit > 0.0:
            # C' / C is exactly 1 below the knee; 0 / tiny = 0 for gray pixels.
            scale = scale * _soft_limit(C, cfg.chroma_limit).div_(C.clamp_(min=1e-12))

    # Everything but the white balance in one go: (a, b) ← scale · R(angle) · (a, b).
    if isinstance(angle, float) and angle == 0.0:
        out = out * scale
    else:
        rad = torch.as_tensor(angle, dtype=out.dtype, device=out.device) * (math.pi / 180.0)
        sc, ss = torch.cos(rad) * scale, torch.sin(rad) * scale
        out = torch.cat((a * sc - b * ss, a * ss + b * sc), dim=1)
    return out.to(ab.dtype)


# --------------------------------------------------------------------------- tone


def _unit_codes(bits: int, full_range: bool) -> tuple[np.ndarray, float, float]:
    """Every code value of ``bits`` as normalised luma (float64, unclipped), and (lo, hi)."""
    lo, hi = luma_range(bits, full_range)
    codes = np.arange(1 << bits, dtype=np.float64)
    return (codes - lo) / (hi - lo), lo, hi


def _to_codes(u: np.ndarray, lo: float, hi: float, dtype: np.dtype) -> np.ndarray:
    """Normalised luma → code values in [lo, hi], rounded, in ``dtype``."""
    return np.clip(np.rint(lo + u * (hi - lo)), lo, hi).astype(dtype)


@lru_cache(maxsize=8)
def _point_luts(
    bits: int, full_range: bool, contrast: float, gamma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Contrast around mid-gray 0.5, clipped to [0, 1], then ``u ** (1 / gamma)``, for every
    code value: (normalised float32 result, code values of it). Cached: the same few settings
    serve every frame of a film (a 16-bit table is 65536 powers)."""
    unit, lo, hi = _unit_codes(bits, full_range)
    u = np.clip((unit - 0.5) * contrast + 0.5, 0.0, 1.0)
    if gamma != 1.0:
        u = u ** (1.0 / gamma)
    codes = _to_codes(u, lo, hi, np.dtype(np.uint8 if bits == 8 else np.uint16))
    u32 = u.astype(np.float32)
    u32.flags.writeable = False
    codes.flags.writeable = False
    return u32, codes


def _clahe(u: np.ndarray, cfg: PostConfig, bits: int, full_range: bool) -> np.ndarray:
    """CLAHE of normalised luma ``(H, W)`` float32 in [0, 1] → same, via OpenCV.

    8-bit sources work in 8 bits, others in 16 bits (the whole 0..65535 scale, so each
    legal code value keeps its own histogram bin). OpenCV caps each bin at
    ``clipLimit · tile_pixels / bins``, i.e. relative to a histogram spread over *all* bins;
    10-bit data fills only 877 of the 65536 bins, so the limit given to OpenCV is
    ``cfg.clahe · bins / levels`` (levels = legal code values). The cap is then
    ``cfg.clahe`` times the mean count per level at every bit depth and range, and one setting
    gives the same result on 8- and 10-bit copies of a film.
    """
    lo, hi = luma_range(bits, full_range)
    levels = hi - lo + 1.0
    if bits == 8:
        top, dtype, bins = 255.0, np.uint8, 256.0
    else:
        top, dtype, bins = 65535.0, np.uint16, 65536.0
    work = np.rint(u * top).astype(dtype)
    tiles = cfg.clahe_tiles
    clahe = cv2.createCLAHE(clipLimit=cfg.clahe * bins / levels, tileGridSize=(tiles, tiles))
    return clahe.apply(work).astype(np.float32) / np.float32(top)


def adjust_luma(y: np.ndarray, bits: int, full_range: bool, cfg: PostConfig) -> np.ndarray:
    """Applies the per-frame tone operations of ``cfg`` to one frame's luma.

    Order: contrast around mid-gray (``u' = (u − 0.5)·contrast + 0.5``, clipped to [0, 1]),
    gamma (``u' = u ** (1/gamma)``, so > 1 brightens), CLAHE (see ``_clahe``), unsharp mask
    (``u' = u + sharpen·(u − GaussianBlur(u, sigma=sharpen_radius))``), all on the normalised
    luma ``u = (y − black) / (white − black)`` of the given range. The deflicker is separate
    (``Deflicker``: it needs the previous frames).

    Args:
        y: ``(H, W)`` luma code values: uint8 when ``bits`` is 8, else uint16 < 2**bits.
        bits: bit depth, 8..16.
        full_range: True for full ("pc") range, False for limited (16..235 scaled to bits).
        cfg: the post config; only its tone fields are used.

    Returns:
        ``(H, W)`` code values, same dtype, clipped to the legal range (limited: 16..235 at
        8 bits). A config with no tone operation returns ``y`` itself.
    """
    _check_luma(y, bits)
    point = cfg.contrast != 1.0 or cfg.gamma != 1.0
    if not (point or cfg.clahe > 0.0 or cfg.sharpen > 0.0):
        return y
    lo, hi = luma_range(bits, full_range)
    unit, codes = _point_luts(bits, full_range, float(cfg.contrast), float(cfg.gamma))
    if not (cfg.clahe > 0.0 or cfg.sharpen > 0.0):
        # Contrast and gamma alone are a point operation: one lookup table of code values.
        return codes[y]
    # Otherwise go through float32 once (the table is clipped to [0, 1]: no super-whites).
    u = unit[y]
    if cfg.clahe > 0.0:
        u = _clahe(u, cfg, bits, full_range)
    if cfg.sharpen > 0.0:
        blur = cv2.GaussianBlur(u, (0, 0), sigmaX=cfg.sharpen_radius, sigmaY=cfg.sharpen_radius)
        u = u + np.float32(cfg.sharpen) * (u - blur)
    return _to_codes(u, lo, hi, y.dtype)


class Deflicker:
    """Streaming luminance deflicker (``cfg.deflicker`` = window N frames; 0 or 1 is off).

    For frame t the normalised luma ``u`` (see ``adjust_luma``) is measured: mean ``m_t`` and
    standard deviation ``s_t``, on a strided copy of about ``DEFLICKER_STATS_PIXELS`` pixels
    (the same pixels every frame, so a pure gain is measured exactly). The targets are the
    plain means of those values over the last N frames, this one included (fewer right after
    the start or a ``reset``)::

        M_t = mean(m_{t−N+1..t}),  S_t = mean(s_{t−N+1..t})
        u'  = M_t + k·(u − m_t),   k = clamp(S_t / s_t, 1/DEFLICKER_MAX_GAIN, DEFLICKER_MAX_GAIN)

    (k = 1 when ``s_t`` < 1e-3: a flat frame has no contrast to match). A brightness or gain
    flicker is thus replaced by its N-frame moving average: an oscillation with a period of
    P frames keeps ``|sin(πN/P) / (N·sin(π/P))|`` of its amplitude (0 when N is a multiple of
    P). The first frame after a start or reset is unchanged.

    Causal: latency 0, the output of frame t depends on frames ≤ t only. State: the last N
    (m, s) pairs, so memory is flat for any length. Call ``reset`` at every shot cut, or a cut
    to a darker scene would be brightened towards the previous shot. Slow fades are followed
    with a lag of about N/2 frames, so keep N well below the length of a fade.
    """

    def __init__(self, cfg: PostConfig) -> None:
        window = cfg.deflicker  # 0..1000, checked by PostConfig
        self.window = window
        self._stats: deque[tuple[float, float]] = deque(maxlen=max(window, 1))

    @property
    def enabled(self) -> bool:
        """False when the window is 0 or 1 frame: every frame comes back unchanged."""
        return self.window > 1

    def reset(self) -> None:
        """Forgets the history (call at a shot cut): the next frame is taken as it is."""
        self._stats.clear()

    def __call__(self, y: np.ndarray, bits: int, full_range: bool) -> np.ndarray:
        """One frame, in stream order.

        Args:
            y: ``(H, W)`` luma code values: uint8 when ``bits`` is 8, else uint16 < 2**bits.
            bits: bit depth, 8..16.
            full_range: True for full range, False for limited (16..235 scaled to bits).

        Returns:
            ``(H, W)`` code values, same dtype, clipped to the legal range; ``y`` itself when
            disabled or when the frame already matches its targets.
        """
        _check_luma(y, bits)
        if not self.enabled:
            return y
        lo, hi = luma_range(bits, full_range)
        step = max(1, round(math.sqrt(y.size / DEFLICKER_STATS_PIXELS)))
        sample = y[::step, ::step].astype(np.float64)
        m = (float(sample.mean()) - lo) / (hi - lo)
        s = float(sample.std()) / (hi - lo)
        self._stats.append((m, s))
        target_m = sum(v[0] for v in self._stats) / len(self._stats)
        target_s = sum(v[1] for v in self._stats) / len(self._stats)
        k = 1.0
        if s >= _FLAT_STD:
            k = min(max(target_s / s, 1.0 / DEFLICKER_MAX_GAIN), DEFLICKER_MAX_GAIN)
        if abs(k - 1.0) < 1e-9 and abs(target_m - m) < 1e-9:
            return y
        # An affine map of the code values: one lookup table for the whole frame.
        unit, lo, hi = _unit_codes(bits, full_range)
        return _to_codes(target_m + k * (unit - m), lo, hi, y.dtype)[y]
