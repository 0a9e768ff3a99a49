"""What a reference and a colour hint are, for every module of ``filmcolor.guide``."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np


@dataclass(frozen=True, slots=True)
class Reference:
    """One reference picture given by the user."""

    #: Where it came from (for messages and the report).
    path: str
    #: ``(H, W, 3)`` uint8 sRGB pixels, any size.
    rgb: np.ndarray
    #: Time in seconds from the start of the film it is anchored to, from its name or a
    #: list; None: not anchored (its frame is found by matching luma, else it is a style
    #: reference for the whole film).
    time: Fraction | None = None


@dataclass(frozen=True, slots=True)
class Hint:
    """A colour asked for in a region over a time range."""

    #: ``point``: a disc of ``radius`` around (x, y); ``box``: the rectangle (x0, y0, x1, y1).
    shape: Literal["point", "box"]
    #: Coordinates as fractions of the picture's width and height, in [0, 1]:
    #: ``(x, y)`` for a point, ``(x0, y0, x1, y1)`` for a box.
    coords: tuple[float, ...]
    #: The colour, ``(r, g, b)`` sRGB 0–255; only its chroma is used (the film keeps its luma).
    rgb: tuple[int, int, int]
    #: Seconds from the film's start where the hint begins (its colour is applied there and
    #: carried by flow as the region moves) and ends (None: to the end of the shot).
    start: Fraction = Fraction(0)
    end: Fraction | None = None
    #: A point's radius as a fraction of the picture's short side.
    radius: float = 0.03
