"""Temporal metrics of videos: CDC and warp error (definitions: ``filmcolor.metrics``).

A video is a sequence of ``(H, W, 3)`` RGB frames (uint8, uint16 or float in [0, 1]; the
temporal metrics read 8-bit code values). ``TemporalMeter`` streams them with flat memory; its
three steps (``prepare`` a frame pair, ``warp_errors`` between two prepared pairs, ``add`` them
in order) let a caller run the first two on worker threads: they hold no state and spend their
time in OpenCV and numpy, which release the GIL.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np

from .image import METRIC_KEYS, to_unit_rgb

if TYPE_CHECKING:
    from ..temporal.flow import FlowEstimator, Preset

#: CDC's frame distances (TCVC), averaged with equal weights.
CDC_DILATIONS = (1, 2, 4)
#: Histogram bins of CDC, for RGB and for Lab a/b alike.
CDC_BINS = 256
#: The Lab a/b range the chroma histograms cover: bins of width 1 over [-128, 128).
AB_RANGE = (-128.0, 128.0)
#: Lab a/b are divided by this for the chroma warp error.
WARP_AB_SCALE = 100.0
#: The DIS preset of the metrics' optical flow (more accurate than the pipeline's); it works
#: at half the picture's size (finest scale 1) and brings the flow back to full size.
FLOW_PRESET: Preset = "medium"

#: The temporal metrics, for the candidate; ``reference_``-prefixed copies hold the
#: reference's own values.
TEMPORAL_KEYS = ("cdc_rgb", "cdc_chroma", "warp_error_rgb", "warp_error_chroma")

#: The per-video metrics, in the order reports list them.
VIDEO_METRIC_KEYS = (*METRIC_KEYS, *TEMPORAL_KEYS, *(f"reference_{k}" for k in TEMPORAL_KEYS))

#: CIE Lab as ``filmcolor.color.rgb_to_lab`` has it (D65 white, sRGB → XYZ, the break of f);
#: copied so that ``eval`` needs no torch, and a test holds them equal.
_WHITE = (0.950456, 1.0, 1.088754)
_RGB2XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_EPS, _KAPPA = 216 / 24389, 24389 / 27

Space = Literal["rgb", "chroma"]
_WHO = ("candidate", "reference")
_SPACES: tuple[Space, ...] = ("rgb", "chroma")


def js_divergence(p: np.ndarray, q: np.ndarray) -> float | np.ndarray:
    """Jensen–Shannon divergence, natural log, of histograms along the last axis.

    ``p`` and ``q``: ``(..., B)`` non-negative, each normalised to sum 1 here (as scipy's
    ``entropy`` does). Returns a float for 1-D input, else an array of shape ``p.shape[:-1]``;
    0 for equal histograms, at most ln 2 for disjoint ones.
    """
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.shape != q.shape:
        raise ValueError(f"histograms differ in shape: {p.shape} vs {q.shape}")
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = 0.5 * (p + q)

    def kl_to_m(x: np.ndarray) -> np.ndarray:
        ratio = np.divide(x, m, out=np.ones_like(x), where=x > 0)
        return (x * np.log(ratio)).sum(axis=-1)

    js = 0.5 * kl_to_m(p) + 0.5 * kl_to_m(q)
    return float(js) if js.ndim == 0 else js


def _codes_u8(rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"frame must have shape (H, W, 3); got {a.shape}")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    return np.clip(np.rint(to_unit_rgb(a) * 255), 0, 255).astype(np.uint8)


def _counts(codes: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` uint8 → ``(C, 256)`` float64 histograms of each channel, summing to 1."""
    channels, pixels = codes.shape[2], codes.shape[0] * codes.shape[1]
    if pixels < 1 << 24:  # OpenCV counts in float32: exact below 2^24
        hists = [
            cv2.calcHist([codes], [c], None, [CDC_BINS], [0, CDC_BINS]) for c in range(channels)
        ]
    else:
        hists = [np.bincount(codes[..., c].ravel(), minlength=CDC_BINS) for c in range(channels)]
    return np.stack([h.reshape(-1) for h in hists]).astype(np.float64) / pixels


