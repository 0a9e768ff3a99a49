"""``filmcolor restore``: one video, image or folder, here."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .common import EXIT_CODES_HELP, errors_to_exit_codes, fail, progress_display, setup_logging
from .options import (
    effective_config,
    guide_options,
    max_pixels_option,
    model_options,
    pipeline_options,
    post_options,
    run_options,
    segment_options,
    sequence_options,
    settings_options,
)


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Output file (or folder, when INPUT is a folder); for an image sequence a film "
    "(.mov/.mkv/.mp4) or numbered images ('out/reel_%06d.dpx', or a folder).",
)
@sequence_options
@settings_options
@model_options
@pipeline_options
@segment_options
@guide_options
@max_pixels_option
@post_options
@run_options
@click.pass_context
def restore(
    ctx: click.Context,
    input_path: Path,
    output: Path,
    config_file: Path | None,
    overwrite: bool,
    report: Path | None,
    quiet: bool,
    verbose: bool,
    **options: Any,
) -> None:
    """Colorize INPUT (a video, an image, a folder of them, or an image sequence) into OUTPUT.

    An image sequence is one film: a pattern such as 'scans/reel_%06d.dpx' (any start
    number), or a folder of numbered scans with --sequence.

    Video keeps its frames, timestamps, audio, subtitles, metadata and chapters; only colour
    is added. Odd-sized video is written 4:4:4 (x264/x265 cannot do 4:2:0 at odd sizes).
    In a folder run, images keep their name and format, and videos keep their name and
    container when it is .mp4/.m4v/.mov/.mkv (others become .mkv).

    Colour options act on the predicted colour only; tone options change the film's luma
    and are all off by default. Settings come from, lowest to highest: the defaults, --look,
    --config FILE.toml, the options given here. Try them first with 'filmcolor preview'.
    """
    from ..facade import restore as run_restore

    setup_logging(verbose)
    with errors_to_exit_codes(verbose):
        config, sources = effective_config(ctx, options, config_file, overwrite)
        run_and_report(
            lambda progress: run_restore(input_path, output, config, progress),
            sources,
            report,
            overwrite,
            quiet,
        )


def run_and_report(
    run: Callable[[Any], Any],
    sources: dict[str, Any],
    report: Path | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Run ``run(progress)`` (a restore or a batch) under the progress display, then write
    the ``--report``, print the warnings, a folder's failures and where the output went,
    and exit with its code."""
    from ..report import FolderReport

    if report is not None and report.exists() and not overwrite:
        fail(f"{report}: report file already exists; pass --overwrite to replace it", 2)
    if report is not None and not report.parent.is_dir():
        fail(f"{report.parent}: report folder does not exist; create it first", 2)
    with progress_display(quiet) as progress:
        result = run(progress)
    if report is not None:
        data = result.to_dict()
        for entry in [data, *data.get("files", [])]:
            if isinstance(entry.get("settings"), dict):
                entry["settings"]["sources"] = sources
        from ..atomic import atomic_output

        with atomic_output(report, overwrite) as tmp:
            tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    reports = result.files if isinstance(result, FolderReport) else [result]
    if not quiet:
        if isinstance(result, FolderReport):
            for w in result.warnings:
                click.echo(f"filmcolor: warning: {result.input}: {w}", err=True)
        for r in reports:
            for w in r.warnings:
                click.echo(f"filmcolor: warning: {r.input}: {w}", err=True)
    if not isinstance(result, FolderReport):
        if not quiet:
            click.echo(f"filmcolor: wrote {result.output}", err=True)
        return
    for failed in result.failed:
        click.echo(f"filmcolor: error: {failed['error']}", err=True)
    if not quiet:
        click.echo(
            f"{len(result.files)} file(s) restored, {len(result.failed)} failed; "
            f"wrote them to {result.output}",
            err=True,
        )
    if result.exit_code:
        sys.exit(result.exit_code)
