"""Enlightenment ``.edj`` (Eet) archives: the embedded-JPEG scanner and the enlightenment source.

Each background ``.edj`` holds its wallpaper as JPEG streams among other data; the candidate is
the largest embedded JPEG (``scan_jpegs`` walks the marker segments of every ``FF D8 FF`` it
finds, ``largest_jpeg`` decodes the one with the most pixels).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .common import Candidate, decode

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_extent(buf: bytes, start: int) -> tuple[int, int, int] | None:
    """Walk the JPEG marker segments from the SOI at ``start``.

    Returns ``(end, width, height)`` (``end`` exclusive, just after EOI) or ``None`` when the
    bytes are not a well-formed JPEG stream.
    """
    n = len(buf)
    p = start + 2
    width = height = 0
    while p + 4 <= n:
        if buf[p] != 0xFF:
            return None
        marker = buf[p + 1]
        if marker == 0xFF:
            p += 1
            continue
        if marker == 0xD9:
            return (p + 2, width, height) if width and height else None
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            p += 2
            continue
        (length,) = struct.unpack(">H", buf[p + 2 : p + 4])
        if length < 2:
            return None
        if marker in _SOF and p + 9 <= n:
            height, width = struct.unpack(">HH", buf[p + 5 : p + 9])
        p += 2 + length
        if marker == 0xDA:  # entropy-coded data: runs to the next non-stuffed, non-RST marker
            while True:
                q = buf.find(b"\xff", p)
                if q < 0 or q + 1 >= n:
                    return None
                nxt = buf[q + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
                    p = q + 2
                elif nxt == 0xFF:
                    p = q + 1
                else:
                    p = q
                    break
    return None


def scan_jpegs(buf: bytes) -> list[tuple[int, int, int, int]]:
    """All well-formed JPEG streams in ``buf`` as ``(start, end, width, height)``."""
    found = []
    i = 0
    while True:
        i = buf.find(b"\xff\xd8\xff", i)
        if i < 0:
            return found
        ext = jpeg_extent(buf, i)
        if ext:
            end, w, h = ext
            found.append((i, end, w, h))
            i = end
        else:
            i += 3


def largest_jpeg(buf: bytes) -> tuple[int, np.ndarray] | None:
    """Decode the embedded JPEG with the most pixels (ties: longer stream, then earlier)."""
    cands = sorted(scan_jpegs(buf), key=lambda t: (-t[2] * t[3], -(t[1] - t[0]), t[0]))
    for start, end, _w, _h in cands:
        img = decode(buf[start:end])
        if img is not None:
            return start, img
    return None


def cands_enlightenment(root: Path) -> Iterator[Candidate]:
    sub = "usr/share/enlightenment/data/backgrounds"
    for edj in sorted((root / sub).glob("*.edj")):

        def load(edj: Path = edj) -> np.ndarray | None:
            found = largest_jpeg(edj.read_bytes())
            return None if found is None else found[1]

        yield Candidate(edj.name, f"{sub}/{edj.name} (largest embedded JPEG)", load)
