"""Timecodes: a film's time as ``HH-MM-SS.mmm`` in file names and ``HH:MM:SS.mmm`` in lists,
read and written as exact ``Fraction`` seconds (see ``guide.sources`` for where they are used).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

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
