"""Frames of real colour video clips inside packages: a few distinct frames per shot.

``cands_video(sub, clips)`` decodes each listed clip (under the folder ``sub`` of the package)
with PyAV, cuts it into shots (``shots``: a cut wherever two consecutive frames' 32x18 grey
thumbnails differ by more than ``CUT_MEAN_ABS`` on average) and yields ``frames`` frames of each
shot, evenly spaced inside it.  A frame's ``rel`` is ``<clip stem>@<shot>#<frame index>.jpg``:
``groups.base_group`` cuts it at ``#``, so every shot is one group and no shot straddles two
splits.  Clips are short (seconds): each is decoded twice while the candidates are listed, once
for the shot cuts (thumbnails only) and once to keep the chosen frames.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from .common import Candidate, Reader

CUT_MEAN_ABS = 40.0  # mean |difference| (0-255) of consecutive thumbnails that starts a shot
THUMB = (32, 18)


def iter_frames(src: Path | bytes) -> Iterator[np.ndarray]:
    """The frames of the first video stream of ``src`` (a file, or a file's bytes), BGR uint8
    ``(H, W, 3)``."""
    with av.open(io.BytesIO(src) if isinstance(src, bytes) else str(src)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="bgr24")


def thumb(frame: np.ndarray) -> np.ndarray:
    """The 32x18 grey thumbnail that shot cuts are measured on."""
    return cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), THUMB, interpolation=cv2.INTER_AREA)


def shots(thumbs: list[np.ndarray], cut: float = CUT_MEAN_ABS) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges of the shots, from the frames' ``thumb``s (hard cuts)."""
    if not thumbs:
        return []
    starts = [0]
    for i in range(1, len(thumbs)):
        diff = np.abs(thumbs[i].astype(np.int16) - thumbs[i - 1].astype(np.int16)).mean()
        if diff > cut:
            starts.append(i)
    ends = [*starts[1:], len(thumbs)]
    return list(zip(starts, ends, strict=True))


def pick(start: int, end: int, n: int) -> list[int]:
    """``n`` frame indices evenly spread over ``[start, end)`` (fewer when the shot is shorter)."""
    length = end - start
    n = min(n, length)
    return sorted({start + int((k + 0.5) * length / n) for k in range(n)})


def clip_frames(src: Path | bytes, rel: str, orig: str, per_shot: int) -> Iterator[Candidate]:
    """``per_shot`` frames of each shot of one clip (``rel``: its path for the rule tables)."""
    cuts = shots([thumb(f) for f in iter_frames(src)])
    wanted = {i: s for s, (a, b) in enumerate(cuts) for i in pick(a, b, per_shot)}
    kept = {i: f for i, f in enumerate(iter_frames(src)) if i in wanted}
    stem = rel.rsplit(".", 1)[0]
    for i in sorted(kept):

        def load(img: np.ndarray = kept[i]) -> np.ndarray:
            return img

        yield Candidate(f"{stem}@{wanted[i]}#{i:05d}.jpg", f"{orig}#frame={i}", load)


def cands_video(sub: str, clips: dict[str, int]) -> Reader:
    """Frames of the clips ``clips`` (path under the folder ``sub`` -> frames per shot)."""

    def gen(root: Path) -> Iterator[Candidate]:
        for rel in sorted(clips):
            yield from clip_frames(root / sub / rel, rel, f"{sub}/{rel}", clips[rel])

    return gen


def cands_wheel_video(prefix: str, clips: dict[str, int]) -> Reader:
    """Frames of the clips ``clips`` (path under ``prefix`` inside a wheel -> frames per shot)."""

    def gen(whl: Path) -> Iterator[Candidate]:
        for rel in sorted(clips):
            with zipfile.ZipFile(whl) as zf:
                data = zf.read(prefix + rel)
            yield from clip_frames(data, rel, prefix + rel, clips[rel])

    return gen
