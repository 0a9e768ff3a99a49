"""Write a film as numbered image files (``-o 'out/reel_%06d.dpx'``), beside the video encoder.

A pattern output is FFmpeg's ``image2`` muxer with an image encoder: the pipeline hands it
frames as it would to a video encoder, and each one is written to its own file. The output:

- keeps the input sequence's numbering (frame *k* of the film is file ``start + k``);
- takes its format from the pattern's extension, and the input's bit depth where the format
  holds it: DPX 8/10/12/16 bits, TIFF and PNG 8/16 bits, EXR 32-bit float (through
  PyAV's ``exr`` encoder, linear light through the inverse sRGB curve), JPEG 8 bits (a
  deeper input gives a warning); always RGB, whatever the input (gray or RGB);
- appears frame by frame atomically (``atomic_writing``: each file is written as
  ``NAME.tmp`` and renamed), so a file at a frame's name is always complete;
- is resumable: ``prepare`` finds the frames an interrupted run of the same command left and
  returns where to go on; a small manifest beside the frames (``.PATTERN.filmcolor.json``,
  removed when the run finishes) records that run's input and settings.

FFmpeg's DPX writer has no film or TV header: a DPX output carries neither the scans' frame
rate nor their timecode (a warning says so when the input had them).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from ..atomic import atomic_output
from ..errors import MediaError, UsageError
from .encode import OutputFormat, choose_matrix
from .probe import MediaInfo
from .sequence import ImageSequence, frame_name

#: Extension → (FFmpeg encoder, pixel format by the input's bit depth: the first depth at
#: or above the input's, else the deepest).
FORMATS: dict[str, tuple[str, dict[int, str]]] = {
    ".dpx": ("dpx", {8: "rgb24", 10: "gbrp10le", 12: "gbrp12le", 16: "rgb48le"}),
    ".tif": ("tiff", {8: "rgb24", 16: "rgb48le"}),
    ".tiff": ("tiff", {8: "rgb24", 16: "rgb48le"}),
    ".png": ("png", {8: "rgb24", 16: "rgb48be"}),
    ".exr": ("exr", {32: "gbrpf32le"}),
    ".jpg": ("mjpeg", {8: "yuvj444p"}),
    ".jpeg": ("mjpeg", {8: "yuvj444p"}),
}

_MATRICES = {"bt709": Colorspace.ITU709, "bt601": Colorspace.ITU601, "bt2020": Colorspace.BT2020}


@dataclass(frozen=True, slots=True)
class PatternOutput:
    """Numbered image files written by a restore: frame index ``k`` (0-based, in the film)
    is the file numbered ``start + k``; the run writes from index ``first`` on."""

    pattern: Path
    start: int
    count: int
    codec: str
    pix_fmt: str
    #: Bits per sample of the files (32 for EXR's float).
    bit_depth: int
    first: int = 0

    def __str__(self) -> str:
        return str(self.pattern)

    def path(self, index: int) -> Path:
        """The file of frame ``index`` (0-based)."""
        return self.pattern.with_name(frame_name(self.pattern, self.start + index))

    @property
    def manifest(self) -> Path:
        """The record of an unfinished run, beside the frames."""
        return self.pattern.with_name(f".{self.pattern.name}.filmcolor.json")


def plan_output(
    dst: str | os.PathLike[str], source: ImageSequence, bit_depth: int
) -> tuple[PatternOutput, list[str]]:
    """The pattern output ``dst`` for the sequence ``source`` (whose luma has ``bit_depth``
    bits), and the warnings it deserves (bits or header data it cannot keep).

    ``dst`` is a pattern (``out/reel_%06d.dpx``) or a folder: the input's pattern in that
    folder. Raises ``UsageError`` for a format no image encoder here writes.
    """
    p = Path(dst)
    if p.is_dir():
        p = p / source.pattern.name
    ext = p.suffix.lower()
    if ext not in FORMATS:
        raise UsageError(
            f"{p}: write a sequence as .dpx, .tif, .png, .exr or .jpg files, or a film as "
            ".mov, .mkv or .mp4"
        )
    codec, by_depth = FORMATS[ext]
    if codec not in av.codecs_available:
        raise UsageError(
            f"{p}: this PyAV build has no {codec} encoder; write 16-bit .dpx or .tif instead"
        )
    depths = sorted(by_depth)
    depth = next((d for d in depths if d >= bit_depth), depths[-1])
    warnings = []
    if depth < bit_depth:
        warnings.append(f"{ext} keeps {depth} of the scans' {bit_depth} bits")
    if codec == "dpx" and (source.timecode or source.rate_source == "header"):
        kept = [w for w, v in (("timecode", source.timecode), ("frame rate", True)) if v]
        warnings.append(
            f"FFmpeg's DPX writer has no film/TV header: the scans' {' and '.join(kept)} "
            "are not written into the output files"
        )
    out = PatternOutput(p, source.start, source.count, codec, by_depth[depth], depth)
    return out, warnings


def output_format(info: MediaInfo, out: PatternOutput) -> OutputFormat:
    """The YCbCr layout the pipeline composes into for ``out``: 4:4:4, full range, 8 bits for
    8-bit files, else 16 (converted to the files' RGB as each frame is written)."""
    bits = 8 if out.bit_depth <= 8 else 16
    return OutputFormat(
        "yuv444p" if bits == 8 else "yuv444p16le", bits, (0, 0), True, choose_matrix(info)
    )


def prepare(out: PatternOutput, identity: dict[str, Any], overwrite: bool, resume: bool) -> int:
    """Check ``out`` against what is on disk and record this run; return the index of the
    first frame to write (``out.count`` when an interrupted run had written every frame).

    Frames left by an interrupted run of the same input and settings (``identity``) are
    kept and the run goes on after the last of them, unless ``resume`` is off.

    Raises:
        UsageError: the folder is missing, or frames exist that this run may not replace
            (not from an interrupted run of the same command, ``resume`` off, or frames
            after a missing one), without ``overwrite``.
    """
    folder = out.pattern.parent
    if not folder.is_dir():
        raise UsageError(f"{folder}: output folder does not exist; create it first")
    present = [k for k in range(out.count) if out.path(k).exists()]
    first = 0
    if present and not overwrite:
        recorded = _read_manifest(out.manifest)
        example = out.path(present[0]).name
        if recorded is None:
            raise UsageError(
                f"{out.pattern}: {len(present)} of the {out.count} frames exist ({example}…); "
                "pass --overwrite to replace them"
            )
        if not resume:
            raise UsageError(
                f"{out.pattern}: an interrupted run left {len(present)} frames; drop "
                "--no-resume to go on after them, or pass --overwrite to start over"
            )
        if recorded != identity:
            raise UsageError(
                f"{out.pattern}: an interrupted run with another input or other settings left "
                f"{len(present)} frames; run that command again to finish it, or pass "
                "--overwrite to start over"
            )
        first = next(k for k in range(out.count) if k >= len(present) or present[k] != k)
        if len(present) > first:
            raise UsageError(
                f"{out.path(present[-1])}: exists after the missing {out.path(first).name}; "
                "pass --overwrite to write every frame again"
            )
    stale = out.path(first).with_name(out.path(first).name + ".tmp")  # an interrupted write
    stale.unlink(missing_ok=True)
    with atomic_output(out.manifest, True) as tmp:
        tmp.write_text(json.dumps(identity, indent=1, default=str) + "\n")
    return first


def finish(out: PatternOutput) -> None:
    """Forget the run's manifest once every frame is written."""
    out.manifest.unlink(missing_ok=True)


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class PatternStream:
    """The video stream of a pattern output: takes the pipeline's YCbCr frames (of
    ``output_format``) and encodes each in the files' pixel format."""

    def __init__(
        self, stream: av.video.stream.VideoStream, out: PatternOutput, fmt: OutputFormat
    ) -> None:
        self.stream = stream
        self.out = out
        self.matrix = _MATRICES[fmt.matrix]

    def encode(self, frame: av.VideoFrame | None = None) -> list[av.Packet]:
        if frame is None:
            return list(self.stream.encode(None))
        return list(self.stream.encode(to_picture(frame, self.out, self.matrix)))


def to_picture(frame: av.VideoFrame, out: PatternOutput, matrix: Colorspace) -> av.VideoFrame:
    """A full-range 4:4:4 YCbCr frame of ``matrix`` → ``out``'s pixel format."""
    src = {"src_colorspace": matrix, "src_color_range": ColorRange.JPEG}
    if out.codec == "mjpeg":  # JPEG is BT.601 full range
        jpeg = {"dst_colorspace": Colorspace.ITU601, "dst_color_range": ColorRange.JPEG}
        pic = frame.reformat(format="yuvj444p", **jpeg, **src)
    elif out.codec == "exr":
        rgb = frame.reformat(format="rgb48le", dst_color_range=ColorRange.JPEG, **src)
        v = rgb.to_ndarray().astype(np.float32) / 65535  # (H, W, 3) sRGB-encoded
        linear = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
        pic = av.VideoFrame(frame.width, frame.height, "gbrpf32le")
        for plane, channel in zip(pic.planes, (1, 2, 0), strict=True):  # planes G, B, R
            view = np.frombuffer(plane, np.float32).reshape(plane.height, -1)
            view[:, : plane.width] = linear[..., channel]
    else:
        pic = frame.reformat(format=out.pix_fmt, dst_color_range=ColorRange.JPEG, **src)
    pic.pts = frame.pts
    pic.time_base = frame.time_base
    return pic


def open_pattern_output(
    out: PatternOutput, info: MediaInfo, fmt: OutputFormat
) -> tuple[av.container.OutputContainer, PatternStream]:
    """The image2 muxer writing ``out`` from frame ``out.first`` on, and its stream."""
    folder = str(out.pattern.parent.absolute()).replace("%", "%%")
    options = {"start_number": str(out.start + out.first), "atomic_writing": "1"}
    try:
        container = av.open(
            os.path.join(folder, out.pattern.name), "w", format="image2", options=options
        )
        stream = container.add_stream(out.codec)
    except (ValueError, av.error.FFmpegError) as exc:
        raise MediaError(f"{out.pattern}: cannot write {out.codec} files: {exc}") from exc
    stream.width = info.width
    stream.height = info.height
    stream.pix_fmt = out.pix_fmt
    stream.time_base = info.time_base
    stream.codec_context.time_base = info.time_base
    if out.codec == "mjpeg":
        stream.codec_context.qmin = stream.codec_context.qmax = 2  # about quality 95
    return container, PatternStream(stream, out, fmt)
