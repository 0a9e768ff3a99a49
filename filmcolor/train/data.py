"""Training data: find colour pictures, split them by source picture, make augmented batches.

A training folder may hold, in any mix:

- colour images (any depth below the folder): the gray input is derived from them;
- gray/colour pairs: ``DIR/gray/x.png`` with ``DIR/color/x.png`` (matched by stem; sizes must
  agree) — the model learns from the real gray picture;
- video files: frames sampled a few per shot, so one long shot does not dominate;
- a ``manifest.json`` from ``tools/build_corpus``: its ``group``, ``split`` and ``weight``
  fields are used (all sizes and near-duplicates of one picture share a group and a side).

Every batch is a pure function of (seed, step): resuming at step s sees exactly the batches
an uninterrupted run would have, with no sampler state to save.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..color import luma_to_L, rgb_to_lab
from ..errors import InputError
from ..jsonfile import read_json
from ..media.kinds import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from ..temporal.cuts import CutDetector

#: BT.601 luma weights: how "old film" gray is made from colour (see data-sources.md).
BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Item:
    """One training picture (or video frame) and where it belongs."""

    key: str
    path: Path
    group: str
    weight: float = 1.0
    split: str | None = None
    gray_path: Path | None = None
    #: For video frames: the frame's pts in its stream.
    pts: int | None = None


@dataclass(slots=True)
class Picture:
    """A cached picture: ``rgb`` ``(H, W, 3)`` uint8 sRGB; ``gray`` ``(H, W)`` uint8 or None."""

    rgb: np.ndarray
    gray: np.ndarray | None = None


def _stable_hash(text: str) -> float:
    """A number in [0, 1) that depends only on ``text``."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:12], 16) / float(1 << 48)


def discover(root: Path, frames_per_shot: int = 3) -> list[Item]:
    """All training items under ``root``, in a deterministic order.

    Raises ``InputError`` when the folder is missing or holds nothing usable.
    """
    if not root.is_dir():
        raise InputError(f"{root}: no such folder; give the folder of training frames")
    manifest = root / "manifest.json"
    if manifest.exists():
        return _from_manifest(root, manifest)
    items: list[Item] = []
    gray_dir, color_dir = root / "gray", root / "color"
    paired: set[Path] = set()
    if gray_dir.is_dir() and color_dir.is_dir():
        grays = {p.stem: p for p in gray_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS}
        for color in sorted(color_dir.iterdir()):
            if color.suffix.lower() in IMAGE_EXTENSIONS and color.stem in grays:
                key = f"pair:{color.stem}"
                items.append(Item(key, color, group=key, gray_path=grays[color.stem]))
                paired.update((color, grays[color.stem]))
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if path in paired or any(part.startswith(".") for part in rel.parts):
            continue
        if rel.parts[0] == "gray" and gray_dir.is_dir() and color_dir.is_dir():
            continue  # gray halves without a colour partner teach nothing
        ext = path.suffix.lower()
        if ext in IMAGE_EXTENSIONS:
            items.append(Item(str(rel), path, group=str(rel.with_suffix(""))))
        elif ext in VIDEO_EXTENSIONS:
            items.extend(_video_items(root, path, frames_per_shot))
    if not items:
        raise InputError(f"{root}: no colour images, gray/colour pairs or videos found")
    return items


def _from_manifest(root: Path, manifest: Path) -> list[Item]:
    data = read_json(manifest)  # depth-limited: a user's file
    entries = data["images"] if isinstance(data, dict) else data
    items = []
    for e in entries:
        items.append(
            Item(
                key=e["file"],
                path=root / e["file"],
                group=str(e.get("group", e["file"])),
                weight=float(e.get("weight", 1.0)),
                split=e.get("split"),
            )
        )
    if not items:
        raise InputError(f"{manifest}: lists no images")
    return items


def split_items(
    items: Sequence[Item], val_fraction: float, seed: int = 0
) -> tuple[list[Item], list[Item]]:
    """Training and validation items, split by group so a picture never straddles both.

    The manifest's ``split`` wins where given; other groups go to validation when a stable
    hash of (seed, group) falls below ``val_fraction``. At least one group is held out when
    there are two or more and ``val_fraction > 0``.

    A manifest with a ``tune`` split (``python -m tools.build_corpus``) keeps its validation
    splits (``val``, ``val2``) for the final evaluation alone: training never reads them, and
    the run's own held-out set (early stopping, best weights) is ``tune``.
    """
    has_tune = any(item.split == "tune" for item in items)
    held_out = "tune" if has_tune else "val"
    train, val = [], []
    for item in items:
        side = item.split or (
            held_out if _stable_hash(f"{seed}:{item.group}") < val_fraction else "train"
        )
        if side == "val2" or (has_tune and side == "val"):
            continue  # reserved for the evaluation of the finished model
        (val if side == held_out else train).append(item)
    groups = sorted({i.group for i in train})
    if not val and val_fraction > 0 and len(groups) >= 2:
        held = min(groups, key=lambda g: _stable_hash(f"{seed}:{g}"))
        val = [i for i in train if i.group == held]
        train = [i for i in train if i.group != held]
    return train, val


