"""Generate small test media with PyAV (no binary fixtures checked in).

Everything here writes real files through PyAV / OpenCV so tests can exercise the
full demux -> decode -> encode -> mux path.  Clips are meant to be tiny (a few dozen
frames, at most 320x240) so that the whole suite stays fast.

Conventions
-----------
* Rotation is expressed like :attr:`av.VideoFrame.rotation`: degrees counter-clockwise,
  as returned by ``av_display_rotation_get`` (``rotation=90`` writes a display matrix
  that ``VideoFrame.rotation`` reads back as ``90``; ``ffprobe`` prints the same value).
* :func:`make_video` returns the pts of the written video frames expressed in the
  *container* stream time base (Matroska forces 1/1000, MP4/MOV may scale the
  time base up to a timescale >= 10000), i.e. what a reader gets back.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.filter
import cv2
import numpy as np

__all__ = [
    "DEFAULT_AUDIO_LANGUAGES",
    "MATRIX",
    "aac_payload",
    "damage_bytes",
    "make_audio_only",
    "make_corrupt_middle",
    "make_image",
    "make_matrix_clip",
    "make_truncated",
    "make_video",
    "matrix_needs",
    "neutral_chroma",
    "probe_streams",
    "rescale",
    "set_ts_pes_pts",
    "ts_pes_headers",
    "y_plane",
]

#: Language given to the n-th audio track when its spec has no ``language``.
DEFAULT_AUDIO_LANGUAGES = ("eng", "fra", "deu", "spa")

# Subtitle encoder per container format name (``OutputContainer.format.name``).
_SUBTITLE_CODEC = {"matroska": "subrip", "mp4": "mov_text", "mov": "mov_text"}

# Minimal ASS header: the subrip and mov_text encoders refuse to open without one.
_ASS_HEADER = (
    b"[Script Info]\r\nScriptType: v4.00+\r\nPlayResX: 384\r\nPlayResY: 288\r\n\r\n"
    b"[V4+ Styles]\r\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, "
    b"OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, "
    b"Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, "
    b"MarginV, Encoding\r\nStyle: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,"
    b"100,100,0,0,1,1,0,2,10,10,10,0\r\n\r\n[Events]\r\nFormat: Layer, Start, End, "
    b"Style, Name, MarginL, MarginR, MarginV, Effect, Text\r\n"
)


# --------------------------------------------------------------------------- helpers


def rescale(ts: int, src: Fraction, dst: Fraction) -> int:
    """Rescale a timestamp like ``av_rescale_q`` (round to nearest, halves away from 0)."""
    num = ts * src.numerator * dst.denominator
    den = src.denominator * dst.numerator
    q, r = divmod(abs(num), den)
    if 2 * r >= den:
        q += 1
    return q if num >= 0 else -q


def neutral_chroma(fmt: av.video.format.VideoFormat) -> int:
    """Value of a neutral (gray) chroma sample for ``fmt``: 128 scaled to its depth."""
    return 1 << (fmt.components[0].bits - 1)


def _plane_view(frame: av.VideoFrame, index: int) -> np.ndarray:
    """Writable (height, width) numpy view of plane ``index`` (no copy, stride-aware)."""
    plane = frame.planes[index]
    dtype = np.dtype(np.uint8) if frame.format.components[0].bits <= 8 else np.dtype("<u2")
    buf = np.frombuffer(plane, dtype)
    return buf.reshape(plane.height, plane.line_size // dtype.itemsize)[:, : plane.width]


def y_plane(frame: av.VideoFrame) -> np.ndarray:
    """Plane 0 of ``frame`` as a (height, width) numpy view, no copy.

    8-bit formats give ``uint8``, deeper little-endian ones (``gray10le``,
    ``yuv420p10le`` ...) ``uint16``.  Call ``frame.make_writable()`` before writing into
    a decoded frame.
    """
    return _plane_view(frame, 0)


#: Frames per shot of the ``shots`` content.
SHOT_FRAMES = 10


def _source_frames(
    width: int, height: int, count: int, rate: Fraction, content: str
) -> list[np.ndarray]:
    """Return ``count`` rgb24 frames (H, W, 3) of moving test content."""
    if content == "testsrc2":
        graph = av.filter.Graph()
        # testsrc2 rounds odd sizes down for subsampled formats; rgb24 keeps them.
        src = graph.add("testsrc2", f"size={width}x{height}:rate={rate}")
        fmt = graph.add("format", "pix_fmts=rgb24")
        sink = graph.add("buffersink")
        src.link_to(fmt)
        fmt.link_to(sink)
        graph.configure()
        return [sink.pull().to_ndarray() for _ in range(count)]
    if content == "shapes":
        yy, xx = np.mgrid[0:height, 0:width]
        out = []
        for i in range(count):
            img = np.empty((height, width, 3), np.uint8)
            img[..., 0] = (xx * 255 // max(width - 1, 1) + 7 * i) % 256
            img[..., 1] = (yy * 255 // max(height - 1, 1)) % 256
            img[..., 2] = ((xx + yy + 11 * i) // 8 % 2) * 200
            cx, cy = (13 * i) % width, (7 * i) % height
            img[max(cy - 10, 0) : cy + 10, max(cx - 10, 0) : cx + 10] = (255, 255, 0)
            out.append(img)
        return out
    if content == "shots":
        # A new shot every SHOT_FRAMES frames: a different smooth random texture, panning.
        out = []
        for i in range(count):
            shot, t = divmod(i, SHOT_FRAMES)
            rng = np.random.default_rng(shot)
            big = rng.random((height // 4 + 2, width // 4 + SHOT_FRAMES + 2, 3))
            big = cv2.resize(big.astype(np.float32), None, fx=4, fy=4)
            out.append((big[:height, 2 * t : 2 * t + width] * 255).astype(np.uint8))
        return out
    raise ValueError(f"unknown content {content!r}")


def _rgb_to_frame(rgb: np.ndarray, pix_fmt: str, gray: bool) -> av.VideoFrame:
    """Convert an rgb24 array to a VideoFrame in ``pix_fmt`` (any size, odd included)."""
    if pix_fmt == "pal8":  # swscale cannot convert to pal8: build index + palette
        return _rgb_to_pal8(rgb, gray)
    src = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    if not gray:
        return src.reformat(format=pix_fmt)
    luma = src.reformat(format="gray")
    frame = luma.reformat(format=pix_fmt)
    fmt = frame.format
    if fmt.name.startswith(("yuv", "yuvj")) and len(frame.planes) >= 3:
        # swscale already produces neutral chroma, force it anyway so tests can rely
        # on it bit-exactly.
        for i in (1, 2):
            _plane_view(frame, i)[:] = neutral_chroma(fmt)
    return frame


def _rgb_to_pal8(rgb: np.ndarray, gray: bool) -> av.VideoFrame:
    """pal8 frame: 256 gray levels, or a 3-3-2 RGB palette.  Palette rows are ARGB."""
    levels = np.arange(256, dtype=np.uint16)
    if gray:
        r16, g16, b16 = (rgb[..., i].astype(np.uint16) for i in range(3))
        index = ((77 * r16 + 150 * g16 + 29 * b16) >> 8).astype(np.uint8)
        pal_r = pal_g = pal_b = levels
    else:
        index = (rgb[..., 0] & 0xE0) | ((rgb[..., 1] >> 3) & 0x1C) | (rgb[..., 2] >> 6)
        pal_r = (levels >> 5) * 255 // 7
        pal_g = ((levels >> 2) & 7) * 255 // 7
        pal_b = (levels & 3) * 255 // 3
    palette = np.stack([np.full(256, 255), pal_r, pal_g, pal_b], -1).astype(np.uint8)
    return av.VideoFrame.from_ndarray((np.ascontiguousarray(index, np.uint8), palette), "pal8")


def _sine_frames(
    stream: av.audio.stream.AudioStream, seconds: float, freq: float
) -> list[av.AudioFrame]:
    """Sine tone frames in the encoder's first supported sample format."""
    ctx = stream.codec_context
    rate = ctx.sample_rate
    fmt = ctx.format.name
    channels = ctx.layout.nb_channels
    frame_size = ctx.frame_size or 1024
    total = round(seconds * rate)
    t = np.arange(total) / rate
    mono = 0.3 * np.sin(2 * np.pi * freq * t)
    frames = []
    for start in range(0, total, frame_size):
        chunk = mono[start : start + frame_size]
        n = len(chunk)
        planar = np.repeat(chunk[None, :], channels, axis=0)
        if fmt.startswith("s16"):
            data = (planar * 32767).astype(np.int16)
        elif fmt.startswith("s32"):
            data = (planar * 2147483647).astype(np.int32)
        elif fmt.startswith("flt"):
            data = planar.astype(np.float32)
        elif fmt.startswith("dbl"):
            data = planar.astype(np.float64)
        else:
            raise ValueError(f"unsupported sample format {fmt}")
        if not fmt.endswith("p"):  # packed: (1, samples * channels)
            data = data.T.reshape(1, n * channels)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(data), format=fmt, layout=ctx.layout.name
        )
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        frames.append(frame)
    return frames


