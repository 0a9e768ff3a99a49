"""Colour hints (``--hints FILE.json``): a colour asked for in a region over a time range.

File format::

    {
      "units": "fraction",            # or "pixels" (then "width" and "height" are required)
      "width": 1440, "height": 1080,  # the frame size the pixel coordinates refer to
      "hints": [
        {"time": ["00:00:12.000", "00:00:15.500"], "box": [0.1, 0.2, 0.4, 0.9],
         "color": "#b03020"},
        {"time": [12.0, null], "point": [0.5, 0.3], "radius": 0.04, "color": [40, 90, 200]},
        {"frames": [288, 372], "point": [0.7, 0.6], "color": "#2a6"}
      ]
    }

- ``box`` is ``[x0, y0, x1, y1]`` (left, top, right, bottom) and ``point`` is ``[x, y]``,
  as fractions of the frame's width and height (``"units": "fraction"``, the default: 0 is
  the left/top edge, 1 the right/bottom edge), or in pixels of a ``width`` × ``height``
  frame (``"units": "pixels"``; converted to fractions when the file is read, so the hint
  fits the film at any size). The picture is the decoded one, as ``filmcolor keyframes``
  writes it (before any display rotation).
- ``radius`` of a point: a fraction of the frame's short side (default 0.03), or pixels
  with ``"units": "pixels"``.
- ``color``: ``"#rrggbb"``, ``"#rgb"`` or ``[r, g, b]`` (sRGB, 0–255). Only its chroma is
  used: the film keeps its own brightness (see ``rasterize``).
- ``time``: ``[start, end]`` in seconds or timecodes (``HH:MM:SS.mmm``, ``MM:SS.mmm``, as
  for references), on the film's timeline (a frame's ``pts × time_base``); a single value or
  an ``end`` of ``null`` runs to the end of the shot. A frame belongs to the hint when
  ``start ≤ t ≤ end``; as timecodes are rounded to the millisecond, ``Hint.start`` and
  ``Hint.end`` are the given times widened by ``TIME_TOLERANCE`` (half a millisecond).
- ``frames``: ``[first, last]`` frame numbers (from 0, both included) instead of ``time``;
  they need the film's frame rate, given to ``load_hints`` (the engine passes the film's).
  Frame n is at about ``start + n / rate``; ``Hint.start`` and ``Hint.end`` are put half a
  frame before ``first`` and after ``last``, so those frames are in the range even when the
  stored pts are rounded (Matroska's milliseconds) and whether the end is taken as
  inclusive or not.
"""

from __future__ import annotations

import json
import math
import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..color import rgb_to_lab
from ..errors import InputError, UsageError
from .sources import parse_time
from .types import Hint

#: Width, in pixels, of the soft edge of a rasterized hint (confidence 1 → 0 across it).
EDGE_PX = 1.5
#: How far a frame's time may lie outside a hint's ``time`` range and still be in it: the
#: rounding of a millisecond timecode.
TIME_TOLERANCE = Fraction(1, 2000)
#: A point's radius when the hint gives none, as a fraction of the short side.
DEFAULT_RADIUS = 0.03

_HINT_KEYS = frozenset({"time", "frames", "point", "box", "radius", "color", "colour"})
_TOP_KEYS = frozenset({"hints", "units", "width", "height"})


def parse_color(value: Any) -> tuple[int, int, int]:
    """``"#rrggbb"``, ``"#rgb"`` or ``[r, g, b]`` (integers 0–255) → ``(r, g, b)``;
    ``ValueError`` otherwise."""
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"#[0-9a-fA-F]{6}", text):
            return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)
        if re.fullmatch(r"#[0-9a-fA-F]{3}", text):
            return int(text[1] * 2, 16), int(text[2] * 2, 16), int(text[3] * 2, 16)
    elif isinstance(value, list) and len(value) == 3:
        if all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value):
            return value[0], value[1], value[2]
    raise ValueError(f"color {value!r} is not '#rrggbb' or [r, g, b] with 0-255 integers")


