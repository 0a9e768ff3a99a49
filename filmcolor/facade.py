"""``restore()``: the one entry point that chooses how to restore what it is given.

- an image: ``restore_image`` (one picture through the model, the guide and the adjustments);
- a folder: ``restore_folder``, every file in it restored in turn with one model;
- an image sequence (a printf pattern such as ``scans/reel_%06d.dpx``, or a folder with
  ``sequence``): ``restore_sequence``, one film read through the image2 demuxer, written
  as a film or as numbered images (``media.pattern``, resumable frame by frame);
- a video: ``pipeline.restore_video``, one pass over the film; or, for a long film or with
  ``--cluster``, ``segments.restore_segmented`` (its parts on this machine, or as Ray tasks
  through ``cluster.ray_runner``).

Layers: this module sits above ``segments``, ``cluster`` and ``pipeline``; ``batch`` and the
daemon sit above it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path

import torch

from .atomic import atomic_output, check_output_path
from .cluster import ray_runner
from .compose import rgb_bands, shrink_frames
from .config import RestoreConfig
from .errors import FilmcolorError, InputError, UsageError
from .media.decode import DecodeWindow
from .media.images import output_bits, read_picture, write_picture
from .media.kinds import KEEP_VIDEO_EXTENSIONS, folder_output_name, is_image_path
from .media.pattern import finish, plan_output, prepare
from .media.probe import check_input_file, probe
from .media.sequence import ImageSequence, find_sequence, is_pattern, scan_folder
from .model.colorizer import Colorizer
from .pipeline import restore_video
from .post.adjust import adjust_chroma, adjust_luma
from .post.filters import retiming
from .report import FolderReport, ProgressCallback, RestoreReport
from .segments import restore_segmented, should_segment
from .segments.workdir import run_identity

log = logging.getLogger(__name__)

#: Files next to films that are not media: a folder run passes over them quietly.
SIDECAR_EXTENSIONS = frozenset({".srt", ".ass", ".vtt", ".txt", ".json", ".xml", ".nfo", ".md"})


def restore(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    config: RestoreConfig | None = None,
    progress: ProgressCallback | None = None,
    *,
    colorizer: Colorizer | None = None,
) -> RestoreReport | FolderReport:
    """Colorize a video, an image, or a folder of either, from ``src`` into ``dst``.

    Raises a ``FilmcolorError`` subclass (with its exit code) for bad input, media, usage
    or weights problems; a folder run reports failed files in the returned report instead.
    """
    config = config or RestoreConfig()
    src_p, dst_p = Path(src), Path(dst)
    if (src_p.is_dir() and config.sequence) or (is_pattern(src_p) and not src_p.exists()):
        find = scan_folder if src_p.is_dir() else find_sequence
        seq = find(src_p, config.fps, config.limits.max_pixels)
        return restore_sequence(seq, dst_p, config, progress, colorizer)
    if config.sequence:
        raise UsageError(f"{src_p}: --sequence takes a folder of numbered scans")
    if config.fps is not None:
        raise UsageError(
            f"{src_p}: --fps sets the rate of an image sequence; a video keeps its own timing"
        )
    if src_p.is_dir():
        return restore_folder(src_p, dst_p, config, progress, colorizer=colorizer)
    check_input_file(src_p)
    if is_pattern(dst_p):
        raise UsageError(
            f"{dst_p}: numbered images are written from an image sequence; write a video "
            "as .mp4, .mov or .mkv"
        )
    if dst_p.exists() and dst_p.resolve() == src_p.resolve():
        raise UsageError(f"{dst_p}: output is the input; choose another output name")
    if is_image_path(src_p):
        if not is_image_path(dst_p):
            raise UsageError(f"{dst_p}: the input is an image, so give an image name (.png, .jpg…)")
        check_output_path(dst_p, config.overwrite)
        return restore_image(src_p, dst_p, config, colorizer=colorizer)
    if dst_p.suffix.lower() not in KEEP_VIDEO_EXTENSIONS:
        raise UsageError(
            f"{dst_p}: write video as .mp4, .m4v, .mov or .mkv (other containers change "
            "timestamps or cannot hold every stream)"
        )
    if should_segment(probe(src_p, config.limits.max_pixels), config):
        runner = None
        if config.segments.cluster is not None:
            runner = ray_runner(config.segments.cluster)
        return restore_segmented(src_p, dst_p, config, progress, colorizer=colorizer, runner=runner)
    return restore_video(src_p, dst_p, config, progress, colorizer=colorizer)


def folder_plan(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    """The (input, output) pairs of a folder run: every visible file directly inside
    ``src`` but sidecars, in name order, each with its output name in ``dst``
    (``folder_output_name``; a second file that would take the same name gets ``-2``…)."""
    if dst.exists() and not dst.is_dir():
        raise UsageError(f"{dst}: the input is a folder, so the output must be a folder too")
    files = sorted(
        p
        for p in src.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in SIDECAR_EXTENSIONS
    )
    if not files:
        raise InputError(f"{src}: folder has no files to restore")
    plan: list[tuple[Path, Path]] = []
    taken: set[str] = set()
    for path in files:
        name = folder_output_name(path)
        if name in taken:  # a.avi and a.mkv would both be a.mkv: the second is "a-2.mkv"
            stem, ext = Path(name).stem, Path(name).suffix
            name = next(
                f"{stem}-{k}{ext}" for k in range(2, 10_000) if f"{stem}-{k}{ext}" not in taken
            )
        taken.add(name)
        plan.append((path, dst / name))
    return plan


def restore_folder(
    src: Path,
    dst: Path,
    config: RestoreConfig,
    progress: ProgressCallback | None = None,
    *,
    colorizer: Colorizer | None = None,
) -> FolderReport:
    """Restore every visible file directly inside ``src`` into the folder ``dst``.

    A file that fails is recorded in the report and skipped; the rest are still done. Files
    are taken in name order; subfolders and hidden files are not entered.
    """
    plan = folder_plan(src, dst)
    dst.mkdir(parents=True, exist_ok=True)
    colorizer = colorizer or Colorizer(config.weights, config.colorize)
    report = FolderReport(input=str(src), output=str(dst))
    hint = _sequence_hint(src, len(plan))
    if hint:
        report.warnings.append(hint)
    for path, out in plan:
        try:
            result = restore(path, out, config, progress, colorizer=colorizer)
        except FilmcolorError as exc:
            report.failed.append(
                {"input": str(path), "error": str(exc), "exit_code": exc.exit_code}
            )
            log.warning("skipped %s: %s", path, exc)
            continue
        assert isinstance(result, RestoreReport)
        report.files.append(result)
    return report


#: Formats in which a folder of numbered files is a film scan rather than a set of photos.
_SCAN_FORMATS = frozenset({".dpx", ".exr"})


def _sequence_hint(src: Path, files: int) -> str | None:
    """A folder restored file by file that holds nothing but one numbered scan sequence
    (DPX or EXR): the hint to restore it as one film with ``--sequence``."""
    if files < 2:
        return None
    try:
        seq = scan_folder(src)
    except FilmcolorError:
        return None
    if seq.pattern.suffix.lower() not in _SCAN_FORMATS or seq.count != files:
        return None
    return (
        f"holds one numbered scan sequence ({seq.pattern.name}, {seq.count} frames), "
        "restored here file by file; pass --sequence to restore it as one film"
    )


def restore_image(
    src: Path, dst: Path, config: RestoreConfig, *, colorizer: Colorizer | None = None
) -> RestoreReport:
    """Colorize one still image; the output keeps its size and (format allowing) bit depth."""
    t0 = time.perf_counter()
    picture = read_picture(src, config.limits.max_pixels)
    colorizer = colorizer or Colorizer(config.weights, config.colorize)
    report = RestoreReport(input=str(src), output=str(dst), kind="image", frames_in=1)
    report.settings = config.to_dict()
    bits = output_bits(dst, picture.bit_depth)
    if bits < picture.bit_depth:
        report.warnings.append(f"{dst.suffix} holds 8 bits: the 16-bit source is written as 8")
    t1 = time.perf_counter()
    y = adjust_luma(picture.luma, picture.bit_depth, True, config.post)
    pixels = config.colorize.band_pixels
    L_low, _ = shrink_frames([y], colorizer, picture.bit_depth, True, 4 * pixels)
    ab_low = colorizer.predict_low(L_low)
    if config.guide.enabled:  # a reference or a hint on a still: applied directly
        from .guide.engine import guide_picture

        guided, report.guide = guide_picture(
            L_low[0, 0].float().cpu().numpy(),
            ab_low[0].float().cpu().numpy(),
            config.guide,
            colorizer,
            limits=config.limits,
        )
        ab_low = torch.from_numpy(guided)[None].to(L_low.device)
    ab_low = adjust_chroma(ab_low, config.post, L_low)
    coef = colorizer.coefficients(L_low, ab_low)
    rgb = rgb_bands(y, picture.bit_depth, True, coef, bits, colorizer.staging, pixels)
    t2 = time.perf_counter()
    with atomic_output(dst, config.overwrite) as tmp:
        write_picture(tmp, rgb)
    t3 = time.perf_counter()
    report.frames_out = report.frames_model = 1
    report.seconds = {"decode": t1 - t0, "model": t2 - t1, "encode": t3 - t2, "total": t3 - t0}
    report.fps = 1 / max(t3 - t0, 1e-9)
    return report


def restore_sequence(
    seq: ImageSequence,
    dst: Path,
    config: RestoreConfig,
    progress: ProgressCallback | None = None,
    colorizer: Colorizer | None = None,
) -> RestoreReport:
    """Colorize an image sequence as one film, into a film (``dst`` .mov/.mkv/.mp4, in
    segments when long) or numbered images (``dst`` a pattern or a folder: the sequence's
    numbering, format by extension; a rerun goes on after the last complete frame)."""
    if is_pattern(dst) or dst.is_dir():
        if config.segments.cluster is not None:
            raise UsageError(
                f"{dst}: numbered images are written on this machine, frame by frame; drop "
                "--cluster, or write a film (.mov, .mkv) to restore it on the cluster"
            )
        info = probe(seq, config.limits.max_pixels)
        if retiming(config.post, info.time_base, info.avg_rate) is not None:
            raise UsageError(
                f"{dst}: --ivtc and --deinterlace bwdif-field change the frame count, so the "
                "frames cannot keep the scans' numbers; write a film (.mov, .mkv) instead"
            )
        out, warnings = plan_output(dst, seq, info.bit_depth)
        if out.pattern.absolute() == seq.pattern.absolute():
            raise UsageError(f"{out.pattern}: output is the input; choose another folder or name")
        identity = {**run_identity(seq, config), "output": [out.codec, out.pix_fmt]}
        first = prepare(out, identity, config.overwrite, config.segments.resume)
        # references and hints are found by a pre-pass over the whole film: from the start
        warm = 0 if config.guide.enabled else max(0, first - config.segments.overlap_frames)
        if first >= seq.count:  # an interrupted run had written every frame
            report = RestoreReport(input=str(seq), output=str(out), kind="sequence")
            report.warnings.append(f"all {seq.count} frames were written by an earlier run")
        else:
            report = restore_video(
                seq,
                dataclasses.replace(out, first=first),
                config,
                progress,
                colorizer=colorizer,
                window=DecodeWindow(warm, warm, None) if first else None,
                output_from_pts=first if first else None,
                first_index=warm,
            )
        finish(out)
        if first:
            report.warnings.insert(0, f"resumed: {first} frames were written by an earlier run")
        report.warnings[:0] = warnings
    elif dst.suffix.lower() in KEEP_VIDEO_EXTENSIONS:
        if should_segment(probe(seq, config.limits.max_pixels), config):
            runner = None
            if config.segments.cluster is not None:
                runner = ray_runner(config.segments.cluster)
            report = restore_segmented(
                seq, dst, config, progress, colorizer=colorizer, runner=runner
            )
        else:
            report = restore_video(seq, dst, config, progress, colorizer=colorizer)
    else:
        raise UsageError(
            f"{dst}: write the film as .mov, .mkv or .mp4, or as numbered images with a "
            "pattern such as out/reel_%06d.dpx (or a folder)"
        )
    report.kind = "sequence"
    if seq.rate_source == "default":
        report.warnings.append(
            f"the scans carry no frame rate: {seq.rate} fps assumed (--fps sets it)"
        )
    if report.media is not None:
        report.media["sequence"] = {
            "pattern": str(seq.pattern),
            "start": seq.start,
            "frames": seq.count,
            "rate": str(seq.rate),
            "rate_from": seq.rate_source,
            "timecode": seq.timecode,
        }
    return report
