"""Read the user's reference pictures: ``--reference PATH`` and ``--references DIR|LIST``.

Where a reference sits in the film is its *time*: seconds on the film's presentation
timeline, ``pts × time_base`` of the frame, as an exact ``Fraction`` of milliseconds. The
frame it belongs to is the one whose ``pts × time_base`` is nearest: timecodes carry
milliseconds, so the rounding (at most 0.5 ms) never reaches the neighbouring frame at any
rate up to 1000 fps apart (120 fps frames are 8.3 ms apart).

Timecodes in file names (what ``filmcolor keyframes`` writes)::

    HH-MM-SS.mmm[_anything].png     00-01-23.450.png, 00-01-23.450_shot12.png
    MM-SS.mmm[_anything].png        01-23.450.png

A leading ``-`` marks a negative time (a frame before the timeline's zero, rare). In a
JSON or CSV list, times may also be ``HH:MM:SS.mmm``, ``MM:SS.mmm`` or plain seconds
(a number, or a string of one)::

    [{"time": "00:01:23.450", "image": "shot12.png"}, {"time": 95.2, "image": "b.jpg"}]
    {"references": [...the same...]}

    time,image
    00:01:23.450,shot12.png

Image paths in a list are relative to the list's folder. A ``null`` or empty time leaves
the reference unanchored (``Reference.time`` None). In a folder, gray pictures (keyframes
not coloured yet) are passed over; a gray picture given by ``--reference`` or in a list is
an error.

Pictures are read with OpenCV (as ``media/images.py`` does: the image I/O library of the
project) into ``(H, W, 3)`` uint8 sRGB with the EXIF orientation applied; 16-bit files are
reduced to 8 bits. A gray picture is refused: a reference is there to give colour.

Limits (``LimitsConfig``): every picture is checked against ``max_pixels`` from its header
before it is decoded (exit 3); the references of a run (``--reference`` files, the entries
of a list, the images of a folder, gray ones included) are counted, and their times checked
for duplicates, before any picture is read: more than ``max_references`` is a usage error
(exit 2), as is JSON nested deeper than ``MAX_JSON_DEPTH``. A picture named several times is
read once.
"""

from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..config import GuideConfig, LimitsConfig
from ..errors import InputError, UsageError
from ..jsonfile import read_json
from ..media.images import check_picture_size
from ..media.kinds import IMAGE_EXTENSIONS
from .timecode import format_timecode, parse_time, parse_timecode
from .types import Reference

log = logging.getLogger(__name__)

#: What a timecode name looks like, for messages.
NAME_FORMAT = "HH-MM-SS.mmm.png or MM-SS.mmm.png, optionally HH-MM-SS.mmm_anything.png"

#: A pixel whose channels differ by more than this (0–255) is coloured.
GRAY_SPREAD = 6
#: A picture is gray when fewer than this share of its pixels are coloured.
GRAY_SHARE = 0.001

_DEFAULT_LIMITS = LimitsConfig()


