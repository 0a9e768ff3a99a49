"""Groups of one source picture and the splits (train / tune / val / val2).

* ``group``: every size / crop / near-duplicate of one source picture shares it.  A picture
  starts in a *base group* (``base_group()``: e.g. one per Plasma wallpaper folder, ``_mirror``
  stamps with their original, the scikit-image stereo motorcycle pair, the tiles of one panorama
  (``<stem>#<k>``), the frames of one shot of video (``VIDEO_SHOTS``)); base groups are then
  merged (union-find, ``merge_groups``) when two images' 255-bit perceptual hashes (``phash``:
  DCT of a 32x32 grey thumbnail) are within ``NEAR_DUP_BITS`` of each other (re-sized /
  re-encoded copies, any sources), or when two images of one source are crops of one scene
  (``same_picture``: ORB matches consistent with one similarity transform).  The group id is the
  smallest base-group id of the component.
* ``split`` (``assign_splits``), by group, so all images of one group share it:

  - ``"val"``: the first corpus's validation split, kept exactly as it was: a group of a source
    with ``val_split == "val"`` goes there when ``group_hash(group)`` < ``VAL_PERMYRIAD``
    (~12 % of those groups; ``split_for``).
  - ``"val2"``: the second validation split, from the sources added later (``val_split ==
    "val2"``): their groups in ``group_hash`` order, ~12 % of the groups that show people and
    ~12 % of the others (at least one of each), then more in the same order until it holds
    ``VAL2_MIN_PHOTOS`` photos or ``VAL2_MAX_FRACTION`` of those groups.
  - ``"tune"``: of the other groups (both generations), those with ``group_hash(group,
    "tune:")`` < ``TUNE_PERMYRIAD`` (~8 %): for choosing constants, never for validation.
  - ``"train"``: the rest.

  A picture of a later source that is the same picture as one of the first corpus is dropped by
  the build (``build``), so no group mixes the two and the first corpus's groups stay as they were.
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
VAL_PERMYRIAD = 1200  # 12 % of groups go to "val" (or "val2")
TUNE_PERMYRIAD = 800  # 8 % of the remaining groups go to "tune"
VAL2_MIN_PHOTOS = 40  # "val2" grows past 12 % of the groups until it holds this many photos ...
VAL2_MAX_FRACTION = 0.25  # ... or this fraction of the later sources' groups
SPLITS = ("train", "tune", "val", "val2")
#: (source, top folder) of frames of one shot of real video: one group per folder
VIDEO_SHOTS = {("labelme", "video_annotation")}


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


def group_hash(group: str, salt: str = "") -> int:
    """A stable pseudo-random number in [0, 10000) for ``group`` (sha256 of ``salt + group``)."""
    return int.from_bytes(hashlib.sha256((salt + group).encode()).digest()[:8], "big") % 10000


def split_for(group: str) -> str:
    """The first corpus's rule: ``"val"`` for ~12 % of groups by hash, else ``"train"``."""
    return "val" if group_hash(group) < VAL_PERMYRIAD else "train"


def is_tune(group: str) -> bool:
    return group_hash(group, "tune:") < TUNE_PERMYRIAD


def assign_splits(groups: dict[str, tuple[str, bool, int]]) -> dict[str, str]:
    """The split of every group (see the module docstring).

    ``groups`` maps a group id to (its sources' ``val_split``: ``"val"`` or ``"val2"``, whether
    it shows people, its number of photos).  Deterministic: depends only on the ids and these.
    """
    out: dict[str, str] = {}
    for g, (val_split, _people, _n) in groups.items():
        if val_split == "val" and split_for(g) == "val":
            out[g] = "val"
    later = [g for g, v in groups.items() if v[0] == "val2"]
    later.sort(key=lambda g: (group_hash(g), g))
    chosen: set[str] = set()
    for people in (True, False):
        stratum = [g for g in later if groups[g][1] == people]
        if stratum:
            k = max(1, round(len(stratum) * VAL_PERMYRIAD / 10000))
            chosen.update(stratum[:k])
    photos = sum(groups[g][2] for g in chosen)
    cap = max(len(chosen), int(len(later) * VAL2_MAX_FRACTION))
    for g in later:
        if photos >= VAL2_MIN_PHOTOS or len(chosen) >= cap:
            break
        if g not in chosen:
            chosen.add(g)
            photos += groups[g][2]
    for g in chosen:
        out[g] = "val2"
    for g in groups:
        if g not in out:
            out[g] = "tune" if is_tune(g) else "train"
    return out


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
    elif (source, key.split("/", 1)[0]) in VIDEO_SHOTS:
        key = key.rsplit("/", 1)[0]  # frames of one shot of video
    elif source == "enlightenment" or "#" in key:
        key = key.split("#", 1)[0]  # tiles / frames of one picture or shot: "<stem>#<k>"
    return f"{source}:{key}"


def crop_pairs(kept: list[Kept], order: list[str]) -> list[tuple[int, int]]:
    """Index pairs of pictures that are crops of one picture, compared within each source
    (``order``: the source ids, as built; the cost is quadratic)."""
    pairs = []
    for sid in order:
        idx = [i for i, k in enumerate(kept) if k.source == sid]
        for a, i in enumerate(idx):
            for j in idx[a + 1 :]:
                if kept[i].base != kept[j].base and same_picture(kept[i].orb, kept[j].orb):
                    pairs.append((i, j))
    return pairs


def group_kept(
    kept: list[Kept], order: list[str], pairs: list[tuple[int, int]] | None = None
) -> list[str]:
    """The group id of each kept picture (``pairs``: ``crop_pairs``, computed when ``None``)."""
    if pairs is None:
        pairs = crop_pairs(kept, order)
    return merge_groups([k.base for k in kept], [k.hash for k in kept], pairs=pairs)
