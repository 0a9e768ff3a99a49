"""``filmcolor keyframes``: one gray frame per shot, to colour by hand."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import LimitsConfig
from ..errors import SettingValueError
from .common import (
    EXIT_CODES_HELP,
    errors_to_exit_codes,
    option_error,
    progress_display,
    setup_logging,
)
from .options import max_pixels_option


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    metavar="DIR",
    help="Folder for the pictures and keyframes.json (created if missing).",
)
@click.option(
    "--pick",
    type=click.Choice(["first", "sharpest"]),
    default="first",
    show_default=True,
    help="Which frame of each shot: its first, or its sharpest (largest Laplacian variance).",
)
@max_pixels_option
@click.option("--overwrite", is_flag=True, help="Replace an earlier export in DIR.")
@click.option("-q", "--quiet", is_flag=True, help="No progress; do not say where files went.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
def keyframes(
    input_path: Path,
    out_dir: Path,
    pick: str,
    max_pixels: int,
    overwrite: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Export one gray frame per shot of INPUT as PNGs named by timecode, to colour by hand.

    Shots are found as 'filmcolor restore' finds them. Each picture is named by its frame's
    time (HH-MM-SS.mmm.png); colour some of them in any image editor, keeping the names, and
    pass the folder back: 'filmcolor restore INPUT -o OUT --references DIR' (pictures
    left gray are passed over). The decoded picture is exported as stored: no display
    rotation. INPUT may be an image sequence's pattern ('scans/reel_%06d.dpx'): its times
    count from the first scan, as restore reads them.
    """
    from ..guide.keyframes import export_keyframes

    setup_logging(verbose)
    with errors_to_exit_codes(verbose):
        try:
            limits = LimitsConfig(max_pixels=max_pixels)
        except SettingValueError as exc:
            raise option_error(exc, keyframes, "max_pixels") from None
        with progress_display(quiet) as progress:
            written = export_keyframes(
                input_path,
                out_dir,
                pick=pick,
                overwrite=overwrite,
                progress=progress,  # type: ignore[arg-type]
                max_pixels=limits.max_pixels,
            )
        if not quiet:
            click.echo(
                f"filmcolor: wrote {len(written)} keyframe(s), one per shot, and "
                f"keyframes.json to {out_dir}",
                err=True,
            )
