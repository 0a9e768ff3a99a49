"""Encode the colorized video: the source Y plane verbatim, the new Cb/Cr, the source pts.

Codec defaults (``--crf``/``--preset`` override them):

=========  =====================  ==========================================================
codec      quality                pixel format (even size / odd size; source > 8 bits)
=========  =====================  ==========================================================
libx264    crf 18, preset medium  yuv420p / yuv444p; yuv420p10le / yuv444p10le
libx265    crf 20, preset medium  yuv420p / yuv444p; yuv420p10le / yuv444p10le
prores     ProRes 422 HQ          yuv422p10le / yuv444p10le (ProRes 4444); always 10-bit
ffv1       lossless (level 3)     yuv420p / yuv444p; 10, 12 or 16 bits as the source
=========  =====================  ==========================================================

Interlaced sources (``MediaInfo.interlaced``) stay interlaced unless a deinterlacing filter
ran: the stream's field order is written (Matroska ``FieldOrder``, MOV ``fiel``), each frame
is flagged interlaced with its field dominance (FFmpeg's ``setfield`` filter: PyAV cannot set
frame flags), x264 codes MBAFF (``+ildct+ilme``, ``tff=1``/``bff=1``), ProRes and FFV1 code
two fields per frame; HEVC has no interlaced frame coding, so x265 output keeps only the
container's field-order tag.

Odd sizes: 4:2:0 and 4:2:2 cannot describe a picture of odd width/height in x264/x265/ProRes,
so such inputs are written 4:4:4 (a warning says so); the picture size never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.filter
import numpy as np

from ..config import EncodeConfig
from ..errors import MediaError, UsageError
from .probe import MediaInfo

CODECS = {"libx264": "libx264", "libx265": "libx265", "prores": "prores_ks", "ffv1": "ffv1"}
DEFAULT_CRF = {"libx264": 18, "libx265": 20}
DEFAULT_PRESET = {"libx264": "medium", "libx265": "medium"}

#: x264's rc-lookahead (frames) per preset; ``x264_lookahead`` shortens it for large pictures.
X264_LOOKAHEAD = {
    "ultrafast": 0,
    "superfast": 0,
    "veryfast": 10,
    "faster": 20,
    "fast": 30,
    "medium": 40,
    "slow": 50,
    "slower": 60,
    "veryslow": 60,
    "placebo": 60,
}
#: Memory, in MB, for the pictures of x264's look-ahead (4K/8K: fewer frames, never under 10).
X264_LOOKAHEAD_MB = 512

# FFmpeg enum values (libavutil/pixfmt.h) for colour tags.
_MATRIX_ENUM = {"bt709": 1, "bt601": 6, "bt2020": 9}
_PRIMARIES_ENUM = {"bt709": 1, "bt601": 6, "bt2020": 9}
_TRC_ENUM = {"bt709": 1, "bt601": 6, "bt2020": 14}
#: FFmpeg's AVFieldOrder values (libavcodec/defs.h) by ffprobe's names.
_FIELD_ORDER_ENUM = {"tt": 2, "bb": 3, "tb": 4, "bt": 5}


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """The pixel layout of the encoded stream and how chroma is laid out in it."""

    pix_fmt: str
    bit_depth: int
    #: Chroma subsampling shifts (log2) horizontally and vertically: (1, 1) for 4:2:0.
    chroma_shift: tuple[int, int]
    full_range: bool
    #: The YCbCr matrix of the output (also decides primaries and transfer tags).
    matrix: str


def choose_matrix(info: MediaInfo) -> str:
    """Keep the source's YCbCr matrix when it is tagged; untagged sources get BT.709 (tagged)."""
    if info.colorspace in ("bt470bg", "smpte170m"):
        return "bt601"
    if info.colorspace.startswith("bt2020"):
        return "bt2020"
    return "bt709"


