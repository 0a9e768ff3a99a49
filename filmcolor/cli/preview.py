"""``filmcolor preview``: a PNG contact sheet to judge settings before a full run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import UsageError
from .common import EXIT_CODES_HELP, TimeType, errors_to_exit_codes, setup_logging
from .options import (
    effective_config,
    max_pixels_option,
    model_options,
    post_options,
    settings_options,
)


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--at",
    "times",
    type=TimeType(),
    multiple=True,
    help="A time to show, as seconds (12.5) or [HH:]MM:SS[.mmm] (00:00:12.500); the frame at "
    "or just after it is taken. Repeatable; default: three evenly spaced frames.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="SHEET.png",
    help="PNG to write; default: INPUT's name with -preview.png, beside INPUT.",
)
@click.option(
    "--tile-width",
    type=click.IntRange(64, 4096),
    default=480,
    show_default=True,
    help="Width of each picture on the sheet, in pixels.",
)
@settings_options
@model_options
@max_pixels_option
@post_options
@click.option("--overwrite", is_flag=True, help="Replace the sheet if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="Do not say where the sheet went.")
@click.option("-v", "--verbose", is_flag=True, help="Log details; show tracebacks.")
@click.pass_context
def preview(
    ctx: click.Context,
    input_path: Path,
    times: tuple[float, ...],
    output: Path | None,
    tile_width: int,
    config_file: Path | None,
    overwrite: bool,
    quiet: bool,
    verbose: bool,
    **options: Any,
) -> None:
    """Write a PNG contact sheet to judge settings before a full run.

    One row per frame (one for an image), three labelled columns: the source as it is, the
    colorized picture without post-processing, and with the chosen post-processing (tone
    options applied to the luma before colorizing, colour options to the colour). Takes
    restore's --config file (its encoding settings are ignored here), --look, colour, tone
    and model options; deflicker, denoise and deinterlace work across frames and are not
    shown. A video's TIME counts from its first frame; INPUT may be an image sequence's
    pattern ('scans/reel_%06d.dpx'), whose TIME counts from its first scan.
    """
    from ..atomic import check_output_path
    from ..preview import default_output_path, preview_sheet, write_sheet

    setup_logging(verbose)
    with errors_to_exit_codes(verbose):
        config, _ = effective_config(ctx, options, config_file, overwrite)
        if input_path.is_dir():
            raise UsageError(f"{input_path}: is a folder; preview one video or image of it")
        out = output if output is not None else default_output_path(input_path)
        if out.suffix.lower() != ".png":
            raise UsageError(f"{out}: the preview sheet is a PNG; give a name ending in .png")
        check_output_path(out, overwrite)
        sheet = preview_sheet(input_path, list(times) or None, config, tile_width=tile_width)
        write_sheet(out, sheet, overwrite)
        if not quiet:
            click.echo(f"filmcolor: wrote {out}", err=True)
