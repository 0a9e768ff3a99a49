"""``filmcolor batch``: a folder on a Ray cluster, one task per file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import EXIT_CODES_HELP, errors_to_exit_codes, setup_logging
from .options import (
    effective_config,
    max_pixels_option,
    model_options,
    pipeline_options,
    post_options,
    run_options,
    settings_options,
)
from .restore import run_and_report


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("in_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=True),
    required=True,
    metavar="OUT_DIR",
    help="Folder for the colorized files (created if missing).",
)
@click.option(
    "--cluster",
    required=True,
    metavar="ADDRESS",
    help="The Ray cluster: ray://HOST:PORT (its head's client port), auto (a cluster "
    "started here with 'ray start') or local (start one here). Needs "
    "pip install 'filmcolor[cluster]'.",
)
@settings_options
@model_options
@pipeline_options
@max_pixels_option
@post_options
@run_options
@click.pass_context
def batch(
    ctx: click.Context,
    in_dir: Path,
    output: Path,
    cluster: str,
    config_file: Path | None,
    overwrite: bool,
    report: Path | None,
    quiet: bool,
    verbose: bool,
    **options: Any,
) -> None:
    """Colorize every file in DIR into OUT_DIR on a Ray cluster, one task per file.

    The same files, output names and per-file failures as 'filmcolor restore DIR -o OUT'
    (which runs them here, one after another). A film longer than segment-seconds (300 by
    default; settable in --config) is restored in segments by the worker that takes it, with
    resume. DIR, OUT_DIR and --weights must be on storage that every node of the cluster
    sees under the same path. Settings as in 'filmcolor restore'.
    """
    from ..batch import restore_batch

    setup_logging(verbose)
    with errors_to_exit_codes(verbose):
        config, sources = effective_config(ctx, options, config_file, overwrite)
        run_and_report(
            lambda progress: restore_batch(in_dir, output, config, cluster, progress),
            sources,
            report,
            overwrite,
            quiet,
        )
