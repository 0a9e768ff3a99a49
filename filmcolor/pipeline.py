"""One pass over one video: decode → colorize → compose → encode, on threads with bounded
queues (``restore_video``). ``filmcolor.facade`` chooses when to run it.

Video flow (one pass over the input):

- a decode thread demuxes the input once: luma frames of the colorized stream, and the
  packets of every other stream, in file order, into a bounded queue;
- the calling thread batches frames and runs each batch through a list of stages of one
  shape (``filmcolor.stage``): model, smoother, guide, colour, compose to Cb/Cr (torch
  releases the GIL, so decoding and encoding overlap with it);
- an encode thread encodes the video and muxes it with the copied packets.

Copied packets travel in file order with the frames, so the muxer interleaves by itself and
memory stays bounded by the queues and the encoder's look-ahead, whatever the film's length.
Output goes to a temporary file beside OUTPUT and is renamed only when complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from .atomic import atomic_output, check_output_path, new_temp
from .compose import ComposeStage, LumaStage, chroma_size, luma_L, luma_tensor
from .config import PostConfig, RestoreConfig
from .errors import FilmcolorError, MediaError, UsageError
from .fields import FieldSplit, FieldWeave, FirstFields, split_fields
from .media.decode import DecodeStats, DecodeWindow, LumaFrame, iter_media
from .media.encode import (
    FieldFlags,
    OutputFormat,
    aspect_warning,
    build_frame,
    choose_output_format,
    configure_video_stream,
)
from .media.pattern import PatternOutput, open_pattern_output, output_format
from .media.probe import INTERLACED_ORDERS, MediaInfo, open_input, probe
from .media.remux import CopiedStream, add_copied_streams, copy_container_tags, dropped_packets
from .media.sequence import ImageSequence
from .model.colorizer import Colorizer, resize_L
from .model.stage import ModelStage, UpsampleStage
from .post.adjust import Deflicker, adjust_luma, tone_is_identity
from .post.filters import FrameFilter, filter_chain, retiming
from .post.stage import PostStage
from .report import Progress, ProgressCallback, RestoreReport
from .stage import FrameBatch, Stage, flush_stages, run_stages
from .temporal.cuts import CutDetector
from .temporal.smooth import ChromaSmoother
from .temporal.stage import TemporalStage

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .guide.stage import GuideStage
    from .post.filters import Retiming

log = logging.getLogger(__name__)


class LumaTone:
    """The tone operations on each frame's luma, in stream order (decode thread): per-frame
    contrast, gamma, CLAHE and sharpening, then the deflicker, which forgets its history at
    shot cuts (so a cut to a darker scene is not "corrected")."""

    def __init__(self, post: PostConfig, info: MediaInfo) -> None:
        self.post = post
        self.bits = info.bit_depth
        self.full_range = info.full_range
        self.deflicker = Deflicker(post) if post.deflicker > 0 else None
        self.cuts = CutDetector() if self.deflicker is not None else None

    def __call__(self, frame: LumaFrame) -> LumaFrame:
        y = adjust_luma(frame.luma, self.bits, self.full_range, self.post)
        if self.deflicker is not None and self.cuts is not None:
            top = (1 << self.bits) - 1
            if self.cuts.update(y[::4, ::4].astype(np.float32) * (100 / top)):
                self.deflicker.reset()
            y = self.deflicker(y, self.bits, self.full_range)
        return LumaFrame(frame.pts, y)


@dataclass(slots=True)
class TemporalSummary:
    """What the temporal stage did to one video."""

    #: pts of the frames that start a shot (detected cuts), in the stream's time base.
    cuts: list[int] = field(default_factory=list)
    #: Frames the model colorized (the others were carried by flow, with keyframes on).
    frames_model: int = 0

    def add(self, batch: FrameBatch) -> None:
        """Count a batch that went through every stage."""
        if batch.plans is None:
            self.frames_model += len(batch.frames)
            return
        self.cuts.extend(f.pts for f, p in zip(batch.frames, batch.plans, strict=True) if p.cut)
        self.frames_model += sum(p.run_model for p in batch.plans)


class _End:
    """Marks the end of a queue's stream; carries the producer's exception, if any."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _get(q: queue.Queue[Any], stop: threading.Event) -> Any:
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set():
                return _End()


