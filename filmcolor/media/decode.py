"""Stream the luma of a video with its pts; hand every other stream's packets through untouched.

The luma is read straight from the Y plane (``frame.planes[0]``, respecting ``line_size``):
no colour conversion, no scaling, the source bit depth kept (uint16 above 8 bits).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..config import LimitsConfig
from ..errors import MediaError, picture_too_large
from .probe import MediaInfo, decoder_pixels, limit_decoder

#: Pixel-format prefixes whose first plane is the luma (Y) at full resolution.
#: (p010/p016 are left out: their samples sit in the most significant bits.)
_Y_PLANE_PREFIXES = ("yuv", "yuvj", "gray", "nv12", "nv21", "nv16", "nv24", "nv42")


class FrameFilter(Protocol):
    """A filter between the decoder and the luma (``post.filters.FrameFilter`` builds one from
    the user's options): ``push(frame)`` returns the frames that came out, ``push(None)`` the
    rest at the end of the stream. Declared here so that decoding does not depend on ``post``."""

    def push(self, frame: av.VideoFrame | None) -> Sequence[av.VideoFrame]: ...


@dataclass(frozen=True, slots=True)
class LumaFrame:
    """One decoded picture: ``luma`` is ``(H, W)`` uint8, or uint16 above 8 bits, code values
    in the source's range; ``pts`` is in the source stream's time base."""

    pts: int
    luma: np.ndarray


@dataclass(frozen=True, slots=True)
class DecodeWindow:
    """A part of the video to decode, by pts in the stream's time base."""

    #: Seek here first (a keyframe's pts at or before ``from_pts``); None: from the start.
    seek_pts: int | None
    #: First frame to yield.
    from_pts: int
    #: Stop before this frame; None: to the end.
    until_pts: int | None


@dataclass(slots=True)
class DecodeStats:
    """What happened while decoding; filled in as the stream is read."""

    frames: int = 0
    packets_undecodable: int = 0
    frames_concealed: int = 0
    #: Frames left out because their pts did not increase (the muxer cannot take them).
    frames_dropped: int = 0
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)