def choose_output_format(info: MediaInfo, config: EncodeConfig) -> tuple[OutputFormat, list[str]]:
    """Pick the output pixel format for ``info``'s video under ``config``; warnings alongside."""
    warnings: list[str] = []
    odd = info.width % 2 == 1 or info.height % 2 == 1
    deep = info.bit_depth > 8
    if config.pix_fmt is not None:
        pix_fmt = config.pix_fmt
    elif config.codec == "prores":
        pix_fmt = "yuv444p10le" if odd else "yuv422p10le"
    elif config.codec == "ffv1" and info.bit_depth > 10:
        # FFV1 takes 12 and 16 bits: deeper sources (film scans) keep their bits.
        pix_fmt = ("yuv444p" if odd else "yuv420p") + ("12le" if info.bit_depth <= 12 else "16le")
    else:
        # x264/x265 as built here take 8 or 10 bits: deeper sources are written 10-bit.
        pix_fmt = ("yuv444p" if odd else "yuv420p") + ("10le" if deep else "")
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, av.error.FFmpegError) as exc:
        raise UsageError(f"unknown pixel format {pix_fmt!r}; try yuv420p or yuv444p") from exc
    if not pix_fmt.startswith("yuv") or len(fmt.components) < 3:
        raise UsageError(f"pixel format {pix_fmt!r} has no chroma planes; use a yuv format")
    # Chroma subsampling shifts, read off the plane sizes of a 64x64 picture.
    probe = av.VideoFormat(pix_fmt, 64, 64)
    shift = (
        {64: 0, 32: 1}[probe.components[1].width],
        {64: 0, 32: 1}[probe.components[1].height],
    )
    if odd and shift != (0, 0) and config.codec != "ffv1":
        raise UsageError(
            f"{info.width}x{info.height} is odd-sized and {pix_fmt} subsamples chroma, which "
            f"{config.codec} cannot encode; drop --pix-fmt to get 4:4:4"
        )
    if odd and config.pix_fmt is None and config.codec != "ffv1":
        warnings.append(
            f"odd picture size {info.width}x{info.height}: writing {pix_fmt} (4:4:4) because "
            f"{config.codec} cannot encode 4:2:0 at odd sizes; the size is kept"
        )
    if info.interlaced and config.codec == "libx265":
        warnings.append(
            "interlaced source: HEVC has no interlaced frame coding, so x265 codes whole "
            "frames and only the container's tag keeps the field order (use libx264 or "
            "ffv1 to keep interlaced coding)"
        )
    elif info.interlaced and config.codec == "libx264" and not _x264_fields(info, shift):
        warnings.append(
            f"interlaced source of {info.height} lines: x264 codes interlaced frames only at "
            f"heights divisible by {2 << shift[1]}, so the frames are coded progressive and "
            "only the container's tag keeps the field order (none in .mp4; use ffv1)"
        )
    bits = int(fmt.components[0].bits)
    if bits < info.bit_depth:
        warnings.append(f"source luma has {info.bit_depth} bits; {pix_fmt} keeps only {bits}")
    full = info.full_range
    return OutputFormat(pix_fmt, bits, shift, full, choose_matrix(info)), warnings


def x264_lookahead(width: int, height: int, bit_depth: int, preset: str) -> int | None:
    """x264's rc-lookahead for pictures this large, or None to keep the preset's.

    x264 keeps about 2.75 bytes a pixel per frame (twice that above 8 bits: its planes and
    half-pixel planes), and ``rc-lookahead`` frames of them besides those it encodes: 4.5 GB
    at 4096x3112 10-bit with ``medium``'s 40 (measured), 2.4 GB with 10. Within
    ``X264_LOOKAHEAD_MB``; 1080p keeps the preset's look-ahead."""
    frame = width * height * 2.75 * (1 if bit_depth <= 8 else 2)
    frames = max(10, int((X264_LOOKAHEAD_MB << 20) / frame))
    return frames if frames < X264_LOOKAHEAD.get(preset, 40) else None


