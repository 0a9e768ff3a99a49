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
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..config import GuideConfig
from ..errors import InputError, UsageError
from ..media.kinds import IMAGE_EXTENSIONS
from .types import Reference

log = logging.getLogger(__name__)

#: What a timecode name looks like, for messages.
NAME_FORMAT = "HH-MM-SS.mmm.png or MM-SS.mmm.png, optionally HH-MM-SS.mmm_anything.png"

#: A pixel whose channels differ by more than this (0–255) is coloured.
GRAY_SPREAD = 6
#: A picture is gray when fewer than this share of its pixels are coloured.
GRAY_SHARE = 0.001

# [-][HH<sep>]MM<sep>SS[.fff] with <sep> one of - or : (not mixed), then _anything.
_TIMECODE = re.compile(
    r"^(?P<neg>-)?(?:(?P<h>\d+)(?P<s1>[-:]))?(?P<m>\d{1,2})(?P<s2>[-:])"
    r"(?P<s>\d{1,2}(?:\.\d+)?)(?:_.*)?$",
    re.DOTALL,
)


def format_timecode(seconds: Fraction | int, sep: str = "-") -> str:
    """Seconds → ``HH-MM-SS.mmm`` (rounded to the nearest millisecond; hours widen past 99;
    a negative time gets a leading ``-``): safe in file names on every system. ``sep=":"``
    gives ``HH:MM:SS.mmm`` for lists and messages."""
    ms = round(Fraction(seconds) * 1000)
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{sign}{h:02d}{sep}{m:02d}{sep}{s:02d}.{ms:03d}"


def parse_timecode(text: str) -> Fraction | None:
    """A timecode → seconds as an exact ``Fraction``, or None when ``text`` is not one.

    Takes ``HH-MM-SS.mmm`` and ``MM-SS.mmm`` (a file name's stem, optionally followed by
    ``_anything``) and the same with colons (``HH:MM:SS.mmm``); the fraction of a second may
    have any number of digits or none. Minutes and seconds must be below 60. Plain seconds
    are not a timecode (see ``parse_time``).
    """
    match = _TIMECODE.match(text.strip())
    if match is None:
        return None
    if match["s1"] is not None and match["s1"] != match["s2"]:
        return None  # 00-01:02 mixes separators
    minutes, secs = int(match["m"]), Fraction(match["s"])
    if minutes >= 60 or secs >= 60:
        return None
    total = int(match["h"] or 0) * 3600 + minutes * 60 + secs
    return -total if match["neg"] else total


def parse_time(value: Any) -> Fraction | None:
    """A list's time → seconds: a timecode (``parse_timecode``), a number of seconds or a
    string of one; None for ``None`` or an empty string. ``ValueError`` otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a time")
        # a float from JSON is the decimal the user wrote: take it as that decimal
        return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
    if isinstance(value, str):
        code = parse_timecode(value)
        if code is not None:
            return code
        if re.fullmatch(r"-?\d+(\.\d*)?", value.strip()):
            return Fraction(value.strip())
    raise ValueError(f"{value!r} is not a time (HH:MM:SS.mmm, MM:SS.mmm or seconds)")


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 sRGB, EXIF orientation applied (16-bit
    files reduced to 8 bits, alpha dropped). ``InputError`` when missing or unreadable."""
    p = Path(path)
    if not p.is_file():
        what = "is a folder, not an image" if p.is_dir() else "no such file"
        raise InputError(f"{p}: {what}; check the reference path")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty (0 bytes); was it copied completely?")
    # IMREAD_COLOR applies the EXIF orientation and gives 8-bit BGR from any depth.
    img = cv2.imdecode(np.fromfile(str(p), dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"{p}: not an image OpenCV can read; is the file damaged?")
    return np.ascontiguousarray(img[..., ::-1])


def is_gray(rgb: np.ndarray) -> bool:
    """Whether an ``(H, W, 3)`` uint8 picture holds (almost) no colour: fewer than
    ``GRAY_SHARE`` of its pixels have channels more than ``GRAY_SPREAD`` apart (JPEG noise on
    a gray picture stays below that)."""
    spread = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)
    return float(np.mean(spread > GRAY_SPREAD)) < GRAY_SHARE


def load_reference(path: str | os.PathLike[str], time: Fraction | None) -> Reference:
    """One reference picture, checked: ``InputError`` if unreadable, ``UsageError`` if gray."""
    rgb = read_rgb(path)
    if is_gray(rgb):
        raise UsageError(
            f"{path}: is gray; colour it first (a reference gives the colours of its frame)"
        )
    return Reference(path=str(path), rgb=rgb, time=time)


def _time_from_name(path: Path) -> Fraction | None:
    return parse_timecode(path.stem)


