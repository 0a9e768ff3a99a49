"""A contact sheet to judge settings before a full run (``filmcolor preview``).

The sheet (``preview_sheet``) is an RGB picture: a header strip naming the three columns
(``COLUMNS``), then one row per frame, each under a strip labelled with the frame's time
(or, for a still image, its file name):

1. **source**: the film's own luma as gray (R = G = B), no option applied;
2. **colorized**: the model's colour on the source luma, no post-processing;
3. **colorized + post**: the tone options applied to the luma before colorizing, then the
   colour options to the predicted colour, as ``restore`` does. Deflicker, denoise and
   deinterlace work across frames and are left out of a one-frame preview.

Every tile is ``tile_width`` pixels wide with the picture's display aspect ratio; columns are
``GAP`` pixels apart. So a sheet of R rows of tiles ``tile_shape(...)`` = (th, tw) measures
``HEADER_HEIGHT + R·(LABEL_HEIGHT + th)`` × ``3·tw + 2·GAP`` pixels (``sheet_shape``), and
``tile_box`` gives where each tile lies.

Video frames are found by seeking to the keyframe at or before TIME and decoding forward to
the first frame at or after TIME (the last frame when TIME falls within it). TIME counts
from the start of the video stream.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from .atomic import atomic_output
from .color import luma_to_unit
from .compose import luma_L, luma_tensor, rgb_picture
from .config import LimitsConfig, PostConfig, RestoreConfig
from .errors import InputError, MediaError, UsageError
from .media.decode import LumaReader
from .media.images import read_picture
from .media.kinds import is_image_path
from .media.probe import check_input_file, decoder_pixels, limit_decoder, open_input, probe
from .media.sequence import ImageSequence, find_sequence, is_pattern
from .model.colorizer import Colorizer, resize_L
from .post.adjust import adjust_chroma, adjust_luma

#: Column titles, left to right.
COLUMNS = ("source", "colorized", "colorized + post")
#: Default width of a tile, pixels.
TILE_WIDTH = 480
#: Height of the column-title strip at the top, and of the label strip above each row.
HEADER_HEIGHT = 32
LABEL_HEIGHT = 24
#: Space between columns, pixels.
GAP = 8
#: Frames shown for a video when no time is given: at 1/6, 3/6 and 5/6 of its length.
DEFAULT_FRAMES = 3
#: Sheet background (dark gray) and text colour (RGB).
BACKGROUND = 24
TEXT = (235, 235, 235)

_TIME_RE = re.compile(r"(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?|\.\d+)")
_TIME_USAGE = "give seconds (12.5) or [HH:]MM:SS[.mmm] (00:01:02.500, 1:02.5)"
_DEFAULT_MAX_PIXELS = LimitsConfig().max_pixels


@dataclass(frozen=True, slots=True)
class PreviewFrame:
    """One picture to show: ``luma`` ``(H, W)`` uint8, or uint16 above 8 bits, code values
    of ``bit_depth`` bits in full or limited range; ``time`` in seconds from the start of
    the video (None for a still image); ``label`` is the text above its row."""

    luma: np.ndarray
    bit_depth: int
    full_range: bool
    time: float | None
    label: str
    #: Pixel aspect ratio (width of a pixel / its height), for the tile's shape.
    pixel_aspect: float = 1.0


def parse_time(text: str) -> float:
    """``"12.5"``, ``"1:02.5"`` (MM:SS) or ``"00:01:02.500"`` (HH:MM:SS) → seconds ≥ 0.

    Raises ``ValueError`` (saying what is accepted) for anything else, and for minutes or
    seconds of 60 or more after a larger unit.
    """
    match = _TIME_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time; {_TIME_USAGE}")
    hours, minutes, seconds = match.groups()
    sec = float(seconds)
    if minutes is not None and sec >= 60:
        raise ValueError(f"{text!r}: seconds must be below 60 after the minutes; {_TIME_USAGE}")
    if hours is not None and int(minutes) >= 60:
        raise ValueError(f"{text!r}: minutes must be below 60 after the hours; {_TIME_USAGE}")
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + sec


def format_time(seconds: float) -> str:
    """Seconds → ``HH:MM:SS.mmm`` (milliseconds rounded)."""
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def default_times(duration: float, count: int = DEFAULT_FRAMES) -> list[float]:
    """``count`` evenly spaced times in [0, duration): the middles of equal parts."""
    return [duration * (2 * k + 1) / (2 * count) for k in range(count)]


def default_output_path(path: str | os.PathLike[str]) -> Path:
    """Where ``filmcolor preview`` writes by default: ``film.mkv`` → ``film-preview.png``,
    in the same folder; an image sequence's pattern ``scans/reel_%06d.dpx`` →
    ``scans/reel-preview.png``."""
    p = Path(path)
    stem = p.stem
    if is_pattern(p):
        stem = re.sub(r"%\d*d", "", stem).strip("_-. ") or "sequence"
    return p.with_name(f"{stem}-preview.png")


def tile_shape(
    height: int, width: int, tile_width: int = TILE_WIDTH, pixel_aspect: float = 1.0
) -> tuple[int, int]:
    """(th, tw) of a tile for a ``height`` × ``width`` picture: ``tw = tile_width`` and the
    display aspect ratio kept (``pixel_aspect`` = width / height of one pixel)."""
    return max(1, round(tile_width * height / (width * pixel_aspect))), tile_width


def sheet_shape(rows: int, tile: tuple[int, int]) -> tuple[int, int]:
    """(H, W) of a sheet of ``rows`` rows of ``tile`` = (th, tw) tiles."""
    th, tw = tile
    return HEADER_HEIGHT + rows * (LABEL_HEIGHT + th), len(COLUMNS) * tw + (len(COLUMNS) - 1) * GAP


def tile_box(row: int, col: int, tile: tuple[int, int]) -> tuple[slice, slice]:
    """(rows, columns) slices of the tile at ``row``, ``col`` (from 0) of a sheet."""
    th, tw = tile
    y0 = HEADER_HEIGHT + row * (LABEL_HEIGHT + th) + LABEL_HEIGHT
    x0 = col * (tw + GAP)
    return slice(y0, y0 + th), slice(x0, x0 + tw)


# --------------------------------------------------------------------------- reading


def _frame_at(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    target: int,
    first: int,
) -> av.VideoFrame | None:
    """The first frame with pts ≥ ``target`` (else the last frame before it): seek to the
    keyframe at or before ``target``, decode forward. Should a demuxer land after
    ``target``, decode again from ``first`` (the stream's start)."""
    for seek_to in dict.fromkeys((target, first)):
        container.seek(seek_to, stream=stream, backward=True, any_frame=False)
        last = None
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            if frame.pts >= target:
                if last is None and frame.pts > target and seek_to != first:
                    break  # landed after TIME: try again from the start
                return frame
            last = frame
        else:
            if last is not None:
                return last
    return None


def read_video_frames(
    path: str | os.PathLike[str] | ImageSequence,
    times: list[float] | None = None,
    max_pixels: int = _DEFAULT_MAX_PIXELS,
) -> list[PreviewFrame]:
    """The frames at ``times`` (seconds from the start; default ``default_times``) of a video.

    Raises ``UsageError`` for a time at or beyond the end (naming the duration),
    ``InputError``/``MediaError`` for files that cannot be read, ``InputError`` for frames
    larger than ``max_pixels`` (``LimitsConfig``).
    """
    p = path if isinstance(path, ImageSequence) else Path(path)
    info = probe(p, max_pixels)
    tb = info.time_base
    aspect = float(info.sample_aspect_ratio) if info.sample_aspect_ratio else 1.0
    read_luma = LumaReader(info.bit_depth)
    out = []
    with open_input(p) as container:
        stream = container.streams[info.video_index]
        stream.thread_type = "AUTO"
        limit_decoder(stream, decoder_pixels(info.width, info.height))
        first = stream.start_time if stream.start_time is not None else 0
        duration = info.duration
        if duration is not None and stream.duration is None and "matroska" in container.format.name:
            # Matroska declares where the video ends, not how long it lasts.
            duration = max(duration - float(first * tb), 0.0) or None
        if times is None:
            times = default_times(duration) if duration else [0.0]
        for t in times:
            if duration is not None and t >= duration:
                raise UsageError(
                    f"{p}: --at {format_time(t)} is beyond the end: the video lasts "
                    f"{duration:.3f} s ({format_time(duration)}); give an earlier time"
                )
        for t in times:
            target = first + math.ceil(Fraction(t) / tb - Fraction(1, 1000))
            try:
                frame = _frame_at(container, stream, target, first)
            except av.error.FFmpegError as exc:
                raise MediaError(f"{p}: cannot decode at {format_time(t)}: {exc}") from exc
            if frame is None:
                raise MediaError(f"{p}: no decodable frame near {format_time(t)}")
            shown = float((frame.pts - first) * tb)
            shown_for = max(float((frame.duration or 0) * tb), float(1 / (info.avg_rate or 25)))
            if t > shown + shown_for + 1e-6:  # the declared duration was too long
                raise UsageError(
                    f"{p}: --at {format_time(t)} is beyond the end of the video; the last "
                    f"frame is at {format_time(shown)}; give an earlier time"
                )
            out.append(
                PreviewFrame(
                    luma=read_luma(frame),
                    bit_depth=info.bit_depth,
                    full_range=info.full_range,
                    time=shown,
                    label=f"{format_time(shown)}  ({shown:.3f} s)",
                    pixel_aspect=aspect,
                )
            )
    return out


def read_frames(
    path: str | os.PathLike[str],
    times: list[float] | None = None,
    max_pixels: int = _DEFAULT_MAX_PIXELS,
) -> list[PreviewFrame]:
    """The pictures to preview: one for a still image (``times`` must be None), else the
    video frames at ``times`` (see ``read_video_frames``); none larger than ``max_pixels``.
    ``path`` may be an image sequence's pattern (``scans/reel_%06d.dpx``): its times count
    from the first scan at the sequence's frame rate (the DPX header's, else 24 fps)."""
    if is_pattern(path) and not Path(path).exists():
        return read_video_frames(find_sequence(path, max_pixels=max_pixels), times, max_pixels)
    p = check_input_file(path)
    if not is_image_path(p):
        return read_video_frames(p, times, max_pixels)
    if times:
        raise UsageError(f"{p}: is a still image, which has no times; drop --at")
    picture = read_picture(p, max_pixels)
    return [
        PreviewFrame(
            luma=picture.luma,
            bit_depth=picture.bit_depth,
            full_range=True,
            time=None,
            label=p.name,
        )
    ]


# --------------------------------------------------------------------------- the sheet


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    th, tw = size
    shrink = tw < img.shape[1] and th < img.shape[0]
    return cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _colorized(
    colorizer: Colorizer,
    y: np.ndarray,
    frame: PreviewFrame,
    post: PostConfig | None,
    tile: tuple[int, int],
) -> np.ndarray:
    """``(th, tw, 3)`` uint8 RGB: luma ``y`` colorized as ``restore`` does it (the colour
    operations of ``post`` on the render-size chroma, then the edge-aware upsampling),
    shown at tile size."""
    with torch.inference_mode():
        L = luma_L(luma_tensor(y, colorizer.device), frame.bit_depth, frame.full_range)
        L_low = colorizer.shrink(L)
        ab_low = colorizer.predict_low(L_low)
        if post is not None:
            ab_low = adjust_chroma(ab_low, post, L_low)
        L_tile = resize_L(L, tile)
        return rgb_picture(L_tile, colorizer.upsample(L_low, ab_low, L_tile), 8)[0]


def row_tiles(
    frame: PreviewFrame, colorizer: Colorizer, post: PostConfig, tile: tuple[int, int]
) -> list[np.ndarray]:
    """The three tiles of one row, each ``(th, tw, 3)`` uint8 RGB (see the module doc)."""
    y, bits, full = frame.luma, frame.bit_depth, frame.full_range
    unit = luma_to_unit(torch.from_numpy(y.astype(np.float32)), bits, full).numpy()
    gray = np.rint(np.clip(_resize(unit, tile), 0.0, 1.0) * 255).astype(np.uint8)
    source = np.repeat(gray[..., None], 3, axis=2)
    colorized = _colorized(colorizer, y, frame, None, tile)
    toned = adjust_luma(y, bits, full, post)
    return [source, colorized, _colorized(colorizer, toned, frame, post, tile)]


def _text(
    img: np.ndarray, text: str, x0: int, y0: int, width: int, height: int, center: bool
) -> None:
    """Draw ``text`` into the box (x0, y0, width, height) of ``img``, shrunk to fit."""
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, 1
    scale = 0.55
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    if tw > width - 8:
        scale *= (width - 8) / tw
        (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    x = x0 + ((width - tw) // 2 if center else 6)
    y = y0 + (height + th) // 2
    cv2.putText(img, text, (x, y), font, scale, TEXT, thickness, cv2.LINE_AA)


def compose_sheet(rows: list[tuple[str, list[np.ndarray]]], tile: tuple[int, int]) -> np.ndarray:
    """The sheet ``(H, W, 3)`` uint8 RGB of ``rows`` = (label, [three tiles]) (``sheet_shape``)."""
    tw = tile[1]
    sheet = np.full((*sheet_shape(len(rows), tile), 3), BACKGROUND, np.uint8)
    for col, title in enumerate(COLUMNS):
        _text(sheet, title, col * (tw + GAP), 0, tw, HEADER_HEIGHT, center=True)
    for r, (label, tiles) in enumerate(rows):
        ys, _ = tile_box(r, 0, tile)
        _text(sheet, label, 0, ys.start - LABEL_HEIGHT, sheet.shape[1], LABEL_HEIGHT, False)
        for c, img in enumerate(tiles):
            sheet[tile_box(r, c, tile)] = img
    return sheet


def preview_sheet(
    path: str | os.PathLike[str],
    times: list[float] | None,
    config: RestoreConfig,
    colorizer: Colorizer | None = None,
    *,
    tile_width: int = TILE_WIDTH,
) -> np.ndarray:
    """The preview sheet of a video (one row per time in ``times``, seconds from the start;
    None: ``DEFAULT_FRAMES`` evenly spaced) or a still image (one row; ``times`` None).

    Returns ``(H, W, 3)`` uint8 **RGB**, laid out as the module docstring says. Uses
    ``config.weights``, ``config.colorize`` and ``config.post`` (or ``colorizer``). Raises
    ``UsageError`` for times beyond the end, and the usual ``FilmcolorError``s for input,
    media and weights problems.
    """
    frames = read_frames(path, times, config.limits.max_pixels)
    if not frames:
        raise InputError(f"{path}: no frame to preview")
    colorizer = colorizer or Colorizer(config.weights, config.colorize)
    height, width = frames[0].luma.shape
    tile = tile_shape(height, width, tile_width, frames[0].pixel_aspect)
    rows = [(f.label, row_tiles(f, colorizer, config.post, tile)) for f in frames]
    return compose_sheet(rows, tile)


def write_sheet(path: str | os.PathLike[str], sheet: np.ndarray, overwrite: bool = False) -> None:
    """Write an RGB ``sheet`` as a PNG, atomically; ``UsageError`` if ``path`` exists and
    ``overwrite`` is False."""
    p = Path(path)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise MediaError(f"{p}: OpenCV could not encode the sheet as PNG")
    with atomic_output(p, overwrite) as tmp:
        buf.tofile(str(tmp))
