"""``filmcolor eval``: score a colouring against its colour original."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError
from .common import errors_to_exit_codes, progress_display

EVAL_EXIT_CODES_HELP = """\b
Exit codes:
  0    done
  1    internal error (a bug: please report it)
  2    usage: bad option, a file with a folder, an image with a video, --plot on images
  3    input: missing, empty or not media, sizes differ, no frame time in common
  4    cannot write the --plot PNG (disk full, permissions)
  130  interrupted (Ctrl-C)
"""


@click.command("eval", epilog=EVAL_EXIT_CODES_HELP)
@click.argument("reference", type=click.Path(path_type=Path))
@click.argument("candidate", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (inf PSNR and nan are null).")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="CURVES.png",
    help="Videos: write per-frame curves (PSNR, colourfulness, chroma warp error) as this PNG; "
    "with several videos, one PNG each: CURVES-VIDEONAME.png.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def evaluate(
    reference: Path, candidate: Path, as_json: bool, plot_path: Path | None, quiet: bool
) -> None:
    """Score CANDIDATE against REFERENCE: PSNR, SSIM (BT.601 luma), colorfulness, ΔCF; for
    videos also CDC and warp error, on RGB and on the chroma (Lab a, b) alone.

    Two images, two videos (frames paired by presentation time), or two folders of either
    whose files are paired by name without extension. Sizes must match. PSNR is inf for
    identical pictures. For videos the reference's own CDC and warp error are shown too: the
    floor a consistent colouring can reach. The warp error's optical flow is OpenCV DIS
    (preset medium, which works at half the picture's size). The table rounds (CDC and warp
    error in thousandths); --json keeps every figure. --plot works on videos only.
    """
    with errors_to_exit_codes(False):
        from ..metrics import evaluate_paths, input_kind, jsonable
        from ..plot import plot_per_frame

        if plot_path is not None:
            if input_kind(reference, candidate) != "video":
                raise UsageError(
                    "--plot draws per-frame curves of videos; REFERENCE and CANDIDATE are "
                    "images, drop --plot (or use --json for the per-image values)"
                )
            if plot_path.suffix.lower() != ".png":
                raise UsageError(f"{plot_path}: --plot writes a PNG; give a name ending in .png")
        with progress_display(quiet) as progress:
            result = evaluate_paths(reference, candidate, progress=progress)
        for w in result["warnings"]:
            click.echo(f"filmcolor: warning: {w}", err=True)
        if plot_path is not None:
            videos = result["per_video"]
            for video in videos:
                path = plot_path
                if len(videos) > 1:
                    path = plot_path.with_name(f"{plot_path.stem}-{video['name']}.png")
                plot_per_frame(video, path)
                click.echo(f"filmcolor: wrote {path}", err=True)
        if as_json:
            click.echo(json.dumps(jsonable(result), indent=2))
            return
        from rich.console import Console

        Console(highlight=False).print(_eval_table(result))


def _eval_table(result: dict[str, Any]) -> Any:
    """``evaluate_paths``' result as a rich table of at most 80 columns for names up to 10
    characters (longer names wrap in their column, figures never): PSNR and SSIM to 2 and 4
    decimals, CDC and warp error in thousandths to 3 significant digits."""
    import math

    from rich.table import Table

    def milli(value: float) -> str:
        v = 1000 * value
        if not math.isfinite(v):
            return "nan" if math.isnan(v) else str(v)
        digits = 0 if abs(v) >= 99.95 else 1 if abs(v) >= 9.995 else 2 if abs(v) >= 0.9995 else 3
        return f"{v:.{digits}f}"

    def with_mean(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(rows) > 1:
            return [*rows, {**result, "name": f"mean of {len(rows)}"}]
        return rows

    if result["kind"] == "image":
        table = Table("image", "PSNR dB", "SSIM", "SSIM RGB", "CF cand", "CF ref", "ΔCF")
        table.columns[0].overflow = "fold"
        keys = ("psnr", "ssim", "ssim_rgb", "colorfulness_candidate", "colorfulness_reference")
        keys += ("delta_colorfulness",)
        for m in with_mean(result["per_image"]):
            cells = (f"{m[k]:.4f}" if "ssim" in k else f"{m[k]:.2f}" for k in keys)
            table.add_row(m["name"], *cells)
        return table
    headers = ("PSNR\ndB", "SSIM", "CF", "ΔCF", "CDC\nRGB", "CDC\nab", "warp\nRGB", "warp\nab")
    table = Table("video", *headers)
    table.columns[0].overflow = "fold"
    for column in table.columns[1:]:
        column.justify, column.no_wrap = "right", True
    table.caption = (
        f"{result['frames']} paired frames. CDC and warp error in thousandths (1.23 means "
        "0.00123), lower is steadier; ref: the reference's own (the floor); ab: Lab chroma."
    )
    temporal_keys = ("cdc_rgb", "cdc_chroma", "warp_error_rgb", "warp_error_chroma")
    for v in with_mean(result["per_video"]):
        cells = [f"{v['psnr']:.2f}", f"{v['ssim']:.4f}", f"{v['colorfulness_candidate']:.1f}"]
        cells.append(f"{v['delta_colorfulness']:.2f}")
        table.add_row(v["name"], *cells, *(milli(v[k]) for k in temporal_keys))
        ref = (milli(v[f"reference_{k}"]) for k in temporal_keys)
        cf_ref = f"{v['colorfulness_reference']:.1f}"
        table.add_row("  ref", "", "", cf_ref, "", *ref, end_section=True)
    return table
