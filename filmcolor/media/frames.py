"""Decode a video to RGB pictures with exact presentation times (for metrics, not restoring).

``iter_rgb_frames(path)`` yields ``RGBFrame``s: ``(H, W, 3)`` uint8 RGB, full range, as stored
(the display rotation is not applied), with ``time = pts × time_base`` as an exact
``Fraction`` of seconds, so two files with different time bases can be paired exactly.

YCbCr → RGB honours each frame's tags, through swscale (PyAV ``to_ndarray(format="rgb24",
src_colorspace=..., src_color_range=...)``):

- matrix: the frame's ``colorspace`` tag (BT.601 for bt470bg/smpte170m, BT.709, BT.2020,
  SMPTE 240M, FCC); an untagged frame is read as **BT.601 below 720 lines and BT.709 from 720
  lines up** (the usual SD/HD convention; FFmpeg itself would always assume BT.601);
- range: the frame's ``color_range`` tag; untagged is full range for the ``yuvj*``, gray,
  palette and RGB pixel formats and limited ("tv") range for the others.

``VideoReader.colour`` says which matrix and range were used and whether they were assumed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from ..errors import InputError
from .probe import choose_video_stream, default_full_range, open_input

#: FFmpeg ``AVColorSpace`` values → (swscale matrix, the name reports use).
_MATRICES: dict[int, tuple[Colorspace, str]] = {
    1: (Colorspace.ITU709, "bt709"),
    4: (Colorspace.FCC, "fcc"),
    5: (Colorspace.ITU601, "bt601"),
    6: (Colorspace.ITU601, "bt601"),
    7: (Colorspace.SMPTE240M, "smpte240m"),
    9: (Colorspace.BT2020, "bt2020"),
    10: (Colorspace.BT2020, "bt2020"),
}

#: Pixel-format prefixes that are already RGB (no matrix involved).
_RGB_PREFIXES = ("rgb", "bgr", "gbr", "argb", "abgr", "rgba", "bgra", "0rgb", "rgb0", "pal8")


@dataclass(frozen=True, slots=True)
class RGBFrame:
    """One decoded picture: ``rgb`` is ``(H, W, 3)`` uint8 RGB in [0, 255] (full range);
    ``pts`` is in the stream's time base, ``time`` is ``pts × time_base`` in seconds."""

    pts: int
    time: Fraction
    rgb: np.ndarray


@dataclass(frozen=True, slots=True)
class Colour:
    """How a stream's pictures were turned into RGB."""

    #: ``bt601``, ``bt709``, ``bt2020``, ``smpte240m``, ``fcc``, or ``rgb``/``gray``.
    matrix: str
    full_range: bool
    #: True when the file did not say (tag missing) and the matrix or range was assumed.
    assumed: bool

    def describe(self) -> str:
        rng = "full" if self.full_range else "limited"
        return f"{self.matrix}, {rng} range" + (" (untagged: assumed)" if self.assumed else "")


def frame_colour(frame: av.VideoFrame) -> tuple[Colour, Colorspace | None, ColorRange]:
    """The matrix and range to convert ``frame`` with (see the module docstring)."""
    fmt = frame.format.name
    tag_range = int(frame.color_range or 0)
    if tag_range in (1, 2):
        full, range_assumed = tag_range == 2, False
    else:
        full, range_assumed = default_full_range(fmt), True
    swscale_range = ColorRange.JPEG if full else ColorRange.MPEG
    if fmt.startswith(_RGB_PREFIXES):
        return Colour("rgb", True, False), None, swscale_range
    if fmt.startswith(("gray", "ya")):
        return Colour("gray", full, range_assumed), None, swscale_range
    known = _MATRICES.get(int(frame.colorspace or 2))
    if known is not None:
        return Colour(known[1], full, range_assumed), known[0], swscale_range
    if frame.height >= 720:
        return Colour("bt709", full, True), Colorspace.ITU709, swscale_range
    return Colour("bt601", full, True), Colorspace.ITU601, swscale_range


@dataclass
class VideoReader:
    """Iterate the RGB frames of ``path``'s video stream (the first that is not cover art).

    Attributes fill in while iterating: ``colour`` (from the first frame), ``width`` and
    ``height``, ``time_base``, ``frames`` yielded, and ``warnings`` (one-line messages about
    damaged packets, frames without a timestamp, frames out of order; such frames are left
    out, nothing silently). Raises ``InputError`` for a missing, empty or non-media file,
    one without video, or a picture size that changes mid-stream.
    """

    path: Path
    colour: Colour | None = None
    width: int = 0
    height: int = 0
    time_base: Fraction = Fraction(1, 1)
    frames: int = 0
    warnings: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[RGBFrame]:
        with open_input(self.path) as container:
            stream = choose_video_stream(container)
            stream.thread_type = "AUTO"
            self.time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 1)
            last: int | None = None
            for frame in self._decoded(container, stream):
                pts = frame.pts if frame.pts is not None else frame.dts
                if pts is None:
                    self.warnings.append(
                        f"{self.path}: a frame has no timestamp; left out (it cannot be paired)"
                    )
                    continue
                if last is not None and pts <= last:
                    self.warnings.append(
                        f"{self.path}: frame at pts {pts} does not come after pts {last}; left out"
                    )
                    continue
                last = pts
                yield RGBFrame(pts=pts, time=pts * self.time_base, rgb=self._to_rgb(frame))

    def _decoded(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> Iterator[av.VideoFrame]:
        def decode(packet: av.Packet | None) -> list[av.VideoFrame]:
            try:
                return list(stream.codec_context.decode(packet))
            except av.error.InvalidDataError as exc:
                self.warnings.append(f"{self.path}: undecodable video packet skipped: {exc}")
                return []

        try:
            for packet in container.demux(stream):
                if packet.size:
                    yield from decode(packet)
        except av.error.FFmpegError as exc:
            self.warnings.append(f"{self.path}: ends early (truncated or damaged): {exc}")
        yield from decode(None)

    def _to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        if self.colour is None:
            self.width, self.height = frame.width, frame.height
        elif (frame.width, frame.height) != (self.width, self.height):
            raise InputError(
                f"{self.path}: the picture size changes from {self.width}x{self.height} to "
                f"{frame.width}x{frame.height}; cut the file there and compare the parts"
            )
        colour, matrix, rng = frame_colour(frame)
        if self.colour is None:
            self.colour = colour
        self.frames += 1
        if colour.matrix == "rgb" and frame.format.name == "rgb24":
            return frame.to_ndarray()
        return frame.to_ndarray(
            format="rgb24",
            src_colorspace=matrix,
            src_color_range=rng,
            dst_color_range=ColorRange.JPEG,
        )


def iter_rgb_frames(path: str | os.PathLike[str]) -> Iterator[RGBFrame]:
    """``RGBFrame``s of ``path``'s video in presentation order (see ``VideoReader``)."""
    yield from VideoReader(Path(path))
