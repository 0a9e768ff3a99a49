"""Segmented restores: split a film at keyframes, restore the parts (here or on a cluster),
resume after a crash, and stitch the parts into one file.

How a film is cut and put back together:

- **Plan.** The video's packets are read without decoding: their pts give every frame's
  time, their key flags the places a decoder can start. Segments of about
  ``segment_seconds`` start at keyframes; near each target length a keyframe the encoder
  placed off its regular interval (what encoders do at a scene change) is preferred, so
  segments tend to start on shot cuts.
- **Warm-up.** Each segment decodes ``overlap_frames`` frames before its start (seeking to
  the keyframe before them) and runs them through the tone filters, the model and the
  temporal smoother, but does not write them: the smoother and the deflicker enter the
  segment with the state a single pass would have (to within a few code values of chroma),
  and keyframes (``--keyframe-interval``) follow the film's frame numbers.
- **Parts.** Each segment is a video-only file of the output's container and encoder
  settings in the work folder, written atomically; the manifest records each finished one.
  On one machine the segments still to do run as one pass that starts a new part (and a
  new encoder) at each boundary (``restore_consecutive``), so memory and speed are those of
  a single pass; on a cluster each segment is a task of its own (``restore_segment``).
- **Stitch.** The parts' packets are concatenated without re-encoding (every part starts
  on a keyframe of its own, with the same encoder settings, so the bitstreams join), and
  the audio, subtitles, chapters and tags are copied once from the original. Frame count
  and every pts equal a single-pass run's.

Resume: the manifest (``manifest.json``) holds the input's identity, the settings that
change the pictures, and the plan. Running the same command again skips the finished
segments whose files are still there; anything else that differs starts over.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from .atomic import atomic_output, check_output_path, pid_alive
from .config import RestoreConfig
from .errors import MediaError, UsageError
from .media.decode import DecodeWindow
from .media.probe import MediaInfo, open_input, probe
from .media.remux import add_copied_streams, copy_container_tags, dropped_packets
from .model.colorizer import Colorizer
from .pipeline import (
    Progress,
    ProgressCallback,
    RestoreReport,
    open_output,
    restore_video,
)
from .post.filters import retiming

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
#: A pts before any frame's: a window from here decodes the whole film.
_FIRST = -(1 << 62)
_MANIFEST_VERSION = 1


@dataclass(frozen=True, slots=True)
class Segment:
    """One part of a film, by pts in the video stream's time base."""

    index: int
    #: The first frame written (a keyframe's pts).
    start_pts: int
    #: Exclusive end (the next segment's ``start_pts``); None: to the end of the film.
    end_pts: int | None
    #: Frames written.
    frames: int
    #: Frame number, in the whole film, of the first frame written.
    first_index: int = 0
    #: First warm-up frame (decoded and smoothed, not written): ``overlap_frames`` earlier.
    warm_pts: int = 0
    #: Frame number of ``warm_pts``.
    warm_index: int = 0
    #: Keyframe to seek to before decoding (at or before ``warm_pts``); None: the start.
    seek_pts: int | None = None

    def window(self) -> DecodeWindow:
        return DecodeWindow(self.seek_pts, self.warm_pts, self.end_pts)


@dataclass(frozen=True, slots=True)
class SegmentResult:
    """A finished segment."""

    index: int
    #: The segment's file (video only).
    path: str
    frames: int
    seconds: float
    #: Frames the model colorized; cut pts (first frames of shots) in the segment.
    frames_model: int = 0
    cuts: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()


#: What to run and where its file goes.
SegmentJob = tuple[Segment, Path]
#: Runs the jobs, calling ``on_done(job, result)`` in the caller's thread as each finishes;
#: raises the first failure. ``runner(src, jobs, config, on_done)``.
Runner = Callable[
    [Path, list[SegmentJob], RestoreConfig, Callable[[SegmentJob, SegmentResult], None]], None
]


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True, slots=True)
class PacketIndex:
    """Every frame's pts (sorted) and the keyframes' pts, read from the packets alone."""

    pts: list[int]
    keyframes: list[int]


