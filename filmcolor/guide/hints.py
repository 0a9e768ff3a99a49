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

Limits (``LimitsConfig``): at most ``max_hints`` hints in a file (``--max-hints``), counted
before the file is parsed; JSON nested deeper than ``MAX_JSON_DEPTH`` is refused unparsed
(``filmcolor.jsonfile``). A box may reach up to ``COORD_MARGIN`` frames beyond the picture's
edges (a region drawn slightly past the edge) and is clipped to the picture; coordinates
further out, or a box wholly outside the picture, are refused. With ``"units": "pixels"``,
``width`` × ``height`` may not exceed ``max_pixels``.

However many hints there are, they are carried as one set of planes at render size
(``HintCanvas``): the memory of a run does not grow with the number of hints. Where hints
overlap, the one that starts later (at the same frame: the later one in the file) is drawn
over the earlier one.
"""

from __future__ import annotations

import heapq
import math
import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..color import rgb_to_lab
from ..config import LimitsConfig
from ..errors import InputError, UsageError
from ..jsonfile import read_json
from ..temporal.flow import FlowEstimator, warp
from .propagate import MIN_CONF, TRUST_FULL, Layer, to_u8
from .timecode import parse_time
from .types import Hint

#: Width, in pixels, of the soft edge of a rasterized hint (confidence 1 → 0 across it).
EDGE_PX = 1.5
#: How far a frame's time may lie outside a hint's ``time`` range and still be in it: the
#: rounding of a millisecond timecode.
TIME_TOLERANCE = Fraction(1, 2000)
#: A point's radius when the hint gives none, as a fraction of the short side.
DEFAULT_RADIUS = 0.03
#: How far beyond the picture's edges a box may reach, in frame widths and heights (it is
#: clipped to the picture); coordinates further out are refused as absurd.
COORD_MARGIN = 1.0
_DEFAULT_LIMITS = LimitsConfig()

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
    if shape == "box":
        low, high = -COORD_MARGIN - 1e-9, 1 + COORD_MARGIN + 1e-9
        if any(not low <= c <= high for c in coords):
            unit = " times the frame size" if scale else ""
            raise ValueError(
                f"'box' reaches too far beyond the picture: coordinates go from "
                f"{-COORD_MARGIN:g} to {1 + COORD_MARGIN:g}{unit} (a box is clipped to the "
                f"picture): {entry[shape]}"
            )
        coords = tuple(min(max(c, 0.0), 1.0) for c in coords)
        if not (coords[0] < coords[2] and coords[1] < coords[3]):
            raise ValueError(f"'box' lies outside the picture: {entry[shape]}")
    else:
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


def _read_hints_file(p: Path, limits: LimitsConfig) -> dict[str, Any]:
    """The file's top level, checked: there, JSON, not too deep, at most ``max_hints``."""
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "no such file"
        raise InputError(f"{p}: {what}; give the JSON file of colour hints to --hints")
    too_many = (
        f"holds more than {limits.max_hints} colour hints, the limit; raise it with "
        "--max-hints (max-hints in a --config file), or give fewer hints"
    )
    # every hint is a JSON object, and so is the file itself
    data = read_json(p, max_objects=limits.max_hints + 1, too_many=too_many)
    if not isinstance(data, dict) or not isinstance(data.get("hints"), list):
        raise UsageError(
            f'{p}: expected {{"hints": [...]}}; see docs/guide/references.md for the format'
        )
    if len(data["hints"]) > limits.max_hints:
        raise UsageError(f"{p}: {too_many}")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise UsageError(f"{p}: unknown key '{unknown[0]:.40}' (hints, units, width, height)")
    return data


def check_hints_file(path: str | os.PathLike[str], limits: LimitsConfig = _DEFAULT_LIMITS) -> None:
    """A cheap check of a hints file before a long run (``InputError``/``UsageError`` as
    ``load_hints``): it exists, is JSON not nested too deeply, and holds at most
    ``limits.max_hints`` hints. The hints themselves are checked by ``load_hints``."""
    _read_hints_file(Path(path), limits)