def rgb_histograms(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB (uint8, uint16 or float in [0, 1]) → ``(3, 256)`` float64 histograms
    of the 8-bit code values of R, G and B, each summing to 1."""
    return _counts(_codes_u8(rgb))


@lru_cache(maxsize=1)
def _lab_tables() -> tuple[np.ndarray, np.ndarray]:
    """sRGB code value → linear light (256 entries), and the RGB → XYZ / white matrix."""
    x = np.arange(256) / 255.0
    linear = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    matrix = np.array(_RGB2XYZ) / np.array(_WHITE)[:, None]
    return linear.astype(np.float32), matrix.astype(np.float32)


def _ab(rgb: np.ndarray) -> np.ndarray:
    """``rgb_to_ab`` as ``(H, W, 2)``. Numpy and OpenCV rather than the torch conversion:
    several times faster on CPU frames, and it releases the GIL for the worker threads."""
    linear, matrix = _lab_tables()
    xyz = cv2.transform(cv2.LUT(_codes_u8(rgb), linear), matrix)  # X/Xn, Y/Yn, Z/Zn
    low = xyz * np.float32(_KAPPA / 116)
    low += np.float32(16 / 116)
    f = np.where(xyz > _EPS, np.cbrt(xyz), low)
    return cv2.transform(f, np.array([[500, -500, 0], [0, 200, -200]], np.float32))


def rgb_to_ab(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` sRGB (uint8, uint16 or float in [0, 1]) → ``(2, H, W)`` float32 Lab a, b
    (roughly [-87, 99] and [-108, 95] for sRGB colours): ``filmcolor.color.rgb_to_lab`` of the
    8-bit code values, in numpy (within 1e-4 of it)."""
    return _ab(rgb).transpose(2, 0, 1)


def _ab_codes(ab: np.ndarray) -> np.ndarray:
    """Lab a or b values (any shape) → uint8 bins ``floor(v) + 128``, clipped to [0, 255]."""
    lo, hi = AB_RANGE
    bins = (ab - np.float32(lo)) * np.float32(CDC_BINS / (hi - lo))
    np.clip(bins, 0, CDC_BINS - 1, out=bins)
    return bins.astype(np.uint8)  # truncation is floor for these non-negative values


def ab_histograms(ab: np.ndarray) -> np.ndarray:
    """``(2, H, W)`` Lab a, b → ``(2, 256)`` float64 histograms, bins of width 1 over
    [-128, 128) (bin ``floor(v) + 128``, values outside clipped into the end bins), each
    summing to 1."""
    a = np.asarray(ab)
    if a.ndim != 3 or a.shape[0] != 2:
        raise ValueError(f"ab must have shape (2, H, W); got {a.shape}")
    return _counts(np.ascontiguousarray(_ab_codes(a).transpose(1, 2, 0)))


def frame_histograms(rgb: np.ndarray, space: Space = "rgb") -> np.ndarray:
    """The CDC histograms of one ``(H, W, 3)`` RGB frame: ``(3, 256)`` for ``rgb``,
    ``(2, 256)`` for ``chroma`` (Lab a, b)."""
    if space == "rgb":
        return rgb_histograms(rgb)
    if space == "chroma":
        return ab_histograms(rgb_to_ab(rgb))
    raise ValueError(f"space must be 'rgb' or 'chroma'; got {space!r}")


class CDC:
    """Colour distribution consistency of a frame sequence, fed one frame's histograms at a
    time (memory: the last ``max(dilations)`` histograms).

    ``update(h)`` takes ``(C, B)`` histograms (``rgb_histograms``, ``ab_histograms``);
    ``value`` is the mean over the dilations that have at least one frame pair of the mean
    over pairs (t, t + d) of the channel-mean JS divergence; ``nan`` before two frames.
    """

    def __init__(self, dilations: Sequence[int] = CDC_DILATIONS) -> None:
        if not dilations or min(dilations) < 1:
            raise ValueError(f"dilations must be positive frame distances; got {dilations}")
        self.dilations = tuple(dilations)
        self._recent: deque[np.ndarray] = deque(maxlen=max(self.dilations))
        self._sums = dict.fromkeys(self.dilations, 0.0)
        self._pairs = dict.fromkeys(self.dilations, 0)

    def update(self, hist: np.ndarray) -> None:
        for d in self.dilations:
            if len(self._recent) >= d:
                self._sums[d] += float(np.mean(js_divergence(self._recent[-d], hist)))
                self._pairs[d] += 1
        self._recent.append(hist)

    @property
    def per_dilation(self) -> dict[int, float]:
        """Mean JS divergence per dilation (``nan`` where no pair was that far apart)."""
        return {d: self._sums[d] / n if (n := self._pairs[d]) else math.nan for d in self._sums}

    @property
    def value(self) -> float:
        terms = [v for v in self.per_dilation.values() if not math.isnan(v)]
        return float(np.mean(terms)) if terms else math.nan


def cdc(
    frames: Iterable[np.ndarray], space: Space = "rgb", dilations: Sequence[int] = CDC_DILATIONS
) -> float:
    """CDC of a sequence of ``(H, W, 3)`` RGB frames (consumed lazily, memory flat) on the
    ``rgb`` channels or on Lab ``chroma`` (a, b); lower is more consistent."""
    meter = CDC(dilations)
    for frame in frames:
        meter.update(frame_histograms(frame, space))
    return meter.value


def luma_u8(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB → ``(H, W)`` uint8 BT.601 luma, the flow's input (OpenCV's
    fixed-point ``0.299 R + 0.587 G + 0.114 B`` of the 8-bit codes: within one code of
    ``round(255 Y')``)."""
    return cv2.cvtColor(_codes_u8(rgb), cv2.COLOR_RGB2GRAY)


def flow_and_mask(
    prev_luma: np.ndarray, next_luma: np.ndarray, estimator: FlowEstimator
) -> tuple[np.ndarray, np.ndarray]:
    """Forward flow ``(H, W, 2)`` from ``prev_luma`` to ``next_luma`` (``(H, W)`` uint8) and the
    ``(H, W)`` bool mask of the pixels where it can be trusted (``valid_flow``)."""
    from ..temporal.flow import valid_flow

    forward = estimator(prev_luma, next_luma)
    backward = estimator(next_luma, prev_luma)
    return forward, valid_flow(forward, backward)


@lru_cache(maxsize=4)
def _grid(h: int, w: int) -> np.ndarray:
    """``(h, w, 2)`` float32 pixel coordinates (x, y) (cached: read only)."""
    grid = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
    grid.flags.writeable = False
    return grid


def _warp(image: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``image`` sampled at ``where`` ``(H, W, 2)`` (bilinear, edges replicated), ``(H, W, C)``."""
    warped = cv2.remap(image, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return warped[..., None] if warped.ndim == 2 else warped  # OpenCV drops a single channel


def warp_error(prev: np.ndarray, nxt: np.ndarray, flow: np.ndarray, mask: np.ndarray) -> float:
    """Lai et al. 2018 warp error of one frame pair.

    ``prev``, ``nxt``: ``(H, W, C)`` float frames t−1 and t (RGB in [0, 1], or Lab ``(a, b) /
    100``); ``flow``: ``(H, W, 2)`` from t−1 to t; ``mask``: ``(H, W)`` bool, the trusted
    pixels. Returns the mean over the masked pixels and the C channels of ``(nxt warped into
    t−1 − prev)²`` (float32 frames, float64 sums); ``nan`` when the mask is empty.
    """
    if prev.shape != nxt.shape or prev.ndim != 3 or prev.shape[:2] != mask.shape:
        raise ValueError(
            f"prev {prev.shape}, next {nxt.shape} and mask {mask.shape} must be (H, W, C), "
            "(H, W, C) and (H, W)"
        )
    n = int(np.count_nonzero(mask))
    if n == 0:
        return math.nan
    warped = _warp(np.ascontiguousarray(nxt, np.float32), _grid(*mask.shape) + flow)
    prev32, mask8 = np.ascontiguousarray(prev, np.float32), np.ascontiguousarray(mask, np.uint8)
    return cv2.norm(warped, prev32, cv2.NORM_L2SQR, mask8) / (n * prev.shape[2])


@dataclass(frozen=True, slots=True)
class PreparedFrame:
    """What the temporal metrics keep of one frame pair, by ``(who, space)``: ``hist`` the CDC
    histograms, ``warp`` the frames as the warp error sees them (``(H, W, 3)`` float32 RGB in
    [0, 1], ``(H, W, 2)`` float32 Lab ``(a, b) / 100``); ``luma`` the reference's, the flow's
    input."""

    hist: dict[tuple[str, Space], np.ndarray]
    warp: dict[tuple[str, Space], np.ndarray]
    luma: np.ndarray


class TemporalMeter:
    """Streaming temporal metrics of a candidate video and of its reference (memory flat:
    the previous frame pair and the last four frames' histograms).

    ``update(reference, candidate)`` takes the next pair of ``(H, W, 3)`` RGB frames (same
    size; uint8 or float in [0, 1]) and returns that step's warp errors
    (``warp_error_{rgb,chroma}_{candidate,reference}``, ``nan`` on the first frame or with no
    trusted pixel). ``result()`` gives ``TEMPORAL_KEYS`` for the candidate, the same with a
    ``reference_`` prefix for the reference, and ``warp_pairs`` (pairs with trusted pixels).
    The flow is computed once per step, on the reference.
    ``update`` is ``prepare``, ``warp_errors`` and ``add``; the first two may run on other
    threads, ``add`` takes the frames in order.
    """

    def __init__(
        self, preset: Preset = FLOW_PRESET, dilations: Sequence[int] = CDC_DILATIONS
    ) -> None:
        from ..temporal.flow import FlowEstimator

        self._flow = FlowEstimator(preset)
        self._cdc = {(who, space): CDC(dilations) for who in _WHO for space in _SPACES}
        self._warp_sum = dict.fromkeys(self._cdc, 0.0)
        self._warp_pairs = 0
        self._prev: PreparedFrame | None = None

    def prepare(self, reference: np.ndarray, candidate: np.ndarray) -> PreparedFrame:
        """Histograms, warp-space frames and flow input of one frame pair (thread-safe)."""
        rgb = {"candidate": _codes_u8(candidate), "reference": _codes_u8(reference)}
        if rgb["reference"].shape != rgb["candidate"].shape:
            raise ValueError(f"frames differ in size: {reference.shape} vs {candidate.shape}")
        hist: dict[tuple[str, Space], np.ndarray] = {}
        warp: dict[tuple[str, Space], np.ndarray] = {}
        for who, codes in rgb.items():
            ab = _ab(codes)
            hist[who, "rgb"], hist[who, "chroma"] = _counts(codes), _counts(_ab_codes(ab))
            warp[who, "rgb"] = np.multiply(codes, np.float32(1 / 255))
            warp[who, "chroma"] = np.multiply(ab, np.float32(1 / WARP_AB_SCALE))
        return PreparedFrame(hist, warp, luma_u8(rgb["reference"]))

    def warp_errors(self, prev: PreparedFrame, cur: PreparedFrame) -> dict[str, float] | None:
        """The four warp errors from ``prev`` to ``cur`` (thread-safe); None when no pixel's
        flow can be trusted."""
        flow, mask = flow_and_mask(prev.luma, cur.luma, self._flow)
        n = int(np.count_nonzero(mask))
        if n == 0:
            return None
        where, mask8 = _grid(*mask.shape) + flow, mask.view(np.uint8)
        out: dict[str, float] = {}
        for (who, space), before in prev.warp.items():
            sq = cv2.norm(_warp(cur.warp[who, space], where), before, cv2.NORM_L2SQR, mask8)
            out[f"warp_error_{space}_{who}"] = sq / (n * before.shape[2])
        return out

    def add(self, frame: PreparedFrame, errors: dict[str, float] | None) -> None:
        """Count the next frame: its histograms, and the warp errors from the frame before
        (None for the first frame, or when no pixel could be trusted)."""
        for key, meter in self._cdc.items():
            meter.update(frame.hist[key])
        if errors is not None:
            self._warp_pairs += 1
            for who, space in self._cdc:
                self._warp_sum[who, space] += errors[f"warp_error_{space}_{who}"]

    def update(self, reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
        cur = self.prepare(reference, candidate)
        prev, self._prev = self._prev, cur
        errors = self.warp_errors(prev, cur) if prev is not None else None
        self.add(cur, errors)
        nan = {f"warp_error_{space}_{who}": math.nan for who, space in self._cdc}
        return nan if errors is None else errors

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for who in _WHO:
            prefix = "" if who == "candidate" else "reference_"
            for space in _SPACES:
                out[f"{prefix}cdc_{space}"] = self._cdc[who, space].value
                total, pairs = self._warp_sum[who, space], self._warp_pairs
                out[f"{prefix}warp_error_{space}"] = total / pairs if pairs else math.nan
        out["warp_pairs"] = self._warp_pairs
        return out


def video_warp_error(
    reference: Iterable[np.ndarray],
    candidate: Iterable[np.ndarray],
    space: Space = "rgb",
    preset: Preset = FLOW_PRESET,
) -> float:
    """Warp error of ``candidate`` frames with the flow of the ``reference`` frames (both
    ``(H, W, 3)`` RGB, paired in order, consumed lazily): the mean of ``warp_error`` over the
    consecutive pairs that have trusted pixels; ``nan`` if none."""
    if space not in ("rgb", "chroma"):
        raise ValueError(f"space must be 'rgb' or 'chroma'; got {space!r}")
    meter = TemporalMeter(preset)
    for ref, cand in zip(reference, candidate, strict=True):
        meter.update(ref, cand)
    return meter.result()[f"warp_error_{space}"]
