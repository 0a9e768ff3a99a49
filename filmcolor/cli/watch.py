"""``filmcolor watch`` (the watch-folder daemon) and ``filmcolor jobs`` (its job list)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from ..daemon.service import WatchOptions
from ..errors import SettingValueError
from .common import bounded, errors_to_exit_codes, option_error
from .options import (
    effective_config,
    max_pixels_option,
    model_options,
    pipeline_options,
    post_options,
    settings_options,
)

WATCH_EXIT_CODES_HELP = """\b
Exit codes:
  0    stopped by SIGTERM/SIGINT (running jobs finished or queued again)
  1    internal error, or a worker process could not start
  2    usage: bad option or folder, the job database is held by another daemon
  3    input: IN_DIR does not exist
  5    weights: missing or invalid weights file
"""


def _setup_watch_logging(log_json: bool, verbose: bool) -> None:
    from ..daemon.logs import JsonEventFormatter, PlainEventFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonEventFormatter() if log_json else PlainEventFormatter())
    daemon_log = logging.getLogger("filmcolor.daemon")
    daemon_log.handlers[:] = [handler]
    daemon_log.setLevel(logging.DEBUG if verbose else logging.INFO)
    daemon_log.propagate = False


@click.command(epilog=WATCH_EXIT_CODES_HELP)
@click.argument("in_dir", metavar="IN_DIR", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    metavar="OUT_DIR",
    help="Folder for the colorized files (created if missing).",
)
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="PATH.db",
    help="Job database (SQLite; keep it on a local disk); default OUT_DIR/.filmcolor/jobs.db.",
)
@click.option(
    "--done",
    "done_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    metavar="DIR",
    help="Move each finished source here; default: leave it in place (never redone).",
)
@click.option(
    "--failed",
    "failed_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    metavar="DIR",
    help="Quarantine for sources that failed every try, each with NAME.error.json; "
    "default IN_DIR/failed.",
)
@click.option(
    "--poll",
    type=bounded(WatchOptions, "poll"),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between full rescans of IN_DIR (besides inotify events).",
)
@click.option(
    "--polling",
    is_flag=True,
    help="Rescans only, no inotify: for network filesystems (NFS, SMB).",
)
@click.option(
    "--settle",
    type=bounded(WatchOptions, "settle"),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="A file is taken once its size and mtime stay unchanged this long.",
)
@click.option(
    "--retries",
    type=bounded(WatchOptions, "retries"),
    default=2,
    show_default=True,
    metavar="N",
    help="Retries after a failed try, before the file is quarantined.",
)
@click.option(
    "--backoff",
    type=bounded(WatchOptions, "backoff"),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait before the first retry; doubled for each further one.",
)
@click.option(
    "--workers",
    type=bounded(WatchOptions, "workers"),
    default=1,
    show_default=True,
    metavar="N",
    help="Jobs run at once, each in its own worker process.",
)
@click.option(
    "--grace",
    type=bounded(WatchOptions, "grace"),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="On SIGTERM/SIGINT, let running jobs finish this long, then stop them and queue "
    "them again.",
)
@settings_options
@model_options
@pipeline_options
@max_pixels_option
@post_options
@click.option("--log-json", is_flag=True, help="Log one JSON object per line.")
@click.option("-v", "--verbose", is_flag=True, help="Log debug events; show tracebacks.")
@click.pass_context
def watch(
    ctx: click.Context,
    in_dir: Path,
    out_dir: Path,
    state: Path | None,
    done_dir: Path | None,
    failed_dir: Path | None,
    poll: float,
    polling: bool,
    settle: float,
    retries: int,
    backoff: float,
    workers: int,
    grace: float,
    config_file: Path | None,
    log_json: bool,
    verbose: bool,
    **options: Any,
) -> None:
    """Colorize every video or image dropped into IN_DIR into OUT_DIR, exactly once.

    A file is taken once its size and mtime have been stable for --settle seconds (hidden,
    .part/.tmp/.crdownload and non-media names are ignored; files directly in IN_DIR only).
    Jobs live in a SQLite database (see 'filmcolor jobs'); each runs in a worker process,
    writes to a staging file and is renamed into OUT_DIR. Output names follow restore's
    folder policy; when two inputs would share one, the later is NAME-JOBID. A failed file is
    retried with backoff, then moved to --failed with NAME.error.json. SIGTERM/SIGINT stop
    cleanly (exit 0); the next start carries on. Restore settings come from the options
    here and --config FILE.toml, as in 'filmcolor restore'.
    """
    from ..daemon import WatchService

    _setup_watch_logging(log_json, verbose)
    with errors_to_exit_codes(verbose):
        config, _ = effective_config(ctx, options, config_file, False)
        try:
            watch_options = WatchOptions(
                in_dir=in_dir,
                out_dir=out_dir,
                config=config,
                state=state,
                done_dir=done_dir,
                failed_dir=failed_dir,
                poll=poll,
                settle=settle,
                retries=retries,
                backoff=backoff,
                workers=workers,
                polling=polling,
                grace=grace,
            )
        except SettingValueError as exc:
            raise option_error(exc, watch, exc.name) from None
        code = WatchService(watch_options).run()
    sys.exit(code)


@click.command("jobs")
@click.option(
    "--state",
    type=click.Path(path_type=Path),
    default=None,
    metavar="PATH.db",
    help="The job database, or the OUT_DIR holding .filmcolor/jobs.db; default: "
    ".filmcolor/jobs.db in the current folder.",
)
@click.option(
    "--status",
    type=click.Choice(["queued", "running", "done", "failed", "skipped", "cancelled"]),
    default=None,
    help="Only jobs with this status.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every field of every job).")
def jobs_command(state: Path | None, status: str | None, as_json: bool) -> None:
    """List the jobs of a 'filmcolor watch' daemon and their states (read from its database)."""
    from ..daemon.jobs import JobStore
    from ..daemon.service import STATE_DIR, STATE_NAME

    with errors_to_exit_codes(False):
        path = state if state is not None else Path(STATE_DIR) / STATE_NAME
        if path.is_dir():
            path = path / STATE_DIR / STATE_NAME
        with JobStore(path, create=False) as store:
            rows = store.all(status)
        if as_json:
            click.echo(json.dumps([job.to_dict() for job in rows], indent=2, ensure_ascii=False))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("id", "status", "tries", "path", "output", "error")
        for job in rows:
            error = (job.last_error or "") if job.status != "done" else ""
            table.add_row(
                str(job.id), job.status, str(job.attempts), job.path, job.output or "", error
            )
        counts: dict[str, int] = {}
        for job in rows:
            counts[job.status] = counts.get(job.status, 0) + 1
        table.caption = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no jobs"
        Console(highlight=False).print(table)
