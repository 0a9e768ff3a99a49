"""Quality metrics for colorization: PSNR, SSIM, colorfulness and ΔCF on pictures; CDC and
warp error on videos; pairing files to score.

Two conventions, one implementation (torch):

- **Batch functions** (``*_batch``), for the training loop's validation: ``(N, 3, H, W)``
  float RGB tensors, gamma-encoded sRGB in [0, 1], on any device; they return ``(N,)``
  tensors in the input's dtype and stay differentiable (wrap them in ``torch.no_grad()``).
- **Single-image functions** (``psnr``, ``ssim``, ``ssim_rgb``, ``colorfulness``): ``(H, W, 3)``
  numpy arrays in RGB order, float in [0, 1] (uint8 and uint16 are scaled to [0, 1] first);
  computed in float64 and returned as Python floats.

Definitions:

- PSNR over all pixels and the three channels, ``10 log10(peak² / MSE)``; ``inf`` for
  identical images (no cap).
- SSIM is Wang et al. 2004: 11×11 Gaussian window with σ = 1.5, K1 = 0.01, K2 = 0.03,
  population (not sample) statistics, dynamic range 1, mean over the "valid" part of the SSIM
  map (centres at least 5 px from the border), no downsampling. ``ssim`` works on the BT.601
  luma ``Y' = 0.299 R' + 0.587 G' + 0.114 B'`` of the gamma-encoded RGB; ``ssim_rgb`` is the
  mean of the per-channel SSIMs. These equal skimage's ``structural_similarity`` with
  ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1``.
- Colorfulness is Hasler & Süsstrunk 2003 on a 0–255 scale: ``rg = R − G``,
  ``yb = (R + G) / 2 − B``, ``M = σ_rgyb + 0.3 μ_rgyb`` with
  ``σ_rgyb = √(σ_rg² + σ_yb²)`` and ``μ_rgyb = √(μ_rg² + μ_yb²)`` (population σ).
- ΔCF is the mean over images (video: over paired frames) of ``|CF(candidate) − CF(reference)|``.

Temporal metrics (videos; a video is a sequence of ``(H, W, 3)`` RGB frames):

- **CDC**, colour distribution consistency (Liu et al., "Temporally consistent video
  colorization with deep feature propagation and self-regularization learning" (TCVC), 2021;
  also used by BiSTNet and ColorMNet, Yang et al. 2023/2024; as in TCVC's
  ``codes/compute_hist.py`` and ColorMNet's ``evaluation_matrics/cdc.py``, which use
  ``cv2.calcHist`` and ``scipy.stats.entropy``). Per frame and channel, a
  histogram of 256 bins normalised to sum 1. ``JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m)`` with
  ``m = (p + q) / 2`` and the *natural* logarithm (so 0 ≤ JS ≤ ln 2; bins with p = 0 add
  nothing). For each dilation d in (1, 2, 4): the mean over t of the channel-mean
  ``JS(h_t, h_{t+d})``; CDC is the mean over the three dilations (TCVC's weights ⅓ each).
  Lower is more consistent. ``rgb``: the R, G, B channels, 8-bit code values, bin k = value
  k (floats in [0, 1] are rounded to ``round(255 x)`` first). ``chroma``: CIE Lab a and b
  (``filmcolor.color.rgb_to_lab``), 256 bins of width 1 over [-128, 128) (bin
  ``floor(v) + 128``; the sRGB gamut stays inside that range, anything outside is clipped
  into the end bins). A dilation longer than the video is left out of the mean; CDC is
  ``nan`` for a single frame.
- **Warp error** (Lai et al., "Learning blind video temporal consistency", ECCV 2018, as in
  their ``evaluate_WarpError.py``): for each pair of consecutive frames (t−1, t), the
  forward flow F from t−1 to t and the backward flow from t to t−1 are computed on the
  *reference* frames (BT.601 luma, 8 bits); frame t of the video scored is warped into
  t−1 (``Ŝ_t(x) = S_t(x + F(x))``, bilinear) and
  ``E_t = Σ_{x ∈ M, c} (Ŝ_t(x, c) − S_{t−1}(x, c))² / (C · |M|)`` with M the non-occluded
  pixels of ``filmcolor.temporal.flow.valid_flow`` (forward–backward check and motion
  boundaries, Ruder et al. 2016, plus pixels whose flow leaves the picture). The video's
  warp error is the mean of ``E_t`` over the pairs; a pair with no trusted pixel is left out
  (Lai et al. count it as 0). ``rgb``: C = 3, RGB in [0, 1]
  (the papers' scale). ``chroma``: C = 2, Lab ``(a, b) / 100`` (so values are comparable in
  size with the RGB figure). The flow is OpenCV's DIS (Kroeger et al. 2016, preset
  "medium"), which replaces the FlowNet2 of Lai et al.: absolute values therefore differ
  from published tables, rankings computed here are comparable among themselves. (Lai et
  al. compute the flow on the processing's input video; here the colour reference stands in,
  whose luma is the input's. The frames they score are 8-bit JPEGs; ours are the decoded
  8-bit RGB.)
- Video frames are paired by presentation time, ``pts × time_base`` as exact ``Fraction``s
  rounded to the coarser of the two time bases (a remux into Matroska's 1/1000 moves a
  timestamp by up to half a tick); unpaired frames are counted and left out. The temporal
  metrics run over the paired frames in order. Means over several videos weigh each video
  once, as TCVC's tables do.
- Why chroma as well: filmcolor keeps the source luma, so the luma part of every RGB figure
  is the same for all methods and hides what the colour does; the chroma figures show it.
  The reference's own CDC and warp error (colour that really is consistent, up to motion and
  flow errors) are reported alongside as a floor.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np
import torch

from .color import KR_KB, rgb_to_lab
from .errors import InputError, UsageError

if TYPE_CHECKING:
    from .media.frames import RGBFrame
    from .temporal.flow import FlowEstimator, Preset

#: SSIM constants (Wang et al. 2004).
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

#: The per-image metrics, in the order reports list them.
METRIC_KEYS = (
    "psnr",
    "ssim",
    "ssim_rgb",
    "colorfulness_candidate",
    "colorfulness_reference",
    "delta_colorfulness",
)

#: CDC's frame distances (TCVC), averaged with equal weights.
CDC_DILATIONS = (1, 2, 4)
#: Histogram bins of CDC, for RGB and for Lab a/b alike.
CDC_BINS = 256
#: The Lab a/b range the chroma histograms cover: bins of width 1 over [-128, 128).
AB_RANGE = (-128.0, 128.0)
#: Lab a/b are divided by this for the chroma warp error.
WARP_AB_SCALE = 100.0
#: The DIS preset of the metrics' optical flow (more accurate than the pipeline's).
FLOW_PRESET: Preset = "medium"

#: The temporal metrics, for the candidate; ``reference_``-prefixed copies hold the
#: reference's own values.
TEMPORAL_KEYS = ("cdc_rgb", "cdc_chroma", "warp_error_rgb", "warp_error_chroma")

#: The per-video metrics, in the order reports list them.
VIDEO_METRIC_KEYS = (
    *METRIC_KEYS,
    *TEMPORAL_KEYS,
    *(f"reference_{k}" for k in TEMPORAL_KEYS),
)

Space = Literal["rgb", "chroma"]


# --- batch functions on (N, 3, H, W) tensors ----------------------------------------------


def _check_batch(x: torch.Tensor, name: str, channels: int = 3) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} must have shape (N, {channels}, H, W); got {tuple(x.shape)}")


def _check_pair(pred: torch.Tensor, ref: torch.Tensor) -> None:
    _check_batch(pred, "pred")
    _check_batch(ref, "ref")
    if pred.shape != ref.shape:
        raise ValueError(f"pred and ref differ in shape: {tuple(pred.shape)} vs {tuple(ref.shape)}")


def psnr_batch(pred: torch.Tensor, ref: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """PSNR in dB of each image: ``(N, 3, H, W)`` × 2 → ``(N,)``; ``inf`` where identical."""
    _check_pair(pred, ref)
    mse = (pred - ref).square().mean(dim=(1, 2, 3))
    return 10 * torch.log10(peak**2 / mse)


def luma_batch(rgb: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` gamma-encoded RGB → ``(N, 1, H, W)`` BT.601 luma Y'."""
    _check_batch(rgb, "rgb")
    kr, kb = KR_KB["bt601"]
    r, g, b = rgb.unbind(1)
    return (kr * r + (1 - kr - kb) * g + kb * b).unsqueeze(1)


