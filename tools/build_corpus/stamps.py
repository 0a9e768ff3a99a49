"""Tux Paint stamps: PNG cut-outs with alpha, composited onto photos from the other sources.

Each stamp is cropped to its opaque bounding box, tested (``filters.stamp_is_drawing``, near-gray
on its opaque pixels) and pasted onto a blurred crop of a picture already kept from the sources
built before it, from the same split (``composite_stamp``), so this source is built last.
Choices are made from hashes of the stamp's path: nothing random.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from .common import Candidate, Kept, Skip, decode, file_loader, image_files
from .filters import GRAY_CHROMA, MIN_SIDE, is_near_gray, stamp_is_drawing
from .groups import base_group, split_for


def cands_stamps(root: Path) -> Iterator[Candidate]:
    """Every PNG stamp, loaded with its alpha channel (BGRA)."""
    sub = "usr/share/tuxpaint/stamps"
    for rel, p in image_files(root, sub):
        if p.suffix.lower() == ".png":
            yield Candidate(rel, f"{sub}/{rel}", file_loader(p, cv2.IMREAD_UNCHANGED))


def _hash_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def stamp_bbox(bgra: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(bgra[..., 3] > 16)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def composite_stamp(bgra: np.ndarray, background: np.ndarray, key: str) -> np.ndarray:
    """Paste a cropped stamp (BGRA) onto a blurred crop of ``background`` (BGR), deterministically.

    The canvas is the stamp's bounding box with a 20 % margin on each side; the background crop
    has the canvas aspect, covers 50-100 % of the background's limiting side at a position chosen
    from ``key``'s hash, and is blurred (depth of field) so that the stamp stays the subject.
    """
    h, w = bgra.shape[:2]
    cw, ch = round(w * 1.4), round(h * 1.4)
    bh, bw = background.shape[:2]
    r = _hash_int(key)
    frac = 0.5 + 0.5 * ((r & 0xFFFF) / 0xFFFF)
    scale = min(bw / cw, bh / ch) * frac
    sw, sh = max(1, int(cw * scale)), max(1, int(ch * scale))
    x0 = ((r >> 16) & 0xFFFF) * (bw - sw) // 0xFFFF
    y0 = ((r >> 32) & 0xFFFF) * (bh - sh) // 0xFFFF
    crop = background[y0 : y0 + sh, x0 : x0 + sw]
    interp = cv2.INTER_AREA if sw > cw else cv2.INTER_LINEAR
    canvas = cv2.resize(crop, (cw, ch), interpolation=interp)
    sigma = 1.0 + 0.008 * max(cw, ch)
    canvas = cv2.GaussianBlur(canvas, (0, 0), sigma).astype(np.float32)
    ox, oy = (cw - w) // 2, (ch - h) // 2
    alpha = bgra[..., 3:4].astype(np.float32) / 255.0
    region = canvas[oy : oy + h, ox : ox + w]
    canvas[oy : oy + h, ox : ox + w] = bgra[..., :3].astype(np.float32) * alpha + region * (
        1.0 - alpha
    )
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


def prepare_stamp(
    sid: str,
    cand: Candidate,
    img: np.ndarray,
    pool: list[Kept],
    out: Path,
    skip: Skip,
) -> np.ndarray | None:
    """The composited picture (BGR uint8) of a decoded stamp, or ``None`` after ``skip``.

    ``pool``: the pictures kept from the sources built before, sorted by file; the background
    is one of those in the stamp's own split, picked by the hash of its path.
    """
    if img.ndim != 3 or img.shape[2] != 4:
        skip(sid, cand, "stamp without alpha channel")
        return None
    box = stamp_bbox(img)
    if box is None:
        skip(sid, cand, "empty stamp")
        return None
    x0, y0, x1, y1 = box
    img = img[y0:y1, x0:x1]
    if min(img.shape[:2]) < MIN_SIDE:
        skip(sid, cand, f"stamp short side {min(img.shape[:2])} < {MIN_SIDE}")
        return None
    if stamp_is_drawing(img):
        skip(sid, cand, "drawing (flat-coloured stamp)")
        return None
    if is_near_gray(img[..., :3], img[..., 3] > 200):
        skip(sid, cand, f"near-grayscale stamp (mean |a|+|b| < {GRAY_CHROMA})")
        return None
    # background from a photo of the same split (no val picture leaks into train and back)
    split = split_for(base_group(sid, cand.rel))
    same = [k for k in pool if split_for(k.base) == split] or pool
    if not same:
        skip(sid, cand, "no background photos (no other source selected)")
        return None
    bg_entry = same[_hash_int(cand.rel) % len(same)]
    background = decode((out / bg_entry.file).read_bytes())
    return composite_stamp(img, background, cand.rel)
