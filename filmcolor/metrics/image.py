"""Picture metrics: PSNR, SSIM, colourfulness and ΔCF (definitions: ``filmcolor.metrics``).

Two implementations of the same definitions:

- **Batch functions** (``*_batch``), torch, for the training loop's validation and loss:
  ``(N, 3, H, W)`` float RGB tensors, gamma-encoded sRGB in [0, 1], on any device; they return
  ``(N,)`` tensors in the input's dtype and stay differentiable (wrap them in
  ``torch.no_grad()``).
- **Single-picture functions** (``psnr``, ``ssim``, ``ssim_rgb``, ``colorfulness``,
  ``image_metrics``), numpy and OpenCV, for ``filmcolor eval``: ``(H, W, 3)`` arrays in RGB
  order, float in [0, 1] or uint8 / uint16 (scaled to [0, 1] first); computed in float64
  (``image_metrics`` can take float32 for SSIM, which video frames use) and returned as Python
  floats. OpenCV's separable Gaussian filter on bands of rows is many times faster on the CPU
  than torch's grouped float64 convolution, and releases the GIL for ``eval``'s threads;
  tests hold both to scikit-image's figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

if TYPE_CHECKING:  # torch is imported by the batch functions only: ``eval`` never loads it
    import torch

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

#: BT.601 luma weights of R and B (``filmcolor.color.KR_KB["bt601"]``; a test holds them equal).
KR, KB = 0.299, 0.114
#: Rows of the SSIM map computed at once: bands small enough to stay in the CPU's cache.
_SSIM_BAND = 64


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
    import torch

    _check_pair(pred, ref)
    mse = (pred - ref).square().mean(dim=(1, 2, 3))
    return 10 * torch.log10(peak**2 / mse)


def luma_batch(rgb: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` gamma-encoded RGB → ``(N, 1, H, W)`` BT.601 luma Y'."""
    _check_batch(rgb, "rgb")
    r, g, b = rgb.unbind(1)
    return (KR * r + (1 - KR - KB) * g + KB * b).unsqueeze(1)


@lru_cache(maxsize=8)
def _gaussian_cpu(dtype: torch.dtype) -> torch.Tensor:
    import torch

    x = torch.arange(SSIM_WINDOW, dtype=torch.float64) - SSIM_WINDOW // 2
    g = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    return (g / g.sum()).to(dtype)


def _ssim_channels(x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    """Mean SSIM of each channel: ``(N, C, H, W)`` × 2 → ``(N, C)``."""
    import torch

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
    import torch

    _check_batch(rgb, "rgb")
    r, g, b = (rgb * 255).flatten(2).unbind(1)
    rg = r - g
    yb = 0.5 * (r + g) - b
    sigma = torch.sqrt(rg.var(dim=1, unbiased=False) + yb.var(dim=1, unbiased=False) + eps)
    mu = torch.sqrt(rg.mean(dim=1).square() + yb.mean(dim=1).square() + eps)
    return sigma + 0.3 * mu


# --- single pictures as (H, W, 3) numpy arrays -----------------------------------------------


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


def _unit_luma(image: np.ndarray, dtype: type[np.floating[Any]]) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W, 3)`` RGB → its ``(H, W)`` BT.601 luma Y' and ``(H, W, 3)`` R, G, B, in [0, 1]
    and ``dtype`` (uint8 codes go straight there, without a float64 copy)."""
    a = np.asarray(image)
    if a.dtype == np.uint8:
        rgb = a.astype(dtype)
        rgb *= dtype(1 / 255)
    else:
        rgb = to_unit_rgb(a).astype(dtype, copy=False)
    if dtype == np.float32:  # OpenCV's weights are BT.601's
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), rgb
    return _luma(rgb), rgb


def _check_same(pred: np.ndarray, ref: np.ndarray) -> None:
    for name, a in (("pred", pred), ("ref", ref)):
        if a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"{name} must have shape (H, W, 3); got {a.shape}")
    if pred.shape != ref.shape:
        raise ValueError(f"pred and ref differ in size: {pred.shape[:2]} vs {ref.shape[:2]}")


def _luma(unit_rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float RGB → ``(H, W)`` BT.601 luma, same dtype."""
    weights = np.array([[KR, 1 - KR - KB, KB]], unit_rgb.dtype)
    return cv2.transform(unit_rgb, weights)


