"""Still images: read the luma (EXIF orientation applied), write the colour result.

OpenCV does the file formats (JPEG, PNG, TIFF, WebP, BMP; 8 and 16 bits).

Output policy: the output keeps the input's format and bit depth, so a 16-bit PNG or TIFF
gives a 16-bit colour PNG or TIFF and a JPEG gives a JPEG (quality 95). Formats that cannot
hold 16 bits (JPEG, WebP, BMP) get 8 bits, with a warning.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError, MediaError

EIGHT_BIT_ONLY = frozenset({".jpg", ".jpeg", ".webp", ".bmp"})


@dataclass(frozen=True, slots=True)
class Picture:
    """A still image's luma: ``(H, W)`` uint8 or uint16 full-range code values, upright."""

    luma: np.ndarray
    bit_depth: int
    was_color: bool


def read_picture(path: str | os.PathLike[str]) -> Picture:
    """Read ``path`` as upright luma (EXIF orientation applied; RGB converted with BT.601).

    Raises ``InputError`` when the file is missing, empty or not an image OpenCV can read.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; check the path")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty (0 bytes); was it copied completely?")
    # ANYDEPTH keeps 16 bits, ANYCOLOR keeps gray as one channel; unlike IMREAD_UNCHANGED,
    # this combination applies the EXIF orientation.
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if img is None:
        raise InputError(f"{p}: not an image OpenCV can read; is the file damaged?")
    if img.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{p}: {img.dtype} samples are not supported; save it as 8 or 16 bits")
    bits = 8 if img.dtype == np.uint8 else 16
    was_color = img.ndim == 3 and img.shape[2] >= 3
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        if img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        else:
            img = img[..., 0]
    return Picture(luma=np.ascontiguousarray(img), bit_depth=bits, was_color=was_color)


def output_bits(path: str | os.PathLike[str], source_bits: int) -> int:
    """The bit depth written to ``path``: the source's, unless the format is 8-bit only."""
    return 8 if Path(path).suffix.lower() in EIGHT_BIT_ONLY else source_bits


def write_picture(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    """Write ``rgb`` ``(H, W, 3)`` uint8/uint16 to ``path`` (format from its extension)."""
    p = Path(path)
    ext = p.suffix.lower()
    params: list[int] = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, 95]
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise MediaError(f"{p}: OpenCV could not encode a {ext} image")
    buf.tofile(str(p))
