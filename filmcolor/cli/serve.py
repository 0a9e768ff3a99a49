"""``filmcolor serve``: the watch daemon plus a local web app over its job store.

The command takes every ``filmcolor watch`` option (the same click parameters, so help,
ranges and defaults stay one) plus the server's own.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import click

from ..daemon.service import WatchOptions
from ..errors import SettingValueError, UsageError
from .common import errors_to_exit_codes, option_error
from .options import effective_config
from .watch import _setup_watch_logging, watch

SERVE_EXIT_CODES_HELP = """\b
Exit codes:
  0    stopped by SIGTERM/SIGINT (running jobs finished or queued again)
  1    internal error, or a worker process could not start
  2    usage: bad option or folder, a non-loopback --host without --token, the port is
       taken, the job database is held by another daemon
  3    input: IN_DIR does not exist
  5    weights: missing or invalid weights file
"""

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


class SizeType(click.ParamType):
    """A size in bytes: ``500M``, ``2G``, ``1.5GiB``, ``1048576``."""

    name = "size"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        match = _SIZE.fullmatch(str(value).strip())
        if match is None or float(match.group(1)) <= 0:
            self.fail(f"{value!r} is not a size; give bytes or e.g. 500M, 2G", param, ctx)
        return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


#: watch's parameters that serve takes over as they are.
_WATCH_PARAMS = [p for p in watch.params if p.name != "help"]


def _serve(
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
    host: str,
    port: int,
    token: str | None,
    max_upload: int,
    presets_dir: Path | None,
    **options: Any,
) -> None:
    from ..daemon import WatchService
    from ..daemon.queue import JobQueue

    _setup_watch_logging(log_json, verbose)
    with errors_to_exit_codes(verbose):
        try:
            from ..serve import ServeSettings, create_app, serve_forever
            from ..serve.server import bind, is_loopback
        except ImportError as exc:
            raise UsageError(
                f"'filmcolor serve' needs the serve extra ({exc.name} is missing); "
                'install it with: pip install "filmcolor[serve]"'
            ) from None
        loopback = is_loopback(host)
        if not loopback and not token:
            raise UsageError(
                f"--host {host} would let other machines reach the queue and upload files "
                "without a password; give --token TOKEN (or FILMCOLOR_SERVE_TOKEN), or keep "
                "the default 127.0.0.1"
            )
        if presets_dir is not None and not presets_dir.is_dir():
            raise UsageError(
                f"{presets_dir}: no such folder; give --presets a folder of TOML files"
            )
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
                presets_dir=presets_dir.resolve() if presets_dir else None,
            )
        except SettingValueError as exc:
            raise option_error(exc, serve, exc.name) from None
        service = WatchService(watch_options)
        queue = JobQueue(
            service.state,
            service.in_dir,
            service.out_dir,
            service.failed_dir,
            service.done_dir,
            watch_options.presets_dir,
            config.limits.max_pixels,
            wake=service.wake,
        )
        settings = ServeSettings(
            config=config,
            token=token or None,
            max_upload=max_upload,
            presets_dir=watch_options.presets_dir,
            allowed_hosts=_loopback_names(port) if loopback else None,
        )
        sock = bind(host, port)
        if service.in_dir.is_dir():
            queue.clear_stale_uploads()
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host and not host.startswith("[") else host

        def ready() -> None:
            click.echo(f"filmcolor: serving http://{shown}:{bound}/", err=True)

        code = serve_forever(service, create_app(queue, settings), sock, settings.stopping, ready)
    sys.exit(code)


def _loopback_names(port: int) -> tuple[str, ...]:
    del port  # the Host header's port is not checked: the name is what rebinding changes
    return ("127.0.0.1", "localhost", "::1", "[::1]")


serve = click.Command(
    "serve",
    callback=click.pass_context(_serve),
    epilog=SERVE_EXIT_CODES_HELP,
    help="""Run the watch daemon on IN_DIR plus a local web page and JSON API over its queue.

    The page shows each job's state, progress, fps and ETA live, its settings, log, report
    and error, with retry and cancel, and a before/after view of the film; files uploaded
    there (with a look or preset each) go into IN_DIR and are colorized into OUT_DIR like
    any dropped file. Takes every 'filmcolor watch' option. Binds 127.0.0.1 unless --host
    says otherwise; another address needs --token. Needs the serve extra:
    pip install "filmcolor[serve]".
    """,
    params=[
        *_WATCH_PARAMS,
        click.Option(
            ["--host"],
            default="127.0.0.1",
            show_default=True,
            help="Address to listen on; anything but the loopback needs --token.",
        ),
        click.Option(
            ["--port"],
            type=click.IntRange(0, 65535),
            default=8765,
            show_default=True,
            help="TCP port (0: any free one; the address is printed).",
        ),
        click.Option(
            ["--token"],
            envvar="FILMCOLOR_SERVE_TOKEN",
            default=None,
            metavar="TOKEN",
            help="Require this token on every request (Authorization: Bearer TOKEN, or open "
            "the page once as /?token=TOKEN). Also read from FILMCOLOR_SERVE_TOKEN.",
        ),
        click.Option(
            ["--max-upload"],
            type=SizeType(),
            default="20G",
            show_default=True,
            metavar="SIZE",
            help="Largest upload accepted (bytes, or with K, M, G, T).",
        ),
        click.Option(
            ["--presets", "presets_dir"],
            type=click.Path(path_type=Path, file_okay=False),
            default=None,
            metavar="DIR",
            help="Folder of NAME.toml settings files (as for --config) offered per upload.",
        ),
    ],
)
