"""What a media file holds: ``probe(path) -> MediaInfo``, read with PyAV, never by guessing."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..config import LimitsConfig
from ..errors import InputError, picture_too_large
from .sequence import ImageSequence

#: Pixel formats whose luma is full range when the stream does not say otherwise.
_FULL_RANGE_FORMATS = ("gray", "yuvj", "pal8", "rgb", "bgr", "gbr", "argb", "abgr", "rgba", "bgra")
_DEFAULT_MAX_PIXELS = LimitsConfig().max_pixels
#: FFmpeg's ``max_pixels`` codec option is an int.
_FFMPEG_MAX_PIXELS = 2**31 - 1
#: The smallest bound a decoder is given: some allocate internal pictures of a fixed size
#: whatever the frame's (MPEG-4 Part 2 needs 53,760 pixels for a 64 × 48 film), and pictures
#: of this size cost a few megabytes.
DECODER_MIN_PIXELS = 2**22


def _decoder_bound(pixels: int) -> str:
    return str(min(max(pixels, DECODER_MIN_PIXELS), _FFMPEG_MAX_PIXELS))


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One stream of a container, as probe sees it."""

    index: int
    type: str
    codec: str
    language: str | None
    metadata: dict[str, str]
    disposition: list[str]


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """The video stream filmcolor colorizes, plus a summary of the rest of the file.

    ``time_base`` and every pts are exact rationals/integers; ``avg_rate`` is informative
    only (VFR files have no single rate).
    """

    path: str
    container: str
    video_index: int
    codec: str
    width: int
    height: int
    time_base: Fraction
    avg_rate: Fraction | None
    frame_count: int | None
    #: Seconds of the video stream as the file declares it (stream duration, Matroska's
    #: DURATION tag, else the container's); None when unknown.
    duration: float | None
    pix_fmt: str
    bit_depth: int
    full_range: bool
    color_range: str
    color_primaries: str
    color_trc: str
    colorspace: str
    rotation: int
    audio_streams: int
    subtitle_streams: int
    #: Pixel aspect ratio (anamorphic DV/DVD sources are not 1:1); copied on output.
    sample_aspect_ratio: Fraction | None = None
    #: The video's display matrix (9 ints, FFmpeg layout) when it has one; copied on output.
    display_matrix: tuple[int, ...] | None = None
    streams: tuple[StreamInfo, ...] = field(default=())
    #: The stream's field order as FFmpeg reads it from the container or the bitstream, named
    #: like ffprobe's ``field_order``: ``progressive``, ``tt`` (top field first), ``bb``,
    #: ``tb`` (top coded first, bottom shown first), ``bt``, or ``unknown``.
    field_order: str = "progressive"
    #: Whether the video is interlaced: its field order says so, or its first frame is
    #: flagged interlaced (then a field order of ``unknown`` reads as top field first).
    interlaced: bool = False

    @property
    def top_field_first(self) -> bool:
        """Of an interlaced video: whether the top field (even rows, counted from 0) is the
        earlier in time. ``tt`` and ``bt`` show the top field first; so does an undeclared
        order (the common one for HD and MPEG-2)."""
        return self.field_order not in ("bb", "tb")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, Fraction):
                value = f"{value.numerator}/{value.denominator}"
            elif name == "streams":
                value = [{f: getattr(s, f) for f in StreamInfo.__dataclass_fields__} for s in value]
            out[name] = value
        return out


