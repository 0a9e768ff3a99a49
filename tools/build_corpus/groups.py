"""Groups of one source picture and the train/val split.

* ``group``: every size / crop / near-duplicate of one source picture shares it.  A picture
  starts in a *base group* (``base_group()``: e.g. one per Plasma wallpaper folder, ``_mirror``
  stamps with their original, the scikit-image stereo motorcycle pair); base groups are then
  merged (union-find, ``merge_groups``) when two images' 255-bit perceptual hashes (``phash``:
  DCT of a 32x32 grey thumbnail) are within ``NEAR_DUP_BITS`` of each other (re-sized /
  re-encoded copies, any sources), or when two images of one source are crops of one scene
  (``same_picture``: ORB matches consistent with one similarity transform).  The group id is the
  smallest base-group id of the component.
* ``split``: ``"val"`` when ``sha256(group)`` mod 10000 < ``VAL_PERMYRIAD`` (~12 % of groups),
  else ``"train"``.  All images of one group share the split.
"""

from __future__ import annotations

import hashlib
import re

import cv2
import numpy as np

from .common import Kept
from .filters import thumb

NEAR_DUP_BITS = 20  # of 255 perceptual-hash bits (unrelated photos differ in >= 60)
CROP_MIN_INLIERS = 15  # ORB/RANSAC inliers for "crop of the same picture" (same source only)
ORB_SIDE = 384
VAL_PERMYRIAD = 1200  # 12 % of groups go to "val"


def phash(img_bgr: np.ndarray) -> np.ndarray:
    """255-bit perceptual hash: low 16x16 DCT of a 32x32 grey thumbnail, > median (no DC)."""
    gray = cv2.cvtColor(img_bgr, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    coeffs = cv2.dct(small)[:16, :16].flatten()[1:]
    return coeffs > np.median(coeffs)


def hamming(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.count_nonzero(a != b))


_ORB = None


def orb_features(img_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """ORB keypoints (as points) and descriptors on a <=384 px grey version."""
    global _ORB
    if _ORB is None:
        _ORB = cv2.ORB_create(nfeatures=300)
    gray = thumb(cv2.cvtColor(img_bgr, cv2.COLOR_BGR2GRAY), ORB_SIDE)
    kps, des = _ORB.detectAndCompute(gray, None)
    pts = np.float32([k.pt for k in kps]).reshape(-1, 2) / max(gray.shape[:2])
    return pts, des


_BF = None


def _bf_matcher() -> cv2.BFMatcher:
    global _BF
    if _BF is None:
        _BF = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    return _BF


def same_picture(fa: tuple[np.ndarray, np.ndarray | None], fb: tuple) -> bool:
    """True when two images show the same scene (crop / scale / shift of one photo).

    ORB matches (Hamming < 40, cross-checked) must fit one similarity transform (RANSAC) with at
    least ``CROP_MIN_INLIERS`` inliers.  Unrelated photos give < 12 inliers, crops and re-scaled
    copies of one picture 17-200.
    """
    (pa, da), (pb, db) = fa, fb
    if da is None or db is None or len(da) < CROP_MIN_INLIERS or len(db) < CROP_MIN_INLIERS:
        return False
    good = [m for m in _bf_matcher().match(da, db) if m.distance < 40]
    if len(good) < CROP_MIN_INLIERS:
        return False
    src = pa[[m.queryIdx for m in good]] * ORB_SIDE
    dst = pb[[m.trainIdx for m in good]] * ORB_SIDE
    _m, inliers = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=4.0
    )
    return inliers is not None and int(inliers.sum()) >= CROP_MIN_INLIERS


def merge_groups(
    base: list[str],
    hashes: list[np.ndarray],
    max_bits: int = NEAR_DUP_BITS,
    pairs: list[tuple[int, int]] = (),  # type: ignore[assignment]
) -> list[str]:
    """Union base groups whose members' hashes are within ``max_bits`` or that are listed in
    ``pairs`` (indices); the group id is the smallest base id of each component."""
    parent: dict[str, str] = {g: g for g in base}

    def find(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            lo, hi = sorted((ra, rb))
            parent[hi] = lo

    if hashes:
        mat = np.stack(hashes).astype(np.uint8)
        for i in range(len(mat)):
            d = np.count_nonzero(mat[i + 1 :] != mat[i], axis=1)
            for j in np.nonzero(d <= max_bits)[0].tolist():
                union(base[i], base[i + 1 + j])
    for i, j in pairs:
        union(base[i], base[j])
    return [find(g) for g in base]


def split_for(group: str) -> str:
    h = int.from_bytes(hashlib.sha256(group.encode()).digest()[:8], "big")
    return "val" if h % 10000 < VAL_PERMYRIAD else "train"


def base_group(source: str, rel: str) -> str:
    """The group a picture belongs to before near-duplicate merging."""
    key = rel.rsplit(".", 1)[0]
    if source == "plasma":
        key = rel.split("/", 1)[0]  # one wallpaper folder = one picture in several sizes
    elif source == "skimage" and key.startswith("motorcycle_"):
        key = "motorcycle"  # stereo pair of one scene
    elif source == "tuxpaint-stamps":
        key = re.sub(r"_mirror$", "", key)
    elif source == "gcompris" and key.startswith("details/"):
        key = re.sub(r"_(background|\d+)$", "", key)  # detail crops belong to their picture
    elif source == "enlightenment":
        key = key.split("#", 1)[0]
    return f"{source}:{key}"


def group_kept(kept: list[Kept], order: list[str]) -> list[str]:
    """The group id of each kept picture (``order``: the source ids, as built)."""
    crop_pairs = []  # crops of one picture: compared within each source (cost is quadratic)
    for sid in order:
        idx = [i for i, k in enumerate(kept) if k.source == sid]
        for a, i in enumerate(idx):
            for j in idx[a + 1 :]:
                if kept[i].base != kept[j].base and same_picture(kept[i].orb, kept[j].orb):
                    crop_pairs.append((i, j))
    return merge_groups([k.base for k in kept], [k.hash for k in kept], pairs=crop_pairs)
