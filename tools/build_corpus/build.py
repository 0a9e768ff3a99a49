"""The build loop: fetch each source, filter its candidates, write the JPEGs, group, manifest.

For each selected source, in ``SOURCES`` order, every candidate goes through ``INCLUDE_RULES``,
``KEEP_RULES`` / ``SKIP_RULES``, decoding, the source's own ``prepare`` step (stamps), then the
``filters``; a kept picture is resized to ``max_side`` (INTER_AREA), written as
``images/<source>/<safe_name(rel)>.jpg`` (JPEG quality ``JPEG_QUALITY``) and hashed as decoded.
Pictures stored rotated are turned upright first (``ROTATE_RULES``).  Then ``groups`` merges
near-duplicates and crops; a picture of a later source (``val_split == "val2"``) that falls in a
group of the first corpus's sources is dropped (it adds nothing, and the first corpus's groups and
validation split must stay as they were); ``groups.assign_splits`` gives each group its split, and
``manifest.json`` is written with every image, every skipped candidate (with its reason),
per-source counts and totals.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from .common import Candidate, Kept, decode
from .fetch import Fetcher
from .filters import DRAWING_MAX_COLOURS, GRAY_CHROMA, MIN_SIDE, colour_count, mean_chroma
from .groups import SPLITS, assign_splits, base_group, crop_pairs, merge_groups, orb_features, phash
from .sources import (
    INCLUDE_RULES,
    KEEP_RULES,
    SKIP_RULES,
    SOURCES,
    WEIGHT_PEOPLE,
    first_match,
    rotation_for,
    weight_for,
)

JPEG_QUALITY = 92


def safe_name(rel: str) -> str:
    stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
    stem = stem.replace("/", "__")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_") or "image"


def resize_max(img: np.ndarray, max_side: int) -> np.ndarray:
    h, w = img.shape[:2]
    if max(h, w) <= max_side:
        return img
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def candidates_for(sid: str, fetcher: Fetcher) -> tuple[str, Iterator[Candidate]]:
    """Fetch source ``sid``; returns (package version, its candidates)."""
    src = SOURCES[sid]
    path, version = fetcher.fetch(src)
    return version, src.read(path)


def build(out: Path, cache: Path, max_side: int, source_ids: list[str]) -> dict:
    """Build the corpus of ``source_ids`` into ``out`` (``out/images`` is emptied first).

    Downloads go to ``cache``; pictures are limited to ``max_side`` px on their long side.
    Returns the manifest, also written to ``out/manifest.json``.
    """
    images_dir = out / "images"
    shutil.rmtree(images_dir, ignore_errors=True)
    images_dir.mkdir(parents=True)
    fetcher = Fetcher(cache)
    kept: list[Kept] = []
    skipped: list[dict] = []
    versions: dict[str, str] = {}
    used_names: set[str] = set()

    def skip(sid: str, cand: Candidate, reason: str) -> None:
        skipped.append({"source": sid, "original_path_in_package": cand.orig, "reason": reason})

    def keep(sid: str, cand: Candidate, img: np.ndarray) -> None:
        img = resize_max(img, max_side)
        name = safe_name(cand.rel)
        if f"{sid}/{name}" in used_names:
            name = f"{name}_{hashlib.sha256(cand.orig.encode()).hexdigest()[:8]}"
        used_names.add(f"{sid}/{name}")
        ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {cand.orig}")
        data = enc.tobytes()
        rel_file = f"images/{sid}/{name}.jpg"
        path = out / rel_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        # hash the decoded JPEG so that the hash is what training will see
        h, w = img.shape[:2]
        seen = decode(data)
        kept.append(
            Kept(
                sid,
                cand.rel,
                cand.orig,
                rel_file,
                w,
                h,
                hashlib.sha256(data).hexdigest(),
                base_group(sid, cand.rel),
                phash(seen),
                orb_features(seen),
            )
        )

    order = [s for s in SOURCES if s in source_ids]
    for sid in order:
        version, cands = candidates_for(sid, fetcher)
        versions[sid] = version
        includes = INCLUDE_RULES.get(sid)
        rules = SKIP_RULES.get(sid, [])
        prepare = SOURCES[sid].prepare
        pool: list[Kept] = []
        if prepare is not None:
            # backgrounds from the sources of the same corpus generation only, so that adding
            # later sources does not change the first corpus's composites
            same_gen = SOURCES[sid].val_split
            pool = sorted(
                (k for k in kept if k.source != sid and SOURCES[k.source].val_split == same_gen),
                key=lambda k: k.file,
            )
        for cand in cands:
            if includes is not None and not any(fnmatch.fnmatchcase(cand.rel, p) for p in includes):
                reason = first_match(cand.rel, rules) or "not in the doc's listed folders"
                skip(sid, cand, reason)
                continue
            keep_anyway = any(fnmatch.fnmatchcase(cand.rel, p) for p in KEEP_RULES.get(sid, []))
            reason = None if keep_anyway else first_match(cand.rel, rules)
            if reason:
                skip(sid, cand, reason)
                continue
            if cand.skip_reason:
                skip(sid, cand, cand.skip_reason)
                continue
            img = cand.load()
            if img is None:
                skip(sid, cand, "could not decode")
                continue
            rotation = rotation_for(sid, cand.rel)
            if rotation is not None:
                img = cv2.rotate(img, rotation)
            if prepare is not None:
                img = prepare(sid, cand, img, pool, out, skip)
                if img is None:
                    continue
            if img.ndim == 2:
                img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
            elif img.shape[2] == 4:
                img = img[..., :3]
            if min(img.shape[:2]) < MIN_SIDE:
                skip(sid, cand, f"short side {min(img.shape[:2])} < {MIN_SIDE}")
                continue
            chroma = mean_chroma(img)
            if chroma < GRAY_CHROMA:
                skip(sid, cand, f"near-grayscale (mean |a|+|b| = {chroma:.2f} < {GRAY_CHROMA})")
                continue
            ncol = colour_count(img)
            if ncol < DRAWING_MAX_COLOURS:
                skip(sid, cand, f"drawing ({ncol} colours < {DRAWING_MAX_COLOURS})")
                continue
            keep(sid, cand, img)

    kept, groups = group_and_drop_repeats(kept, order, out, skipped)
    manifest = manifest_for(kept, groups, skipped, versions, order, max_side)
    text = json.dumps(manifest, indent=1, sort_keys=False, ensure_ascii=False) + "\n"
    (out / "manifest.json").write_text(text, encoding="utf-8")
    return manifest


def group_and_drop_repeats(
    kept: list[Kept], order: list[str], out: Path, skipped: list[dict]
) -> tuple[list[Kept], list[str]]:
    """Group ``kept``; drop (file, manifest entry) every picture of a later source whose group
    holds a picture of the first corpus's sources, logging it in ``skipped``.

    Returns the remaining pictures and their groups.  The first corpus's groups are then exactly
    what they are without the later sources (crop pairs never cross sources, and every picture
    that joined a first-corpus group is gone).
    """
    pairs = crop_pairs(kept, order)
    groups = merge_groups([k.base for k in kept], [k.hash for k in kept], pairs=pairs)
    first_of: dict[str, str] = {}  # group -> its first file from the first corpus's sources
    for k, g in zip(kept, groups, strict=True):
        if SOURCES[k.source].val_split == "val":
            first_of[g] = min(first_of.get(g, k.file), k.file)
    drop = {
        i
        for i, (k, g) in enumerate(zip(kept, groups, strict=True))
        if SOURCES[k.source].val_split != "val" and g in first_of
    }
    if not drop:
        return kept, groups
    for i in sorted(drop):
        k = kept[i]
        (out / k.file).unlink()
        reason = f"same picture as {first_of[groups[i]]} (already in the corpus)"
        skipped.append({"source": k.source, "original_path_in_package": k.orig, "reason": reason})
    index = {old: new for new, old in enumerate(i for i in range(len(kept)) if i not in drop)}
    kept = [k for i, k in enumerate(kept) if i not in drop]
    pairs = [(index[i], index[j]) for i, j in pairs if i in index and j in index]
    return kept, merge_groups([k.base for k in kept], [k.hash for k in kept], pairs=pairs)


def manifest_for(
    kept: list[Kept],
    groups: list[str],
    skipped: list[dict],
    versions: dict[str, str],
    order: list[str],
    max_side: int,
) -> dict:
    """The manifest: images sorted by file, skipped candidates sorted, per-source counts."""
    info: dict[str, tuple[str, bool, int]] = {}
    for k, g in zip(kept, groups, strict=True):
        vs, people, n = info.get(g, (SOURCES[k.source].val_split, False, 0))
        info[g] = (vs, people or weight_for(k.source, k.rel) >= WEIGHT_PEOPLE, n + 1)
    split_of = assign_splits(info)
    entries = []
    for k, g in zip(kept, groups, strict=True):
        src = SOURCES[k.source]
        entries.append(
            {
                "file": k.file,
                "source": k.source,
                "source_package": src.package,
                "package_version": versions[k.source],
                "licence": src.licence,
                "original_path_in_package": k.orig,
                "width": k.width,
                "height": k.height,
                "sha256": k.sha256,
                "group": g,
                "split": split_of[g],
                "weight": weight_for(k.source, k.rel),
            }
        )
    entries.sort(key=lambda e: e["file"])
    skipped.sort(key=lambda s: (s["source"], s["original_path_in_package"], s["reason"]))
    sources = {}
    for sid in order:
        src = SOURCES[sid]
        sources[sid] = {
            "package": src.package,
            "kind": src.kind,
            "pinned_version": src.version,
            "package_version": versions[sid],
            "licence": src.licence,
            "val_split": src.val_split,
            "kept": sum(e["source"] == sid for e in entries),
            **{sp: sum(e["source"] == sid and e["split"] == sp for e in entries) for sp in SPLITS},
            "skipped": sum(s["source"] == sid for s in skipped),
        }
    return {
        "format": 1,
        "max_side": max_side,
        "jpeg_quality": JPEG_QUALITY,
        "sources": sources,
        "counts": {
            "images": len(entries),
            "groups": len({e["group"] for e in entries}),
            **{split: sum(e["split"] == split for e in entries) for split in SPLITS},
            "skipped": len(skipped),
        },
        "images": entries,
        "skipped": skipped,
    }
