"""``restore()``: the one entry point that chooses how to restore what it is given.

- an image: ``restore_image`` (one picture through the model, the guide and the adjustments);
- a folder: ``restore_folder``, every file in it restored in turn with one model;
- a video: ``pipeline.restore_video``, one pass over the film; or, for a long film or with
  ``--cluster``, ``segments.restore_segmented`` (its parts on this machine, or as Ray tasks
  through ``cluster.ray_runner``).

Layers: this module sits above ``segments``, ``cluster`` and ``pipeline``; ``batch`` and the
daemon sit above it.
"""

from __future__ import annotations

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
from .media.images import output_bits, read_picture, write_picture
from .media.kinds import KEEP_VIDEO_EXTENSIONS, folder_output_name, is_image_path
from .media.probe import check_input_file, probe
from .model.colorizer import Colorizer
from .pipeline import restore_video
from .post.adjust import adjust_chroma, adjust_luma
from .report import FolderReport, ProgressCallback, RestoreReport
from .segments import restore_segmented, should_segment

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
    if src_p.is_dir():
        return restore_folder(src_p, dst_p, config, progress, colorizer=colorizer)
    check_input_file(src_p)
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