def _frame_pts(frames: int, rate: Fraction, time_base: Fraction, vfr: Any) -> list[int]:
    """Pts (from 0) for ``frames`` frames: CFR at ``rate`` or a VFR duration pattern."""
    if not vfr:
        return [rescale(i, 1 / rate, time_base) for i in range(frames)]
    pattern = (1, 2, 1, 3) if vfr is True else tuple(vfr)
    tick = max(1, round(1 / (rate * time_base)))
    pts, t = [], 0
    for i in range(frames):
        pts.append(t)
        t += pattern[i % len(pattern)] * tick
    return pts


# --------------------------------------------------------------------------- video


def make_video(
    path: str | Path,
    *,
    width: int = 320,
    height: int = 240,
    frames: int = 24,
    rate: Fraction | int = Fraction(24000, 1001),
    time_base: Fraction | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    content: str = "testsrc2",
    audio: Sequence[Mapping[str, Any]] = (),
    subtitles: bool = False,
    chapters: bool = False,
    rotation: float = 0,
    vfr: bool | Sequence[int] = False,
    metadata: Mapping[str, str] | None = None,
    video_metadata: Mapping[str, str] | None = None,
    gray: bool = False,
    start_pts: int = 0,
    codec_options: Mapping[str, str] | None = None,
    container_options: Mapping[str, str] | None = None,
    format: str | None = None,
) -> list[int]:
    """Write a small test clip and return the pts of its video frames.

    :param path: output file; the extension picks the container (or pass ``format``).
    :param rate: nominal frame rate (encoder ``framerate``; CFR pts step).
    :param time_base: encoder/stream time base; default ``1/rate`` (``1/1000`` with
        ``vfr``).  The muxer may still change it (Matroska: 1/1000; MP4/MOV: timescale
        scaled up to >= 10000).
    :param codec: video encoder (``libx264``, ``libx265``, ``ffv1``, ``prores_ks``,
        ``libx264rgb``, ``png``, ``mpeg4`` ...).
    :param pix_fmt: encoder pixel format.  Sizes must suit it: libx264/libx265 reject odd
        sizes with 4:2:0 (``avcodec_open2`` fails on the first frame).
    :param content: ``"testsrc2"`` (lavfi source through a PyAV filter graph) or
        ``"shapes"`` (numpy gradient + checkerboard + moving square).
    :param audio: one mapping per audio track, keys: ``codec`` (default ``aac``; also
        ``pcm_s16le``, ``libopus``, ``flac`` ...), ``rate`` (48000), ``layout``
        (``stereo``), ``language`` (default ``eng``, ``fra``, ``deu``, ``spa`` by
        position; ``None`` for none), ``freq`` (Hz), ``metadata`` (dict),
        ``disposition`` (``av.stream.Disposition``; default: first track ``default``,
        the others ``0``).
    :param subtitles: add a text subtitle track with two cues (``subrip`` in Matroska,
        ``mov_text`` in MP4/MOV), language ``eng``, title ``Test subs``.
    :param chapters: two chapters titled ``Opening`` and ``Ending`` (1/1000 time base).
    :param rotation: display-matrix rotation, degrees counter-clockwise (module doc).
    :param vfr: ``True`` for frame durations cycling 1, 2, 1, 3 frame periods, or an
        explicit pattern of durations in frame periods.
    :param metadata: container metadata (e.g. ``{"title": "..."}``).
    :param video_metadata: video stream metadata (e.g. ``{"language": "ita"}``).
    :param gray: luma-only picture; chroma planes (if any) exactly neutral.
    :param start_pts: pts of the first frame, in ``time_base`` units.  For MP4/MOV the
        ``movie_timescale`` muxer option is raised so the start offset stays exact.
    :param codec_options: encoder options (e.g. ``{"crf": "18", "g": "12"}``).
    :param container_options: muxer options (e.g. ``{"movie_timescale": "24000"}``).
    :param format: explicit container format name.
    :returns: video frame pts, in the time base the container stores (what a reader
        gets back after decoding).
    """
    path = Path(path)
    rate = Fraction(rate)
    if time_base is None:
        time_base = Fraction(1, 1000) if vfr else 1 / rate
    time_base = Fraction(time_base)
    pts_list = [start_pts + p for p in _frame_pts(frames, rate, time_base, vfr)]
    if frames:
        duration_s = float((pts_list[-1] - start_pts) * time_base + 1 / rate)
    else:
        duration_s = 0.0
    images = _source_frames(width, height, frames, rate, content)

    options = dict(container_options or {})
    with av.open(str(path), "w", format=format, container_options=options) as out:
        fmt_name = out.format.name
        if start_pts and fmt_name in ("mp4", "mov") and "movie_timescale" not in options:
            scale = time_base.denominator
            while scale < 10000:  # same rule the mov muxer applies to video tracks
                scale *= 2
            out.container_options["movie_timescale"] = str(scale)
        if metadata:
            out.metadata.update(metadata)

        vst = out.add_stream(codec, rate=rate, options=dict(codec_options or {}))
        vst.width = width
        vst.height = height
        vst.pix_fmt = pix_fmt
        vst.time_base = time_base
        vst.codec_context.time_base = time_base
        if video_metadata:
            vst.metadata.update(video_metadata)
        if rotation:
            vst.set_display_rotation(rotation)

        astreams = []
        for i, spec in enumerate(audio):
            ast = out.add_stream(
                spec.get("codec", "aac"),
                rate=int(spec.get("rate", 48000)),
                layout=spec.get("layout", "stereo"),
            )
            default_lang = DEFAULT_AUDIO_LANGUAGES[i % len(DEFAULT_AUDIO_LANGUAGES)]
            lang = spec.get("language", default_lang)
            if lang:
                ast.metadata["language"] = lang
            ast.metadata.update(spec.get("metadata", {}))
            default_disp = av.stream.Disposition.default if i == 0 else 0
            ast.disposition = spec.get("disposition", default_disp)
            astreams.append((ast, float(spec.get("freq", 440.0 * (i + 1)))))

        sst = None
        if subtitles:
            sub_codec = _SUBTITLE_CODEC.get(fmt_name)
            if sub_codec is None:
                raise ValueError(f"no subtitle codec known for format {fmt_name!r}")
            sst = out.add_stream(sub_codec)
            sst.codec_context.subtitle_header = _ASS_HEADER
            sst.metadata["language"] = "eng"
            sst.metadata["title"] = "Test subs"

        if chapters:
            half, end = int(duration_s * 500), int(duration_s * 1000)
            ms = Fraction(1, 1000)
            titles = (("Opening", 0, half), ("Ending", half, end))
            out.set_chapters(
                [
                    {"id": i, "start": a, "end": b, "time_base": ms, "metadata": {"title": t}}
                    for i, (t, a, b) in enumerate(titles, start=1)
                ]
            )

        for img, pts in zip(images, pts_list, strict=True):
            frame = _rgb_to_frame(img, pix_fmt, gray)
            frame.pts = pts
            frame.time_base = time_base
            out.mux(vst.encode(frame))
        out.mux(vst.encode())

        for ast, freq in astreams:
            for aframe in _sine_frames(ast, duration_s, freq):
                out.mux(ast.encode(aframe))
            out.mux(ast.encode())

        if sst is not None:
            _write_subtitles(out, sst, duration_s)
        stored_tb = vst.time_base
    return [rescale(p, time_base, stored_tb) for p in pts_list]