def index_packets(src: Path, info: MediaInfo) -> PacketIndex | None:
    """Read the video's packets (no decoding). None when the pts cannot be trusted for
    cutting (missing or repeated pts): such a film is restored in one pass."""
    pts: list[int] = []
    keys: list[int] = []
    with open_input(src) as inp:
        stream = inp.streams[info.video_index]
        try:
            for packet in inp.demux(stream):
                if packet.size == 0:
                    continue
                if packet.pts is None:
                    return None
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
        except av.error.FFmpegError:
            return None  # damaged: the single pass reports what it can
    pts.sort()
    if not pts or any(b <= a for a, b in itertools.pairwise(pts)):
        return None
    return PacketIndex(pts, sorted(keys))


def plan_segments(src: Path, info: MediaInfo, config: RestoreConfig) -> list[Segment]:
    """Cut the film into segments of about ``config.segments.segment_seconds`` (one segment
    when it cannot or need not be cut)."""
    index = index_packets(src, info)
    cfg = config.segments
    if index is None:  # the whole film as one part, its frames not known in advance
        return [Segment(0, _FIRST, None, 0, warm_pts=_FIRST)]
    pts = index.pts
    position = {p: i for i, p in enumerate(pts)}
    keys = [k for k in index.keyframes if k in position]
    length = cfg.segment_seconds
    if length <= 0:
        return [_segment(0, 0, len(pts), pts, keys, cfg.overlap_frames)]
    target = max(1, round(Fraction(length) / info.time_base))
    gaps = sorted(b - a for a, b in itertools.pairwise(keys))
    regular = gaps[len(gaps) // 2] if gaps else 0  # the encoder's usual keyframe interval
    starts = [0]
    previous_key = {k: (keys[i - 1] if i else None) for i, k in enumerate(keys)}
    while True:
        begin = pts[starts[-1]]
        goal = begin + target
        window = [k for k in keys if goal - target // 2 <= k <= goal + target // 2 and k > begin]
        if not window or pts[-1] - begin < target * 3 // 2:
            break

        def score(k: int, goal: int = goal) -> tuple[bool, int]:
            before = previous_key[k]
            # a keyframe off the regular interval: the encoder saw a scene change there
            off_beat = before is not None and regular > 0 and (k - before) < regular * 0.9
            return (not off_beat, abs(k - goal))

        starts.append(position[min(window, key=score)])
    ends = [*starts[1:], len(pts)]
    return [
        _segment(i, s, e, pts, keys, cfg.overlap_frames)
        for i, (s, e) in enumerate(zip(starts, ends, strict=True))
    ]


def _segment(
    index: int, start: int, end: int, pts: list[int], keys: list[int], overlap: int
) -> Segment:
    warm = max(0, start - overlap)
    seek = None
    if warm > 0:
        seek = max((k for k in keys if k <= pts[warm]), default=None)
    return Segment(
        index=index,
        start_pts=pts[start],
        end_pts=pts[end] if end < len(pts) else None,
        frames=end - start,
        first_index=start,
        warm_pts=pts[warm],
        warm_index=warm,
        seek_pts=seek,
    )


def should_segment(info: MediaInfo, config: RestoreConfig) -> bool:
    """Whether ``restore`` takes the segmented path for this video."""
    cfg = config.segments
    if cfg.cluster is not None:
        return True
    if cfg.segment_seconds <= 0 or not info.duration or info.duration <= cfg.segment_seconds:
        return False
    # frame-count-changing filters and references are restored in one pass (see README)
    if retiming(config.post, info.time_base, info.avg_rate) is not None:
        return False
    return not config.guide.enabled


# --------------------------------------------------------------------------- one segment


def restore_segment(
    src: Path,
    segment: Segment,
    out: Path,
    config: RestoreConfig,
    progress: ProgressCallback | None = None,
    *,
    colorizer: Colorizer | None = None,
) -> SegmentResult:
    """Restore one segment into the video-only file ``out`` (written atomically; an
    existing file is replaced, so a retried segment simply runs again)."""
    done: list[SegmentResult] = []
    report = restore_consecutive(
        src,
        [(segment, Path(out))],
        config,
        lambda _, r: done.append(r),
        progress,
        colorizer=colorizer,
    )
    return dataclasses.replace(
        done[0],
        seconds=report.seconds.get("total", 0.0),
        frames_model=report.frames_model,
        cuts=tuple(c["pts"] for c in report.cuts),
        warnings=tuple(report.warnings),
    )


def restore_consecutive(
    src: Path,
    jobs: list[SegmentJob],
    config: RestoreConfig,
    on_done: Callable[[SegmentJob, SegmentResult], None],
    progress: ProgressCallback | None = None,
    *,
    colorizer: Colorizer | None = None,
) -> RestoreReport:
    """Restore consecutive segments in one pass, each into its own file: the decoder, the
    threads and the temporal state run straight through, and only the encoder starts again
    at each boundary. ``on_done`` hears of each segment as soon as its file is in place.

    Memory stays that of a single pass: restarting the whole pipeline for every segment made
    the peak RSS creep up from segment to segment (heap fragmentation; +18 % over four
    segments of a 20-minute film)."""
    first, last = jobs[0][0], jobs[-1][0]
    t_start = time.perf_counter()

    def part_done(number: int, path: Path, frames: int) -> None:
        segment = jobs[number][0]
        if segment.frames and frames != segment.frames:  # 0: not known (one-pass plan)
            raise MediaError(
                f"{src}: segment {segment.index} gave {frames} frames where the packets "
                f"promised {segment.frames}; restore with --segment-seconds 0 (one pass)"
            )
        seconds = time.perf_counter() - t_start
        on_done(jobs[number], SegmentResult(segment.index, str(path), frames, seconds))

    return restore_video(
        Path(src),
        jobs[-1][1],
        dataclasses.replace(config, overwrite=True),
        progress,
        colorizer=colorizer,
        window=DecodeWindow(first.seek_pts, first.warm_pts, last.end_pts),
        output_from_pts=first.start_pts,
        first_index=first.warm_index,
        parts=[(segment.end_pts, out) for segment, out in jobs],
        on_part=part_done,
    )


def local_runner(
    colorizer: Colorizer | None,
    progress: ProgressCallback | None,
    reports: list[RestoreReport] | None = None,
) -> Runner:
    """The runner of a single machine: each stretch of consecutive segments in one pass
    (``restore_consecutive``), one model shared; the passes' reports go to ``reports``."""

    def run(
        src: Path,
        jobs: list[SegmentJob],
        config: RestoreConfig,
        on_done: Callable[[SegmentJob, SegmentResult], None],
    ) -> None:
        model = colorizer or Colorizer(config.weights, config.colorize)
        stretches: list[list[SegmentJob]] = []
        for job in jobs:
            if stretches and stretches[-1][-1][0].index + 1 == job[0].index:
                stretches[-1].append(job)
            else:
                stretches.append([job])
        for stretch in stretches:
            report = restore_consecutive(src, stretch, config, on_done, progress, colorizer=model)
            if reports is not None:
                reports.append(report)

    return run


# --------------------------------------------------------------------------- work folder


def default_work_dir(dst: Path) -> Path:
    return dst.parent / f".{dst.name}.filmcolor-work"


def _identity(src: Path, config: RestoreConfig) -> dict[str, Any]:
    """What must match for a previous run's segments to be reused."""
    stat = src.stat()
    settings = config.to_dict()
    # how and where it runs does not change the pictures
    settings.pop("overwrite", None)
    settings.pop("limits", None)  # a limit refuses a run or lets it be, it never changes it
    settings["segments"] = {"overlap_frames": config.segments.overlap_frames}
    settings["colorize"].pop("device", None)
    settings["colorize"].pop("batch_size", None)
    settings["colorize"].pop("compile", None)
    return {
        "input": str(src.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "settings": json.loads(json.dumps(settings, default=str)),
    }


#: The file that marks a work folder as filmcolor's own; only a marked folder is ever
#: cleaned, and only of the files filmcolor writes there.
WORK_MARKER = ".filmcolor-work"
_OWN_FILE = re.compile(
    r"(manifest\.json(\.tmp)?|lock|\.filmcolor-work\.tmp|part-\d{5}\.[A-Za-z0-9]+|\.part-\d{5}\.[0-9a-f]+\.part\.[A-Za-z0-9]+)"
)


class WorkDir:
    """The work folder of one segmented run: the manifest, the finished parts, a lock.

    The folder is filmcolor's own: made by it (or an empty folder it was given), marked by
    ``WORK_MARKER``. ``claim`` refuses a folder that holds the input, the output or anybody
    else's files; ``clean`` removes only what filmcolor wrote there, and the folder itself
    only when filmcolor made it. Paths are resolved, so every spelling of one folder (links,
    ``..``) shares one lock and one manifest.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()
        self.manifest_path = self.path / MANIFEST
        self._lock = self.path / "lock"
        self._marker = self.path / WORK_MARKER
        self.data: dict[str, Any] = {}

    def part(self, segment: Segment, suffix: str) -> Path:
        return self.path / f"part-{segment.index:05d}{suffix}"

    def claim(self, src: Path, dst: Path, *, default: bool) -> None:
        """Make or adopt the folder as a work folder, or refuse it with a ``UsageError``.

        Refused: a file; a folder that holds the input or the output (at any depth); a
        non-empty folder without filmcolor's marker, except the default work folder of an
        earlier filmcolor version (``default``) when it holds only filmcolor's own files.
        """
        path, name = self.path, f"--work-dir {self.path}"
        if path.exists() and not path.is_dir():
            raise UsageError(f"{name}: is a file; give a folder for the segments")
        for role, inside in (("the input", src), ("the output", dst)):
            where = Path(inside).absolute().parent.resolve()
            if where == path or path in where.parents:
                raise UsageError(
                    f"{name}: holds {role} ({inside}); a work folder is filmcolor's own and "
                    "is emptied after the run: give a new or empty folder elsewhere"
                )
        if path.is_dir() and not self._marker.is_file():
            entries = [e.name for e in path.iterdir()]
            leftover = default and entries and all(_OWN_FILE.fullmatch(e) for e in entries)
            if entries and not leftover:
                raise UsageError(
                    f"{name}: holds files filmcolor did not make ({sorted(entries)[0]}, ...); "
                    "give a new or empty folder, since a work folder is emptied after the run"
                )
            created = bool(leftover)
        elif path.is_dir():
            return  # ours: an earlier run of this or another film
        else:
            path.mkdir(parents=True)
            created = True
        tmp = path / f"{WORK_MARKER}.tmp"
        tmp.write_text(json.dumps({"filmcolor": "segment work folder", "created": created}))
        os.replace(tmp, self._marker)

    def clean(self) -> list[str]:
        """Remove what filmcolor wrote here (manifest, parts, lock, marker), then the folder
        if filmcolor made it and nothing else is left. Returns warnings (files left)."""
        try:
            created = bool(json.loads(self._marker.read_text()).get("created"))
        except (OSError, ValueError, AttributeError):
            return [f"{self.path}: the work folder lost its marker; it was left as it is"]
        for entry in self.path.iterdir():
            if _OWN_FILE.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
                entry.unlink(missing_ok=True)
        others = [e.name for e in self.path.iterdir() if e.name != WORK_MARKER]
        if others:
            return [f"{self.path}: left the work folder in place: it holds {sorted(others)[0]}"]
        self._marker.unlink(missing_ok=True)
        if created:
            with contextlib.suppress(OSError):
                self.path.rmdir()
        return []

    def remove_stale_parts(self, keep: set[str]) -> None:
        """Delete the parts of an earlier run that will not be reused (``keep``: the paths
        of those that will)."""
        names = {Path(k).name for k in keep}
        for entry in self.path.iterdir():
            own = _OWN_FILE.fullmatch(entry.name) and entry.name.lstrip(".").startswith("part-")
            if own and entry.name not in names and entry.is_file() and not entry.is_symlink():
                entry.unlink(missing_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Refuse a second run on the same work folder while this one is alive."""
        for _ in range(2):
            try:
                fd = os.open(self._lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if _lock_alive(self._lock):
                    raise UsageError(
                        f"{self.path}: another filmcolor run is using this work folder; wait "
                        "for it, or remove the folder if that run is gone"
                    ) from None
                self._lock.unlink(missing_ok=True)  # left by a run that died
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            break
        try:
            yield
        finally:
            self._lock.unlink(missing_ok=True)

    def load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None

    def save(self) -> None:
        tmp = self.manifest_path.with_name(MANIFEST + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n")
        os.replace(tmp, self.manifest_path)


def _lock_alive(lock: Path) -> bool:
    try:
        pid = int(lock.read_text().strip())
    except (OSError, ValueError):
        return False
    return pid == os.getpid() or pid_alive(pid)


def _segment_dict(segment: Segment) -> dict[str, Any]:
    return dataclasses.asdict(segment)


# --------------------------------------------------------------------------- whole film


def restore_segmented(
    src: Path,
    dst: Path,
    config: RestoreConfig,
    progress: ProgressCallback | None = None,
    *,
    colorizer: Colorizer | None = None,
    runner: Runner | None = None,
) -> RestoreReport:
    """Restore a video in segments with resume (see the module docstring); the result is
    the same file a single pass writes, frame for frame and pts for pts."""
    t_start = time.perf_counter()
    src, dst = Path(src), Path(dst)
    check_output_path(dst, config.overwrite)
    info = probe(src, config.limits.max_pixels)
    if retiming(config.post, info.time_base, info.avg_rate) is not None:
        raise UsageError(
            "--ivtc and --deinterlace bwdif-field change the frame count and cannot run in "
            "segments; drop --cluster, or run them in one pass with --segment-seconds 0"
        )
    if config.guide.enabled:
        raise UsageError(
            "references and hints are carried through whole shots and run in one pass; "
            "drop --cluster, or use --segment-seconds 0"
        )
    segments = plan_segments(src, info, config)
    work_dir = config.segments.work_dir
    work = WorkDir(Path(work_dir) if work_dir else default_work_dir(dst))
    work.claim(src, dst, default=not work_dir)
    report = RestoreReport(input=str(src), output=str(dst), kind="video")
    report.settings = config.to_dict()
    report.media = info.to_dict()
    with work.locked():
        identity = _identity(src, config)
        plan = [_segment_dict(s) for s in segments]
        previous = work.load() if config.segments.resume else None
        done: dict[int, dict[str, Any]] = {}
        if previous is not None:
            if (
                previous.get("version") == _MANIFEST_VERSION
                and previous.get("identity") == identity
                and previous.get("segments") == plan
            ):
                done = {int(k): v for k, v in previous.get("done", {}).items()}
            else:
                report.warnings.append(
                    f"{work.path}: the previous run had another input, settings or plan; "
                    "starting over"
                )
        # a finished part must still be there, whole, to be reused
        done = {
            i: r
            for i, r in done.items()
            if Path(r["path"]).is_file() and Path(r["path"]).parent.resolve() == work.path
        }
        work.remove_stale_parts({r["path"] for r in done.values()})
        work.data = {
            "version": _MANIFEST_VERSION,
            "identity": identity,
            "segments": plan,
            "done": {str(i): r for i, r in done.items()},
            "runs": [*(previous or {}).get("runs", []), {"started": time.time()}]
            if previous and done
            else [{"started": time.time()}],
        }
        work.save()
        suffix = dst.suffix.lower()
        jobs = [(s, work.part(s, suffix)) for s in segments if s.index not in done]
        total = sum(s.frames for s in segments) or None
        frames_done = sum(int(r["frames"]) for r in done.values())
        report.segments = {
            "count": len(segments),
            "reused": sorted(done),
            "run": [s.index for s, _ in jobs],
            "work_dir": str(work.path),
        }

        def on_done(job: SegmentJob, result: SegmentResult) -> None:
            nonlocal frames_done
            done[result.index] = dataclasses.asdict(result)
            work.data["done"][str(result.index)] = done[result.index]
            work.save()
            frames_done += result.frames
            if progress is not None:
                elapsed = time.perf_counter() - t_start
                progress(Progress(str(src), frames_done, total, frames_done / max(elapsed, 1e-9)))

        passes: list[RestoreReport] = []  # the local passes' reports (cuts, model frames)
        run = runner or local_runner(colorizer, _inner_progress(progress, src, total), passes)
        run(src, jobs, config, on_done)
        missing = [s.index for s in segments if s.index not in done]
        if missing:
            raise MediaError(f"{src}: segments {missing} did not finish; run the command again")
        parts = [Path(done[s.index]["path"]) for s in segments]
        t_stitch = time.perf_counter()
        frames_out = stitch(src, info, parts, dst, config, report.warnings, report.packets_dropped)
        report.seconds = {
            "segments": t_stitch - t_start,
            "stitch": time.perf_counter() - t_stitch,
        }
    report.warnings.extend(work.clean())
    results = [done[s.index] for s in segments]
    for r in results:
        report.warnings.extend(w for w in r.get("warnings", ()) if w not in report.warnings)
    report.frames_in = report.frames_out = frames_out
    report.frames_model = sum(int(r.get("frames_model", 0)) for r in results)
    report.frames_model += sum(p.frames_model for p in passes)
    cuts = {p for r in results for p in r.get("cuts", ())}
    cuts |= {c["pts"] for p in passes for c in p.cuts}
    report.cuts = [{"pts": p, "seconds": round(float(p * info.time_base), 6)} for p in sorted(cuts)]
    for p in passes:
        report.warnings.extend(w for w in p.warnings if w not in report.warnings)
    total_s = time.perf_counter() - t_start
    report.seconds["total"] = total_s
    report.fps = frames_out / max(total_s, 1e-9)
    if progress is not None:
        progress(Progress(str(src), frames_out, frames_out, report.fps, True))
    return report


def _inner_progress(
    progress: ProgressCallback | None, src: Path, total: int | None
) -> ProgressCallback | None:
    """Per-segment progress from the local runner, as progress through the whole film."""
    if progress is None:
        return None
    base = {"frames": 0, "last": 0}

    def report(p: Progress) -> None:
        if p.finished:
            base["frames"] += p.frames_done
            base["last"] = 0
            return
        base["last"] = p.frames_done
        progress(Progress(str(src), base["frames"] + p.frames_done, total, p.fps))

    return report


# --------------------------------------------------------------------------- stitching


def stitch(
    src: Path,
    info: MediaInfo,
    parts: list[Path],
    dst: Path,
    config: RestoreConfig,
    warnings: list[str],
    dropped: dict[str, int] | None = None,
) -> int:
    """Join the parts' video packets (no re-encoding) with every other stream of ``src``,
    into ``dst`` (atomically). Returns the number of video frames written. Damaged packets
    of the other streams are left out (counted into ``dropped`` by input stream index, with
    a warning) unless ``config.strict``."""
    frames = 0
    with atomic_output(dst, config.overwrite) as tmp, open_input(src) as inp:
        first = av.open(str(parts[0]))
        out = open_output(tmp, dst, info)
        try:
            template = first.streams.video[0]
            video = out.add_stream_from_template(template)
            video.time_base = info.time_base
            if info.display_matrix is not None:
                video.set_display_matrix(list(info.display_matrix))
            plans = add_copied_streams(out, inp, info.video_index, warnings, video)
            copy_container_tags(out, inp)

            def video_packets() -> Iterator[tuple[Fraction, int, av.Packet]]:
                nonlocal frames
                last: Fraction | None = None
                for packet in _with_dts(parts):
                    t = _packet_time(packet, last)
                    last = t
                    frames += 1
                    yield t, 0, packet

            def other_packets() -> Iterator[tuple[Fraction, int, av.Packet]]:
                if not plans:
                    return
                last: Fraction | None = None
                streams = [inp.streams[i] for i in plans]
                try:
                    for packet in inp.demux(streams):
                        if packet.size == 0:
                            continue
                        t = _packet_time(packet, last)
                        last = t
                        yield t, 1, packet
                except av.error.FFmpegError as exc:
                    warnings.append(f"input ends early (truncated or damaged): {exc}")

            merged = heapq.merge(video_packets(), other_packets(), key=lambda x: (x[0], x[1]))
            for _, kind, packet in merged:
                if kind == 0:
                    packet.stream = video
                    out.mux(packet)
                else:
                    plans[packet.stream.index].mux(out, packet, config.strict)
            for plan in plans.values():
                plan.mux_flush(out, config.strict)
            out.close()
            counts, refused = dropped_packets(plans)
            warnings.extend(refused)
            if dropped is not None:
                dropped.update(counts)
        except av.error.FFmpegError as exc:
            with contextlib.suppress(av.error.FFmpegError, ValueError):
                out.close()
            raise MediaError(f"{dst}: joining the segments failed: {exc}") from exc
        finally:
            first.close()
    return frames


def _with_dts(parts: list[Path]) -> Iterator[av.Packet]:
    """The parts' video packets in order, each with a decode timestamp.

    Matroska does not store dts: its demuxer leaves them unset on the first packets of a
    part (before the first reordered frame). The muxer needs them increasing across the
    joins, so the missing ones are spread between the previous part's last dts and the
    first known one (for Matroska output they are not written anyway).
    """
    last: int | None = None
    for path in parts:
        with av.open(str(path)) as part:
            waiting: list[av.Packet] = []
            for packet in part.demux(part.streams.video[0]):
                if packet.size == 0:
                    continue
                if packet.dts is None:
                    waiting.append(packet)
                    continue
                if waiting:
                    _fill_dts(waiting, last, packet.dts)
                    yield from waiting
                    waiting.clear()
                last = packet.dts
                yield packet
            if waiting:  # a part with no known dts at all (intra-only): dts = pts
                for packet in waiting:
                    packet.dts = packet.pts
                yield from waiting
                last = waiting[-1].dts


def _fill_dts(packets: list[av.Packet], before: int | None, after: int) -> None:
    """Give ``packets`` (in decode order) increasing dts strictly between ``before`` and
    ``after``, each at most its pts where there is room."""
    n = len(packets)
    low = before if before is not None else after - n - 1
    if after - low <= n:
        raise MediaError("the segments' timestamps overlap at a join; use --segment-seconds 0")
    for i, packet in enumerate(packets):
        dts = low + (after - low) * (i + 1) // (n + 1)
        if packet.pts is not None:
            dts = min(dts, packet.pts)
        packet.dts = dts
    for a, b in itertools.pairwise(packets):
        if b.dts <= a.dts:
            raise MediaError("the segments' timestamps overlap at a join; use --segment-seconds 0")


def _packet_time(packet: av.Packet, last: Fraction | None) -> Fraction:
    """A packet's decode time in seconds, for interleaving (dts, else pts, else the last)."""
    ts = packet.dts if packet.dts is not None else packet.pts
    if ts is None or packet.time_base is None:
        return last if last is not None else Fraction(0)
    return ts * packet.time_base
