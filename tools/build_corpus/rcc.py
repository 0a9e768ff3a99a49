"""Qt binary resource archives (``.rcc``): the reader and the gcompris source.

gcompris-qt-data ships its activities' pictures as WebP entries inside ``.rcc`` files;
``read_rcc`` lists them (zlib and zstd entries), ``cands_gcompris`` names each after its
activity (``<activity>/<path inside the activity's resource folder>``), which is what the rule
tables match.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

from .common import IMAGE_EXT, Candidate, decode

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