@lru_cache(maxsize=8)
def _gaussian_cpu(dtype: torch.dtype) -> torch.Tensor:
    x = torch.arange(SSIM_WINDOW, dtype=torch.float64) - SSIM_WINDOW // 2
    g = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    return (g / g.sum()).to(dtype)


def _ssim_channels(x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    """Mean SSIM of each channel: ``(N, C, H, W)`` × 2 → ``(N, C)``."""
    c, h, w = x.shape[1:]
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW}; got {w}×{h}")
    # One separable "valid" Gaussian filter over the five moment maps at once.
    stack = torch.cat((x, y, x * x, y * y, x * y), dim=1)
    g = _gaussian_cpu(x.dtype).to(x.device)
    k = 5 * c
    stack = torch.nn.functional.conv2d(stack, g.view(1, 1, 1, -1).expand(k, 1, 1, -1), groups=k)
    stack = torch.nn.functional.conv2d(stack, g.view(1, 1, -1, 1).expand(k, 1, -1, 1), groups=k)
    mx, my, mxx, myy, mxy = stack.split(c, dim=1)
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    vx, vy, cxy = mxx - mx * mx, myy - my * my, mxy - mx * my
    num = (2 * mx * my + c1) * (2 * cxy + c2)
    den = (mx * mx + my * my + c1) * (vx + vy + c2)
    return (num / den).mean(dim=(2, 3))