def _cap(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return img
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _read8(path: Path, flags: int) -> np.ndarray:
    """Read an image (EXIF orientation applied) as 8 bits: 16-bit sources are rounded down."""
    img = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), flags | cv2.IMREAD_ANYDEPTH)
    if img is None:
        raise InputError(f"{path}: not an image OpenCV can read")
    if img.dtype == np.uint16:
        img = (img / 257.0).round().astype(np.uint8)
    return img


def _read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(_read8(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _read_gray(path: Path) -> np.ndarray:
    return _read8(path, cv2.IMREAD_GRAYSCALE)


def load_pictures(items: Sequence[Item], cache_side: int) -> dict[str, Picture]:
    """Read every item into memory, long side capped at ``cache_side``.

    Pairs whose gray and colour sizes differ raise ``InputError`` naming both files.
    """
    cache: dict[str, Picture] = {}
    videos: dict[Path, list[Item]] = {}
    for item in items:
        if item.pts is not None:
            videos.setdefault(item.path, []).append(item)
            continue
        rgb = _read_rgb(item.path)
        gray = None
        if item.gray_path is not None:
            gray = _read_gray(item.gray_path)
            if gray.shape != rgb.shape[:2]:
                raise InputError(
                    f"{item.gray_path} is {gray.shape[1]}x{gray.shape[0]} but {item.path} is "
                    f"{rgb.shape[1]}x{rgb.shape[0]}; a gray/colour pair must have one size"
                )
            gray = _cap(gray, cache_side)
        cache[item.key] = Picture(_cap(rgb, cache_side), gray)
    if videos:
        import av  # video folders only: photo-only training needs no PyAV

    for path, frames in videos.items():
        wanted = {i.pts: i.key for i in frames}
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                if frame.pts in wanted:
                    rgb = frame.to_ndarray(format="rgb24")
                    cache[wanted.pop(frame.pts)] = Picture(_cap(rgb, cache_side))
                    if not wanted:
                        break
    return cache


def _video_items(root: Path, path: Path, per_shot: int) -> list[Item]:
    """A few evenly spaced frames of every shot of ``path`` (cuts: ``temporal.cuts``)."""
    import av  # here, not at module level: photo-only training needs no PyAV

    detector = CutDetector()
    starts, pts = [0], []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                small = frame.reformat(width=96, height=54, format="gray").to_ndarray()
                if detector.update(small.astype(np.float32) * (100 / 255)) and pts:
                    starts.append(len(pts))
                pts.append(frame.pts)
    except (av.error.FFmpegError, IndexError) as exc:
        raise InputError(f"{path}: cannot read its video frames ({exc})") from exc
    if not pts:
        return []
    shots = list(itertools.pairwise([*starts, len(pts)]))
    rel = str(path.relative_to(root))
    items = []
    for s, (start, end) in enumerate(shots):
        n = min(per_shot, end - start)
        for k in np.linspace(start, end - 1, n).round().astype(int):
            items.append(Item(f"{rel}@{pts[k]}", path, group=f"{rel}#shot{s}", pts=int(pts[k])))
    return items


def ab_sample(pictures: Sequence[Picture], side: int = 64) -> torch.Tensor:
    """The training set's ab pixels ``(1, 2, 1, P)`` float32 Lab, from every picture shrunk to
    ``side`` pixels on its long side: what the colour priors of the losses are counted on."""
    pixels = []
    for pic in pictures:
        small = _cap(pic.rgb, side)
        rgb = torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1).float() / 255
        pixels.append(rgb_to_lab(rgb)[1:].flatten(1))
    return torch.cat(pixels, dim=1).view(1, 2, 1, -1)


# ---------------------------------------------------------------- augmentation and batches


def _random_crop(rgb: np.ndarray, gray: np.ndarray | None, size: int, rng: np.random.Generator):
    h, w = rgb.shape[:2]
    area = h * w * rng.uniform(0.3, 1.0)
    ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    cw = round(min(w, math.sqrt(area * ratio)))
    ch = round(min(h, math.sqrt(area / ratio)))
    y0 = int(rng.integers(0, h - ch + 1))
    x0 = int(rng.integers(0, w - cw + 1))
    angle = rng.uniform(-5, 5) if rng.random() < 0.3 else 0.0
    flip = rng.random() < 0.5

    def view(img: np.ndarray) -> np.ndarray:
        out = img[y0 : y0 + ch, x0 : x0 + cw]
        if angle:
            m = cv2.getRotationMatrix2D((cw / 2, ch / 2), angle, 1.0)
            out = cv2.warpAffine(out, m, (cw, ch), borderMode=cv2.BORDER_REFLECT)
        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
        return out[:, ::-1] if flip else out

    return view(rgb), (view(gray) if gray is not None else None)


def _center_crop(rgb: np.ndarray, gray: np.ndarray | None, size: int):
    h, w = rgb.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2

    def view(img: np.ndarray) -> np.ndarray:
        crop = img[y0 : y0 + side, x0 : x0 + side]
        return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)

    return view(rgb), (view(gray) if gray is not None else None)