def load_hints(
    path: str | os.PathLike[str],
    *,
    rate: Fraction | None = None,
    start: Fraction = Fraction(0),
    limits: LimitsConfig = _DEFAULT_LIMITS,
) -> list[Hint]:
    """Read a hints file (format in the module docstring) into ``Hint``s, in file order.

    Args:
        path: the JSON file.
        rate: the film's frame rate, for hints given by ``frames``; without it such a hint
            is a ``UsageError``.
        start: the time of frame 0 (the first frame's ``pts × time_base``), for ``frames``.
        limits: ``max_hints`` and ``max_pixels`` (the frame size of pixel units).
    Raises:
        InputError: the file does not exist.
        UsageError: not JSON, nested too deeply, more than ``limits.max_hints`` hints, or a
            bad entry (one line naming the file and the entry).
    """
    p = Path(path)
    data = _read_hints_file(p, limits)
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
        if w * h > limits.max_pixels:  # type: ignore[operator]
            raise UsageError(
                f'{p}: "width" x "height" ({w}x{h}) is larger than any picture filmcolor '
                f"reads ({limits.max_pixels} pixels, --max-pixels); give the size of the "
                "frames the coordinates refer to"
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


def _patch(hint: Hint, h: int, w: int) -> tuple[int, int, int, int, np.ndarray]:
    """The part of an ``h`` × ``w`` grid that ``hint`` touches and its confidence there.

    Returns ``(y0, y1, x0, x1, conf)``: rows ``y0:y1`` and columns ``x0:x1`` (empty when the
    hint misses the grid) and ``conf`` ``(y1 - y0, x1 - x0)`` float32 in [0, 1], as
    ``rasterize`` defines it; every pixel outside the patch has confidence 0.
    """
    pad = EDGE_PX + 1.0
    if hint.shape == "box":
        x0, y0, x1, y1 = hint.coords
        left, right, top, bottom = x0 * w - pad, x1 * w + pad, y0 * h - pad, y1 * h + pad
    elif hint.shape == "point":
        cx, cy = hint.coords
        reach = hint.radius * min(h, w) + pad
        left, right, top, bottom = cx * w - reach, cx * w + reach, cy * h - reach, cy * h + reach
    else:
        raise ValueError(f"unknown hint shape {hint.shape!r}")
    ix0, ix1 = max(0, math.floor(left)), min(w, math.ceil(right) + 1)
    iy0, iy1 = max(0, math.floor(top)), min(h, math.ceil(bottom) + 1)
    if ix0 >= ix1 or iy0 >= iy1:
        return 0, 0, 0, 0, np.zeros((0, 0), np.float32)
    py = (np.arange(iy0, iy1, dtype=np.float32) + 0.5)[:, None]
    px = (np.arange(ix0, ix1, dtype=np.float32) + 0.5)[None, :]
    if hint.shape == "box":
        dx = np.maximum(x0 * w - px, px - x1 * w)  # > 0 outside, < 0 inside (per axis)
        dy = np.maximum(y0 * h - py, py - y1 * h)
        outside = np.hypot(np.maximum(dx, 0), np.maximum(dy, 0))
        dist = np.where((dx > 0) | (dy > 0), outside, np.maximum(dx, dy))
    else:
        dist = np.hypot(px - cx * w, py - cy * h) - hint.radius * min(h, w)
    conf = np.clip(0.5 - dist / EDGE_PX, 0.0, 1.0).astype(np.float32)
    conf = np.ascontiguousarray(np.broadcast_to(conf, (iy1 - iy0, ix1 - ix0)))
    return iy0, iy1, ix0, ix1, conf


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
    conf = np.zeros((h, w), np.float32)
    y0, y1, x0, x1, patch = _patch(hint, h, w)
    conf[y0:y1, x0:x1] = patch
    return ab, conf


class HintCanvas:
    """Every live hint of a stream on one set of planes at render size, carried by the flow.

    Hints are drawn (``paint``) at the frame where they start, each over what is already
    there (premultiplied "over": ``ab·base`` and ``base`` are blended with the hint's
    confidence), and the planes move into each next frame (``step``) as a reference's layer
    does (``propagate.carry`` and ``propagate.realign``: warped along the flow, ``base``
    times the flow's trust and ``decay``, pulled onto the frame's luma). So memory and time
    per frame do not depend on how many hints there are.

    Planes, ``(h, w)`` each, float32: ``a·base``, ``b·base``, the luma each pixel's colour
    was given on (``L``, carried like a layer's), ``base``, and the index of its hint's end
    time (warped nearest-neighbour). A pixel whose hint has ended (its end is before the
    frame's time) drops to ``base`` 0; a shot cut clears the canvas, and so does a
    ``base`` that has fallen under ``MIN_CONF`` everywhere. With one hint it behaves as that
    hint's layer in a ``Propagator``.
    """

    def __init__(
        self, decay: float, luma_sigma: float, refine: FlowEstimator | None = None
    ) -> None:
        self.decay = decay
        self.luma_sigma = luma_sigma
        self.refine = refine
        #: ``(h, w, 4)``: a·base, b·base, L, base; None when nothing is carried.
        self._planes: np.ndarray | None = None
        #: ``(h, w)`` float32 index into ``_ends`` of each pixel's hint.
        self._end: np.ndarray | None = None
        self._ends: list[Fraction | None] = []
        self._end_ids: dict[Fraction | None, int] = {}
        self._pending: list[tuple[Fraction, int]] = []  # heap of (end, index) not yet over
        self._over = np.zeros(0, bool)
        self._colours: dict[tuple[int, int, int], tuple[float, float]] = {}

    @property
    def empty(self) -> bool:
        return self._planes is None

    def clear(self) -> None:
        self._planes = self._end = None

    def _end_id(self, end: Fraction | None) -> int:
        index = self._end_ids.get(end)
        if index is None:
            index = self._end_ids[end] = len(self._ends)
            self._ends.append(end)
            self._over = np.append(self._over, False)
            if end is not None:
                heapq.heappush(self._pending, (end, index))
        return index

    def _expire(self, now: Fraction) -> None:
        while self._pending and self._pending[0][0] < now:
            self._over[heapq.heappop(self._pending)[1]] = True
        if self._planes is not None and self._end is not None and self._over.any():
            ended = self._over[self._end.astype(np.intp)]
            for channel in (0, 1, 3):  # colour and base; the luma stays for the realignment
                self._planes[ended, channel] = 0.0

    def step(
        self,
        L: np.ndarray,
        flow: np.ndarray | None,
        trust: np.ndarray | None,
        now: Fraction | None = None,
    ) -> None:
        """Move the canvas into the next frame (``L`` ``(h, w)`` at time ``now``) along
        ``flow`` ``(h, w, 2)`` (this frame → the previous) with its ``trust`` ``(h, w)``;
        ``flow`` None is a shot start and clears it."""
        if now is not None:
            self._expire(now)
        if self._planes is None or self._end is None:
            return
        if flow is None or trust is None:
            self.clear()
            return
        planes = warp(self._planes, flow)
        end = warp(self._end, flow, nearest=True)
        factor = np.minimum(1.0, trust / TRUST_FULL) * self.decay
        planes[..., [0, 1, 3]] *= factor[..., None]
        if self.refine is not None:
            drift = self.refine(to_u8(L), to_u8(planes[..., 2]))
            planes = warp(planes, drift)
            end = warp(end, drift, nearest=True)
        if float(planes[..., 3].max()) < MIN_CONF:
            self.clear()
            return
        self._planes, self._end = planes, end

    def paint(self, hints: list[Hint], L: np.ndarray) -> None:
        """Draw ``hints`` (in order, each over the ones before) on the current frame, whose
        luma ``L`` ``(h, w)`` becomes the carried luma wherever a hint takes over."""
        h, w = L.shape
        if self._planes is None or self._end is None or self._planes.shape[:2] != (h, w):
            self._planes = np.zeros((h, w, 4), np.float32)
            self._planes[..., 2] = L
            self._end = np.zeros((h, w), np.float32)
        planes, end = self._planes, self._end
        for hint in hints:
            y0, y1, x0, x1, c = _patch(hint, h, w)
            if c.size == 0:
                continue
            a, b = self._colour(hint.rgb)
            index = self._end_id(hint.end)
            area = planes[y0:y1, x0:x1]
            keep = 1.0 - c
            # the hint takes over the pixel's luma and end where it weighs more than the rest
            own = c >= keep * area[..., 3]
            area[..., 0] = c * a + keep * area[..., 0]
            area[..., 1] = c * b + keep * area[..., 1]
            area[..., 2] = np.where(own, L[y0:y1, x0:x1], area[..., 2])
            area[..., 3] = c + keep * area[..., 3]
            end[y0:y1, x0:x1] = np.where(own, np.float32(index), end[y0:y1, x0:x1])

    def _colour(self, rgb: tuple[int, int, int]) -> tuple[float, float]:
        ab = self._colours.get(rgb)
        if ab is None:
            ab = self._colours[rgb] = hint_ab(rgb)
        return ab

    def drawn(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``((2, h, w) ab, (h, w) base)`` as carried (no luma check: a still picture's hints
        as drawn), or None."""
        if self._planes is None:
            return None
        base = self._planes[..., 3]
        safe = np.where(base > 1e-6, base, 1.0)
        ab = np.where(base > 1e-6, self._planes[..., :2].transpose(2, 0, 1) / safe, 0.0)
        return np.ascontiguousarray(ab, dtype=np.float32), np.ascontiguousarray(base)

    def colour(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The frame's carried ``((2, h, w) ab, (h, w) conf)`` (``Layer.confidence``: the
        carried luma checked against the frame's ``L``), or None."""
        drawn = self.drawn()
        if drawn is None:
            return None
        assert self._planes is not None
        ab, base = drawn
        layer = Layer(ab, self._planes[..., 2], base)
        return ab, layer.confidence(L, self.luma_sigma)
