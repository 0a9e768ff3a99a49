"""Still images: read the luma (EXIF orientation applied), write the colour result.

OpenCV does the file formats (JPEG, PNG, TIFF, WebP, BMP; 8 and 16 bits).

Output policy: the output keeps the input's format and bit depth, so a 16-bit PNG or TIFF
gives a 16-bit colour PNG or TIFF and a JPEG gives a JPEG (quality 95). Formats that cannot
hold 16 bits (JPEG, WebP, BMP) get 8 bits, with a warning.

Size first: OpenCV has no header-only read, and a small file can hold a huge picture (a
400 kB PNG of 20000 × 20000 pixels decodes to over a gigabyte, then grows with every copy).
``picture_size`` reads the width and height from the file's header (PNG IHDR, JPEG SOF,
TIFF's first IFD, WebP VP8/VP8L/VP8X, BMP's DIB header) and ``check_picture_size`` refuses a
picture above ``LimitsConfig.max_pixels`` before anything is decoded. A file whose first
bytes are none of these formats is refused too: OpenCV would otherwise guess (PPM, EXR,
JPEG 2000…), and the size of what it guesses is unknown.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from ..config import LimitsConfig
from ..errors import InputError, MediaError, picture_too_large

EIGHT_BIT_ONLY = frozenset({".jpg", ".jpeg", ".webp", ".bmp"})
_DEFAULT_MAX_PIXELS = LimitsConfig().max_pixels
#: The formats ``picture_size`` reads, for messages.
FORMATS = "JPEG, PNG, TIFF, WebP or BMP"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic…): not DHT (C4),
# JPG (C8) or DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class _Unreadable(Exception):
    """The header ends early or contradicts itself."""


def _read(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _Unreadable("the file ends inside its header")
    return data


def _png_size(f: BinaryIO) -> tuple[int, int]:
    f.seek(8)
    length, kind = struct.unpack(">I4s", _read(f, 8))
    if kind != b"IHDR" or length < 8:
        raise _Unreadable("its first chunk is not IHDR")
    return struct.unpack(">II", _read(f, 8))  # type: ignore[return-value]


def _jpeg_size(f: BinaryIO) -> tuple[int, int]:
    f.seek(2)
    while True:
        byte = _read(f, 1)
        if byte != b"\xff":
            raise _Unreadable("a marker was expected")
        marker = _read(f, 1)[0]
        while marker == 0xFF:  # fill bytes
            marker = _read(f, 1)[0]
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            continue
        if marker == 0xD9:
            raise _Unreadable("no frame header before the end of the image")
        (length,) = struct.unpack(">H", _read(f, 2))
        if length < 2:
            raise _Unreadable("a segment length is below 2")
        if marker in _SOF:
            _, height, width = struct.unpack(">BHH", _read(f, 5))
            return width, height
        f.seek(length - 2, os.SEEK_CUR)


def _tiff_size(f: BinaryIO) -> tuple[int, int]:
    f.seek(0)
    head = _read(f, 4)
    order = "<" if head[:2] == b"II" else ">"
    (version,) = struct.unpack(order + "H", head[2:])
    if version == 42:
        (offset,) = struct.unpack(order + "I", _read(f, 4))
        count_fmt, entry_size = "H", 12
    elif version == 43:  # BigTIFF
        _, _, offset = struct.unpack(order + "HHQ", _read(f, 12))
        count_fmt, entry_size = "Q", 20
    else:
        raise _Unreadable(f"unknown TIFF version {version}")
    f.seek(offset)
    (count,) = struct.unpack(order + count_fmt, _read(f, struct.calcsize(count_fmt)))
    if count > 4096:
        raise _Unreadable("its first directory has too many entries")
    found: dict[int, int] = {}
    table = _read(f, count * entry_size)
    for i in range(count):
        entry = table[i * entry_size : (i + 1) * entry_size]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT, LONG or LONG8
            value = entry[8:] if entry_size == 12 else entry[12:]  # left-justified
            fmt = {3: "H", 4: "I", 16: "Q"}.get(kind)
            if fmt is None:
                raise _Unreadable("the picture size has an unknown type")
            (found[tag],) = struct.unpack(order + fmt, value[: struct.calcsize(fmt)])
    if 256 not in found or 257 not in found:
        raise _Unreadable("its first directory gives no width and height")
    return found[256], found[257]


def _webp_size(f: BinaryIO) -> tuple[int, int]:
    f.seek(12)
    kind, _ = struct.unpack("<4sI", _read(f, 8))
    if kind == b"VP8 ":
        frame = _read(f, 10)
        if frame[3:6] != b"\x9d\x01\x2a":
            raise _Unreadable("no VP8 start code")
        width, height = struct.unpack("<HH", frame[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L":
        data = _read(f, 5)
        if data[0] != 0x2F:
            raise _Unreadable("no VP8L signature")
        (bits,) = struct.unpack("<I", data[1:])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X":
        data = _read(f, 10)
        width = int.from_bytes(data[4:7], "little") + 1
        height = int.from_bytes(data[7:10], "little") + 1
        return width, height
    raise _Unreadable(f"unknown WebP chunk {kind!r}")


def _bmp_size(f: BinaryIO) -> tuple[int, int]:
    f.seek(14)
    (header,) = struct.unpack("<I", _read(f, 4))
    if header == 12:  # OS/2 BITMAPCOREHEADER
        return struct.unpack("<HH", _read(f, 4))  # type: ignore[return-value]
    if header < 40:
        raise _Unreadable(f"unknown DIB header of {header} bytes")
    width, height = struct.unpack("<ii", _read(f, 8))
    return abs(width), abs(height)


def picture_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(width, height)`` of a JPEG, PNG, TIFF (first page), WebP or BMP file, from its
    header alone (a few hundred bytes read; nothing decoded).

    Raises:
        InputError: the first bytes are none of these formats, or the header is cut short
            or inconsistent.
    """
    p = Path(path)
    with open(p, "rb") as f:
        magic = f.read(16)
        if magic.startswith(b"\x89PNG\r\n\x1a\n"):
            reader, name = _png_size, "PNG"
        elif magic.startswith(b"\xff\xd8"):
            reader, name = _jpeg_size, "JPEG"
        elif magic[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            reader, name = _tiff_size, "TIFF"
        elif magic[:4] == b"RIFF" and magic[8:12] == b"WEBP":
            reader, name = _webp_size, "WebP"
        elif magic[:2] == b"BM":
            reader, name = _bmp_size, "BMP"
        else:
            raise InputError(
                f"{p}: not a {FORMATS} picture (by its first bytes); save it in one of these"
            )
        try:
            width, height = reader(f)
        except (_Unreadable, struct.error, OSError, ValueError) as exc:
            raise InputError(f"{p}: damaged {name} header ({exc}); is the file complete?") from None
    if width < 1 or height < 1:
        raise InputError(f"{p}: its {name} header gives a size of {width}x{height}; is it damaged?")
    return int(width), int(height)


def check_picture_size(
    path: str | os.PathLike[str], max_pixels: int = _DEFAULT_MAX_PIXELS
) -> tuple[int, int]:
    """``picture_size``, refused with an ``InputError`` (exit 3) naming the size, the limit
    and how to raise it when width × height is above ``max_pixels``."""
    width, height = picture_size(path)
    if width * height > max_pixels:
        raise picture_too_large(path, "picture", width, height, max_pixels)
    return width, height


@dataclass(frozen=True, slots=True)
class Picture:
    """A still image's luma: ``(H, W)`` uint8 or uint16 full-range code values, upright."""

    luma: np.ndarray
    bit_depth: int
    was_color: bool


def read_picture(path: str | os.PathLike[str], max_pixels: int = _DEFAULT_MAX_PIXELS) -> Picture:
    """Read ``path`` as upright luma (EXIF orientation applied; RGB converted with BT.601).

    Raises ``InputError`` when the file is missing, empty, not an image OpenCV can read, or
    larger than ``max_pixels`` (``check_picture_size``, before decoding).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; check the path")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty (0 bytes); was it copied completely?")
    check_picture_size(p, max_pixels)
    # ANYDEPTH keeps 16 bits, ANYCOLOR keeps gray as one channel; unlike IMREAD_UNCHANGED,
    # this combination applies the EXIF orientation.
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if img is None:
        raise InputError(f"{p}: not an image OpenCV can read; is the file damaged?")
    if img.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{p}: {img.dtype} samples are not supported; save it as 8 or 16 bits")
    bits = 8 if img.dtype == np.uint8 else 16
    was_color = img.ndim == 3 and img.shape[2] >= 3
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        if img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        else:
            img = img[..., 0]
    return Picture(luma=np.ascontiguousarray(img), bit_depth=bits, was_color=was_color)


def output_bits(path: str | os.PathLike[str], source_bits: int) -> int:
    """The bit depth written to ``path``: the source's, unless the format is 8-bit only."""
    return 8 if Path(path).suffix.lower() in EIGHT_BIT_ONLY else source_bits


def write_picture(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    """Write ``rgb`` ``(H, W, 3)`` uint8/uint16 to ``path`` (format from its extension)."""
    p = Path(path)
    ext = p.suffix.lower()
    params: list[int] = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, 95]
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise MediaError(f"{p}: OpenCV could not encode a {ext} image")
    buf.tofile(str(p))