def _numbers(value: Any, count: int, name: str) -> list[float]:
    ok = isinstance(value, list) and len(value) == count
    if ok:
        ok = all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
    if not ok:
        raise ValueError(f"'{name}' must be a list of {count} numbers, not {value!r}")
    return [float(v) for v in value]


def _time_range(
    entry: dict[str, Any], rate: Fraction | None, start: Fraction
) -> tuple[Fraction, Fraction | None]:
    if ("time" in entry) == ("frames" in entry):
        raise ValueError("give either 'time' or 'frames'")
    if "frames" in entry:
        value = entry["frames"]
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
            and value[0] <= value[1]
        ):
            raise ValueError(f"'frames' must be [first, last] frame numbers, not {value!r}")
        if rate is None or rate <= 0:
            raise ValueError("'frames' needs the film's frame rate here; give 'time' instead")
        first, last = value
        half = Fraction(1, 2)
        return start + (first - half) / rate, start + (last + half) / rate
    value = entry["time"]
    values = value if isinstance(value, list) else [value]
    if len(values) not in (1, 2) or values[0] is None:
        raise ValueError(f"'time' must be [start, end] or start, not {value!r}")
    t0 = parse_time(values[0])
    t1 = parse_time(values[1]) if len(values) == 2 else None
    assert t0 is not None
    if t1 is not None and t1 < t0:
        raise ValueError(f"'time' ends before it starts: {value!r}")
    # a timecode names its frame to the millisecond: widen by the rounding
    return t0 - TIME_TOLERANCE, None if t1 is None else t1 + TIME_TOLERANCE


def _parse_hint(
    entry: Any,
    scale: tuple[float, float] | None,
    rate: Fraction | None,
    start: Fraction,
) -> Hint:
    """One entry of ``"hints"`` → ``Hint``; ``ValueError`` with what is wrong."""
    if not isinstance(entry, dict):
        raise ValueError(f"is not an object: {entry!r}")
    unknown = sorted(set(entry) - _HINT_KEYS)
    if unknown:
        raise ValueError(f"unknown key '{unknown[0]}' (time or frames, point or box, color)")
    if ("point" in entry) == ("box" in entry):
        raise ValueError("give either 'point' or 'box'")
    color_key = "color" if "color" in entry else "colour"
    if color_key not in entry:
        raise ValueError("'color' is missing")
    rgb = parse_color(entry[color_key])
    t0, t1 = _time_range(entry, rate, start)
    sx, sy = scale or (1.0, 1.0)
    if "box" in entry:
        if "radius" in entry:
            raise ValueError("'radius' belongs to a point, not a box")
        x0, y0, x1, y1 = _numbers(entry["box"], 4, "box")
        coords: tuple[float, ...] = (x0 / sx, y0 / sy, x1 / sx, y1 / sy)
        if not (coords[0] < coords[2] and coords[1] < coords[3]):
            raise ValueError(
                f"'box' must be [x0, y0, x1, y1] with x0 < x1, y0 < y1: {entry['box']}"
            )
        shape = "box"
    else:
        x, y = _numbers(entry["point"], 2, "point")
        coords = (x / sx, y / sy)
        shape = "point"
    if any(not -1e-9 <= c <= 1 + 1e-9 for c in coords):
        where = "inside the frame size" if scale else "fractions in [0, 1]"
        raise ValueError(f"'{shape}' coordinates must be {where}: {entry[shape]}")
    coords = tuple(min(max(c, 0.0), 1.0) for c in coords)
    radius = DEFAULT_RADIUS
    if "radius" in entry:
        (r,) = _numbers([entry["radius"]], 1, "radius")
        radius = r / min(sx, sy) if scale else r
        if not 0 < radius <= 1:
            raise ValueError(f"'radius' must be above 0 and at most the short side: {r:g}")
    return Hint(shape=shape, coords=coords, rgb=rgb, start=t0, end=t1, radius=radius)  # type: ignore[arg-type]