def read_rgb(
    path: str | os.PathLike[str], max_pixels: int = _DEFAULT_LIMITS.max_pixels
) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 sRGB, EXIF orientation applied (16-bit
    files reduced to 8 bits, alpha dropped). ``InputError`` when missing, unreadable or
    larger than ``max_pixels`` (from its header, before decoding)."""
    p = Path(path)
    if not p.is_file():
        what = "is a folder, not an image" if p.is_dir() else "no such file"
        raise InputError(f"{p}: {what}; check the reference path")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty (0 bytes); was it copied completely?")
    check_picture_size(p, max_pixels)
    # IMREAD_COLOR applies the EXIF orientation and gives 8-bit BGR from any depth.
    img = cv2.imdecode(np.fromfile(str(p), dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"{p}: not an image OpenCV can read; is the file damaged?")
    return np.ascontiguousarray(img[..., ::-1])


def is_gray(rgb: np.ndarray) -> bool:
    """Whether an ``(H, W, 3)`` uint8 picture holds (almost) no colour: fewer than
    ``GRAY_SHARE`` of its pixels have channels more than ``GRAY_SPREAD`` apart (JPEG noise on
    a gray picture stays below that)."""
    r, g, b = cv2.split(np.ascontiguousarray(rgb))  # (cv2 is ~50× faster than numpy here)
    spread = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b))
    coloured = cv2.countNonZero(cv2.compare(spread, GRAY_SPREAD, cv2.CMP_GT))
    return coloured < GRAY_SHARE * spread.size


def load_reference(
    path: str | os.PathLike[str],
    time: Fraction | None,
    max_pixels: int = _DEFAULT_LIMITS.max_pixels,
    rgb: np.ndarray | None = None,
) -> Reference:
    """One reference picture, checked: ``InputError`` if unreadable or larger than
    ``max_pixels``, ``UsageError`` if gray. ``rgb``: its pixels, when already read."""
    if rgb is None:
        rgb = read_rgb(path, max_pixels)
    if is_gray(rgb):
        raise UsageError(
            f"{path}: is gray; colour it first (a reference gives the colours of its frame)"
        )
    return Reference(path=str(path), rgb=rgb, time=time)


#: The time of the frame of an image sequence named like a picture (``reel_086412.png``
#: for the scan ``reel_086412.dpx``), or None: ``ImageSequence.time_of_name``.
FrameTime = Callable[[Path], Fraction | None]


def _time_from_name(path: Path, frame_time: FrameTime | None = None) -> Fraction | None:
    time = parse_timecode(path.stem)
    if time is None and frame_time is not None:
        time = frame_time(path)
    return time


def _too_many(max_references: int) -> str:
    return (
        f"more than {max_references} reference pictures, the limit; raise it with "
        "--max-references (max-references in a --config file), or give fewer"
    )


def _list_entries(path: Path, max_references: int) -> list[tuple[Any, Any, str]]:
    """(time, image, where) of each entry of a JSON or CSV reference list, at most
    ``max_references`` of them (counted before the list is parsed)."""
    if path.suffix.lower() == ".json":
        # every entry is an object; so may be the list's wrapper
        data = read_json(
            path, max_objects=max_references + 1, too_many=f"lists {_too_many(max_references)}"
        )
        if isinstance(data, dict):
            if set(data) != {"references"}:
                raise UsageError(
                    f'{path}: expected a list or {{"references": [...]}}, got the keys '
                    f"{sorted(data)[:5]}; fix the file"
                )
            data = data["references"]
        if not isinstance(data, list):
            raise UsageError(f'{path}: expected a list of {{"time": ..., "image": ...}}')
        if len(data) > max_references:
            raise UsageError(f"{path}: lists {_too_many(max_references)}")
        out = []
        for i, entry in enumerate(data):
            where = f"entry {i + 1}"
            if not isinstance(entry, dict) or "image" not in entry:
                raise UsageError(
                    f'{path}: {where} is not {{"time": ..., "image": "file"}}: {entry!r:.80}'
                )
            unknown = sorted(set(entry) - {"time", "image"})
            if unknown:
                raise UsageError(f"{path}: {where}: unknown key '{unknown[0]}' (time, image)")
            out.append((entry.get("time"), entry["image"], where))
        return out
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a UTF-8 text file ({exc.reason}); save it as UTF-8") from exc
    rows: list[tuple[int, list[str]]] = []
    try:
        for n, row in enumerate(csv.reader(text.splitlines()), start=1):
            if not any(c.strip() for c in row):
                continue
            if len(rows) > max_references:  # the header and max_references rows are in
                raise UsageError(f"{path}: lists {_too_many(max_references)}")
            rows.append((n, row))
    except csv.Error as exc:
        raise UsageError(f"{path}: not a CSV list of time,image ({exc}); fix the file") from None
    header = [c.strip().lower() for c in rows[0][1]] if rows else []
    if "time" not in header or "image" not in header:
        raise UsageError(f"{path}: the first line must be the header 'time,image'")
    ti, ii = header.index("time"), header.index("image")
    out = []
    for n, row in rows[1:]:
        if len(row) != len(header):
            raise UsageError(f"{path}: line {n} has {len(row)} fields, not {len(header)}")
        out.append((row[ti].strip(), row[ii].strip(), f"line {n}"))
    return out


@dataclass(frozen=True, slots=True)
class _Planned:
    """A reference picture named by the user, before it is read."""

    path: Path
    time: Fraction | None
    #: A folder's picture: passed over when gray (else a gray one is an error).
    optional: bool = False


def _planned_list(path: Path, max_references: int) -> list[_Planned]:
    out = []
    for time_value, image, where in _list_entries(path, max_references):
        if not isinstance(image, str) or not image.strip():
            raise UsageError(f"{path}: {where}: 'image' must be a file name, not {image!r:.80}")
        try:
            time = parse_time(time_value)
        except ValueError as exc:
            raise UsageError(f"{path}: {where}: {exc}") from None
        out.append(_Planned(path.parent / Path(image).expanduser(), time))
    if not out:
        raise UsageError(f"{path}: lists no references")
    return out


def _planned_dir(
    folder: Path, max_references: int, names: bool = True, frame_time: FrameTime | None = None
) -> list[_Planned]:
    """The folder's images (named by timecode, or by a frame's name with ``frame_time``),
    counted and named before any is read; ``names`` False only counts them (a name that is
    no timecode is found when loading)."""
    out = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() not in IMAGE_EXTENSIONS or not p.is_file():
            continue  # keyframes.json, notes, editor backups
        if len(out) == max_references:
            raise UsageError(
                f"{folder}: holds {_too_many(max_references)} (images, gray ones included)"
            )
        time = _time_from_name(p, frame_time)
        if time is None and names:
            raise UsageError(
                f"{p}: the name is not a timecode"
                + (" nor a frame of the sequence" if frame_time is not None else "")
                + f"; name references in a folder {NAME_FORMAT} (as 'filmcolor keyframes' "
                "writes them)"
                + (", or like a scan (reel_086412.png)" if frame_time is not None else "")
            )
        out.append(_Planned(p, time, optional=True))
    return out


def _plan(
    config: GuideConfig,
    limits: LimitsConfig,
    names: bool = True,
    frame_time: FrameTime | None = None,
) -> tuple[list[_Planned], list[_Planned]]:
    """The ``--reference`` pictures and the folder's or list's, counted against
    ``limits.max_references`` and their times checked for duplicates, without reading any
    picture (``UsageError``); ``names`` as for ``_planned_dir``."""
    given = [_Planned(Path(p), _time_from_name(Path(p), frame_time)) for p in config.references]
    if len(given) > limits.max_references:
        raise UsageError(f"--reference: {_too_many(limits.max_references)}")
    listed: list[_Planned] = []
    if config.references_dir:
        source = Path(config.references_dir)
        room = limits.max_references - len(given)
        if source.is_dir():
            listed = _planned_dir(source, room, names, frame_time)
        elif source.suffix.lower() in (".json", ".csv"):
            listed = _planned_list(source, room)
        else:
            raise UsageError(
                f"{source}: --references takes a folder of images named by timecode, or a "
                ".json or .csv list of time and image; for one picture use --reference"
            )
    # a folder's gray pictures are passed over, so only the others must have a time each
    _check_unique((r.time, str(r.path)) for r in given + listed if not r.optional)
    return given, listed


def _check_exist(config: GuideConfig) -> None:
    named = [("--reference", p) for p in config.references]
    named += [("--references", config.references_dir)] if config.references_dir else []
    named += [("--hints", config.hints)] if config.hints else []
    for option, p in named:
        if not Path(p).exists():
            raise InputError(f"{p}: no such file or folder ({option}); check the path")


def check_paths(config: GuideConfig, limits: LimitsConfig | None = None) -> None:
    """A cheap check before a long run: ``InputError`` naming the first reference, reference
    folder/list or hints file that does not exist; ``UsageError`` for more references or
    hints than ``limits`` allow (default: the defaults), JSON nested too deeply, or two
    references at one time. Pictures are not read (their contents are checked when
    loaded)."""
    limits = limits or _DEFAULT_LIMITS
    if len(config.references) > limits.max_references:  # before a stat of each
        raise UsageError(f"--reference: {_too_many(limits.max_references)}")
    _check_exist(config)
    if config.hints:
        from .hints import check_hints_file

        check_hints_file(config.hints, limits)
    if config.references or config.references_dir:
        _plan(config, limits, names=False)


def _check_unique(items: Iterable[tuple[Fraction | None, str]]) -> None:
    """``UsageError`` when two of ``(time, path)`` have one time (None times never clash)."""
    seen: dict[Fraction, str] = {}
    for time, path in items:
        if time is None:
            continue
        if time in seen:
            raise UsageError(
                f"{path}: has the time {format_timecode(time)} of {seen[time]}; "
                "keep one reference per frame"
            )
        seen[time] = path


def load_references(
    config: GuideConfig, limits: LimitsConfig | None = None, frame_time: FrameTime | None = None
) -> list[Reference]:
    """Every reference of ``config``: the ``--reference`` files in the order given (anchored
    when their name is a timecode, or with ``frame_time`` the name of a frame of an image
    sequence), then the folder's or list's, in time order
    (unanchored ones of a list last, in list order). A folder's gray pictures are passed
    over (logged): they are the keyframes the user has not coloured (yet).

    Raises:
        InputError: a path or image is missing or unreadable, or a picture is larger than
            ``limits.max_pixels``.
        UsageError: more than ``limits.max_references`` pictures, a gray picture, a folder
            image whose name is not a timecode, a bad list (the entry is named), an
            unsupported ``--references`` file type, or two references at the same time
            (all but the gray pictures found before any picture is read).
    """
    limits = limits or _DEFAULT_LIMITS
    _check_exist(config)
    given, listed = _plan(config, limits, frame_time=frame_time)
    # a picture named more than once is read once (and only such pictures are kept here)
    named = Counter(r.path.absolute() for r in given + listed)
    pixels: dict[Path, np.ndarray] = {}

    def read(planned: _Planned) -> np.ndarray:
        key = planned.path.absolute()
        rgb = pixels.get(key)
        if rgb is None:
            rgb = read_rgb(planned.path, limits.max_pixels)
            if named[key] > 1:
                pixels[key] = rgb
        return rgb

    refs = [load_reference(r.path, r.time, rgb=read(r)) for r in given]
    found, gray = [], []
    for r in listed:
        rgb = read(r)
        if r.optional and is_gray(rgb):
            gray.append(r.path.name)
            continue
        found.append(load_reference(r.path, r.time, rgb=rgb))
    if config.references_dir:
        source = Path(config.references_dir)
        if gray:
            log.info(
                "%s: %d gray picture(s) passed over (not coloured): %s", source, len(gray), gray
            )
        if not found:
            what = "only gray pictures" if gray else "no images"
            raise UsageError(f"{source}: holds {what}; colour some keyframes first")
        anchored = sorted((r for r in found if r.time is not None), key=lambda r: r.time)
        refs += anchored + [r for r in found if r.time is None]
    _check_unique((r.time, r.path) for r in refs)
    return refs