def aspect_warning(info: MediaInfo, config: EncodeConfig, dst: Path) -> str | None:
    """A warning when output ``dst`` cannot keep ``info``'s pixel aspect ratio (None when it
    can): FFV1 carries none in its own stream, and Matroska writes the one of the container's
    stream record, which PyAV leaves unset (the H.264/HEVC streams carry theirs; MOV and MP4
    take the encoder's)."""
    sar = info.sample_aspect_ratio
    if not sar or sar == 1 or config.codec != "ffv1" or dst.suffix.lower() not in (".mkv", ".mka"):
        return None
    return (
        f"pixel aspect ratio {sar.numerator}:{sar.denominator} is not written with FFV1 in "
        f"{dst.suffix}: players will show square pixels; use --codec prores (.mov) or "
        "libx264 to keep it"
    )


def configure_video_stream(
    output: av.container.OutputContainer,
    info: MediaInfo,
    fmt: OutputFormat,
    config: EncodeConfig,
    display_matrix: tuple[int, ...] | None,
) -> av.video.stream.VideoStream:
    """Add and configure the colorized video stream: codec, options, time base, colour tags."""
    codec = CODECS[config.codec]
    options: dict[str, str] = {}
    if config.codec == "libx264" and _x264_fields(info, fmt.chroma_shift):
        # MBAFF, and the field order in the stream itself (MP4 has no field-order tag)
        options["x264-params"] = "tff=1" if info.top_field_first else "bff=1"
    if config.codec in DEFAULT_CRF:
        options["crf"] = str(config.crf if config.crf is not None else DEFAULT_CRF[config.codec])
        options["preset"] = config.preset or DEFAULT_PRESET[config.codec]
        if config.codec == "libx265":
            options["x265-params"] = "log-level=error"
        if config.codec == "libx264":
            frames = x264_lookahead(info.width, info.height, fmt.bit_depth, options["preset"])
            if frames is not None:
                options["rc-lookahead"] = str(frames)
    elif config.codec == "prores":
        options["profile"] = "4" if fmt.pix_fmt.startswith("yuv444") else "3"
        options["vendor"] = "apl0"
    elif config.codec == "ffv1":
        options.update({"level": "3", "slicecrc": "1", "g": "1"})
    if codec not in output.supported_codecs:
        fits = ".mov or .mkv" if config.codec == "prores" else ".mkv"
        raise UsageError(
            f"the {output.format.name.split(',')[0]} container cannot hold {config.codec} "
            f"video; write the output as {fits}"
        )
    try:
        stream = output.add_stream(codec, options=options)
    except (ValueError, av.error.FFmpegError) as exc:
        raise MediaError(f"encoder {codec} is not available in this PyAV build: {exc}") from exc
    ctx = stream.codec_context
    stream.width = info.width
    stream.height = info.height
    stream.pix_fmt = fmt.pix_fmt
    stream.time_base = info.time_base
    ctx.time_base = info.time_base
    if info.avg_rate:
        ctx.framerate = info.avg_rate
    if info.sample_aspect_ratio:
        ctx.sample_aspect_ratio = info.sample_aspect_ratio
    ctx.thread_count = config.threads
    ctx.thread_type = "AUTO"
    ctx.color_range = 2 if fmt.full_range else 1
    ctx.colorspace = _MATRIX_ENUM[fmt.matrix]
    ctx.color_primaries = _PRIMARIES_ENUM[fmt.matrix]
    ctx.color_trc = _TRC_ENUM[fmt.matrix]
    if info.interlaced:
        ctx.field_order = output_field_order(info)
        x264_fields = config.codec == "libx264" and _x264_fields(info, fmt.chroma_shift)
        if x264_fields or config.codec == "prores":  # code the two fields of each frame
            ctx.flags |= av.codec.context.Flags.interlaced_dct
        if x264_fields:
            ctx.flags |= av.codec.context.Flags.interlaced_me
    if display_matrix is not None:
        stream.set_display_matrix(list(display_matrix))
    return stream


def _x264_fields(info: MediaInfo, chroma_shift: tuple[int, int]) -> bool:
    """Whether x264 can code ``info``'s frames interlaced: x264 wants the height divisible
    by 4 in 4:2:0 (each field's chroma is then whole), by 2 otherwise."""
    return info.interlaced and info.height % (2 << chroma_shift[1]) == 0