def check_input_file(path: str | os.PathLike[str]) -> Path:
    """Raise ``InputError`` for a missing, unreadable or empty file, or one that is not a
    regular file (a FIFO, a device, a socket: checked without opening it, which could block
    or never end); return it as a Path."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise InputError(f"{p}: is a folder; give a file, or a folder with -o naming a folder")
    if not p.is_file():
        raise InputError(
            f"{p}: is not a regular file (a pipe, device or socket); save the stream to a "
            "file first and give that file"
        )
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty (0 bytes); was it copied completely?")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: file is not readable; check its permissions")
    return p


def pix_fmt_bit_depth(pix_fmt: str) -> int:
    """Bits of the luma (or first) component of a pixel format, e.g. 8 or 10 (at most 16;
    gray of that depth must exist, so 11-bit-style oddities round up to the next one; float
    formats such as EXR's ``gbrpf32le`` are read as 16 bits)."""
    bits = int(av.VideoFormat(pix_fmt).components[0].bits)
    if bits <= 8:
        return 8
    if bits > 16:
        return 16
    return min(b for b in (9, 10, 12, 14, 16) if b >= bits)


def default_full_range(pix_fmt: str) -> bool:
    """Whether luma of this pixel format is full range when the stream does not say."""
    return pix_fmt.startswith(_FULL_RANGE_FORMATS)


def choose_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The stream to colorize: the first video stream that is not cover art."""
    for stream in container.streams.video:
        if "attached_pic" not in disposition_names(stream):
            return stream
    path = container.name
    raise InputError(f"{path}: no video stream; is it an audio file?")


def disposition_names(stream: av.stream.Stream) -> list[str]:
    disp = stream.disposition
    return [flag.name for flag in type(disp) if flag.value and flag in disp]


def open_input(
    path: str | os.PathLike[str] | ImageSequence, max_pixels: int | None = None
) -> av.container.InputContainer:
    """Open a media file, or an image sequence as one video (``ImageSequence.open``), for
    reading; ``InputError`` if it is not media at all.

    Opening may decode a frame to learn the stream's parameters (image codecs such as PNG
    in a MOV); ``max_pixels`` forbids that decode any picture larger (its size is then
    unknown: width and height 0; never below ``DECODER_MIN_PIXELS``)."""
    if isinstance(path, ImageSequence):
        return path.open(int(_decoder_bound(max_pixels)) if max_pixels else None)
    p = check_input_file(path)
    options = {"max_pixels": _decoder_bound(max_pixels)} if max_pixels else {}
    try:
        # An absolute path: a relative name with a colon ("take:1.mov") reads as a protocol.
        return av.open(str(p.absolute()), "r", options=options)
    except av.error.InvalidDataError as exc:
        raise InputError(f"{p}: not a media file, or too damaged to open ({exc.strerror})") from exc
    except av.error.FFmpegError as exc:
        raise InputError(f"{p}: cannot open ({exc})") from exc


def limit_decoder(stream: av.video.stream.VideoStream, pixels: int) -> None:
    """Make ``stream``'s decoder refuse to allocate a picture of more than ``pixels`` pixels
    (FFmpeg's ``max_pixels``; it then fails with ``InvalidDataError`` and leaves the size it
    refused in the codec context; never below ``DECODER_MIN_PIXELS``, nor twice the size
    the stream's header gives): a stream whose frames turn out far larger than its header
    said costs no memory. Call before the first decode."""
    ctx = stream.codec_context
    if ctx is not None:
        # never below what the header declares (checked against the limit by ``probe``):
        # a decoder refuses to open with a bound under its own size
        pixels = max(pixels, 2 * ctx.width * ctx.height)
        ctx.options = {**ctx.options, "max_pixels": _decoder_bound(pixels)}


def decoder_pixels(width: int, height: int) -> int:
    """The decoder's ``limit_decoder`` bound for a stream of ``width`` × ``height`` frames:
    generous (padded rows and aligned strides, twice over, and at least
    ``DECODER_MIN_PIXELS``), so only a stream whose pictures grow far beyond its first frame
    meets it."""
    return max(2 * (width + 64) * (height + 64), DECODER_MIN_PIXELS)


def probe(
    path: str | os.PathLike[str] | ImageSequence, max_pixels: int = _DEFAULT_MAX_PIXELS
) -> MediaInfo:
    """Describe ``path``'s video stream and list its other streams.

    Decodes the first frame (for pixel format, colour tags and rotation), after checking
    the size the header gives against ``max_pixels`` (``LimitsConfig``): the decoder is not
    allowed to allocate more than twice that (or ``DECODER_MIN_PIXELS``), and the decoded
    frame is checked again.
    Raises ``InputError`` when the file is missing, empty, not media, has no video stream,
    or its frames are larger than ``max_pixels``.
    """
    with open_input(path, 2 * max_pixels) as container:
        stream = choose_video_stream(container)
        header = stream.codec_context
        if header is not None and header.width * header.height > max_pixels:
            raise picture_too_large(path, "video", header.width, header.height, max_pixels)
        limit_decoder(stream, 2 * max_pixels)
        streams = tuple(
            StreamInfo(
                index=s.index,
                type=s.type,
                codec=s.codec_context.name if s.codec_context is not None else "unknown",
                language=s.language,
                metadata=dict(s.metadata),
                disposition=disposition_names(s),
            )
            for s in container.streams
        )
        ctx = stream.codec_context
        frame = first_frame(container, stream)
        if frame is None:
            if ctx is not None and ctx.width * ctx.height > max_pixels:  # refused by the decoder
                raise picture_too_large(path, "video", ctx.width, ctx.height, max_pixels)
            if container.format.name.endswith("_pipe"):  # a still image: its header's size
                from .images import picture_size

                try:
                    width, height = picture_size(path)
                except InputError:
                    width = height = 0
                if width * height > max_pixels:
                    raise picture_too_large(path, "picture", width, height, max_pixels)
            if ctx is not None and ctx.width == 0:  # not even the size could be learnt
                raise InputError(
                    f"{path}: no video frame could be decoded: the file may be damaged, or "
                    f"its frames far larger than the limit of {max_pixels} pixels "
                    "(--max-pixels, max-pixels in a --config file)"
                )
            raise InputError(f"{path}: no decodable video frame; the file may be damaged")
        if frame.width * frame.height > max_pixels:
            raise picture_too_large(path, "video", frame.width, frame.height, max_pixels)
        pix_fmt = frame.format.name
        rng = frame.color_range or ctx.color_range
        duration = declared_duration(container, stream)
        field_order = FIELD_ORDER_NAMES.get(ctx.field_order, "unknown")
        return MediaInfo(
            path=str(path),
            container=container.format.name,
            video_index=stream.index,
            codec=ctx.name,
            width=frame.width,
            height=frame.height,
            time_base=Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000),
            avg_rate=Fraction(stream.average_rate) if stream.average_rate else None,
            frame_count=stream.frames or None,
            duration=duration,
            pix_fmt=pix_fmt,
            bit_depth=pix_fmt_bit_depth(pix_fmt),
            full_range=is_full_range(rng, pix_fmt),
            color_range=COLOR_RANGE_NAMES.get(rng, "unknown"),
            color_primaries=PRIMARIES_NAMES.get(frame.color_primaries, "unknown"),
            color_trc=TRC_NAMES.get(frame.color_trc, "unknown"),
            colorspace=MATRIX_NAMES.get(frame.colorspace, "unknown"),
            rotation=int(frame.rotation) % 360,
            audio_streams=len(container.streams.audio),
            subtitle_streams=len(container.streams.subtitles),
            display_matrix=frame_display_matrix(frame),
            sample_aspect_ratio=Fraction(sar) if (sar := stream.sample_aspect_ratio) else None,
            streams=streams,
            field_order=field_order,
            interlaced=field_order in INTERLACED_ORDERS or frame.interlaced_frame,
        )


def declared_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    """The video's length in seconds as the file declares it, or None."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION")  # Matroska writes one per track
    if tag:
        try:
            h, m, sec = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(sec)
        except ValueError:
            pass
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def is_full_range(color_range: int, pix_fmt: str) -> bool:
    """Whether luma is full range: the tag when set (2 = JPEG/full), else by pixel format."""
    if color_range == 2:
        return True
    if color_range == 1:
        return False
    return default_full_range(pix_fmt)


# FFmpeg's enum values (libavutil/pixfmt.h, libavcodec/defs.h) → the names ffprobe prints.
FIELD_ORDER_NAMES = {0: "unknown", 1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
#: The field orders of an interlaced stream.
INTERLACED_ORDERS = ("tt", "bb", "tb", "bt")
COLOR_RANGE_NAMES = {0: "unknown", 1: "tv", 2: "pc"}
PRIMARIES_NAMES = {1: "bt709", 2: "unknown", 5: "bt470bg", 6: "smpte170m", 9: "bt2020"}
TRC_NAMES = {1: "bt709", 2: "unknown", 6: "smpte170m", 13: "iec61966-2-1", 14: "bt2020-10"}
MATRIX_NAMES = {0: "gbr", 1: "bt709", 2: "unknown", 5: "bt470bg", 6: "smpte170m", 9: "bt2020nc"}


def frame_display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    """The frame's 3×3 display matrix (9 ints, FFmpeg's 16.16/2.30 layout), or None."""
    try:
        for sd in frame.side_data:
            if sd.type.name == "DISPLAYMATRIX":
                data = bytes(sd)
                if len(data) == 36:
                    return struct.unpack("<9i", data)
    except ValueError:
        # PyAV 18 cannot name some FFmpeg 8 side-data types (e.g. EXIF on JPEG frames) and
        # raises while iterating; such frames carry no display matrix we could copy.
        return None
    return None


def first_frame(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> av.VideoFrame | None:
    """Decode the first decodable frame of ``stream`` (None if there is none)."""
    try:
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    return frame
            except av.error.InvalidDataError:
                continue
    except av.error.FFmpegError:
        return None
    return None
