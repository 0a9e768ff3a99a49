"""Which decoded pictures are photographs: size, grayscale and drawing tests.

After the rule tables (``sources``), every decoded candidate must pass, in this order (each
failure is logged in the manifest's ``skipped`` list with its reason):

1. short side >= ``MIN_SIDE`` (128 px);
2. not near-grayscale: mean ``|a| + |b|`` in CIE Lab >= ``GRAY_CHROMA`` (3.0);
3. not a drawing: at least ``DRAWING_MAX_COLOURS`` distinct exact colours in a <=256 px
   nearest-neighbour thumbnail.

Alpha stamps are tested before compositing (``stamp_is_drawing``): a drawing when more than
``STAMP_MAX_TOP16`` of the opaque pixels are in just 16 exact colours, or when they have fewer
than ``STAMP_MIN_COLOURS`` exact colours.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_SIDE = 128
GRAY_CHROMA = 3.0
DRAWING_MAX_COLOURS = 500
STAMP_MAX_TOP16 = 0.25
STAMP_MIN_COLOURS = 1000


def thumb(img: np.ndarray, side: int = 256, interp: int = cv2.INTER_AREA) -> np.ndarray:
    h, w = img.shape[:2]
    s = side / max(h, w)
    if s >= 1:
        return img
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)


def mean_chroma(img_bgr: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean ``|a| + |b|`` in CIE Lab (float)."""
    small = thumb(img_bgr)
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    chroma = np.abs(lab[..., 1]) + np.abs(lab[..., 2])
    if mask is not None:
        m = thumb(mask.astype(np.uint8), interp=cv2.INTER_NEAREST) > 0
        return float(chroma[m].mean()) if m.any() else 0.0
    return float(chroma.mean())


def colour_count(img_bgr: np.ndarray) -> int:
    """Distinct exact colours in a <=256 px nearest-neighbour thumbnail.

    Photographs have sensor noise and gradients everywhere (>5000 colours even for dark, hazy or
    smooth pictures at this size); palette drawings and flat renders have a few hundred.
    """
    small = thumb(img_bgr, interp=cv2.INTER_NEAREST).reshape(-1, 3).astype(np.int32)
    keys = (small[:, 0] << 16) | (small[:, 1] << 8) | small[:, 2]
    return int(np.unique(keys).size)


def is_near_gray(img_bgr: np.ndarray, mask: np.ndarray | None = None) -> bool:
    return mean_chroma(img_bgr, mask) < GRAY_CHROMA


def is_drawing(img_bgr: np.ndarray) -> bool:
    return colour_count(img_bgr) < DRAWING_MAX_COLOURS


def stamp_is_drawing(bgra: np.ndarray) -> bool:
    """Flat-coloured stamp: few exact colours, or 16 colours cover much of the opaque area."""
    opaque = bgra[..., 3] > 200
    px = bgra[..., :3][opaque].astype(np.int64)
    if len(px) == 0:
        return True
    keys = (px[:, 0] << 16) | (px[:, 1] << 8) | px[:, 2]
    _vals, counts = np.unique(keys, return_counts=True)
    top16 = np.sort(counts)[::-1][:16].sum() / len(px)
    return bool(len(counts) < STAMP_MIN_COLOURS or top16 > STAMP_MAX_TOP16)