def restore_video(
    src: Path | ImageSequence,
    dst: Path | PatternOutput,
    config: RestoreConfig,
    progress: ProgressCallback | None = None,
    *,
    colorizer: Colorizer | None = None,
    window: DecodeWindow | None = None,
    output_from_pts: int | None = None,
    first_index: int = 0,
    parts: list[tuple[int | None, Path]] | None = None,
    on_part: Callable[[int, Path, int], None] | None = None,
) -> RestoreReport:
    """Colorize one video: same frames, same pts, every other stream copied.

    A part of the film (a segment, see ``filmcolor.segments``): ``window`` is what to
    decode, frames before ``output_from_pts`` only warm the temporal stage and are not
    written, ``first_index`` is the frame number of the window's first frame; the output
    then holds the colorized video alone. ``parts`` (consecutive segments in one pass: each
    part's exclusive end pts and its file, the last one being ``dst``) rotates the output at
    each end: a part is closed, renamed into place and reported to ``on_part(number, path,
    frames)`` as soon as its last frame is written, while decoding, the model and the
    temporal state run on without a break.

    ``src`` may be an image sequence (read through the image2 demuxer like any video), and
    ``dst`` numbered image files (``media.pattern``: checked and resumed by the caller,
    written from ``dst.first`` on, each file complete or absent).
    """
    t_start = time.perf_counter()
    pattern = dst if isinstance(dst, PatternOutput) else None
    if pattern is None:
        check_output_path(dst, config.overwrite)
    src_info = probe(src, config.limits.max_pixels)
    retime = retiming(config.post, src_info.time_base, src_info.avg_rate)
    # ``info`` describes the video as written: the source's, or re-timed by the filters
    info = src_info
    if retime is not None:
        info = dataclasses.replace(
            src_info, time_base=retime.time_base, avg_rate=retime.rate, frame_count=None
        )
    if info.interlaced and (config.post.deinterlace != "off" or config.post.ivtc):
        info = dataclasses.replace(info, interlaced=False, field_order="progressive")
    colorizer = colorizer or Colorizer(config.weights, config.colorize)
    temporal_cfg = config.temporal.resolved(colorizer.device.type)
    config = dataclasses.replace(config, temporal=temporal_cfg)  # the report shows what ran
    if pattern is None:
        fmt, warnings = choose_output_format(info, config.encode)
        if (aspect := aspect_warning(info, config.encode, dst)) is not None:
            warnings.append(aspect)
    else:
        fmt, warnings = output_format(info, pattern), []
    report = RestoreReport(input=str(src), output=str(dst), kind="video", warnings=warnings)
    if info.interlaced and info.field_order not in INTERLACED_ORDERS:
        report.warnings.append(
            f"{src.name}: interlaced frames without a declared field order: top field first "
            "assumed (if the motion judders, restore with --deinterlace bwdif)"
        )
    report.settings = config.to_dict()
    report.media = src_info.to_dict()
    if retime is not None:
        report.retiming = {
            "filter": retime.kind,
            "time_base_in": str(src_info.time_base),
            "time_base_out": str(retime.time_base),
            "rate_in": str(src_info.avg_rate),
            "rate_out": str(retime.rate),
        }
    stats = DecodeStats()
    seconds = {"decode": 0.0, "model": 0.0, "compose": 0.0, "encode": 0.0}
    stop = threading.Event()
    luma_bytes, chroma_bytes = frame_bytes(info, fmt)
    decoded: queue.Queue[Any] = queue.Queue(
        maxsize=frames_within(config.picture_mb, luma_bytes, config.queue_frames, 2)
    )
    composed: queue.Queue[Any] = queue.Queue(
        maxsize=frames_within(config.picture_mb, luma_bytes + chroma_bytes, config.queue_frames, 2)
    )
    frames_out = 0

    part_temps: list[Path] = []  # temporary files of parts written by the encode thread
    part_no = 0
    part_frames = 0

    def new_part(tmp: Path, number: int) -> tuple[Any, Any]:
        """The container and stream of part ``number`` (its own temporary file, but the last
        part's, which is the ``atomic_output`` one)."""
        assert parts is not None
        if number < len(parts) - 1:
            tmp = new_temp(parts[number][1])
            part_temps.append(tmp)
        container = open_output(tmp, parts[number][1], info)
        stream = configure_video_stream(container, info, fmt, config.encode, info.display_matrix)
        return container, stream

    target = contextlib.nullcontext(Path()) if pattern else atomic_output(dst, config.overwrite)
    with target as tmp, open_input(src) as inp:
        if parts is not None:
            out, video = new_part(tmp, 0)
        elif pattern is not None:
            out, video = open_pattern_output(pattern, info, fmt)
        else:
            out = open_output(tmp, dst, info)
        closed = False
        try:
            if parts is None and pattern is None:
                video = configure_video_stream(out, info, fmt, config.encode, info.display_matrix)
                if isinstance(src, ImageSequence) and src.timecode and window is None:
                    video.metadata["timecode"] = src.timecode  # MOV: a tmcd track
            plans: dict[int, CopiedStream] = {}
            if window is None:
                plans = add_copied_streams(out, inp, info.video_index, report.warnings, video)
                copy_container_tags(out, inp)

            def decode_worker() -> None:
                error: BaseException | None = None
                try:
                    chain = filter_chain(config.post)
                    frame_filter = None
                    if chain:
                        frame_filter = FrameFilter(
                            chain, src_info.time_base, src_info.avg_rate, retime
                        )
                    items = iter_media(
                        inp,
                        src_info,
                        stats,
                        copy_streams=plans.keys(),
                        frame_filter=frame_filter,
                        window=window,
                        max_pixels=config.limits.max_pixels,
                    )
                    tone = (
                        LumaTone(config.post, info) if not tone_is_identity(config.post) else None
                    )
                    while not stop.is_set():
                        t = time.perf_counter()
                        item = next(items, None)
                        seconds["decode"] += time.perf_counter() - t
                        if item is None:
                            break
                        if tone is not None and isinstance(item, LumaFrame):
                            item = tone(item)
                        _put(decoded, item, stop)
                except BaseException as exc:  # handed to the main thread
                    error = exc
                _put(decoded, _End(error), stop)

            def next_part() -> None:
                """Finish the current part (flush, close, rename, report), open the next."""
                nonlocal out, video, part_no, part_frames
                assert parts is not None
                out.mux(video.encode(None))
                out.close()
                os.replace(part_temps[-1], parts[part_no][1])
                if on_part is not None:
                    on_part(part_no, parts[part_no][1], part_frames)
                part_no += 1
                part_frames = 0
                out, video = new_part(tmp, part_no)

            def encode_worker() -> None:
                nonlocal frames_out, part_frames
                field_flags = FieldFlags(info.top_field_first) if info.interlaced else None
                try:
                    while not stop.is_set():
                        item = _get(composed, stop)
                        if isinstance(item, _End):
                            break
                        t = time.perf_counter()
                        if isinstance(item, av.Packet):
                            plans[item.stream.index].mux(out, item, config.strict)
                        else:
                            pts, luma, chroma = item
                            if output_from_pts is not None and pts < output_from_pts:
                                continue  # a segment's warm-up frame
                            while parts is not None and (end := parts[part_no][0]) is not None:
                                if pts < end:
                                    break
                                next_part()
                            frame = build_frame(
                                luma, chroma, fmt, pts, info.time_base, info.bit_depth
                            )
                            if field_flags is not None:
                                frame = field_flags(frame)
                            out.mux(video.encode(frame))
                            frames_out += 1
                            part_frames += 1
                        seconds["encode"] += time.perf_counter() - t
                    if stop.is_set():
                        return
                    t = time.perf_counter()
                    out.mux(video.encode(None))
                    for plan in plans.values():
                        plan.mux_flush(out, config.strict)
                    seconds["encode"] += time.perf_counter() - t
                except BaseException as exc:
                    errors.append(exc)
                    stop.set()

            errors: list[BaseException] = []
            decoder = threading.Thread(target=decode_worker, name="filmcolor-decode", daemon=True)
            encoder = threading.Thread(target=encode_worker, name="filmcolor-encode", daemon=True)
            finished = False
            temporal = TemporalSummary()
            try:
                # started in here: a Ctrl-C or SIGTERM can land while start() waits for a
                # thread, and the threads must be stopped and gone before the containers close
                decoder.start()
                encoder.start()
                temporal = _colorize_stream(
                    decoded,
                    composed,
                    stop,
                    colorizer,
                    info,
                    fmt,
                    config,
                    seconds,
                    progress,
                    first_index=first_index,
                    guide=_open_guide(
                        src, src_info, info, config, colorizer, retime, window, first_index, report
                    ),
                )
                finished = not stop.is_set()
            finally:
                # The threads use both containers: they must be gone before either closes.
                _end_threads((decoder, encoder), stop, composed if finished else None)
            if errors:
                raise _media_error(errors[0], f"{dst}: encoding")
            out.close()  # writes the trailer (the mp4 index): a failure here fails the run
            closed = True
        except av.error.FFmpegError as exc:
            raise MediaError(f"{dst}: writing failed: {exc}") from exc
        finally:
            if not closed:
                with contextlib.suppress(av.error.FFmpegError, ValueError):
                    out.close()
            for part_tmp in part_temps:
                part_tmp.unlink(missing_ok=True)  # renamed when finished; else half-written
        report.warnings.extend(stats.warnings)
        report.packets_dropped, dropped_warnings = dropped_packets(plans)
        report.warnings.extend(dropped_warnings)
        report.frames_in = stats.frames + stats.packets_undecodable + stats.frames_dropped
        report.frames_dropped = stats.frames_dropped
        report.frames_undecodable = stats.packets_undecodable
        report.frames_concealed = stats.frames_concealed
        report.frames_out = frames_out
        report.frames_model = temporal.frames_model
        if report.retiming is not None:
            report.retiming |= {"frames_in": stats.frames, "frames_out": frames_out}
        report.cuts = [
            {"pts": pts, "seconds": round(float(pts * info.time_base), 6)}
            for pts in temporal.cuts
            if output_from_pts is None or pts >= output_from_pts
        ]
        if stats.frames == 0:
            raise MediaError(f"{src}: no video frame could be decoded; the file is damaged")
        if config.strict and (stats.packets_undecodable or stats.truncated):
            raise MediaError(
                f"{src}: {stats.packets_undecodable} undecodable frame(s)"
                + (", file truncated" if stats.truncated else "")
                + "; --strict refuses damaged input (drop --strict to keep every good frame)"
            )
    if parts is not None and on_part is not None:  # the last part, renamed into place above
        on_part(part_no, parts[part_no][1], part_frames)
    total = time.perf_counter() - t_start
    seconds["total"] = total
    report.seconds = seconds
    report.fps = frames_out / max(total, 1e-9)
    return report