def degrade_film(L: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Old-film damage on ``(H, W)`` float32 L in [0, 100]: flicker, blur, grain, scratches,
    dust. The model then learns to colour worn prints, not only clean scans."""
    out = L * rng.uniform(0.85, 1.15) + rng.uniform(-8, 8)  # exposure flicker
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.4))
    if rng.random() < 0.7:
        out = out + rng.normal(0, rng.uniform(1, 5), out.shape).astype(np.float32)  # grain
    h, w = out.shape
    for _ in range(int(rng.integers(0, 4))):  # vertical scratches, bright or dark
        x = int(rng.integers(0, w))
        out[:, x : x + int(rng.integers(1, 3))] += rng.choice([-1, 1]) * rng.uniform(15, 40)
    for _ in range(int(rng.integers(0, 6))):  # dust specks
        cv2.circle(
            out,
            (int(rng.integers(0, w)), int(rng.integers(0, h))),
            int(rng.integers(1, 3)),
            float(rng.choice([0.0, 100.0])),
            -1,
        )
    return np.clip(out, 0, 100).astype(np.float32)


def gray_L(rgb: np.ndarray, gray: np.ndarray | None = None) -> np.ndarray:
    """``(H, W)`` float32 L in [0, 100] of the gray picture: ``gray`` ``(H, W)`` uint8 when
    there is one (a gray/colour pair), else the BT.601 gray of ``rgb`` ``(H, W, 3)`` uint8
    (as old film is simulated)."""
    if gray is None:
        gray = (rgb.astype(np.float32) @ BT601).round().clip(0, 255)
    return luma_to_L(torch.from_numpy(gray.astype(np.int64)), 8, True).numpy()


@dataclass(slots=True)
class Batch:
    """``L_in`` ``(N, 1, S, S)`` model input L (maybe degraded); ``L`` ``(N, 1, S, S)`` clean
    L of the gray picture; ``ab`` ``(N, 2, S, S)`` true Lab ab; ``rgb`` ``(N, 3, S, S)`` true
    sRGB in [0, 1]. All float32."""

    L_in: torch.Tensor
    L: torch.Tensor
    ab: torch.Tensor
    rgb: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        tensors = (self.L_in, self.L, self.ab, self.rgb)
        return Batch(*(t.to(device, non_blocking=True) for t in tensors))


def _assemble(crops: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Batch:
    rgb = torch.from_numpy(np.stack([c[0] for c in crops])).permute(0, 3, 1, 2).float() / 255
    L_in = torch.from_numpy(np.stack([c[1] for c in crops])).unsqueeze(1)
    L = torch.from_numpy(np.stack([c[2] for c in crops])).unsqueeze(1)
    ab = rgb_to_lab(rgb)[:, 1:]
    return Batch(L_in=L_in, L=L, ab=ab, rgb=rgb)


def train_batch(
    cache: dict[str, Picture],
    items: Sequence[Item],
    step: int,
    *,
    seed: int,
    batch_size: int,
    size: int,
    degrade: float,
) -> Batch:
    """The augmented batch for ``step``: the same (seed, step) always gives the same batch."""
    rng = np.random.default_rng([seed, step])
    weights = np.array([i.weight for i in items], dtype=np.float64)
    picks = rng.choice(len(items), size=batch_size, p=weights / weights.sum())
    crops = []
    for k in picks:
        pic = cache[items[k].key]
        rgb, gray = _random_crop(pic.rgb, pic.gray, size, rng)
        if gray is None and rng.random() < 0.5:  # brightness/contrast jitter (derived gray)
            rgb = np.clip(
                (rgb.astype(np.float32) - 128) * rng.uniform(0.8, 1.2) + 128 + rng.uniform(-20, 20),
                0,
                255,
            ).astype(np.uint8)
        L = gray_L(rgb, gray)
        L_in = degrade_film(L, rng) if rng.random() < degrade else L
        crops.append((np.ascontiguousarray(rgb), L_in, L))
    return _assemble(crops)


def val_batches(
    cache: dict[str, Picture], items: Sequence[Item], *, batch_size: int, size: int
) -> list[Batch]:
    """Fixed validation batches: a centre square of each item, clean input."""
    crops = []
    for item in items:
        pic = cache[item.key]
        rgb, gray = _center_crop(pic.rgb, pic.gray, size)
        L = gray_L(rgb, gray)
        crops.append((np.ascontiguousarray(rgb), L, L))
    return [_assemble(crops[i : i + batch_size]) for i in range(0, len(crops), batch_size)]