def output_field_order(info: MediaInfo) -> int:
    """The AVFieldOrder to write for interlaced ``info``: the source's, or top field first
    when it declares none."""
    return _FIELD_ORDER_ENUM.get(info.field_order, _FIELD_ORDER_ENUM["tt"])


class FieldFlags:
    """Flags frames as interlaced, top or bottom field first (FFmpeg's ``setfield`` filter,
    since PyAV cannot set a frame's flags), so that the encoder codes them interlaced and
    keeps the field dominance. One graph, built on the first frame; pts and time base kept.
    """

    def __init__(self, top_field_first: bool) -> None:
        self.mode = "tff" if top_field_first else "bff"
        self._graph: av.filter.Graph | None = None

    def _build(self, frame: av.VideoFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        tb = frame.time_base or Fraction(1, 90000)
        src = graph.add(
            "buffer",
            f"video_size={frame.width}x{frame.height}:pix_fmt={frame.format.name}"
            f":time_base={tb.numerator}/{tb.denominator}:pixel_aspect=1/1",
        )
        flags = graph.add("setfield", f"mode={self.mode}")
        sink = graph.add("buffersink")
        src.link_to(flags)
        flags.link_to(sink)
        graph.configure()
        return graph

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        """``frame`` flagged interlaced (one frame in, the same frame out)."""
        if self._graph is None:
            self._graph = self._build(frame)
        pts, time_base = frame.pts, frame.time_base
        self._graph.push(frame)
        out = self._graph.pull()
        out.pts, out.time_base = pts, time_base
        return out


def map_luma(luma: np.ndarray, src_bits: int, fmt: OutputFormat) -> np.ndarray:
    """Source luma code values → ``fmt``'s bit depth: unchanged when the depths agree; else
    shifted (limited range keeps 16/235 aligned) or scaled (full range keeps 0 and white)."""
    out_bits = fmt.bit_depth
    dtype = np.uint8 if out_bits <= 8 else np.uint16
    if src_bits == out_bits:
        return luma.astype(dtype, copy=False)
    if fmt.full_range:
        scale = ((1 << out_bits) - 1) / ((1 << src_bits) - 1)
        return np.rint(luma * scale).astype(dtype)
    if out_bits > src_bits:
        return (luma.astype(np.uint16) << (out_bits - src_bits)).astype(dtype)
    d = src_bits - out_bits
    return ((luma.astype(np.uint32) + (1 << (d - 1))) >> d).astype(dtype)


def build_frame(
    luma: np.ndarray,
    chroma: np.ndarray,
    fmt: OutputFormat,
    pts: int,
    time_base: Fraction,
    src_bits: int = 8,
) -> av.VideoFrame:
    """A frame of ``fmt`` from ``luma`` ``(H, W)`` and ``chroma`` ``(2, h, w)`` code values.

    ``luma`` (``src_bits`` bits) is written verbatim when the depths agree, else mapped by
    ``map_luma``; ``chroma`` must already be at the output's chroma size and bit depth.
    """
    height, width = luma.shape
    frame = av.VideoFrame(width, height, fmt.pix_fmt)
    dtype = np.uint8 if fmt.bit_depth <= 8 else np.uint16
    y = map_luma(luma, src_bits, fmt)
    for plane, data in zip(frame.planes, (y, chroma[0], chroma[1]), strict=True):
        itemsize = np.dtype(dtype).itemsize
        view = np.frombuffer(plane, dtype=dtype)
        view = view[: plane.line_size // itemsize * plane.height]
        view.reshape(plane.height, plane.line_size // itemsize)[:, : plane.width] = data
    frame.pts = pts
    frame.time_base = time_base
    frame.color_range = 2 if fmt.full_range else 1
    frame.colorspace = _MATRIX_ENUM[fmt.matrix]
    frame.color_primaries = _PRIMARIES_ENUM[fmt.matrix]
    frame.color_trc = _TRC_ENUM[fmt.matrix]
    return frame