def plane_to_array(
    plane: av.video.plane.VideoPlane, height: int, width: int, bits: int
) -> np.ndarray:
    """Copy a frame plane to a contiguous ``(height, width)`` array (uint8, or uint16 > 8 bits)."""
    dtype = np.uint8 if bits <= 8 else np.uint16
    itemsize = np.dtype(dtype).itemsize
    flat = np.frombuffer(plane, dtype=dtype)
    rows = flat[: plane.line_size // itemsize * height].reshape(height, plane.line_size // itemsize)
    return np.ascontiguousarray(rows[:, :width])


def has_y_plane(pix_fmt: str) -> bool:
    """Whether the first plane of ``pix_fmt`` is full-resolution luma we can read as is."""
    return pix_fmt.startswith(_Y_PLANE_PREFIXES) and not pix_fmt.endswith("be")


#: Deep (9–16-bit and float) RGB formats (film scans: DPX, TIFF, PNG, EXR) whose luma is
#: computed here: swscale's RGB → gray16 is off by up to 0.4 % (60000 → 60233), its gray10
#: by 3 code values.
_DEEP_RGB_PREFIXES = ("rgb48", "bgr48", "rgba64", "bgra64", "gbrp", "gbrap")
#: BT.601 luma weights in 1/65536 (summing to 65536), those swscale uses for RGB → gray.
_BT601_WEIGHTS = np.array([19595, 38470, 7471], np.uint32)


def rgb_luma(frame: av.VideoFrame, bit_depth: int) -> np.ndarray:
    """``(H, W)`` uint16 luma (BT.601 weights, as swscale's, without its rounding error) of
    ``bit_depth`` bits (9–16) of a deep RGB frame (floats clipped to 0–1)."""
    rgb = frame.to_ndarray(format="rgb48le").astype(np.uint32)  # (H, W, 3), exact for 16 bits
    y = (rgb @ _BT601_WEIGHTS + 32768) >> 16
    if bit_depth < 16:
        top = (1 << bit_depth) - 1
        y = (y * top + 32767) // 65535
    return y.astype(np.uint16)


class LumaReader:
    """Turns decoded frames into luma arrays of ``bit_depth`` bits (uint8, or uint16 above 8).

    Sources without a plain Y plane (RGB, palette, big-endian, MSB-aligned formats) are
    converted to gray of the same bit depth through one reused swscale context; deep RGB
    (9–16 bits, float) through ``rgb_luma``.
    """

    def __init__(self, bit_depth: int) -> None:
        self.bit_depth = bit_depth
        self.bits = 8 if bit_depth <= 8 else 16
        self._gray = "gray" if bit_depth <= 8 else f"gray{bit_depth}le"
        self._reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        fmt = frame.format.name
        if has_y_plane(fmt) and frame.format.components[0].bits == self.bit_depth:
            return plane_to_array(frame.planes[0], frame.height, frame.width, self.bits)
        if self.bit_depth > 8 and fmt.startswith(_DEEP_RGB_PREFIXES):
            return rgb_luma(frame, self.bit_depth)
        gray = self._reformatter.reformat(frame, format=self._gray)
        return plane_to_array(gray.planes[0], gray.height, gray.width, self.bits)


def iter_media(
    container: av.container.InputContainer,
    info: MediaInfo,
    stats: DecodeStats,
    *,
    copy_streams: Collection[int] = (),
    frame_filter: FrameFilter | None = None,
    window: DecodeWindow | None = None,
    max_pixels: int = LimitsConfig().max_pixels,
) -> Iterator[LumaFrame | av.Packet]:
    """Demux ``container`` once, yielding the video's ``LumaFrame``s and the packets of the
    streams listed in ``copy_streams``, in file order.

    ``frame_filter`` (deinterlace, grain reduction; one frame out per frame in, same pts)
    runs on the decoded frames before their luma is read. ``window`` decodes a part only
    (a segment): it seeks, then yields the frames from ``window.from_pts`` up to, not
    including, ``window.until_pts``.

    Corrupt packets are skipped with a warning and counted in ``stats``; a file that ends
    early stops the stream with a warning. Nothing is dropped silently. The decoder may not
    allocate pictures much larger than ``info``'s (``probe.decoder_pixels``): frames that
    grow past the ``max_pixels`` limit (``LimitsConfig``) are an ``InputError``, a size that
    changes otherwise a ``MediaError``.
    """
    video = container.streams[info.video_index]
    video.thread_type = "AUTO"
    limit_decoder(video, decoder_pixels(info.width, info.height))
    streams = [video, *(s for s in container.streams if s.index in copy_streams)]
    read_luma = LumaReader(info.bit_depth)
    last_pts: int | None = None  # of the last frame passed on
    held: tuple[int, av.VideoFrame] | None = None  # the newest frame, waiting for the next
    ended = False  # the window's end was reached

    def emit(pts: int, frame: av.VideoFrame) -> Iterator[LumaFrame]:
        nonlocal last_pts
        if frame.is_corrupt:
            stats.frames_concealed += 1
        last_pts = pts
        stats.frames += 1
        if frame_filter is None:
            yield LumaFrame(pts=pts, luma=read_luma(frame))
            return
        frame.pts = pts
        for out in frame_filter.push(frame):
            yield LumaFrame(pts=out.pts, luma=read_luma(out))

    def take(pts: int, frame: av.VideoFrame) -> Iterator[LumaFrame]:
        """Pass frames on one late. A frame whose pts does not come after the one before is
        left out; so is one whose pts jumps ahead of the next frame while the next still
        comes after the frame before (a damaged timestamp): kept, it would push every
        frame after it out."""
        nonlocal held
        before = held[0] if held is not None else last_pts
        if before is not None and pts <= before:
            stats.frames_dropped += 1
            if held is not None and pts < before and (last_pts is None or pts > last_pts):
                stats.warnings.append(
                    f"frame at pts {before} jumps ahead of the frames around it (pts {pts} "
                    "comes next): left out"
                )
                held = (pts, frame)
            else:
                stats.warnings.append(
                    f"frame at pts {pts} does not come after pts {before}: left out"
                )
            return
        if held is not None:
            yield from emit(*held)
        held = (pts, frame)

    def release() -> Iterator[LumaFrame]:
        """The frame ``take`` still holds (at the end of the stream or of the window)."""
        nonlocal held
        if held is not None:
            frame, held = held, None
            yield from emit(*frame)

    def frames_of(packet: av.Packet | None) -> Iterator[LumaFrame]:
        nonlocal ended
        try:
            frames = video.codec_context.decode(packet)
        except av.error.InvalidDataError as exc:
            ctx = video.codec_context
            if ctx.width * ctx.height > decoder_pixels(info.width, info.height):
                # the decoder refused to allocate the larger pictures (``limit_decoder``)
                if ctx.width * ctx.height > max_pixels:
                    raise picture_too_large(
                        info.path, "video", ctx.width, ctx.height, max_pixels
                    ) from None
                raise MediaError(
                    f"{info.path}: the picture size changes from {info.width}x{info.height} "
                    f"to {ctx.width}x{ctx.height}; cut the file there and restore the parts"
                ) from None
            stats.packets_undecodable += 1
            where = f" at pts {packet.pts}" if packet is not None and packet.pts is not None else ""
            stats.warnings.append(f"undecodable video packet{where}: {exc.strerror}")
            return
        for frame in frames:
            pts = frame.pts if frame.pts is not None else frame.dts
            if pts is None:
                # Raw or broken streams: continue the timeline rather than invent a rate.
                newest = held[0] if held is not None else last_pts
                pts = 0 if newest is None else newest + max(int(frame.duration or 1), 1)
            if window is not None:
                if window.until_pts is not None and pts >= window.until_pts:
                    ended = True
                    yield from release()
                    return
                if pts < window.from_pts:
                    continue  # decoded only to reach the window (from the keyframe before it)
            if (frame.width, frame.height) != (info.width, info.height):
                if frame.width * frame.height > max_pixels:
                    raise picture_too_large(
                        info.path, "video", frame.width, frame.height, max_pixels
                    )
                raise MediaError(
                    f"{info.path}: the picture size changes from {info.width}x{info.height} "
                    f"to {frame.width}x{frame.height} at pts {pts}; cut the file there and "
                    "restore the parts"
                )
            yield from take(pts, frame)

    if window is not None and window.seek_pts is not None:
        container.seek(window.seek_pts, stream=video, backward=True, any_frame=False)
    try:
        for packet in container.demux(streams):
            if packet.stream.index == info.video_index:
                if packet.size == 0:
                    continue  # end-of-stream marker; the decoder is flushed below
                yield from frames_of(packet)
                if ended:
                    return
            elif packet.size > 0:
                yield packet
    except av.error.FFmpegError as exc:
        stats.truncated = True
        stats.warnings.append(f"input ends early (truncated or damaged): {exc}")
    yield from frames_of(None)
    yield from release()
    if window is not None and window.until_pts is not None:
        return  # a middle part: the length check below is for the file's real end
    if frame_filter is not None:
        for out in frame_filter.push(None):
            yield LumaFrame(pts=out.pts, luma=read_luma(out))
    if not stats.truncated and last_pts is not None and info.duration:
        # Some containers (Matroska) end quietly when cut: compare with the declared length.
        rate = info.avg_rate or Fraction(25)
        end = float(last_pts * info.time_base + 1 / rate)
        if end < info.duration - max(0.5, float(3 / rate)):
            stats.truncated = True
            stats.warnings.append(
                f"input ends early: video stops at {end:.2f} s of the {info.duration:.2f} s "
                "the file declares (truncated?)"
            )
