"""What to compare with what: video frames by presentation time, folders by file name."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError, UsageError
from ..media.kinds import is_image_path, is_video_path

if TYPE_CHECKING:
    from ..media.frames import RGBFrame


def _time_key(time: Fraction, tick: Fraction) -> int:
    """``time`` in units of ``tick``, rounded to nearest (halves away from zero)."""
    q = time / tick
    n = math.floor(abs(q) + Fraction(1, 2))
    return n if q >= 0 else -n


def pair_by_time(
    reference: Iterator[RGBFrame],
    candidate: Iterator[RGBFrame],
    tick: Callable[[], Fraction],
    unmatched: dict[str, list[Fraction]],
) -> Iterator[tuple[RGBFrame, RGBFrame]]:
    """Pair two streams of frames (each in increasing time) by presentation time.

    Times are compared exactly, as ``Fraction``s, after rounding both to ``tick()`` (the
    coarser of the two time bases, read once both streams have started): a remux into a
    coarser time base (Matroska stores milliseconds) moves a timestamp by up to half a tick.
    Frames with no partner are appended to ``unmatched["reference"]`` / ``["candidate"]``.
    """
    r = next(reference, None)
    c = next(candidate, None)
    step = tick() if r is not None and c is not None else Fraction(1)
    while r is not None and c is not None:
        kr, kc = _time_key(r.time, step), _time_key(c.time, step)
        if kr == kc:
            yield r, c
            r, c = next(reference, None), next(candidate, None)
        elif kr < kc:
            unmatched["reference"].append(r.time)
            r = next(reference, None)
        else:
            unmatched["candidate"].append(c.time)
            c = next(candidate, None)
    for rest, who in ((r, "reference"), (c, "candidate")):
        if rest is not None:
            unmatched[who].append(rest.time)
    unmatched["reference"].extend(f.time for f in reference)
    unmatched["candidate"].extend(f.time for f in candidate)


def _media_by_stem(folder: Path, warnings: list[str], kind: str) -> dict[str, Path]:
    wanted = is_image_path if kind == "image" else is_video_path
    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file() or not wanted(p):
            continue
        if p.stem in files:
            warnings.append(f"{p}: same name as {files[p.stem].name}; skipped, cannot pair both")
            continue
        files[p.stem] = p
    return files


def folder_kind(folder: Path) -> str:
    """``video`` when ``folder`` holds a video file (by extension), else ``image``."""
    return "video" if any(is_video_path(p) for p in folder.iterdir() if p.is_file()) else "image"


def pair_folders(
    ref: Path, cand: Path, kind: str = "image"
) -> tuple[list[tuple[Path, Path]], list[str], list[str]]:
    """Pair the images (or, with ``kind="video"``, the videos) of two folders by file stem:
    (pairs, unpaired files, warnings)."""
    warnings: list[str] = []
    refs = _media_by_stem(ref, warnings, kind)
    cands = _media_by_stem(cand, warnings, kind)
    pairs = [(refs[s], cands[s]) for s in sorted(refs.keys() & cands.keys())]
    unpaired = [str(refs[s]) for s in sorted(refs.keys() - cands.keys())]
    unpaired += [str(cands[s]) for s in sorted(cands.keys() - refs.keys())]
    for u in unpaired:
        warnings.append(f"{u}: no file of the same name in the other folder; skipped")
    return pairs, unpaired, warnings


def input_kind(reference: str | os.PathLike[str], candidate: str | os.PathLike[str]) -> str:
    """What ``evaluate_paths`` scores for these paths: ``image`` or ``video``.

    Two files: images when their extensions are an image's, else videos. Two folders:
    ``folder_kind`` of the reference folder. Raises ``InputError`` for a missing path and
    ``UsageError`` for a file with a folder or an image with a video.
    """
    ref, cand = Path(reference), Path(candidate)
    for p in (ref, cand):
        if not p.exists():
            raise InputError(f"{p}: no such file or folder; check the path")
    if ref.is_dir() and cand.is_dir():
        return folder_kind(ref)
    if ref.is_dir() or cand.is_dir():
        folder, other = (ref, cand) if ref.is_dir() else (cand, ref)
        raise UsageError(f"{folder}: is a folder but {other} is not; give two files or two folders")
    images = [is_image_path(p) for p in (ref, cand)]
    if images[0] != images[1]:
        image, video = (ref, cand) if images[0] else (cand, ref)
        raise UsageError(f"{image}: is an image but {video} is not; give two images or two videos")
    return "image" if images[0] else "video"