def _ssim_band_sums(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sums over the "valid" SSIM map of a band of rows: ``(h, W, C)`` × 2 → ``(C,)``."""
    half, size = SSIM_WINDOW // 2, (SSIM_WINDOW, SSIM_WINDOW)

    def blur(z: np.ndarray) -> np.ndarray:  # OpenCV's kernel is exp(-x² / 2σ²), normalised
        return cv2.GaussianBlur(z, size, SSIM_SIGMA, sigmaY=SSIM_SIGMA)[half:-half, half:-half]

    # vx + vy only is needed: one filter of x² + y² instead of two.
    mx, my, sum_sq, mxy = blur(x), blur(y), blur(x * x + y * y), blur(x * y)
    c1, c2 = SSIM_K1**2, SSIM_K2**2  # dynamic range 1
    mxmy = mx * my
    mx *= mx
    my *= my
    mx += my  # mx² + my²
    sum_sq -= mx  # vx + vy
    sum_sq += c2
    mx += c1
    mx *= sum_sq  # the denominator
    mxy -= mxmy  # cov(x, y)
    mxy *= 2
    mxy += c2
    mxmy *= 2
    mxmy += c1
    mxmy *= mxy  # the numerator
    mxmy /= mx
    return np.array(cv2.sumElems(mxmy)[: x.shape[2] if x.ndim == 3 else 1])  # float64 sums


def _ssim_means(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean SSIM of each channel of two ``(H, W, C)`` (or ``(H, W)``) float arrays in [0, 1]
    (float64, or float32 to trade ~1e-6 of accuracy for speed) → ``(C,)`` float64."""
    h, w = x.shape[:2]
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW}; got {w}×{h}")
    total = 0.0
    for top in range(0, h - SSIM_WINDOW + 1, _SSIM_BAND):
        rows = slice(top, min(top + _SSIM_BAND, h - SSIM_WINDOW + 1) + SSIM_WINDOW - 1)
        total = total + _ssim_band_sums(x[rows], y[rows])
    return np.atleast_1d(total) / ((h - SSIM_WINDOW + 1) * (w - SSIM_WINDOW + 1))


def _mse(pred: np.ndarray, ref: np.ndarray) -> float:
    if pred.dtype == ref.dtype == np.uint8:  # exact: integer squared differences
        return cv2.norm(pred, ref, cv2.NORM_L2SQR) / (pred.size * 255.0**2)
    return float(np.mean(np.square(to_unit_rgb(pred) - to_unit_rgb(ref))))


#: RGB → (rg, yb) of Hasler & Süsstrunk (and a zero row: OpenCV is fastest at 3 × 3).
_OPPONENT = np.array([[1.0, -1.0, 0.0], [0.5, 0.5, -1.0], [0.0, 0.0, 0.0]])


def _colorfulness(rgb: np.ndarray) -> float:
    w = _OPPONENT[:2]
    if rgb.dtype == np.uint8:  # from the exact first and second moments of the 8-bit codes
        n, planes = rgb.shape[0] * rgb.shape[1], cv2.split(rgb)
        mu = np.array([cv2.mean(p)[0] for p in planes])
        sq = [cv2.norm(p, cv2.NORM_L2SQR) for p in planes]  # Σ x²
        second = np.diag(sq)
        for i, j in ((0, 1), (0, 2), (1, 2)):  # Σ xy = (Σ x² + Σ y² − Σ (x − y)²) / 2
            cross = (sq[i] + sq[j] - cv2.norm(planes[i], planes[j], cv2.NORM_L2SQR)) / 2
            second[i, j] = second[j, i] = cross
        mean = w @ mu
        var = np.einsum("ij,jk,ik->i", w, second / n, w) - mean**2
        sd = np.sqrt(np.maximum(var, 0.0))
    else:
        opponent = cv2.transform(to_unit_rgb(rgb) * 255, _OPPONENT)
        mean_, sd_ = cv2.meanStdDev(opponent)  # population σ, per channel
        mean, sd = mean_.ravel()[:2], sd_.ravel()[:2]
    return math.hypot(*sd) + 0.3 * math.hypot(*mean)


def psnr(pred: np.ndarray, ref: np.ndarray, peak: float = 1.0) -> float:
    """PSNR in dB of two ``(H, W, 3)`` RGB images in [0, 1]; ``inf`` when identical."""
    p, r = np.asarray(pred), np.asarray(ref)
    _check_same(p, r)
    mse = _mse(p, r)
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def ssim(pred: np.ndarray, ref: np.ndarray) -> float:
    """SSIM (Wang et al. 2004) of the BT.601 luma of two ``(H, W, 3)`` RGB images in [0, 1]."""
    p, r = np.asarray(pred), np.asarray(ref)
    _check_same(p, r)
    return float(_ssim_means(_luma(to_unit_rgb(p)), _luma(to_unit_rgb(r)))[0])


def ssim_rgb(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean of the R, G and B SSIMs of two ``(H, W, 3)`` RGB images in [0, 1]."""
    p, r = np.asarray(pred), np.asarray(ref)
    _check_same(p, r)
    return float(_ssim_means(to_unit_rgb(p), to_unit_rgb(r)).mean())


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler–Süsstrunk colorfulness of an ``(H, W, 3)`` RGB image in [0, 1] (0 when gray)."""
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3); got {a.shape}")
    return _colorfulness(a)


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


def image_metrics(
    ref: np.ndarray, cand: np.ndarray, ssim_dtype: type[np.floating[Any]] = np.float64
) -> dict[str, float]:
    """Every per-image metric (``METRIC_KEYS``) of a candidate against its reference, both
    ``(H, W, 3)`` RGB of one size (at least 11×11).

    ``ssim_dtype=np.float32`` computes the SSIMs in single precision: about twice as fast,
    within 1e-5 of the float64 figures (video frames are scored so).
    """
    c, r = np.asarray(cand), np.asarray(ref)
    _check_same(c, r)
    (yc, xc), (yr, xr) = _unit_luma(c, ssim_dtype), _unit_luma(r, ssim_dtype)
    cf_c, cf_r = _colorfulness(c), _colorfulness(r)
    mse = _mse(c, r)
    return {
        "psnr": math.inf if mse == 0 else -10 * math.log10(mse),
        "ssim": float(_ssim_means(yc, yr)[0]),
        "ssim_rgb": float(_ssim_means(xc, xr).mean()),
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