def frame_bytes(info: MediaInfo, fmt: OutputFormat) -> tuple[int, int]:
    """Bytes of one frame's decoded luma and of its composed Cb/Cr planes in ``fmt``."""
    hc, wc = chroma_size(info.height, info.width, fmt)
    return (
        info.width * info.height * (1 if info.bit_depth <= 8 else 2),
        2 * hc * wc * (1 if fmt.bit_depth <= 8 else 2),
    )


def frames_within(budget_mb: int, frame: int, most: int, least: int = 1) -> int:
    """How many frames of ``frame`` bytes a queue or batch holds within ``budget_mb`` MB:
    at most ``most``, at least ``least``."""
    return max(least, min(most, (budget_mb << 20) // max(1, frame)))


def open_output(tmp: Path, dst: Path, info: MediaInfo) -> av.container.OutputContainer:
    """Open the output container at ``tmp`` (named like ``dst``) with the options that keep
    every pts exact."""
    options = {}
    if dst.suffix.lower() in (".mp4", ".m4v", ".mov"):
        # The edit list is written in the movie timescale: at its default (1000) a
        # non-zero first pts moves by up to a millisecond. The video's own keeps it exact.
        options["movie_timescale"] = str(info.time_base.denominator)
    elif dst.suffix.lower() in (".mkv", ".mka", ".webm"):
        # By default the Matroska muxer shifts the whole file when a packet is timed
        # before zero (AAC priming from an MP4 source): Matroska can store those
        # timestamps, so keep them and every pts as it was.
        options["avoid_negative_ts"] = "disabled"
    try:
        return av.open(str(tmp.absolute()), "w", container_options=options)
    except ValueError as exc:
        raise UsageError(
            f"{dst}: cannot tell the container from '{dst.suffix}'; use .mp4, .mkv or .mov"
        ) from exc


def _media_error(exc: BaseException, stage: str) -> BaseException:
    if isinstance(exc, FilmcolorError):
        return exc
    if isinstance(exc, av.error.FFmpegError):
        return MediaError(f"{stage} failed: {exc}")
    return exc


def _end_threads(
    threads: tuple[threading.Thread, ...], stop: threading.Event, end: queue.Queue[Any] | None
) -> None:
    """Let the threads finish (``end``: the queue that gets their end marker) or stop them
    (``end`` None: sets ``stop``), then join every one that was started, even through
    Ctrl-C or SIGTERM (which set ``stop`` and are re-raised after). A thread whose
    ``start()`` was interrupted may not count as alive yet: it runs after ``stop`` is set,
    and both workers then leave without touching the containers."""
    interrupted: KeyboardInterrupt | None = None
    try:
        if end is not None:
            _put(end, _End(), stop)
        else:
            stop.set()
    except KeyboardInterrupt as exc:
        stop.set()
        interrupted = exc
    for thread in threads:
        while thread.is_alive():
            try:
                thread.join()
            except KeyboardInterrupt as exc:
                stop.set()
                interrupted = exc
    if interrupted is not None:
        raise interrupted


def _open_guide(
    src: Path | ImageSequence,
    src_info: MediaInfo,
    info: MediaInfo,
    config: RestoreConfig,
    colorizer: Colorizer,
    retime: Retiming | None,
    window: DecodeWindow | None,
    first_index: int,
    report: RestoreReport,
) -> GuideStage | None:
    """The guide stage for this video (None without references or hints): loads them and
    runs its pre-pass over the same frames the stream will see (same window, filters and
    tone), at render size. ``report.guide`` is its live summary."""
    if not config.guide.enabled:
        return None
    from .guide.engine import Guide
    from .guide.stage import GuideStage

    def frames() -> Iterator[tuple[int, np.ndarray]]:
        chain = filter_chain(config.post)
        frame_filter = None
        if chain:
            frame_filter = FrameFilter(chain, src_info.time_base, src_info.avg_rate, retime)
        tone = LumaTone(config.post, info) if not tone_is_identity(config.post) else None
        with open_input(src) as container:
            items = iter_media(
                container,
                src_info,
                DecodeStats(),
                frame_filter=frame_filter,
                window=window,
                max_pixels=config.limits.max_pixels,
            )
            for item in items:
                if not isinstance(item, LumaFrame):
                    continue
                if tone is not None:
                    item = tone(item)
                luma = luma_tensor([item.luma], colorizer.staging)
                L = luma_L(luma, info.bit_depth, info.full_range)
                if info.interlaced:  # the guide stage sees first fields (``FirstFields``)
                    L = split_fields(L, info.top_field_first)[:1]
                L_low = resize_L(L.float(), colorizer.render_shape(info.height, info.width))
                yield item.pts, L_low[0, 0].float().cpu().numpy()

    references = None
    if isinstance(src, ImageSequence) and (config.guide.references or config.guide.references_dir):
        from .guide.sources import load_references

        # a reference named like a scan (reel_086412.png) anchors to that frame
        references = load_references(config.guide, config.limits, frame_time=src.time_of_name)
    guide = Guide.prepare(
        frames,
        info.time_base,
        config.guide,
        colorizer,
        references=references,
        temporal=config.temporal,
        rate=info.avg_rate,
        first_index=first_index,
        limits=config.limits,
    )
    report.guide = guide.summary
    return GuideStage(guide)


def _colorize_stream(
    decoded: queue.Queue[Any],
    composed: queue.Queue[Any],
    stop: threading.Event,
    colorizer: Colorizer,
    info: MediaInfo,
    fmt: OutputFormat,
    config: RestoreConfig,
    seconds: dict[str, float],
    progress: ProgressCallback | None,
    *,
    first_index: int = 0,
    guide: GuideStage | None = None,
) -> TemporalSummary:
    """Main-thread part: batch frames, run each batch through the stages (luma → L, the
    model or the temporal smoother, the user's references and hints (``guide``), colour
    adjustments, upsampling, compose) and pass them on in file order. Each stage's time adds
    to its ``clocks`` in ``seconds``. Returns what the temporal stage saw (cuts, frames
    through the model)."""
    keyed = guide is not None and guide.wants_keys
    model: Stage = ModelStage(colorizer, keyed)
    if config.temporal.enabled:  # the smoother runs the model on the frames it needs
        model = TemporalStage(
            ChromaSmoother(config.temporal, first_index),
            colorizer.predict_low,
            colorizer.predict_keyed if keyed else None,
        )
    fields = info.interlaced  # coloured field by field (``filmcolor.fields``)
    tff = info.top_field_first
    pixels = config.colorize.band_pixels
    stages: list[Stage] = [
        LumaStage(colorizer, info.bit_depth, info.full_range, pixels),
        *([FieldSplit(colorizer, tff, info.bit_depth, info.full_range)] if fields else []),
        model,
        *([FirstFields(guide) if fields else guide] if guide is not None else []),
        PostStage(config.post),
        UpsampleStage(colorizer),
        ComposeStage(fmt, info.bit_depth, info.full_range, colorizer.staging, pixels),
        *([FieldWeave(chroma_size(info.height, info.width, fmt)[0], tff)] if fields else []),
    ]
    temporal = TemporalSummary()
    pending: list[Any] = []
    n_frames = 0
    done = 0
    t_start = time.perf_counter()
    batch = frames_within(config.picture_mb, frame_bytes(info, fmt)[0], config.colorize.batch_size)
    total = info.frame_count
    if total is None and info.duration and info.avg_rate:
        total = round(info.duration * info.avg_rate)

    def clock(stage: Stage, elapsed: float) -> None:
        for name in stage.clocks:
            seconds[name] = seconds.get(name, 0.0) + elapsed

    def run(batches: list[FrameBatch]) -> list[FrameBatch]:
        return run_stages(stages, batches, clock)

    def flush_all() -> list[FrameBatch]:
        return flush_stages(stages, clock)

    def emit(batches: list[FrameBatch], finished: bool = False) -> None:
        nonlocal done
        for k, b in enumerate(batches):
            temporal.add(b)
            i = 0
            for item in b.items:
                if isinstance(item, LumaFrame):
                    assert b.chroma is not None
                    _put(composed, (item.pts, item.luma, b.chroma[i]), stop)
                    i += 1
                else:
                    _put(composed, item, stop)
            done += len(b.frames)
            if b.frames and not (finished and k == len(batches) - 1):
                report_progress(False)
        if finished:
            report_progress(True)

    def report_progress(finished: bool) -> None:
        if progress is not None:
            fps = done / max(time.perf_counter() - t_start, 1e-9)
            progress(Progress(info.path, done, done if finished else total, fps, finished))

    while not stop.is_set():
        item = _get(decoded, stop)
        if isinstance(item, _End):
            if item.error is not None:
                raise _media_error(item.error, f"{info.path}: decoding")
            break
        pending.append(item)
        if isinstance(item, LumaFrame):
            n_frames += 1
            if n_frames >= batch:
                emit(run([FrameBatch(pending)]))
                pending, n_frames = [], 0
    if not stop.is_set():
        emit((run([FrameBatch(pending)]) if pending else []) + flush_all(), finished=True)
    return temporal
