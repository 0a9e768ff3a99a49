"""What every command shares: errors → exit codes, SIGTERM, the progress display, logging,
and the click types of bounded numbers, times and hue bands."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from ..config import HueRange, bounds_of
from ..errors import EXIT_INTERRUPTED, FilmcolorError, SettingValueError, UsageError

EXIT_CODES_HELP = """\b
Exit codes:
  0    done
  1    internal error (a bug: please report it)
  2    usage: bad option, OUTPUT exists without --overwrite, container cannot hold a stream
  3    input: missing, empty, not media, no video stream, larger than --max-pixels
  4    media: cannot decode or encode (or damaged input with --strict)
  5    weights: missing or invalid weights file, or NaN/infinite colour from it
  130  interrupted (Ctrl-C); nothing is left at OUTPUT
"""

_stderr = None


def console() -> Any:
    """The rich console on stderr (progress, tables of warnings), made on first use."""
    global _stderr
    if _stderr is None:
        from rich.console import Console

        _stderr = Console(stderr=True, highlight=False)
    return _stderr


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"filmcolor: error: {message}", err=True)
    sys.exit(code)


@contextmanager
def errors_to_exit_codes(
    verbose: bool, interrupted_message: str = "interrupted; nothing was written to the output"
) -> Iterator[None]:
    """Map library errors to a one-line message and the documented exit code. SIGTERM is
    handled like Ctrl-C, so a stopped run cleans up its temporary files too."""
    import signal

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except FilmcolorError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail(interrupted_message, EXIT_INTERRUPTED)
    except click.exceptions.Exit:
        raise
    except OSError as exc:  # disk full, read-only folder, permissions: say which file
        name = f"{exc.filename}: " if exc.filename else ""
        fail(f"{name}{exc.strerror or exc}; check the disk and the folder's permissions", 4)
    except Exception as exc:
        if verbose:
            raise
        fail(f"internal error: {type(exc).__name__}: {exc} (rerun with -v and report it)", 1)
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_cleanly_on_sigterm(command: str | None) -> None:
    """Until a command installs its own handling (``errors_to_exit_codes``, the daemon's),
    SIGTERM ends the process with the documented code and one line instead of the default
    death by signal (143): loading torch alone takes seconds, and nothing is written yet.
    A daemon stopped before it started exits 0, as a stopped daemon does."""
    import signal

    code = 0 if command in ("watch", "serve") else EXIT_INTERRUPTED

    def on_term(signum: int, frame: Any) -> None:
        if code:
            fail("interrupted while starting; nothing was written", code)
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)


@contextmanager
def progress_display(quiet: bool) -> Iterator[Callable[[Any], None] | None]:
    """A progress callback: a rich bar on a terminal, a plain line every 5 s otherwise."""
    if quiet:
        yield None
        return
    stderr = console()
    if stderr.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fps]:.1f} fps"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=stderr, transient=False) as bar:
            tasks: dict[str, Any] = {}

            def update(p: Any) -> None:
                if p.path not in tasks:
                    tasks[p.path] = bar.add_task(Path(p.path).name, total=p.frames_total, fps=0.0)
                bar.update(tasks[p.path], completed=p.frames_done, total=p.frames_total, fps=p.fps)

            yield update
        return
    last = [0.0]

    def plain(p: Any) -> None:
        now = time.monotonic()
        if now - last[0] >= 5.0 or p.finished:
            last[0] = now
            total = f"/{p.frames_total}" if p.frames_total else ""
            click.echo(
                f"{Path(p.path).name}: {p.frames_done}{total} frames, {p.fps:.1f} fps", err=True
            )

    yield plain


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="filmcolor: %(levelname)s: %(name)s: %(message)s",
        stream=sys.stderr,
    )


class HueRangeType(click.ParamType):
    """``--hue-range CENTER:WIDTH:SAT[:SHIFT]`` → ``HueRange``."""

    name = "CENTER:WIDTH:SAT[:SHIFT]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, HueRange):
            return value
        from ..settings import parse_hue_range

        try:
            return parse_hue_range(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class TimeType(click.ParamType):
    """``--at TIME``: seconds (``12.5``) or ``[HH:]MM:SS[.mmm]`` → seconds (float)."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        from ..preview import parse_time

        try:
            return parse_time(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class BoundedFloat(click.FloatRange):
    """A number for a bounded config field (see ``bounded``): parsed here, range-checked by
    the config."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return click.types.FloatParamType.convert(self, value, param, ctx)


class BoundedInt(click.IntRange):
    """A whole number for a bounded config field (see ``bounded``)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return click.types.IntParamType.convert(self, value, param, ctx)


def bounded(config_class: type, name: str) -> click.ParamType:
    """The click type of an option that sets field ``name`` of ``config_class``.

    The range is declared once, on the field (``config.bounded``): --help shows it, and the
    config checks it when it is built, so NaN, infinities and out-of-range values, from the
    command line or a settings file, all end in one line naming the option or the key (exit
    2; see ``option_error``). Here the value is only parsed.
    """
    bounds = bounds_of(config_class, name)
    lo = min([bounds.lo, *bounds.also]) if bounds.lo is not None else None
    kind = BoundedInt if bounds.integer else BoundedFloat
    return kind(lo, bounds.hi, min_open=bounds.lo_open and lo == bounds.lo, max_open=bounds.hi_open)


def flag(command: click.Command, param_name: str) -> str | None:
    """The long option (``--saturation``) of ``command``'s parameter ``param_name``."""
    for param in command.params:
        if param.name == param_name and isinstance(param, click.Option):
            return max(param.opts, key=len)
    return None


def option_error(
    exc: SettingValueError, command: click.Command, param_name: str | None
) -> FilmcolorError:
    """``exc`` re-worded with the option that gave the value: ``--saturation nan: must
    be a finite number, at least 0`` (``exc`` itself when no option sets that field)."""
    long = flag(command, param_name) if param_name is not None else None
    if long is None:
        return exc
    return UsageError(f"{long} {exc.shown}: must be {exc.rule}")


def options(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Apply several click options as one decorator, in the order given (top to bottom)."""

    def decorate(f: Any) -> Any:
        for option in reversed(decorators):
            f = option(f)
        return f

    return decorate