def load_hints(
    path: str | os.PathLike[str],
    *,
    rate: Fraction | None = None,
    start: Fraction = Fraction(0),
) -> list[Hint]:
    """Read a hints file (format in the module docstring) into ``Hint``s, in file order.

    Args:
        path: the JSON file.
        rate: the film's frame rate, for hints given by ``frames``; without it such a hint
            is a ``UsageError``.
        start: the time of frame 0 (the first frame's ``pts × time_base``), for ``frames``.
    Raises:
        InputError: the file does not exist.
        UsageError: not JSON, or a bad entry (one line naming the file and the entry).
    """
    p = Path(path)
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "no such file"
        raise InputError(f"{p}: {what}; give the JSON file of colour hints to --hints")
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{p}: not a UTF-8 text file ({exc.reason}); save it as UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{p}: invalid JSON: {exc}; fix the file there") from exc
    if not isinstance(data, dict) or not isinstance(data.get("hints"), list):
        raise UsageError(f'{p}: expected {{"hints": [...]}}; see the README for the format')
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise UsageError(f"{p}: unknown key '{unknown[0]}' (hints, units, width, height)")
    units = data.get("units", "fraction")
    scale: tuple[float, float] | None = None
    if units == "pixels":
        w, h = data.get("width"), data.get("height")
        ok = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (w, h))
        if not ok:
            raise UsageError(
                f'{p}: "units": "pixels" needs the frame size as "width" and "height" '
                "(positive integers)"
            )
        scale = (float(w), float(h))  # type: ignore[arg-type]
    elif units != "fraction":
        raise UsageError(f'{p}: \'units\' must be "fraction" or "pixels", not {units!r}')
    hints = []
    for i, entry in enumerate(data["hints"]):
        try:
            hints.append(_parse_hint(entry, scale, rate, start))
        except ValueError as exc:
            raise UsageError(f"{p}: hint {i + 1}: {exc}") from None
    return hints


def hint_ab(rgb: tuple[int, int, int]) -> tuple[float, float]:
    """Lab (a, b) of an sRGB 0–255 colour, at the colour's own L."""
    x = torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1) / 255.0
    lab = rgb_to_lab(x)
    return float(lab[1, 0, 0]), float(lab[2, 0, 0])


def rasterize(hint: Hint, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``hint`` on an ``h`` × ``w`` grid (any size: the render size, the full frame).

    Returns:
        ``ab``: ``(2, h, w)`` float32 Lab a, b of the hint's colour, the same everywhere. It
        is the chroma of the colour *at its own L*: the film keeps its luma, so where the
        film is darker or brighter than the colour picked, the pixel shows the same Lab hue
        and chroma at the film's L (a very dark or bright pixel may clip it).
        ``confidence``: ``(h, w)`` float32 in [0, 1]: 1 inside the box or the disc (a point's
        radius is ``radius × min(h, w)`` pixels), 0 outside, and a linear ramp
        ``EDGE_PX`` pixels wide centred on the boundary (measured at pixel centres).
    """
    if h < 1 or w < 1:
        raise ValueError(f"h and w must be positive; got {h} x {w}")
    a, b = hint_ab(hint.rgb)
    ab = np.empty((2, h, w), np.float32)
    ab[0], ab[1] = a, b
    py = (np.arange(h, dtype=np.float32) + 0.5)[:, None]
    px = (np.arange(w, dtype=np.float32) + 0.5)[None, :]
    if hint.shape == "box":
        x0, y0, x1, y1 = hint.coords
        dx = np.maximum(x0 * w - px, px - x1 * w)  # > 0 outside, < 0 inside (per axis)
        dy = np.maximum(y0 * h - py, py - y1 * h)
        outside = np.hypot(np.maximum(dx, 0), np.maximum(dy, 0))
        dist = np.where((dx > 0) | (dy > 0), outside, np.maximum(dx, dy))
    elif hint.shape == "point":
        cx, cy = hint.coords
        dist = np.hypot(px - cx * w, py - cy * h) - hint.radius * min(h, w)
    else:
        raise ValueError(f"unknown hint shape {hint.shape!r}")
    conf = np.clip(0.5 - dist / EDGE_PX, 0.0, 1.0).astype(np.float32)
    return ab, np.ascontiguousarray(np.broadcast_to(conf, (h, w)))