def ssim_batch(pred: torch.Tensor, ref: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """SSIM of the BT.601 luma of each image: ``(N, 3, H, W)`` × 2 → ``(N,)``.

    Images must be at least 11×11. 1 for identical images.
    """
    _check_pair(pred, ref)
    return _ssim_channels(luma_batch(pred), luma_batch(ref), data_range)[:, 0]


def ssim_rgb_batch(pred: torch.Tensor, ref: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean over R, G, B of the per-channel SSIM: ``(N, 3, H, W)`` × 2 → ``(N,)``."""
    _check_pair(pred, ref)
    return _ssim_channels(pred, ref, data_range).mean(dim=1)


def colorfulness_batch(rgb: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Hasler–Süsstrunk colorfulness of each image: ``(N, 3, H, W)`` in [0, 1] → ``(N,)``.

    0 for a gray image; about 15 is "slightly", 33 "moderately", 59 "quite", 82 "highly" and
    109 "extremely colorful" on the paper's scale. ``eps`` inside the square roots keeps the
    gradient finite for gray images (the training loss passes a small one).
    """
    _check_batch(rgb, "rgb")
    r, g, b = (rgb * 255).flatten(2).unbind(1)
    rg = r - g
    yb = 0.5 * (r + g) - b
    sigma = torch.sqrt(rg.var(dim=1, unbiased=False) + yb.var(dim=1, unbiased=False) + eps)
    mu = torch.sqrt(rg.mean(dim=1).square() + yb.mean(dim=1).square() + eps)
    return sigma + 0.3 * mu


# --- single images as (H, W, 3) numpy arrays -------------------------------------------------


def to_unit_rgb(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 / uint16 / float → float64 in [0, 1] (floats are taken as they are)."""
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3); got {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float64) / 65535.0
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"image must be uint8, uint16 or float; got {a.dtype}")
    return a.astype(np.float64, copy=False)


def _as_batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(to_unit_rgb(image))).permute(2, 0, 1)[None]


def _pair(pred: np.ndarray, ref: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    p, r = _as_batch(pred), _as_batch(ref)
    if p.shape != r.shape:
        raise ValueError(f"pred and ref differ in size: {tuple(p.shape[2:])} vs {r.shape[2:]}")
    return p, r


def psnr(pred: np.ndarray, ref: np.ndarray, peak: float = 1.0) -> float:
    """PSNR in dB of two ``(H, W, 3)`` RGB images in [0, 1]; ``inf`` when identical."""
    return float(psnr_batch(*_pair(pred, ref), peak=peak)[0])


def ssim(pred: np.ndarray, ref: np.ndarray) -> float:
    """SSIM (Wang et al. 2004) of the BT.601 luma of two ``(H, W, 3)`` RGB images in [0, 1]."""
    return float(ssim_batch(*_pair(pred, ref))[0])


def ssim_rgb(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean of the R, G and B SSIMs of two ``(H, W, 3)`` RGB images in [0, 1]."""
    return float(ssim_rgb_batch(*_pair(pred, ref))[0])


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler–Süsstrunk colorfulness of an ``(H, W, 3)`` RGB image in [0, 1] (0 when gray)."""
    return float(colorfulness_batch(_as_batch(rgb))[0])


def delta_colorfulness(pred_list: Sequence[np.ndarray], ref_list: Sequence[np.ndarray]) -> float:
    """ΔCF: mean over image pairs of ``|colorfulness(pred) − colorfulness(ref)|``."""
    if len(pred_list) != len(ref_list):
        raise ValueError(f"{len(pred_list)} predictions but {len(ref_list)} references")
    if not pred_list:
        raise ValueError("delta_colorfulness needs at least one pair")
    diffs = [
        abs(colorfulness(p) - colorfulness(r)) for p, r in zip(pred_list, ref_list, strict=True)
    ]
    return float(np.mean(diffs))


def image_metrics(ref: np.ndarray, cand: np.ndarray) -> dict[str, float]:
    """Every per-image metric (``METRIC_KEYS``) of a candidate against its reference."""
    c, r = _pair(cand, ref)
    cf_c = float(colorfulness_batch(c)[0])
    cf_r = float(colorfulness_batch(r)[0])
    return {
        "psnr": float(psnr_batch(c, r)[0]),
        "ssim": float(ssim_batch(c, r)[0]),
        "ssim_rgb": float(ssim_rgb_batch(c, r)[0]),
        "colorfulness_candidate": cf_c,
        "colorfulness_reference": cf_r,
        "delta_colorfulness": abs(cf_c - cf_r),
    }


def summarize(per_image: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means of ``METRIC_KEYS`` over ``per_image`` plus ``count`` and the list itself.

    The mean PSNR is the mean of the per-image PSNRs (``inf`` if any pair is identical).
    """
    out: dict[str, Any] = {"count": len(per_image)}
    for key in METRIC_KEYS:
        out[key] = float(np.mean([m[key] for m in per_image])) if per_image else math.nan
    out["per_image"] = list(per_image)
    return out


def evaluate_pairs(
    refs: Iterable[np.ndarray], cands: Iterable[np.ndarray], names: Iterable[str] | None = None
) -> dict[str, Any]:
    """Score candidates against references, pair by pair (iterables are consumed lazily).

    Images are ``(H, W, 3)`` RGB, float in [0, 1] or uint8/uint16. Returns ``count``, the mean
    of each of ``METRIC_KEYS`` (``ssim`` on luma; ``delta_colorfulness`` is ΔCF), and
    ``per_image``: one dict of those metrics per pair, with ``name`` when ``names`` is given.
    """
    per_image: list[dict[str, Any]] = []
    name_iter = iter(names) if names is not None else None
    for ref, cand in zip(refs, cands, strict=True):
        m: dict[str, Any] = {}
        if name_iter is not None:
            m["name"] = next(name_iter)
        m.update(image_metrics(ref, cand))
        per_image.append(m)
    return summarize(per_image)


# --- temporal metrics on sequences of (H, W, 3) frames ------------------------------------------


def js_divergence(p: np.ndarray, q: np.ndarray) -> float | np.ndarray:
    """Jensen–Shannon divergence, natural log, of histograms along the last axis.

    ``p`` and ``q``: ``(..., B)`` non-negative, each normalised to sum 1 here (as scipy's
    ``entropy`` does). Returns a float for 1-D input, else an array of shape ``p.shape[:-1]``;
    0 for equal histograms, at most ln 2 for disjoint ones.
    """
    p = np.asarray(p, np.float64)
    q = np.asarray(q, np.float64)
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
        return a
    return np.clip(np.rint(to_unit_rgb(a) * 255), 0, 255).astype(np.uint8)


def rgb_histograms(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB (uint8, uint16 or float in [0, 1]) → ``(3, 256)`` float64 histograms
    of the 8-bit code values of R, G and B, each summing to 1."""
    codes = _codes_u8(rgb).reshape(-1, 3)
    counts = np.stack([np.bincount(codes[:, c], minlength=CDC_BINS) for c in range(3)])
    return counts / codes.shape[0]


def rgb_to_ab(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` sRGB (uint8, uint16 or float in [0, 1]) → ``(2, H, W)`` float32 Lab a, b
    (roughly [-87, 99] and [-108, 95] for sRGB colours), via ``filmcolor.color.rgb_to_lab``."""
    t = torch.from_numpy(np.ascontiguousarray(to_unit_rgb(rgb), np.float32)).permute(2, 0, 1)
    return rgb_to_lab(t)[1:].numpy()


def ab_histograms(ab: np.ndarray) -> np.ndarray:
    """``(2, H, W)`` Lab a, b → ``(2, 256)`` float64 histograms, bins of width 1 over
    [-128, 128) (bin ``floor(v) + 128``, values outside clipped into the end bins), each
    summing to 1."""
    a = np.asarray(ab)
    if a.ndim != 3 or a.shape[0] != 2:
        raise ValueError(f"ab must have shape (2, H, W); got {a.shape}")
    lo, hi = AB_RANGE
    width = (hi - lo) / CDC_BINS
    bins = np.clip(np.floor((a.reshape(2, -1) - lo) / width), 0, CDC_BINS - 1).astype(np.int64)
    counts = np.stack([np.bincount(bins[c], minlength=CDC_BINS) for c in range(2)])
    return counts / bins.shape[1]


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
    """``(H, W, 3)`` RGB → ``(H, W)`` uint8 BT.601 luma ``round(255 Y')``, the flow's input."""
    kr, kb = KR_KB["bt601"]
    x = to_unit_rgb(rgb)
    y = kr * x[..., 0] + (1 - kr - kb) * x[..., 1] + kb * x[..., 2]
    return np.clip(np.rint(y * 255), 0, 255).astype(np.uint8)


def warp_space(rgb: np.ndarray, space: Space) -> np.ndarray:
    """A frame as the warp error sees it: ``(H, W, 3)`` float32 RGB in [0, 1] for ``rgb``,
    ``(H, W, 2)`` float32 Lab ``(a, b) / 100`` for ``chroma``."""
    if space == "rgb":
        return to_unit_rgb(rgb).astype(np.float32)
    if space == "chroma":
        return np.ascontiguousarray(rgb_to_ab(rgb).transpose(1, 2, 0) / WARP_AB_SCALE)
    raise ValueError(f"space must be 'rgb' or 'chroma'; got {space!r}")


def flow_and_mask(
    prev_luma: np.ndarray, next_luma: np.ndarray, estimator: FlowEstimator
) -> tuple[np.ndarray, np.ndarray]:
    """Forward flow ``(H, W, 2)`` from ``prev_luma`` to ``next_luma`` (``(H, W)`` uint8) and the
    ``(H, W)`` bool mask of the pixels where it can be trusted (``valid_flow``)."""
    from .temporal.flow import valid_flow

    forward = estimator(prev_luma, next_luma)
    backward = estimator(next_luma, prev_luma)
    return forward, valid_flow(forward, backward)


def warp_error(prev: np.ndarray, nxt: np.ndarray, flow: np.ndarray, mask: np.ndarray) -> float:
    """Lai et al. 2018 warp error of one frame pair.

    ``prev``, ``nxt``: ``(H, W, C)`` float frames t−1 and t (``warp_space``); ``flow``: ``(H, W,
    2)`` from t−1 to t; ``mask``: ``(H, W)`` bool, the trusted pixels. Returns the mean over the
    masked pixels and the C channels of ``(nxt warped into t−1 − prev)²``; ``nan`` when the
    mask is empty.
    """
    from .temporal.flow import warp

    if prev.shape != nxt.shape or prev.ndim != 3 or prev.shape[:2] != mask.shape:
        raise ValueError(
            f"prev {prev.shape}, next {nxt.shape} and mask {mask.shape} must be (H, W, C), "
            "(H, W, C) and (H, W)"
        )
    n = int(mask.sum())
    if n == 0:
        return math.nan
    warped = warp(np.ascontiguousarray(nxt, np.float32), flow)
    if warped.ndim == 2:  # OpenCV drops a single channel
        warped = warped[..., None]
    diff = warped.astype(np.float64)[mask] - prev.astype(np.float64)[mask]
    return float(np.square(diff).sum() / (n * prev.shape[2]))


class TemporalMeter:
    """Streaming temporal metrics of a candidate video and of its reference (memory flat:
    the previous frame pair and the last four frames' histograms).

    ``update(reference, candidate)`` takes the next pair of ``(H, W, 3)`` RGB frames (same
    size; uint8 or float in [0, 1]) and returns that step's warp errors
    (``warp_error_{rgb,chroma}_{candidate,reference}``, ``nan`` on the first frame or with no
    trusted pixel). ``result()`` gives ``TEMPORAL_KEYS`` for the candidate, the same with a
    ``reference_`` prefix for the reference, and ``warp_pairs`` (pairs with trusted pixels).
    The flow is computed once per step, on the reference.
    """

    def __init__(
        self, preset: Preset = FLOW_PRESET, dilations: Sequence[int] = CDC_DILATIONS
    ) -> None:
        from .temporal.flow import FlowEstimator

        self._flow = FlowEstimator(preset)
        self._cdc = {
            (who, space): CDC(dilations)
            for who in ("candidate", "reference")
            for space in ("rgb", "chroma")
        }
        self._warp_sum = dict.fromkeys(self._cdc, 0.0)
        self._warp_pairs = 0
        self._prev: dict[str, Any] | None = None

    def update(self, reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
        ref_rgb, cand_rgb = _codes_u8(reference), _codes_u8(candidate)
        if ref_rgb.shape != cand_rgb.shape:
            raise ValueError(f"frames differ in size: {ref_rgb.shape} vs {cand_rgb.shape}")
        cur: dict[str, Any] = {"luma": luma_u8(ref_rgb)}
        for who, rgb in (("candidate", cand_rgb), ("reference", ref_rgb)):
            ab = rgb_to_ab(rgb)
            self._cdc[who, "rgb"].update(rgb_histograms(rgb))
            self._cdc[who, "chroma"].update(ab_histograms(ab))
            cur[who, "rgb"] = to_unit_rgb(rgb).astype(np.float32)
            cur[who, "chroma"] = np.ascontiguousarray(ab.transpose(1, 2, 0) / WARP_AB_SCALE)
        step = {f"warp_error_{space}_{who}": math.nan for who, space in self._cdc}
        prev, self._prev = self._prev, cur
        if prev is None:
            return step
        flow, mask = flow_and_mask(prev["luma"], cur["luma"], self._flow)
        if not mask.any():
            return step
        self._warp_pairs += 1
        for who, space in self._cdc:
            e = warp_error(prev[who, space], cur[who, space], flow, mask)
            self._warp_sum[who, space] += e
            step[f"warp_error_{space}_{who}"] = e
        return step

    def result(self) -> dict[str, float]:
        out: dict[str, Any] = {}
        for who in ("candidate", "reference"):
            prefix = "" if who == "candidate" else "reference_"
            for space in ("rgb", "chroma"):
                out[f"{prefix}cdc_{space}"] = self._cdc[who, space].value
                total = self._warp_sum[who, space]
                pairs = self._warp_pairs
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


# --- files and folders --------------------------------------------------------------------------


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as upright ``(H, W, 3)`` RGB, uint8 or uint16 (EXIF orientation applied).

    Gray images come back with three equal channels; alpha is dropped. Raises ``InputError``
    for a missing, empty or unreadable file.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file; check the path")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty (0 bytes); was it copied completely?")
    img = cv2.imdecode(np.fromfile(str(p), np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if img is None:
        raise InputError(f"{p}: not an image OpenCV can read; is the file damaged?")
    if img.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{p}: {img.dtype} samples are not supported; save it as 8 or 16 bits")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _evaluate_file_pair(ref: Path, cand: Path) -> dict[str, Any]:
    """Metrics of one pair of image files."""
    r, c = read_rgb(ref), read_rgb(cand)
    if r.shape != c.shape:
        raise InputError(
            f"{cand}: size {c.shape[1]}x{c.shape[0]} differs from the reference {ref} "
            f"({r.shape[1]}x{r.shape[0]}); metrics need the same size"
        )
    if min(r.shape[:2]) < SSIM_WINDOW:
        raise InputError(
            f"{ref}: {r.shape[1]}x{r.shape[0]} is too small; SSIM needs at least "
            f"{SSIM_WINDOW}x{SSIM_WINDOW} pixels"
        )
    return {"name": ref.stem, "reference": str(ref), "candidate": str(cand)} | image_metrics(r, c)


# --- videos -------------------------------------------------------------------------------------


def _time_key(time: Fraction, tick: Fraction) -> int:
    """``time`` in units of ``tick``, rounded to nearest (halves away from zero)."""
    q = time / tick
    n = math.floor(abs(q) + Fraction(1, 2))
    return n if q >= 0 else -n


def _seconds(time: Fraction) -> str:
    return f"{float(time):.3f} s"


def pair_by_time(
    reference: Iterator[RGBFrame],
    candidate: Iterator[RGBFrame],
    tick: Callable[[], Fraction],
    unmatched: dict[str, list[Fraction]],
) -> Iterator[tuple[RGBFrame, RGBFrame]]:
    """Pair two streams of frames (each in increasing time) by presentation time.

    Times are compared exactly, as ``Fraction``s, after rounding both to ``tick()`` (the
    coarser of the two time bases, read once both streams have started): a remux into a
    coarser time base (Matroska stores milliseconds) moves a timestamp by up to half a tick.
    Frames with no partner are appended to ``unmatched["reference"]`` / ``["candidate"]``.
    """
    r = next(reference, None)
    c = next(candidate, None)
    step = tick() if r is not None and c is not None else Fraction(1)
    while r is not None and c is not None:
        kr, kc = _time_key(r.time, step), _time_key(c.time, step)
        if kr == kc:
            yield r, c
            r, c = next(reference, None), next(candidate, None)
        elif kr < kc:
            unmatched["reference"].append(r.time)
            r = next(reference, None)
        else:
            unmatched["candidate"].append(c.time)
            c = next(candidate, None)
    for rest, who in ((r, "reference"), (c, "candidate")):
        if rest is not None:
            unmatched[who].append(rest.time)
    unmatched["reference"].extend(f.time for f in reference)
    unmatched["candidate"].extend(f.time for f in candidate)


def evaluate_videos(
    reference: str | os.PathLike[str],
    candidate: str | os.PathLike[str],
    *,
    flow_preset: Preset = FLOW_PRESET,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Score a candidate video against its reference, frame pair by frame pair (streaming).

    Frames are paired by presentation time (see ``pair_by_time``) and converted to RGB with
    each stream's own matrix and range (``filmcolor.media.frames``). Returns ``name``,
    ``reference``, ``candidate``, ``count`` (paired frames), ``frames_reference`` and
    ``frames_candidate`` (decoded), ``unmatched_reference`` and ``unmatched_candidate``
    (counts), ``colour_reference`` / ``colour_candidate`` (how they were read), the means over
    paired frames of ``METRIC_KEYS``, ``TEMPORAL_KEYS`` for the candidate and
    ``reference_*`` for the reference, ``warp_pairs``, ``per_frame`` (lists, one entry per
    paired frame: ``time`` in seconds, ``psnr``, ``ssim``, ``colorfulness_candidate``,
    ``colorfulness_reference``, ``warp_error_{rgb,chroma}_{candidate,reference}`` with
    ``nan`` for the first frame) and ``warnings``. ``progress`` gets the paired-frame count.

    Raises ``InputError`` (exit 3) for a missing or non-video file, different picture sizes,
    pictures under 11×11, or no frame time in common.
    """
    from .media.frames import VideoReader

    ref_path, cand_path = Path(reference), Path(candidate)
    ref_reader, cand_reader = VideoReader(ref_path), VideoReader(cand_path)
    unmatched: dict[str, list[Fraction]] = {"reference": [], "candidate": []}

    def tick() -> Fraction:
        return max(ref_reader.time_base, cand_reader.time_base)

    meter = TemporalMeter(flow_preset)
    frame_keys = ("time", "psnr", "ssim", "ssim_rgb", "colorfulness_candidate")
    per_frame: dict[str, list[float]] = {k: [] for k in (*frame_keys, "colorfulness_reference")}
    pairs = pair_by_time(iter(ref_reader), iter(cand_reader), tick, unmatched)
    for r, c in pairs:
        if r.rgb.shape != c.rgb.shape:
            raise InputError(
                f"{cand_path}: picture size {c.rgb.shape[1]}x{c.rgb.shape[0]} differs from the "
                f"reference {ref_path} ({r.rgb.shape[1]}x{r.rgb.shape[0]}); scale the "
                "candidate to the reference size and evaluate again"
            )
        if min(r.rgb.shape[:2]) < SSIM_WINDOW:
            raise InputError(
                f"{ref_path}: {r.rgb.shape[1]}x{r.rgb.shape[0]} is too small; SSIM needs at "
                f"least {SSIM_WINDOW}x{SSIM_WINDOW} pixels"
            )
        m = image_metrics(r.rgb, c.rgb)
        per_frame["time"].append(float(r.time))
        for key in (*frame_keys[1:], "colorfulness_reference"):
            per_frame[key].append(m[key])
        for key, value in meter.update(r.rgb, c.rgb).items():
            per_frame.setdefault(key, []).append(value)
        if progress is not None:
            progress(len(per_frame["time"]))
    count = len(per_frame["time"])
    warnings = [*ref_reader.warnings, *cand_reader.warnings]
    if count == 0:
        if ref_reader.frames and cand_reader.frames:
            raise InputError(
                f"{cand_path}: no frame has the presentation time of a frame of {ref_path}; "
                "compare files with the same timestamps (e.g. the restore output and its source)"
            )
        empty = ref_path if not ref_reader.frames else cand_path
        raise InputError(f"{empty}: no decodable video frame; is the file damaged?")
    for who, path, other in (
        ("reference", ref_path, cand_path),
        ("candidate", cand_path, ref_path),
    ):
        times = unmatched[who]
        if times:
            warnings.append(
                f"{path}: {len(times)} frame(s) have no frame at the same time in {other} "
                f"(first at {_seconds(min(times))}); left out of the metrics"
            )
    cf_c = np.array(per_frame["colorfulness_candidate"])
    cf_r = np.array(per_frame["colorfulness_reference"])
    out: dict[str, Any] = {
        "name": ref_path.stem,
        "reference": str(ref_path),
        "candidate": str(cand_path),
        "count": count,
        "frames_reference": ref_reader.frames,
        "frames_candidate": cand_reader.frames,
        "unmatched_reference": len(unmatched["reference"]),
        "unmatched_candidate": len(unmatched["candidate"]),
        "colour_reference": ref_reader.colour.describe() if ref_reader.colour else None,
        "colour_candidate": cand_reader.colour.describe() if cand_reader.colour else None,
    }
    for key in ("psnr", "ssim", "ssim_rgb", "colorfulness_candidate", "colorfulness_reference"):
        out[key] = float(np.mean(per_frame[key]))
    out["delta_colorfulness"] = float(np.mean(np.abs(cf_c - cf_r)))
    out |= meter.result()
    out["per_frame"] = per_frame
    out["warnings"] = warnings
    return out


def summarize_videos(per_video: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means over videos of ``VIDEO_METRIC_KEYS`` (each video counts once, as in TCVC's
    tables), ``count`` (videos), ``frames`` (paired frames in all) and ``per_video``."""
    out: dict[str, Any] = {"count": len(per_video), "frames": sum(v["count"] for v in per_video)}
    for key in VIDEO_METRIC_KEYS:
        values = [v[key] for v in per_video]
        out[key] = float(np.mean(values)) if values else math.nan
    out["per_video"] = list(per_video)
    return out


def plot_per_frame(video: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``evaluate_videos``' per-frame curves as a PNG: PSNR; colourfulness of candidate
    and reference; chroma warp error of candidate and reference (x: paired frame index)."""
    from .plot import plot_panels

    pf = video["per_frame"]

    def series(key: str) -> list[tuple[float, float]]:
        return [(float(i), float(v)) for i, v in enumerate(pf[key])]

    plot_panels(
        [
            (f"{video['name']}: PSNR (dB)", {"PSNR": series("psnr")}),
            (
                "colourfulness (Hasler-Susstrunk)",
                {
                    "candidate": series("colorfulness_candidate"),
                    "reference": series("colorfulness_reference"),
                },
            ),
            (
                "chroma warp error (Lab ab/100, frame t vs t-1)",
                {
                    "candidate": series("warp_error_chroma_candidate"),
                    "reference": series("warp_error_chroma_reference"),
                },
            ),
        ],
        path,
        x_label="frame",
    )


# --- pairing paths ------------------------------------------------------------------------------


def _is_video(p: Path) -> bool:
    from .media.kinds import is_video_path

    return is_video_path(p)


def _media_by_stem(folder: Path, warnings: list[str], kind: str) -> dict[str, Path]:
    from .media.kinds import is_image_path

    wanted = is_image_path if kind == "image" else _is_video
    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file() or not wanted(p):
            continue
        if p.stem in files:
            warnings.append(f"{p}: same name as {files[p.stem].name}; skipped, cannot pair both")
            continue
        files[p.stem] = p
    return files


def folder_kind(folder: Path) -> str:
    """``video`` when ``folder`` holds a video file (by extension), else ``image``."""
    return "video" if any(_is_video(p) for p in folder.iterdir() if p.is_file()) else "image"


def pair_folders(
    ref: Path, cand: Path, kind: str = "image"
) -> tuple[list[tuple[Path, Path]], list[str], list[str]]:
    """Pair the images (or, with ``kind="video"``, the videos) of two folders by file stem:
    (pairs, unpaired files, warnings)."""
    warnings: list[str] = []
    refs = _media_by_stem(ref, warnings, kind)
    cands = _media_by_stem(cand, warnings, kind)
    pairs = [(refs[s], cands[s]) for s in sorted(refs.keys() & cands.keys())]
    unpaired = [str(refs[s]) for s in sorted(refs.keys() - cands.keys())]
    unpaired += [str(cands[s]) for s in sorted(cands.keys() - refs.keys())]
    for u in unpaired:
        warnings.append(f"{u}: no file of the same name in the other folder; skipped")
    return pairs, unpaired, warnings


def input_kind(reference: str | os.PathLike[str], candidate: str | os.PathLike[str]) -> str:
    """What ``evaluate_paths`` scores for these paths: ``image`` or ``video``.

    Two files: images when their extensions are an image's, else videos. Two folders:
    ``folder_kind`` of the reference folder. Raises ``InputError`` for a missing path and
    ``UsageError`` for a file with a folder or an image with a video.
    """
    from .media.kinds import is_image_path

    ref, cand = Path(reference), Path(candidate)
    for p in (ref, cand):
        if not p.exists():
            raise InputError(f"{p}: no such file or folder; check the path")
    if ref.is_dir() and cand.is_dir():
        return folder_kind(ref)
    if ref.is_dir() or cand.is_dir():
        folder, other = (ref, cand) if ref.is_dir() else (cand, ref)
        raise UsageError(f"{folder}: is a folder but {other} is not; give two files or two folders")
    images = [is_image_path(p) for p in (ref, cand)]
    if images[0] != images[1]:
        image, video = (ref, cand) if images[0] else (cand, ref)
        raise UsageError(f"{image}: is an image but {video} is not; give two images or two videos")
    return "image" if images[0] else "video"


def evaluate_paths(
    reference: str | os.PathLike[str],
    candidate: str | os.PathLike[str],
    *,
    flow_preset: Preset = FLOW_PRESET,
) -> dict[str, Any]:
    """Score CANDIDATE against REFERENCE: two images, two videos, or two folders of either.

    A file whose extension is not an image's (``filmcolor.media.kinds.is_image_path``) is
    read as a video. Two folders are paired by file stem; they are scored as videos when the
    reference folder holds a video file (by extension; the images are then not scored), else
    as images.

    Returns ``kind`` (``image`` or ``video``), ``reference``, ``candidate``, ``unpaired``
    (files with no partner) and ``warnings`` (one-line messages), plus for images
    ``summarize``'s dict (``per_image``) and for videos ``summarize_videos``' dict
    (``per_video``, each from ``evaluate_videos``). Raises ``InputError`` (exit 3) for missing
    or unreadable files, a size mismatch, folders with no pair, or videos with no frame time in
    common; ``UsageError`` (exit 2) for a file paired with a folder or an image with a video.
    """
    ref, cand = Path(reference), Path(candidate)
    kind = input_kind(ref, cand)
    unpaired: list[str] = []
    warnings: list[str] = []
    if ref.is_dir():
        pairs, unpaired, warnings = pair_folders(ref, cand, kind)
        if kind == "video":
            from .media.kinds import is_image_path

            skipped = sum(1 for p in ref.iterdir() if p.is_file() and is_image_path(p))
            if skipped:
                warnings.append(
                    f"{ref}: {skipped} image(s) not scored, the folder holds videos; "
                    "evaluate the images from a folder of their own"
                )
        if not pairs:
            raise InputError(
                f"{cand}: no {kind} has the same name as one in {ref}; nothing to pair"
            )
    else:
        pairs = [(ref, cand)]
    head: dict[str, Any] = {"kind": kind, "reference": str(ref), "candidate": str(cand)}
    if kind == "image":
        per_image = [_evaluate_file_pair(r, c) for r, c in pairs]
        body = summarize(per_image)
    else:
        per_video = []
        for r, c in pairs:
            video = evaluate_videos(r, c, flow_preset=flow_preset)
            warnings.extend(video["warnings"])
            per_video.append(video)
        body = summarize_videos(per_video)
    return head | body | {"unpaired": unpaired, "warnings": warnings}


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats (``inf`` PSNR, ``nan``) replaced by ``None`` for JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
