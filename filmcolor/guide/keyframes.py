"""``filmcolor keyframes``: one gray picture per shot, named by its time, to colour by hand.

The shots are found as ``restore`` finds them: the luma as Lab L at the render size the
model would see, fed to the same ``CutDetector`` with the same settings as the temporal
stage (``ChromaSmoother.plan``). Tone options and filters are not applied here, so a
``restore`` with ``--denoise``/``--deflicker``/``--deinterlace`` may see slightly different
cuts; references are anchored by time, not by shot, so they still land on their frames.

Each picture is the frame's own luma as a full-range gray PNG: 8 bits for 8-bit sources,
16 bits above (limited-range code values are expanded to full range), in the decoded
picture's orientation and pixel grid (no display rotation, no aspect-ratio scaling: the
references must line up with the frames the model sees). Its name is
``format_timecode(pts × time_base) + ".png"``, so ``load_references`` on the folder gives
each picture the time of its frame. ``keyframes.json`` beside them lists time, pts, frame
number and file of each.

Memory stays flat: with ``pick="sharpest"`` only the best frame of the current shot so far is
kept (sharpness: the variance of the Laplacian of the luma).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch

from ..atomic import atomic_output
from ..color import luma_range
from ..compose import luma_L, luma_tensor
from ..config import ColorizeConfig, LimitsConfig, TemporalConfig
from ..errors import FilmcolorError, InputError, MediaError, UsageError
from ..jsonfile import read_json
from ..media.decode import DecodeStats, LumaFrame, iter_media
from ..media.kinds import is_image_path
from ..media.probe import MediaInfo, open_input, probe
from ..media.sequence import find_sequence, is_pattern
from ..model.colorizer import render_shape, resize_L
from ..temporal.cuts import CutDetector
from .sources import format_timecode, parse_timecode

#: The list written beside the pictures.
MANIFEST = "keyframes.json"

Pick = Literal["first", "sharpest"]

_DEFAULT_RENDER_SIZE = ColorizeConfig().render_size


@dataclass(frozen=True, slots=True)
class KeyframeInfo:
    """One exported picture."""

    #: Seconds on the film's timeline: the frame's ``pts × time_base``, exact.
    time: Fraction
    #: The frame's pts, in the video stream's time base.
    pts: int
    #: Frame number in decode order of the video stream (0-based).
    frame: int
    #: Shot number (0-based).
    shot: int
    #: The PNG written.
    path: Path
    #: Variance of the Laplacian of the luma in [0, 1] units (``pick="sharpest"``), else None.
    sharpness: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": format_timecode(self.time, sep=":"),
            "seconds": float(self.time),
            "pts": self.pts,
            "frame": self.frame,
            "shot": self.shot,
            "file": self.path.name,
            "sharpness": self.sharpness,
        }


@dataclass(frozen=True, slots=True)
class KeyframeProgress:
    """Reported to the progress callback as frames are read (same fields as
    ``pipeline.Progress``, so the CLI's display takes either)."""

    path: str
    frames_done: int
    frames_total: int | None
    fps: float
    finished: bool = False


def full_range_gray(luma: np.ndarray, bit_depth: int, full_range: bool) -> np.ndarray:
    """``(H, W)`` luma code values → ``(H, W)`` full-range gray: uint8 for ``bit_depth`` ≤ 8,
    else uint16 over 0–65535. Limited range (16–235 at 8 bits) is stretched to full."""
    lo, hi = luma_range(bit_depth, full_range)
    top = 255 if bit_depth <= 8 else 65535
    if bit_depth <= 8 and full_range:
        return np.ascontiguousarray(luma, dtype=np.uint8)
    unit = (luma.astype(np.float32) - lo) / (hi - lo)
    out = np.clip(unit * top + 0.5, 0, top)
    return out.astype(np.uint8 if top == 255 else np.uint16)


def sharpness(luma: np.ndarray, bit_depth: int) -> float:
    """Variance of the Laplacian of ``(H, W)`` luma, with code values scaled to [0, 1]."""
    unit = luma.astype(np.float32) / float((1 << bit_depth) - 1)
    return float(cv2.Laplacian(unit, cv2.CV_32F).var())


def _write_png(path: Path, gray: np.ndarray, overwrite: bool) -> None:
    # A one-channel PNG (media/images.write_picture writes colour only); cv2 is the image
    # library there too.
    ok, buf = cv2.imencode(".png", gray)
    if not ok:
        raise MediaError(f"{path}: OpenCV could not encode the PNG")
    with atomic_output(path, overwrite) as tmp:
        buf.tofile(str(tmp))


def _previous_files(out_dir: Path) -> list[Path]:
    """What an earlier export left in ``out_dir``: its manifest and timecode-named PNGs."""
    return sorted(
        p
        for p in out_dir.iterdir()
        if p.name == MANIFEST or (p.suffix.lower() == ".png" and parse_timecode(p.stem) is not None)
    )


def _exported_by_manifest(out_dir: Path) -> set[Path]:
    """The pictures the earlier export's ``keyframes.json`` lists: the only files an export
    with ``overwrite`` may delete when their shot no longer exists (a picture with a timecode
    name that filmcolor did not write is left alone)."""
    try:
        names = {str(k["file"]) for k in read_manifest(out_dir)["keyframes"]}
    except (FilmcolorError, OSError, KeyError, TypeError):
        return set()  # none, or not one filmcolor wrote: nothing of it is deleted
    return {p for p in _previous_files(out_dir) if p.name in names and p.name != MANIFEST}


def _frames_total(info: MediaInfo) -> int | None:
    if info.frame_count:
        return info.frame_count
    if info.duration and info.avg_rate:
        return max(1, round(info.duration * info.avg_rate))
    return None


def export_keyframes(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    pick: Pick = "first",
    overwrite: bool = False,
    progress: Callable[[KeyframeProgress], None] | None = None,
    render_size: int = _DEFAULT_RENDER_SIZE,
    temporal: TemporalConfig | None = None,
    max_pixels: int = LimitsConfig().max_pixels,
) -> list[KeyframeInfo]:
    """Write one gray PNG per shot of the video ``src`` (or image sequence: a pattern such
    as ``scans/reel_%06d.dpx``) into ``out_dir`` (see the module docstring) and
    ``keyframes.json``; return what was written, in time order.

    Args:
        pick: ``first``: each shot's first frame; ``sharpest``: its frame with the largest
            variance of the Laplacian.
        overwrite: replace an earlier export in ``out_dir`` (its timecode-named PNGs, which
            may be coloured ones, and ``keyframes.json``); without it such files are a
            ``UsageError``.
        render_size, temporal: the ``restore`` settings whose shots to find (render size of
            the model; cut threshold and ratio).
        max_pixels: the largest frame (width × height) read (``LimitsConfig``).
    Raises:
        InputError: ``src`` missing or not a video, or its frames larger than ``max_pixels``.
        UsageError: ``out_dir`` is a file or holds an earlier export. MediaError: nothing
        decodable.
    """
    out_p = Path(out_dir)
    if pick not in ("first", "sharpest"):
        raise UsageError(f"pick must be 'first' or 'sharpest', not {pick!r}")
    # an image sequence's pattern (scans/reel_%06d.dpx) is one film; its timecodes count
    # from the first scan, as a restore of it reads them
    sequence = is_pattern(src) and not Path(src).exists()
    src_p = find_sequence(src, max_pixels=max_pixels) if sequence else Path(src)
    if isinstance(src_p, Path) and is_image_path(src_p):
        raise UsageError(f"{src_p}: is an image; keyframes takes a video (colour the image)")
    temporal = temporal or TemporalConfig()
    info = probe(src_p, max_pixels)
    if out_p.exists() and not out_p.is_dir():
        raise UsageError(f"{out_p}: is a file; give a folder for the keyframes")
    out_p.mkdir(parents=True, exist_ok=True)
    previous = _previous_files(out_p)
    if previous and not overwrite:
        raise UsageError(
            f"{out_p}: holds keyframes of an earlier export ({previous[0].name}); pass "
            "--overwrite to replace them, or choose another folder"
        )
    stale = _exported_by_manifest(out_p)

    shape = render_shape(info.height, info.width, render_size)
    detector = CutDetector(temporal.cut_threshold, temporal.cut_ratio)
    written: list[KeyframeInfo] = []
    best: tuple[float, int, LumaFrame] | None = None  # (sharpness, frame number, frame)
    shot = -1
    total = _frames_total(info)
    t_start, last_report = time.monotonic(), 0.0

    def emit(frame: LumaFrame, index: int, score: float | None) -> None:
        t = frame.pts * info.time_base
        path = out_p / f"{format_timecode(t)}.png"
        if path in {k.path for k in written}:
            raise MediaError(
                f"{src_p}: two shots start within a millisecond at {format_timecode(t)}; "
                "the timestamps are broken"
            )
        _write_png(path, full_range_gray(frame.luma, info.bit_depth, info.full_range), overwrite)
        stale.discard(path)
        written.append(KeyframeInfo(t, frame.pts, index, shot, path, score))

    def report(done: int, finished: bool = False) -> None:
        if progress is not None:
            elapsed = max(time.monotonic() - t_start, 1e-9)
            progress(KeyframeProgress(str(src_p), done, total, done / elapsed, finished))

    stats = DecodeStats()
    index = -1
    with open_input(src_p) as container:
        for item in iter_media(container, info, stats, max_pixels=max_pixels):
            if not isinstance(item, LumaFrame):
                continue
            index += 1
            with torch.inference_mode():
                L = luma_L(
                    luma_tensor(item.luma, torch.device("cpu")), info.bit_depth, info.full_range
                )
                L_low = resize_L(L, shape)[0, 0].numpy()
            cut = detector.update(L_low)  # never True on the first frame
            if index == 0 or cut:
                if best is not None:
                    emit(best[2], best[1], best[0])
                    best = None
                shot += 1
                if pick == "first":
                    emit(item, index, None)
            if pick == "sharpest":
                score = sharpness(item.luma, info.bit_depth)
                if best is None or score > best[0]:
                    best = (score, index, item)
            now = time.monotonic()
            if now - last_report >= 0.5:
                last_report = now
                report(index + 1)
    if best is not None:
        emit(best[2], best[1], best[0])
    if index < 0:
        raise MediaError(f"{src_p}: no video frame could be decoded; the file is damaged")
    for path in stale:  # an earlier export's pictures of shots that no longer exist
        path.unlink(missing_ok=True)
    manifest = {
        "source": str(src_p),
        "time_base": str(info.time_base),
        "pick": pick,
        "frames": index + 1,
        "keyframes": [k.to_dict() for k in written],
    }
    with atomic_output(out_p / MANIFEST, True) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    report(index + 1, finished=True)
    return written


def read_manifest(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``keyframes.json`` of an export folder. ``InputError`` when there is none,
    ``UsageError`` when it is not JSON or nested too deeply (``filmcolor.jsonfile``)."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise InputError(f"{path}: no such file; export keyframes with 'filmcolor keyframes'")
    data = read_json(path)
    if not isinstance(data, dict):
        raise UsageError(f"{path}: not a keyframes.json written by 'filmcolor keyframes'")
    return data