def _write_subtitles(out: av.container.OutputContainer, sst: Any, duration_s: float) -> None:
    from av.subtitles.subtitle import SubtitleSet

    tb = sst.time_base
    cues = [(0.0, duration_s / 3, b"Hello"), (duration_s / 2, duration_s * 0.9, b"World")]
    for start, end, text in cues:
        pts = rescale(round(start * 1000), Fraction(1, 1000), tb)
        dur = rescale(round((end - start) * 1000), Fraction(1, 1000), tb)
        sub = SubtitleSet.create(b"0,0,Default,,0,0,0,," + text, 0, dur, pts)
        pkt = sst.codec_context.encode_subtitle(sub)
        pkt.stream = sst
        pkt.time_base = tb
        out.mux(pkt)


# --------------------------------------------------------------------------- others


def make_audio_only(
    path: str | Path, *, seconds: float = 0.5, codec: str = "aac", language: str = "eng"
) -> None:
    """Write a file with a single sine-tone audio stream and no video."""
    with av.open(str(path), "w") as out:
        ast = out.add_stream(codec, rate=48000, layout="stereo")
        ast.metadata["language"] = language
        for frame in _sine_frames(ast, seconds, 440.0):
            out.mux(ast.encode(frame))
        out.mux(ast.encode())


def make_truncated(src: str | Path, dst: str | Path, keep_fraction: float = 0.6) -> int:
    """Copy the first ``keep_fraction`` of the bytes of ``src`` to ``dst``.

    A truncated MP4/MOV whose ``moov`` is at the end cannot be opened at all
    (``av.open`` raises ``av.error.InvalidDataError``); a truncated Matroska file opens
    and decodes the frames that are present.  Returns the number of bytes written.
    """
    data = Path(src).read_bytes()
    keep = int(len(data) * keep_fraction)
    Path(dst).write_bytes(data[:keep])
    return keep


