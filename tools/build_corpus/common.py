"""What every source reader shares: the ``Candidate`` and ``Kept`` records, decoding, file walks.

A reader (one per source family: ``rcc``, ``edj``, ``exr``, ``stamps``, ``plain``) is a
``Reader``: it takes the fetched package (the extracted root folder of a Debian package, or the
wheel file of a PyPI one) and yields ``Candidate`` records in a fixed order.  Nothing is decoded
until the build loop has checked the candidate's ``rel`` path against the rule tables and calls
``load()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp", ".gif")


def decode(data: bytes, flags: int = cv2.IMREAD_COLOR) -> np.ndarray | None:
    """Decode image bytes with OpenCV (BGR uint8 by default); ``None`` when they are not one."""
    arr = np.frombuffer(data, np.uint8)
    if arr.size == 0:
        return None
    return cv2.imdecode(arr, flags)


@dataclass
class Candidate:
    rel: str  # path used by the rule tables (and for the output name)
    orig: str  # original path in the package (archive:member for archives)
    load: Callable[[], np.ndarray | None]  # BGR uint8 (BGRA for stamps)
    skip_reason: str | None = None  # set when the reader already knows it must be skipped


@dataclass
class Kept:
    """A picture written to the corpus, with what grouping needs (perceptual hash, ORB)."""

    source: str
    rel: str
    orig: str
    file: str
    width: int
    height: int
    sha256: str
    base: str
    hash: np.ndarray = field(repr=False)
    orb: tuple = field(repr=False, default=())


#: Candidates of one fetched package (extracted Debian root folder, or wheel file).
Reader = Callable[[Path], Iterator[Candidate]]
#: Logs a skipped candidate: ``skip(source_id, candidate, reason)``.
Skip = Callable[[str, Candidate, str], None]
#: Per-source step between decoding and the common filters (``stamps.prepare_stamp``):
#: ``(source_id, candidate, decoded image, pictures kept from the sources built before, output
#: folder, skip) -> image``, or ``None`` after calling ``skip``.
Prepare = Callable[[str, Candidate, np.ndarray, list[Kept], Path, Skip], np.ndarray | None]


def file_loader(path: Path, flags: int = cv2.IMREAD_COLOR) -> Callable[[], np.ndarray | None]:
    return lambda: decode(path.read_bytes(), flags)


def image_files(root: Path, sub: str, pattern: str = "**/*") -> Iterator[tuple[str, Path]]:
    """``(path relative to root/sub, path)`` of every image file under ``root/sub``, sorted."""
    base = root / sub
    for p in sorted(base.glob(pattern)):
        if p.is_file() and p.suffix.lower() in IMAGE_EXT:
            yield p.relative_to(base).as_posix(), p
