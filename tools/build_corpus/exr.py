"""OpenEXR: a small numpy decoder, the tone mapper and the blender source.

blender-data's studio-light worlds are HDR OpenEXR panoramas.  They are read with OpenCV when it
was built with OpenEXR (``OPENCV_IO_ENABLE_OPENEXR`` is set by the package before cv2 loads),
else with ``read_exr``: single-part scanline files, uncompressed / ZIPS / ZIP / DWAA / DWAB
(lossy-DCT R, G, B channels).  ``tonemap`` maps them to 8-bit BGR.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from .common import Candidate, decode


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


def cands_blender(root: Path) -> Iterator[Candidate]:
    sub = "usr/share/blender/datafiles/studiolights/world"
    for p in sorted((root / sub).glob("*.exr")):

        def load(p: Path = p) -> np.ndarray:
            return load_exr(p.read_bytes())

        yield Candidate(p.name, f"{sub}/{p.name}", load)