def make_corrupt_middle(src: str | Path, dst: str | Path, *, count: int = 3) -> list[int]:
    """Copy ``src`` to ``dst`` with the payload of ``count`` video packets in the middle
    overwritten by ``0xFF`` bytes.

    The container structure stays intact, so demuxing works; decoding those packets
    raises ``av.error.InvalidDataError`` from ``avcodec_send_packet()`` (H.264: "Invalid
    NAL unit size"), frames depending on them may be dropped or concealed, and all other
    frames decode.  Decode packet by packet (``for p in c.demux(v): try: p.decode()``):
    an exception inside ``container.decode()`` ends that generator.

    Returns the pts (stream time base) of the corrupted packets.
    """
    data = bytearray(Path(src).read_bytes())
    with av.open(str(src)) as container:
        packets = [(p.pos, bytes(p), p.pts) for p in container.demux(video=0) if p.size]
    mid = len(packets) // 2
    start = max(1, mid - count // 2)
    hit = []
    for pos, payload, pts in packets[start : start + count]:
        offset = data.find(payload, pos if pos and pos >= 0 else 0)
        if offset < 0:
            raise RuntimeError("packet payload not found in file bytes")
        data[offset : offset + len(payload)] = b"\xff" * len(payload)
        hit.append(pts)
    Path(dst).write_bytes(bytes(data))
    return hit


def damage_bytes(
    src: str | Path, dst: str | Path, *, seed: int, runs: int = 4, length: int = 10
) -> list[int]:
    """Copy ``src`` to ``dst`` with ``runs`` runs of ``length`` random bytes written over its
    middle third (offsets and bytes from ``seed``), like a damaged broadcast capture.
    Returns the offsets."""
    data = bytearray(Path(src).read_bytes())
    rng = np.random.default_rng(seed)
    third = len(data) // 3
    offsets = sorted(int(o) for o in rng.integers(third, 2 * third - length, runs))
    for offset in offsets:
        data[offset : offset + length] = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
    Path(dst).write_bytes(bytes(data))
    return offsets


#: MPEG-TS packet size and sync byte.
_TS_SIZE, _TS_SYNC = 188, 0x47


def ts_pes_headers(data: bytes) -> list[tuple[int, int]]:
    """Where each PES packet starts in an MPEG-TS byte string: ``(offset, stream_id)`` of
    every PES header at the start of a TS packet's payload (stream_id 0xE0… video,
    0xC0… or 0xBD audio), in file order."""
    found = []
    for pos in range(0, len(data) - _TS_SIZE + 1, _TS_SIZE):
        if data[pos] != _TS_SYNC or not data[pos + 1] & 0x40:  # payload_unit_start
            continue
        control = (data[pos + 3] >> 4) & 3
        start = pos + 4
        if control == 3:  # adaptation field, then payload
            start += 1 + data[pos + 4]
        elif control != 1:
            continue
        if data[start : start + 3] == b"\x00\x00\x01":
            found.append((start, data[start + 3]))
    return found


def _pes_timestamp(value: int, prefix: int) -> bytes:
    """A 33-bit PES timestamp as its 5 bytes (``prefix``: 2 PTS only, 3 PTS then DTS, 1 DTS)."""
    return bytes(
        [
            (prefix << 4) | (((value >> 30) & 7) << 1) | 1,
            (value >> 22) & 0xFF,
            (((value >> 15) & 0x7F) << 1) | 1,
            (value >> 7) & 0xFF,
            ((value & 0x7F) << 1) | 1,
        ]
    )


def set_ts_pes_pts(src: str | Path, dst: str | Path, kind: str, index: int, pts: int) -> None:
    """Copy the MPEG-TS file ``src`` to ``dst`` with the ``index``-th PES packet of the first
    ``kind`` stream (``"video"`` or ``"audio"``) stamped ``pts`` (its DTS too, when it has
    one), in 1/90000 s: a damaged timestamp in an otherwise intact capture."""
    data = bytearray(Path(src).read_bytes())
    wanted = (lambda sid: sid >> 4 == 0xE) if kind == "video" else (lambda sid: sid >> 5 == 6)
    offset = [o for o, sid in ts_pes_headers(data) if wanted(sid)][index]
    flags = data[offset + 7] >> 6
    if flags == 3:
        data[offset + 9 : offset + 19] = _pes_timestamp(pts, 3) + _pes_timestamp(pts, 1)
    elif flags == 2:
        data[offset + 9 : offset + 14] = _pes_timestamp(pts, 2)
    else:
        raise ValueError(f"the {kind} PES packet at byte {offset} has no timestamp")
    Path(dst).write_bytes(bytes(data))


def _exif_app1(orientation: int) -> bytes:
    """A minimal big-endian EXIF APP1 segment holding only the Orientation tag."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd + struct.pack(">I", 0)
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def make_image(
    path: str | Path,
    *,
    width: int = 64,
    height: int = 48,
    gray: bool = True,
    bits: int = 8,
    exif_orientation: int | None = None,
) -> np.ndarray:
    """Write a test image with OpenCV and return the array that was encoded.

    The extension picks the format (``.jpg``, ``.png``, ``.tif``, ``.webp``).
    ``bits=16`` needs PNG or TIFF.  The picture is a gradient with a bright block in
    the top-left corner so orientation is detectable.  ``exif_orientation`` (JPEG only)
    inserts an EXIF APP1 segment right after SOI; 6 means "rotate 90 degrees clockwise
    to display", so readers that honour EXIF report ``height x width``.  The returned
    array is in stored (un-rotated) orientation, BGR order for colour.
    """
    path = Path(path)
    if bits not in (8, 16):
        raise ValueError("bits must be 8 or 16")
    if bits == 16 and path.suffix.lower() not in (".png", ".tif", ".tiff"):
        raise ValueError("16-bit images need .png or .tif")
    maxval = (1 << bits) - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    yy, xx = np.mgrid[0:height, 0:width]
    luma = (xx + yy) * maxval // max(width + height - 2, 1)
    luma[: max(height // 4, 1), : max(width // 4, 1)] = maxval
    luma = luma.astype(dtype)
    if gray:
        img = luma
    else:
        img = np.stack([luma, (xx * maxval // max(width - 1, 1)).astype(dtype), luma[::-1]], -1)
    ok, buf = cv2.imencode(path.suffix, img)
    if not ok:
        raise RuntimeError(f"cv2 cannot encode {path.suffix}")
    data = buf.tobytes()
    if exif_orientation is not None:
        if data[:2] != b"\xff\xd8":
            raise ValueError("exif_orientation is only supported for JPEG")
        data = data[:2] + _exif_app1(exif_orientation) + data[2:]
    path.write_bytes(data)
    return img


# --------------------------------------------------------------------------- probing


def _display_matrix(frame: av.VideoFrame) -> list[int] | None:
    """The 3x3 display matrix of ``frame`` (9 ints), or None.

    Iterating ``frame.side_data`` raises ``ValueError`` in PyAV 18 when FFmpeg attached
    a side-data type PyAV does not know (e.g. EXIF, type 31, on JPEG frames), so the
    failure is tolerated.
    """
    try:
        for side in frame.side_data:
            if side.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
                return np.frombuffer(bytes(side), "<i4").tolist()
    except ValueError:
        return None
    return None


def probe_streams(path: str | Path, *, decode: bool = True) -> dict[str, Any]:
    """Summarise a media file for assertions.

    Returns ``{"format", "metadata", "chapters", "streams", "video", "audio",
    "subtitle", "data"}``; ``streams`` lists every stream in index order and the
    per-type keys hold the same dicts grouped by type.  Each stream dict has
    ``index, type, codec, language, disposition (int), metadata, time_base, discard``;
    video adds ``width, height, pix_fmt, bits, rotation, display_matrix, pts`` (decoded
    frame pts) and ``packet_pts``; other streams add ``packets`` (payload bytes of every
    non-empty packet, in demux order) and ``packet_pts``.
    """
    with av.open(str(path)) as container:
        summary: dict[str, Any] = {
            "format": container.format.name,
            "metadata": dict(container.metadata),
            "chapters": [dict(ch) for ch in container.chapters()],
            "streams": [],
        }
        for s in container.streams:
            ctx = s.codec_context
            info: dict[str, Any] = {
                "index": s.index,
                "type": s.type,
                "codec": ctx.name if ctx is not None else None,
                "language": s.metadata.get("language"),
                "disposition": int(s.disposition),
                "metadata": dict(s.metadata),
                "time_base": s.time_base,
                "discard": s.discard == av.stream.Discard.all,
                "packet_pts": [],
            }
            if s.type == "video":
                fmt = ctx.format
                info.update(
                    width=ctx.width,
                    height=ctx.height,
                    pix_fmt=fmt.name if fmt is not None else None,
                    bits=fmt.components[0].bits if fmt is not None else None,
                    rotation=0,
                    display_matrix=None,
                    pts=[],
                )
            else:
                info["packets"] = []
            summary["streams"].append(info)

        decoders = {}
        for s in container.streams:
            if s.type == "video" and decode:
                decoders[s.index] = s
        for packet in container.demux():
            info = summary["streams"][packet.stream.index]
            if packet.size == 0:
                if packet.stream.index not in decoders:
                    continue
            else:
                info["packet_pts"].append(packet.pts)
                if info["type"] != "video":
                    info["packets"].append(bytes(packet))
            if packet.stream.index in decoders:
                for frame in packet.decode():
                    if not info["pts"]:
                        info["rotation"] = frame.rotation
                        info["display_matrix"] = _display_matrix(frame)
                    info["pts"].append(frame.pts)

    for kind in ("video", "audio", "subtitle", "data", "attachment"):
        summary[kind] = [st for st in summary["streams"] if st["type"] == kind]
    return summary


def make_telecined(
    path: str | Path, *, film_frames: int = 24, width: int = 96, height: int = 64
) -> int:
    """3:2 pull-down of ``film_frames`` frames of moving content at 24000/1001 to 30000/1001
    (FFmpeg ``telecine``), written losslessly (FFV1 in Matroska); returns the frame count."""
    film_tb = Fraction(1001, 24000)
    graph = av.filter.Graph()
    src = graph.add(
        "buffer",
        f"video_size={width}x{height}:pix_fmt=yuv420p:time_base=1001/24000:frame_rate=24000/1001",
    )
    tel = graph.add("telecine", "")
    sink = graph.add("buffersink")
    src.link_to(tel)
    tel.link_to(sink)
    graph.configure()
    out_frames: list[av.VideoFrame] = []

    def drain() -> None:
        while True:
            try:
                out_frames.append(graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return

    for i, rgb in enumerate(_source_frames(width, height, film_frames, Fraction(24), "shapes")):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        frame.time_base = film_tb
        graph.push(frame)
        drain()
    graph.push(None)
    drain()
    tb = Fraction(1001, 30000)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=Fraction(30000, 1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = tb
        for k, frame in enumerate(out_frames):
            frame.pts = k
            frame.time_base = tb
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return len(out_frames)


# --------------------------------------------------------------------------- media matrix


#: Real-world kinds of input, small: ``name -> make_video`` arguments plus ``ext`` (the
#: container), ``decoders`` (what reading it back needs) and ``check`` (what the clip must
#: show to be what its name says: ``interlaced``, ``reordered`` frames (B-frames), or the
#: luma ``bits``). Every clip carries audio: AAC, Opus in WebM, PCM in MXF (FFmpeg's MXF
#: muxer takes no AAC).
MATRIX: dict[str, dict[str, Any]] = {
    "mpeg2-ts-interlaced": {
        "ext": ".ts",
        "codec": "mpeg2video",
        "rate": 25,
        "codec_options": {"flags": "+ilme+ildct", "g": "12", "bf": "2"},
        "check": {"interlaced": True, "reordered": True},
    },
    "mjpeg-avi": {
        "ext": ".avi",
        "codec": "mjpeg",
        "pix_fmt": "yuvj420p",
        "width": 97,
        "height": 65,
        "rate": Fraction(30000, 1001),
    },
    "prores422-10bit-mov": {
        "ext": ".mov",
        "codec": "prores_ks",
        "pix_fmt": "yuv422p10le",
        "rate": 24,
        "codec_options": {"profile": "2"},
        "check": {"bits": 10},
    },
    "vp9-webm-opus": {
        "ext": ".webm",
        "codec": "libvpx-vp9",
        "rate": 25,
        "codec_options": {"deadline": "realtime", "cpu-used": "8", "g": "12"},
        "audio_codec": "libopus",
        "decoders": ("vp9", "opus"),
    },
    "hevc-10bit-mkv": {
        "ext": ".mkv",
        "codec": "libx265",
        "pix_fmt": "yuv420p10le",
        "rate": 24,
        "codec_options": {
            "preset": "ultrafast",
            "x265-params": "log-level=error:keyint=12:bframes=3",
        },
        "decoders": ("hevc",),
        "check": {"bits": 10, "reordered": True},
    },
    "mpeg4-bframes-avi": {
        "ext": ".avi",
        "codec": "mpeg4",
        "rate": 25,
        "codec_options": {"bf": "2", "g": "12"},
        "check": {"reordered": True},
    },
    "av1-10bit-mkv": {
        "ext": ".mkv",
        "codec": "libsvtav1",
        "pix_fmt": "yuv420p10le",
        "rate": 24,
        "codec_options": {"preset": "12", "g": "12", "svtav1-params": "lp=1"},
        "decoders": ("av1",),
        "check": {"bits": 10},
    },
    "v210-mov": {
        "ext": ".mov",
        "codec": "v210",
        "pix_fmt": "yuv422p10le",
        "rate": Fraction(24000, 1001),
        "check": {"bits": 10},
    },
    "huffyuv-avi": {"ext": ".avi", "codec": "huffyuv", "pix_fmt": "yuv422p", "rate": 25},
    "h264-mbaff-mp4": {
        "ext": ".mp4",
        "codec": "libx264",
        "rate": Fraction(30000, 1001),
        "codec_options": {"preset": "ultrafast", "x264-params": "interlaced=1:tff=1"},
        "decoders": ("h264",),
        "check": {"interlaced": True},
    },
    "h264-open-gop-bframes-mp4": {
        "ext": ".mp4",
        "codec": "libx264",
        "rate": 24,
        "codec_options": {
            "preset": "veryfast",
            "x264-params": "open-gop=1:bframes=3:keyint=8:min-keyint=8:scenecut=0",
        },
        "decoders": ("h264",),
        "check": {"reordered": True},
    },
    "gray-raw-mkv": {
        "ext": ".mkv",
        "codec": "rawvideo",
        "pix_fmt": "gray",
        "width": 97,
        "height": 65,
        "rate": 25,
    },
    "mpeg2-mxf-pcm": {
        "ext": ".mxf",
        "codec": "mpeg2video",
        "pix_fmt": "yuv422p",
        "rate": 25,
        "codec_options": {"g": "12"},
        "audio_codec": "pcm_s16le",
    },
}


def matrix_needs(name: str) -> list[str]:
    """The encoders and decoders a ``MATRIX`` clip needs that this PyAV build lacks, as
    ``"encoder libx265"`` / ``"decoder av1"`` (empty: it can be made and read)."""
    spec = MATRIX[name]
    missing = []
    for codec in (spec["codec"], spec.get("audio_codec", "aac")):
        try:
            av.codec.Codec(codec, "w")
        except av.codec.codec.UnknownCodecError:
            missing.append(f"encoder {codec}")
    for codec in spec.get("decoders", ()):
        try:
            av.codec.Codec(codec, "r")
        except av.codec.codec.UnknownCodecError:
            missing.append(f"decoder {codec}")
    return missing


def make_matrix_clip(folder: str | Path, name: str, *, frames: int = 24) -> Path:
    """Write the ``MATRIX`` clip ``name`` (96×64 unless it says otherwise, ``frames``
    frames of moving shapes, one audio track) into ``folder``; returns its path."""
    spec = dict(MATRIX[name])
    path = Path(folder) / f"{name}{spec.pop('ext')}"
    audio = {"codec": spec.pop("audio_codec", "aac")}
    spec.pop("decoders", None)
    spec.pop("check", None)
    spec.setdefault("width", 96)
    spec.setdefault("height", 64)
    make_video(path, frames=frames, content="shapes", audio=[audio], **spec)
    return path


def aac_payload(payload: bytes) -> bytes:
    """An AAC frame without its ADTS header, if it has one (MPEG-TS and raw AAC carry
    one, MP4 and Matroska do not): what a copy into MP4 or Matroska keeps of it."""
    if len(payload) > 9 and payload[0] == 0xFF and payload[1] & 0xF6 == 0xF0:
        return payload[7 if payload[1] & 1 else 9 :]
    return payload