def _list_entries(path: Path) -> list[tuple[Any, Any, str]]:
    """(time, image, where) of each entry of a JSON or CSV reference list."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a UTF-8 text file ({exc.reason}); save it as UTF-8") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: invalid JSON: {exc}; fix the file there") from exc
        if isinstance(data, dict):
            if set(data) != {"references"}:
                raise UsageError(
                    f'{path}: expected a list or {{"references": [...]}}, got the keys '
                    f"{sorted(data)}; fix the file"
                )
            data = data["references"]
        if not isinstance(data, list):
            raise UsageError(f'{path}: expected a list of {{"time": ..., "image": ...}}')
        out = []
        for i, entry in enumerate(data):
            where = f"entry {i + 1}"
            if not isinstance(entry, dict) or "image" not in entry:
                raise UsageError(
                    f'{path}: {where} is not {{"time": ..., "image": "file"}}: {entry!r}'
                )
            unknown = sorted(set(entry) - {"time", "image"})
            if unknown:
                raise UsageError(f"{path}: {where}: unknown key '{unknown[0]}' (time, image)")
            out.append((entry.get("time"), entry["image"], where))
        return out
    rows = list(csv.reader(text.splitlines()))
    rows = [r for r in rows if any(c.strip() for c in r)]
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if "time" not in header or "image" not in header:
        raise UsageError(f"{path}: the first line must be the header 'time,image'")
    ti, ii = header.index("time"), header.index("image")
    out = []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UsageError(f"{path}: line {n} has {len(row)} fields, not {len(header)}")
        out.append((row[ti].strip(), row[ii].strip(), f"line {n}"))
    return out


def _from_list(path: Path) -> list[Reference]:
    refs = []
    for time_value, image, where in _list_entries(path):
        if not isinstance(image, str) or not image.strip():
            raise UsageError(f"{path}: {where}: 'image' must be a file name, not {image!r}")
        try:
            time = parse_time(time_value)
        except ValueError as exc:
            raise UsageError(f"{path}: {where}: {exc}") from None
        image_path = path.parent / Path(image).expanduser()
        refs.append(load_reference(image_path, time))
    if not refs:
        raise UsageError(f"{path}: lists no references")
    return refs


def _from_dir(folder: Path) -> list[Reference]:
    """The coloured pictures of a folder. Gray ones are passed over (logged): they are the
    keyframes the user has not coloured (yet)."""
    refs, gray = [], []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file() or p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue  # keyframes.json, notes, editor backups
        time = _time_from_name(p)
        if time is None:
            raise UsageError(
                f"{p}: the name is not a timecode; name references in a folder "
                f"{NAME_FORMAT} (as 'filmcolor keyframes' writes them)"
            )
        rgb = read_rgb(p)
        if is_gray(rgb):
            gray.append(p.name)
            continue
        refs.append(Reference(path=str(p), rgb=rgb, time=time))
    if gray:
        log.info("%s: %d gray picture(s) passed over (not coloured): %s", folder, len(gray), gray)
    if not refs:
        what = "only gray pictures" if gray else "no images"
        raise UsageError(f"{folder}: holds {what}; colour some keyframes first")
    return refs


def check_paths(config: GuideConfig) -> None:
    """``InputError`` naming the first reference, reference folder/list or hints file that
    does not exist (a cheap check before a long run; contents are checked when loaded)."""
    named = [("--reference", p) for p in config.references]
    named += [("--references", config.references_dir)] if config.references_dir else []
    named += [("--hints", config.hints)] if config.hints else []
    for option, p in named:
        if not Path(p).exists():
            raise InputError(f"{p}: no such file or folder ({option}); check the path")


def _check_unique(refs: Iterable[Reference]) -> None:
    seen: dict[Fraction, str] = {}
    for ref in refs:
        if ref.time is None:
            continue
        if ref.time in seen:
            raise UsageError(
                f"{ref.path}: has the time {format_timecode(ref.time)} of {seen[ref.time]}; "
                "keep one reference per frame"
            )
        seen[ref.time] = ref.path


def load_references(config: GuideConfig) -> list[Reference]:
    """Every reference of ``config``: the ``--reference`` files in the order given (anchored
    when their name is a timecode), then the folder's or list's, in time order
    (unanchored ones of a list last, in list order).

    Raises:
        InputError: a path or image is missing or unreadable.
        UsageError: a gray picture, a folder image whose name is not a timecode, a bad list
            (the entry is named), an unsupported ``--references`` file type, or two
            references at the same time.
    """
    check_paths(config)
    refs = [load_reference(p, _time_from_name(Path(p))) for p in config.references]
    if config.references_dir:
        source = Path(config.references_dir)
        if source.is_dir():
            listed = _from_dir(source)
        elif source.suffix.lower() in (".json", ".csv"):
            listed = _from_list(source)
        else:
            raise UsageError(
                f"{source}: --references takes a folder of images named by timecode, or a "
                ".json or .csv list of time and image; for one picture use --reference"
            )
        anchored = sorted((r for r in listed if r.time is not None), key=lambda r: r.time)
        refs += anchored + [r for r in listed if r.time is None]
    _check_unique(refs)
    return refs
