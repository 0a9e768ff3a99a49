"""Score files: two pictures, two videos, or two folders of either (``evaluate_paths``)."""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from ..errors import FilmcolorError, InputError
from ..media.kinds import is_image_path
from .image import SSIM_WINDOW, image_metrics, summarize
from .pairing import input_kind, pair_by_time, pair_folders
from .video import _WHO, FLOW_PRESET, VIDEO_METRIC_KEYS, TemporalMeter

if TYPE_CHECKING:
    from ..temporal.flow import Preset
    from .video import PreparedFrame

#: Memory the frames waiting between the worker threads may take (bytes, roughly).
_IN_FLIGHT_BYTES = 512 << 20
#: Bytes one frame pair takes while it waits (float32 RGB and Lab a, b of both).
_BYTES_PER_PIXEL = 40


@dataclass(frozen=True, slots=True)
class EvalProgress:
    """Reported after each paired video frame is scored (the fields of
    ``filmcolor.pipeline.Progress``, so one display shows either)."""

    #: The candidate video.
    path: str
    frames_done: int
    #: Frames expected (the fewer of the two files' declared counts), or None if unknown.
    frames_total: int | None
    fps: float
    #: True on the last call for this video.
    finished: bool = False


EvalProgressCallback = Callable[[EvalProgress], None]


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as upright ``(H, W, 3)`` RGB, uint8 or uint16 (EXIF orientation applied).

    Gray images come back with three equal channels; alpha is dropped. Raises ``InputError``
    for a missing, empty or unreadable file.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file; check the path")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty (0 bytes); was it copied completely?")
    img = cv2.imdecode(np.fromfile(str(p), np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if img is None:
        raise InputError(f"{p}: not an image OpenCV can read; is the file damaged?")
    if img.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{p}: {img.dtype} samples are not supported; save it as 8 or 16 bits")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _check_sizes(ref: np.ndarray, cand: np.ndarray, ref_path: Path, cand_path: Path) -> None:
    (h, w), (ch, cw) = ref.shape[:2], cand.shape[:2]
    if (h, w) != (ch, cw):
        raise InputError(
            f"{cand_path}: size {cw}x{ch} differs from the reference {ref_path} ({w}x{h}); "
            "scale the candidate to the reference size and evaluate again"
        )
    if min(h, w) < SSIM_WINDOW:
        raise InputError(
            f"{ref_path}: {w}x{h} is too small; SSIM needs at least "
            f"{SSIM_WINDOW}x{SSIM_WINDOW} pixels"
        )


def _evaluate_file_pair(ref: Path, cand: Path) -> dict[str, Any]:
    """Metrics of one pair of image files."""
    r, c = read_rgb(ref), read_rgb(cand)
    _check_sizes(r, c, ref, cand)
    return {"name": ref.stem, "reference": str(ref), "candidate": str(cand)} | image_metrics(r, c)


def _seconds(time: Fraction) -> str:
    return f"{float(time):.3f} s"


def _frames_declared(path: Path) -> int | None:
    """The frame count ``path`` declares (or its duration × rate), None if unknown or
    unreadable (the reader then says what is wrong)."""
    from ..media.probe import choose_video_stream, declared_duration, open_input

    try:
        with open_input(path) as container:
            stream = choose_video_stream(container)
            if stream.frames:
                return int(stream.frames)
            duration = declared_duration(container, stream)
            rate = stream.average_rate
            return max(1, round(duration * rate)) if duration and rate else None
    except FilmcolorError:
        return None


class _FrameScorer:
    """Scores frame pairs on worker threads, in a bounded window; results come back in frame
    order: the image metrics and prepared frames, then the warp step from the frame before."""

    IMAGE_KEYS = ("psnr", "ssim", "ssim_rgb", "colorfulness_candidate", "colorfulness_reference")
    WARP_KEYS = tuple(f"warp_error_{s}_{w}" for w in _WHO for s in ("rgb", "chroma"))

    def __init__(self, meter: TemporalMeter, threads: int, report: Callable[[int], None]) -> None:
        self.meter, self.threads, self.report = meter, threads, report
        self.pool = ThreadPoolExecutor(threads, "filmcolor-eval")
        self.per_frame: dict[str, list[float]] = {
            k: [] for k in ("time", *self.IMAGE_KEYS, *self.WARP_KEYS)
        }
        self.depth = 2  # frames waiting in each queue: the threads stay busy, memory capped
        self._prepared: deque[Future[tuple[dict[str, float], PreparedFrame]]] = deque()
        self._steps: deque[tuple[PreparedFrame, Future[dict[str, float] | None] | None]] = deque()
        self._prev: PreparedFrame | None = None

    def push(self, time: Fraction, ref: np.ndarray, cand: np.ndarray) -> None:
        if not self.per_frame["time"]:
            frame_bytes = _BYTES_PER_PIXEL * ref.shape[0] * ref.shape[1]
            self.depth = max(2, min(2 * self.threads, _IN_FLIGHT_BYTES // frame_bytes))
        self.per_frame["time"].append(float(time))
        self._prepared.append(self.pool.submit(self._prepare, ref, cand))
        while len(self._prepared) > self.depth:
            self._take_prepared()
        while len(self._steps) > self.depth:
            self._take_step()

    def finish(self) -> dict[str, list[float]]:
        while self._prepared:
            self._take_prepared()
        while self._steps:
            self._take_step()
        return self.per_frame

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _prepare(self, ref: np.ndarray, cand: np.ndarray) -> tuple[dict[str, float], PreparedFrame]:
        return image_metrics(ref, cand, np.float32), self.meter.prepare(ref, cand)

    def _take_prepared(self) -> None:
        metrics, frame = self._prepared.popleft().result()
        for key in self.IMAGE_KEYS:
            self.per_frame[key].append(metrics[key])
        prev, self._prev = self._prev, frame
        step = self.pool.submit(self.meter.warp_errors, prev, frame) if prev else None
        self._steps.append((frame, step))

    def _take_step(self) -> None:
        frame, step = self._steps.popleft()
        errors = step.result() if step is not None else None
        self.meter.add(frame, errors)
        for key in self.WARP_KEYS:
            self.per_frame[key].append(errors[key] if errors is not None else math.nan)
        self.report(len(self.per_frame["psnr"]) - len(self._steps))


def evaluate_videos(
    reference: str | os.PathLike[str],
    candidate: str | os.PathLike[str],
    *,
    flow_preset: Preset = FLOW_PRESET,
    workers: int | None = None,
    progress: EvalProgressCallback | None = None,
) -> dict[str, Any]:
    """Score a candidate video against its reference, frame pair by frame pair (streaming:
    a few frames in memory at a time, scored on ``workers`` threads, default the CPU count
    up to 4).

    Frames are paired by presentation time (see ``pair_by_time``) and converted to RGB with
    each stream's own matrix and range (``filmcolor.media.frames``). Returns ``name``,
    ``reference``, ``candidate``, ``count`` (paired frames), ``frames_reference`` and
    ``frames_candidate`` (decoded), ``unmatched_reference`` and ``unmatched_candidate``
    (counts), ``colour_reference`` / ``colour_candidate`` (how they were read), the means over
    paired frames of ``METRIC_KEYS``, ``TEMPORAL_KEYS`` for the candidate and
    ``reference_*`` for the reference, ``warp_pairs``, ``per_frame`` (lists, one entry per
    paired frame: ``time`` in seconds, ``psnr``, ``ssim``, ``ssim_rgb``,
    ``colorfulness_candidate``, ``colorfulness_reference``,
    ``warp_error_{rgb,chroma}_{candidate,reference}`` with ``nan`` for the first frame) and
    ``warnings``. ``progress`` is called after each paired frame, in order.

    Raises ``InputError`` (exit 3) for a missing or non-video file, different picture sizes,
    pictures under 11×11, or no frame time in common.
    """
    from ..media.frames import VideoReader

    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1; got {workers}")
    ref_path, cand_path = Path(reference), Path(candidate)
    ref_reader, cand_reader = VideoReader(ref_path), VideoReader(cand_path)
    unmatched: dict[str, list[Fraction]] = {"reference": [], "candidate": []}
    declared = [n for n in (_frames_declared(ref_path), _frames_declared(cand_path)) if n]
    expected = min(declared) if declared else None

    def tick() -> Fraction:
        return max(ref_reader.time_base, cand_reader.time_base)

    meter = TemporalMeter(flow_preset)
    started = time.monotonic()

    def report(done: int, total: int | None = expected, finished: bool = False) -> None:
        if progress is not None:
            fps = done / max(time.monotonic() - started, 1e-9)
            progress(EvalProgress(str(cand_path), done, total, fps, finished))

    scorer = _FrameScorer(meter, workers or min(os.cpu_count() or 1, 4), report)
    try:
        for r, c in pair_by_time(iter(ref_reader), iter(cand_reader), tick, unmatched):
            if not scorer.per_frame["time"]:
                _check_sizes(r.rgb, c.rgb, ref_path, cand_path)
            scorer.push(r.time, r.rgb, c.rgb)
        per_frame = scorer.finish()
    finally:
        scorer.close()
    count = len(per_frame["time"])
    warnings = [*ref_reader.warnings, *cand_reader.warnings]
    if count == 0:
        if ref_reader.frames and cand_reader.frames:
            raise InputError(
                f"{cand_path}: no frame has the presentation time of a frame of {ref_path}; "
                "compare files with the same timestamps (e.g. the restore output and its source)"
            )
        empty = ref_path if not ref_reader.frames else cand_path
        raise InputError(f"{empty}: no decodable video frame; is the file damaged?")
    report(count, count, finished=True)
    for who, path, other in (
        ("reference", ref_path, cand_path),
        ("candidate", cand_path, ref_path),
    ):
        times = unmatched[who]
        if times:
            warnings.append(
                f"{path}: {len(times)} frame(s) have no frame at the same time in {other} "
                f"(first at {_seconds(min(times))}); left out of the metrics"
            )
    cf_c = np.array(per_frame["colorfulness_candidate"])
    cf_r = np.array(per_frame["colorfulness_reference"])
    out: dict[str, Any] = {
        "name": ref_path.stem,
        "reference": str(ref_path),
        "candidate": str(cand_path),
        "count": count,
        "frames_reference": ref_reader.frames,
        "frames_candidate": cand_reader.frames,
        "unmatched_reference": len(unmatched["reference"]),
        "unmatched_candidate": len(unmatched["candidate"]),
        "colour_reference": ref_reader.colour.describe() if ref_reader.colour else None,
        "colour_candidate": cand_reader.colour.describe() if cand_reader.colour else None,
    }
    for key in _FrameScorer.IMAGE_KEYS:
        out[key] = float(np.mean(per_frame[key]))
    out["delta_colorfulness"] = float(np.mean(np.abs(cf_c - cf_r)))
    out |= meter.result()
    out["per_frame"] = per_frame
    out["warnings"] = warnings
    return out


def summarize_videos(per_video: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means over videos of ``VIDEO_METRIC_KEYS`` (each video counts once, as in TCVC's
    tables), ``count`` (videos), ``frames`` (paired frames in all) and ``per_video``."""
    out: dict[str, Any] = {"count": len(per_video), "frames": sum(v["count"] for v in per_video)}
    for key in VIDEO_METRIC_KEYS:
        values = [v[key] for v in per_video]
        out[key] = float(np.mean(values)) if values else math.nan
    out["per_video"] = list(per_video)
    return out


def evaluate_paths(
    reference: str | os.PathLike[str],
    candidate: str | os.PathLike[str],
    *,
    flow_preset: Preset = FLOW_PRESET,
    progress: EvalProgressCallback | None = None,
) -> dict[str, Any]:
    """Score CANDIDATE against REFERENCE: two images, two videos, or two folders of either.

    A file whose extension is not an image's (``filmcolor.media.kinds.is_image_path``) is
    read as a video. Two folders are paired by file stem; they are scored as videos when the
    reference folder holds a video file (by extension; the images are then not scored), else
    as images. ``progress`` follows each video (``evaluate_videos``).

    Returns ``kind`` (``image`` or ``video``), ``reference``, ``candidate``, ``unpaired``
    (files with no partner) and ``warnings`` (one-line messages), plus for images
    ``summarize``'s dict (``per_image``) and for videos ``summarize_videos``' dict
    (``per_video``, each from ``evaluate_videos``). Raises ``InputError`` (exit 3) for missing
    or unreadable files, a size mismatch, folders with no pair, or videos with no frame time in
    common; ``UsageError`` (exit 2) for a file paired with a folder or an image with a video.
    """
    ref, cand = Path(reference), Path(candidate)
    kind = input_kind(ref, cand)
    unpaired: list[str] = []
    warnings: list[str] = []
    if ref.is_dir():
        pairs, unpaired, warnings = pair_folders(ref, cand, kind)
        if kind == "video":
            skipped = sum(1 for p in ref.iterdir() if p.is_file() and is_image_path(p))
            if skipped:
                warnings.append(
                    f"{ref}: {skipped} image(s) not scored, the folder holds videos; "
                    "evaluate the images from a folder of their own"
                )
        if not pairs:
            raise InputError(
                f"{cand}: no {kind} has the same name as one in {ref}; nothing to pair"
            )
    else:
        pairs = [(ref, cand)]
    head: dict[str, Any] = {"kind": kind, "reference": str(ref), "candidate": str(cand)}
    if kind == "image":
        per_image = [_evaluate_file_pair(r, c) for r, c in pairs]
        body = summarize(per_image)
    else:
        per_video = []
        for r, c in pairs:
            video = evaluate_videos(r, c, flow_preset=flow_preset, progress=progress)
            warnings.extend(video["warnings"])
            per_video.append(video)
        body = summarize_videos(per_video)
    return head | body | {"unpaired": unpaired, "warnings": warnings}


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats (``inf`` PSNR, ``nan``) replaced by ``None`` for JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
