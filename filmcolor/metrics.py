"""Quality metrics for colorization: PSNR, SSIM, colorfulness and ΔCF; pairing files to score.

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
- ΔCF is the mean over images of ``|CF(candidate) − CF(reference)|``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .color import KR_KB
from .errors import InputError, UsageError

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
    """Metrics of one pair of files. The place to dispatch on media type (videos: later)."""
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


def _media_by_stem(folder: Path, warnings: list[str]) -> dict[str, Path]:
    from .media.probe import is_image_path

    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file() or not is_image_path(p):
            continue
        if p.stem in files:
            warnings.append(f"{p}: same name as {files[p.stem].name}; skipped, cannot pair both")
            continue
        files[p.stem] = p
    return files


def pair_folders(ref: Path, cand: Path) -> tuple[list[tuple[Path, Path]], list[str], list[str]]:
    """Pair the images of two folders by file stem: (pairs, unpaired files, warnings)."""
    warnings: list[str] = []
    refs = _media_by_stem(ref, warnings)
    cands = _media_by_stem(cand, warnings)
    pairs = [(refs[s], cands[s]) for s in sorted(refs.keys() & cands.keys())]
    unpaired = [str(refs[s]) for s in sorted(refs.keys() - cands.keys())]
    unpaired += [str(cands[s]) for s in sorted(cands.keys() - refs.keys())]
    for u in unpaired:
        warnings.append(f"{u}: no file of the same name in the other folder; skipped")
    return pairs, unpaired, warnings


def evaluate_paths(
    reference: str | os.PathLike[str], candidate: str | os.PathLike[str]
) -> dict[str, Any]:
    """Score CANDIDATE against REFERENCE: two image files, or two folders paired by stem.

    Returns ``summarize``'s dict plus ``reference``, ``candidate``, ``unpaired`` (files with no
    partner) and ``warnings`` (one-line messages). Raises ``InputError`` (exit 3) for missing
    or unreadable files, a size mismatch, or folders with no pair; ``UsageError`` (exit 2)
    for a file paired with a folder.
    """
    ref, cand = Path(reference), Path(candidate)
    for p in (ref, cand):
        if not p.exists():
            raise InputError(f"{p}: no such file or folder; check the path")
    unpaired: list[str] = []
    warnings: list[str] = []
    if ref.is_dir() and cand.is_dir():
        pairs, unpaired, warnings = pair_folders(ref, cand)
        if not pairs:
            raise InputError(f"{cand}: no image has the same name as one in {ref}; nothing to pair")
    elif ref.is_dir() or cand.is_dir():
        folder, other = (ref, cand) if ref.is_dir() else (cand, ref)
        raise UsageError(f"{folder}: is a folder but {other} is not; give two files or two folders")
    else:
        pairs = [(ref, cand)]
    per_image = [_evaluate_file_pair(r, c) for r, c in pairs]
    return (
        {"reference": str(ref), "candidate": str(cand)}
        | summarize(per_image)
        | {
            "unpaired": unpaired,
            "warnings": warnings,
        }
    )


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats (``inf`` PSNR, ``nan``) replaced by ``None`` for JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
