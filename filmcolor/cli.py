"""The ``filmcolor`` command: parse options, call the library, show progress, map errors.

The only module that imports click or rich; everything else is in the library.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from click.core import ParameterSource

from . import __version__
from .config import (
    ENCODER_PRESETS,
    LOOKS,
    ColorizeConfig,
    EncodeConfig,
    HueRange,
    LimitsConfig,
    LossConfig,
    PostConfig,
    RestoreConfig,
    SegmentConfig,
    TemporalConfig,
    TrainConfig,
    bounds_of,
)
from .daemon.service import WatchOptions
from .errors import EXIT_INTERRUPTED, FilmcolorError, SettingValueError, UsageError
from .settings import (
    SETTING_KEYS,
    build_restore_config,
    parse_hue_range,
    read_settings_file,
    setting_of,
)

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
# Option defaults come from the config dataclasses: one place for every default.
_COLORIZE = ColorizeConfig()
_ENCODE = EncodeConfig()
_TEMPORAL = TemporalConfig()
_SEGMENTS = SegmentConfig()
_POST = PostConfig()
_LIMITS = LimitsConfig()


def _console() -> Any:
    global _stderr
    if _stderr is None:
        from rich.console import Console

        _stderr = Console(stderr=True, highlight=False)
    return _stderr


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"filmcolor: error: {message}", err=True)
    sys.exit(code)


@contextmanager
def _errors_to_exit_codes(
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
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail(interrupted_message, EXIT_INTERRUPTED)
    except click.exceptions.Exit:
        raise
    except OSError as exc:  # disk full, read-only folder, permissions: say which file
        name = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{name}{exc.strerror or exc}; check the disk and the folder's permissions", 4)
    except Exception as exc:
        if verbose:
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (rerun with -v and report it)", 1)
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _progress_display(quiet: bool) -> Iterator[Callable[[Any], None] | None]:
    """A progress callback: a rich bar on a terminal, a plain line every 5 s otherwise."""
    if quiet:
        yield None
        return
    console = _console()
    if console.is_terminal:
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
        with Progress(*columns, console=console, transient=False) as bar:
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="filmcolor")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Restore and colorize black-and-white films and photographs."""
    _stop_cleanly_on_sigterm(ctx.invoked_subcommand)


def _stop_cleanly_on_sigterm(command: str | None) -> None:
    """Until a command installs its own handling (``_errors_to_exit_codes``, the daemon's),
    SIGTERM ends the process with the documented code and one line instead of the default
    death by signal (143): loading torch alone takes seconds, and nothing is written yet.
    A daemon stopped before it started exits 0, as a stopped daemon does."""
    import signal

    code = 0 if command in ("watch", "serve") else EXIT_INTERRUPTED

    def on_term(signum: int, frame: Any) -> None:
        if code:
            _fail("interrupted while starting; nothing was written", code)
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)


class _HueRangeType(click.ParamType):
    """``--hue-range CENTER:WIDTH:SAT[:SHIFT]`` → ``HueRange``."""

    name = "CENTER:WIDTH:SAT[:SHIFT]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, HueRange):
            return value
        try:
            return parse_hue_range(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class _TimeType(click.ParamType):
    """``--at TIME``: seconds (``12.5``) or ``[HH:]MM:SS[.mmm]`` → seconds (float)."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        from .preview import parse_time

        try:
            return parse_time(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class _BoundedFloat(click.FloatRange):
    """A number for a bounded config field (see ``_bounded``): parsed here, range-checked by
    the config."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return click.types.FloatParamType.convert(self, value, param, ctx)


class _BoundedInt(click.IntRange):
    """A whole number for a bounded config field (see ``_bounded``)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return click.types.IntParamType.convert(self, value, param, ctx)


def _bounded(config_class: type, name: str) -> click.ParamType:
    """The click type of an option that sets field ``name`` of ``config_class``.

    The range is declared once, on the field (``config.bounded``): --help shows it, and the
    config checks it when it is built, so NaN, infinities and out-of-range values, from the
    command line or a settings file, all end in one line naming the option or the key (exit
    2; see ``_setting_error``). Here the value is only parsed.
    """
    bounds = bounds_of(config_class, name)
    lo = min([bounds.lo, *bounds.also]) if bounds.lo is not None else None
    kind = _BoundedInt if bounds.integer else _BoundedFloat
    return kind(lo, bounds.hi, min_open=bounds.lo_open and lo == bounds.lo, max_open=bounds.hi_open)


def _flag(command: click.Command, param_name: str) -> str | None:
    """The long option (``--saturation``) of ``command``'s parameter ``param_name``."""
    for param in command.params:
        if param.name == param_name and isinstance(param, click.Option):
            return max(param.opts, key=len)
    return None


def _option_error(
    exc: SettingValueError, command: click.Command, param_name: str | None
) -> FilmcolorError:
    """``exc`` re-worded with the option that gave the value: ``--saturation nan: must
    be a finite number, at least 0`` (``exc`` itself when no option sets that field)."""
    flag = _flag(command, param_name) if param_name is not None else None
    if flag is None:
        return exc
    return UsageError(f"{flag} {exc.shown}: must be {exc.rule}")


def _options(*options: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Apply several click options as one decorator, in the order given (top to bottom)."""

    def decorate(f: Any) -> Any:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


_TONE = "Tone: changes the luma, off by default."

#: --config and --look (restore and preview).
_settings_options = _options(
    click.option(
        "--config",
        "config_file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        metavar="FILE.toml",
        help="Read settings from this TOML file (keys named like these options; post "
        "options may sit in a [post] table; see the README). Options given on the command "
        "line override the file.",
    ),
    click.option(
        "--look",
        type=click.Choice(sorted(LOOKS)),
        default=None,
        help="Colour preset (never touches the luma): the starting values of the colour "
        "options; any colour option set in --config or on the command line overrides it.",
    ),
)

#: The model options (restore and preview).
_model_options = _options(
    click.option(
        "--weights",
        type=click.Path(path_type=Path),
        default=None,
        help="Weights file (.safetensors); default: the shipped weights.",
    ),
    click.option(
        "--device", default=_COLORIZE.device, show_default=True, help="auto, cpu, cuda or cuda:N."
    ),
    click.option(
        "--batch-size",
        type=_bounded(ColorizeConfig, "batch_size"),
        default=_COLORIZE.batch_size,
        show_default=True,
        help="Frames per model call.",
    ),
    click.option(
        "--render-size",
        type=_bounded(ColorizeConfig, "render_size"),
        default=_COLORIZE.render_size,
        show_default=True,
        help="Short side, in pixels, of the picture the model sees.",
    ),
    click.option(
        "--precision",
        type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
        default=_COLORIZE.precision,
        show_default=True,
        help="Network arithmetic: auto is bf16 autocast on CUDA, fp32 on the CPU.",
    ),
    click.option(
        "--compile/--no-compile",
        default=_COLORIZE.compile,
        show_default=True,
        help="torch.compile the network (CUDA; about a minute of warm-up, for long films).",
    ),
)

#: How a run writes and talks (restore and batch).
_run_options = _options(
    click.option("--overwrite", is_flag=True, help="Replace output files that exist."),
    click.option(
        "--report",
        type=click.Path(path_type=Path),
        default=None,
        help="Write a JSON summary here (with the effective settings and their sources).",
    ),
    click.option("-q", "--quiet", is_flag=True, help="No progress, no warnings."),
    click.option("-v", "--verbose", is_flag=True, help="Log details; show tracebacks."),
)

#: Segmented, resumable runs and their scale-out (restore only).
_segment_options = _options(
    click.option(
        "--segment-seconds",
        type=_bounded(SegmentConfig, "segment_seconds"),
        default=_SEGMENTS.segment_seconds,
        show_default=True,
        help="Restore films longer than this in segments of about this length, keeping "
        "finished segments in a work folder so a re-run after a crash redoes only the rest. "
        "0: never segment; else 0.5 to 86400 (a day).",
    ),
    click.option(
        "--work-dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Work folder of a segmented run (default: .OUTPUT.filmcolor-work beside OUTPUT): "
        "a new or empty folder, or one filmcolor made; its files are deleted after success.",
    ),
    click.option(
        "--resume/--no-resume",
        default=_SEGMENTS.resume,
        show_default=True,
        help="Pick up the finished segments of an interrupted run of the same command; "
        "--no-resume starts over.",
    ),
    click.option(
        "--cluster",
        default=None,
        metavar="ADDRESS",
        help="Run the segments on a Ray cluster: ray://HOST:PORT, auto (a cluster running "
        "here) or local (start one here). Needs pip install 'filmcolor[cluster]'.",
    ),
)

#: Reference frames and colour hints (restore); read and checked by ``filmcolor.guide``.
_guide_options = _options(
    click.option(
        "--reference",
        type=click.Path(path_type=Path),
        multiple=True,
        metavar="PATH",
        help="A coloured picture to follow: a coloured frame of the film (named by its "
        "timecode, e.g. 00-01-23.450.png, or found by matching) whose colours are carried "
        "through its shot, or a colour picture of the scene that steers the colours. "
        "Repeatable.",
    ),
    click.option(
        "--references",
        type=click.Path(path_type=Path),
        default=None,
        metavar="DIR|LIST",
        help="A folder of coloured frames named by timecode (HH-MM-SS.mmm.png, as "
        "'filmcolor keyframes' writes them), or a .json/.csv list of time and image.",
    ),
    click.option(
        "--hints",
        type=click.Path(path_type=Path),
        default=None,
        metavar="FILE.json",
        help="Colour hints: points or boxes with a colour over a time range (format in the "
        "README).",
    ),
    click.option(
        "--max-hints",
        type=_bounded(LimitsConfig, "max_hints"),
        default=_LIMITS.max_hints,
        show_default=True,
        metavar="N",
        help="Limit: refuse a --hints file with more hints than this (exit 2).",
    ),
    click.option(
        "--max-references",
        type=_bounded(LimitsConfig, "max_references"),
        default=_LIMITS.max_references,
        show_default=True,
        metavar="N",
        help="Limit: refuse more reference pictures than this, counted before any is read "
        "(--reference files, list entries, a folder's images; exit 2).",
    ),
)

#: The largest picture read (restore, batch, preview, keyframes, watch).
_max_pixels_option = click.option(
    "--max-pixels",
    type=_bounded(LimitsConfig, "max_pixels"),
    default=_LIMITS.max_pixels,
    show_default=True,
    metavar="N",
    help="Limit: refuse a picture (image, video frame, reference) of more than N pixels, "
    "width x height, read from its header before decoding (exit 3). The default, 2**26, is "
    "8192 x 8192.",
)

#: The post-processing options (restore and preview): colour, then tone.
_post_options = _options(
    click.option(
        "--saturation",
        type=_bounded(PostConfig, "saturation"),
        default=_POST.saturation,
        show_default=True,
        help="Colour: chroma factor; 0 is gray, 1 unchanged, above 1 more saturated.",
    ),
    click.option(
        "--vibrance",
        type=_bounded(PostConfig, "vibrance"),
        default=_POST.vibrance,
        show_default=True,
        help="Colour: raise weak chroma more than strong (0 off; 1 doubles gray-ish colour; "
        "negative mutes weak colour).",
    ),
    click.option(
        "--white-balance",
        type=click.Choice(["none", "gray-world"]),
        default=_POST.white_balance,
        show_default=True,
        help="Colour: gray-world shifts each frame's mean colour to neutral.",
    ),
    click.option(
        "--temperature",
        type=_bounded(PostConfig, "temperature"),
        default=_POST.temperature,
        show_default=True,
        help="Colour: + warmer (towards yellow), − cooler, in Lab b units.",
    ),
    click.option(
        "--tint",
        type=_bounded(PostConfig, "tint"),
        default=_POST.tint,
        show_default=True,
        help="Colour: + towards magenta, − towards green, in Lab a units.",
    ),
    click.option(
        "--hue-shift",
        type=_bounded(PostConfig, "hue_shift"),
        default=_POST.hue_shift,
        show_default=True,
        help="Colour: rotate every hue by this many degrees.",
    ),
    click.option(
        "--hue-range",
        type=_HueRangeType(),
        multiple=True,
        help="Colour: scale the chroma by SAT and turn the hue by SHIFT degrees in a band of "
        "hues (Lab hue angle: 0 red-magenta, 90 yellow, 180 green, 270 blue) WIDTH degrees "
        "wide, fading out towards its edges; e.g. 270:90:0.7 mutes blues. Repeatable.",
    ),
    click.option(
        "--chroma-limit",
        type=_bounded(PostConfig, "chroma_limit"),
        default=_POST.chroma_limit,
        show_default=True,
        help="Colour: soft upper limit of the chroma |ab| against garish outliers (0 off).",
    ),
    click.option(
        "--contrast",
        type=_bounded(PostConfig, "contrast"),
        default=_POST.contrast,
        show_default=True,
        help=f"{_TONE} Contrast around mid-gray (1 unchanged).",
    ),
    click.option(
        "--gamma",
        type=_bounded(PostConfig, "gamma"),
        default=_POST.gamma,
        show_default=True,
        help=f"{_TONE} Gamma (1 unchanged; above 1 brightens the mid-tones).",
    ),
    click.option(
        "--clahe",
        type=_bounded(PostConfig, "clahe"),
        default=_POST.clahe,
        show_default=True,
        help=f"{_TONE} Local contrast (CLAHE) clip limit; 0 off, 2 moderate.",
    ),
    click.option(
        "--clahe-tiles",
        type=_bounded(PostConfig, "clahe_tiles"),
        default=_POST.clahe_tiles,
        show_default=True,
        help="CLAHE tiles per side.",
    ),
    click.option(
        "--sharpen",
        type=_bounded(PostConfig, "sharpen"),
        default=_POST.sharpen,
        show_default=True,
        help=f"{_TONE} Unsharp-mask amount (0 off).",
    ),
    click.option(
        "--sharpen-radius",
        type=_bounded(PostConfig, "sharpen_radius"),
        default=_POST.sharpen_radius,
        show_default=True,
        help="Unsharp-mask radius in pixels.",
    ),
    click.option(
        "--deflicker",
        type=_bounded(PostConfig, "deflicker"),
        default=_POST.deflicker,
        show_default=True,
        metavar="N",
        help=f"{_TONE} Even out brightness flicker over N frames (0 off).",
    ),
    click.option(
        "--denoise",
        type=_bounded(PostConfig, "denoise"),
        default=_POST.denoise,
        show_default=True,
        help=f"{_TONE} Grain reduction strength (0 off, 1 moderate): temporal averaging "
        "where neighbouring frames agree.",
    ),
    click.option(
        "--deinterlace",
        type=click.Choice(["off", "bwdif", "bwdif-field"]),
        default=_POST.deinterlace,
        show_default=True,
        help=f"{_TONE} bwdif keeps one frame per frame (frame count and pts kept); "
        "bwdif-field gives one frame per field: it CHANGES the frame count (twice as many) "
        "and the timestamps (see --report).",
    ),
    click.option(
        "--ivtc/--no-ivtc",
        default=_POST.ivtc,
        show_default=True,
        help=f"{_TONE} Inverse telecine: 3:2 pulled-down film back to its own frames. "
        "CHANGES the frame count (4 of every 5) and the timestamps (see --report); off by "
        "default.",
    ),
)

#: Settings that only the command line gives (never a --config file): they concern one run.
_RUN_ONLY = frozenset({"output", "overwrite", "report", "quiet", "verbose", "config"})
_GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT)


#: Temporal, encoder and damage options (restore and watch).
_pipeline_options = _options(
    click.option(
        "--temporal/--no-temporal",
        default=_TEMPORAL.enabled,
        show_default=True,
        help="Smooth the colour over time along the optical flow, reset at shot cuts; "
        "--no-temporal gives the per-frame result.",
    ),
    click.option(
        "--keyframe-interval",
        type=_bounded(TemporalConfig, "keyframe_interval"),
        default=_TEMPORAL.keyframe_interval,
        show_default=True,
        help="Run the model on every K-th frame (and each shot's first) and carry the colour "
        "between by optical flow: about K times less model time, at a small quality cost. "
        "0 is automatic: 4 on the CPU, 1 on a GPU.",
    ),
    click.option(
        "--codec",
        type=click.Choice(["libx264", "libx265", "prores", "ffv1"]),
        default=_ENCODE.codec,
        show_default=True,
        help="Video encoder.",
    ),
    click.option(
        "--crf",
        type=_bounded(EncodeConfig, "crf"),
        default=None,
        help="Quality for libx264/libx265 (default 18 / 20; 0 is lossless for x264).",
    ),
    click.option(
        "--preset",
        default=None,
        help="libx264/libx265 speed preset (default medium): "
        f"{', '.join(ENCODER_PRESETS['libx264'])}; the other codecs have none.",
    ),
    click.option(
        "--pix-fmt",
        default=None,
        help="Output pixel format (default: 4:2:0, or 4:4:4 for odd sizes; 10-bit for deep "
        "sources).",
    ),
    click.option(
        "--strict/--no-strict",
        default=False,
        help="Fail (exit 4) on undecodable frames, damaged packets or truncation instead of "
        "keeping every good frame and packet.",
    ),
)


def _file_value(param: click.Parameter, key: str, value: Any, path: Path) -> Any:
    """Check a value from a settings file against its option's type and range."""
    if param.name in ("hue_range", "reference"):
        return value  # parsed by read_settings_file
    kind = param.type
    bad_type = None
    if isinstance(kind, click.types.BoolParamType):
        bad_type = None if isinstance(value, bool) else "true or false"
    elif isinstance(kind, click.types.IntParamType):
        bad_type = None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    elif isinstance(kind, click.types.FloatParamType):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        bad_type = None if ok else "a number"
    elif not isinstance(value, str):
        bad_type = 'a string in quotes ("...")'
    if bad_type is not None:
        raise UsageError(f"{path}: '{key}' must be {bad_type}, not {value!r}; fix the file")
    try:
        converted = kind.convert(value, param, None)
    except click.BadParameter as exc:
        message = exc.message.rstrip(".")
        raise UsageError(f"{path}: '{key}' = {value!r}: {message}; fix the file") from None
    return str(converted) if isinstance(converted, Path) else converted


def _effective_config(
    ctx: click.Context, options: dict[str, Any], config_file: Path | None, overwrite: bool
) -> tuple[RestoreConfig, dict[str, Any]]:
    """The RestoreConfig of this run and where its values came from.

    Precedence, lowest to highest: defaults < the look < the --config file < the options
    given on the command line (``ctx.get_parameter_source``: an option left at its default
    never overrides the file or the look).
    """
    settable = {p.name: p for p in restore.params if p.name in SETTING_KEYS}
    from_file: dict[str, Any] = {}
    file_keys: dict[str, str] = {}  # setting → its key as written in the file
    if config_file is not None:
        known = set(settable) - _RUN_ONLY
        for name, value in read_settings_file(config_file, known, _RUN_ONLY, file_keys).items():
            key = file_keys.get(name, name.replace("_", "-"))
            from_file[name] = _file_value(settable[name], key, value, config_file)
    given = {
        name: value
        for name, value in options.items()
        if name in SETTING_KEYS and ctx.get_parameter_source(name) in _GIVEN
    }
    for key in ("weights", "work_dir", "references", "hints"):
        if isinstance(given.get(key), Path):
            given[key] = str(given[key])
    if "reference" in given:
        given["reference"] = tuple(str(p) for p in given["reference"])
    merged = {**from_file, **given, "overwrite": overwrite}
    try:
        config = build_restore_config(merged)
    except SettingValueError as exc:
        name = setting_of(exc)
        if name is not None and name not in given and name in file_keys:
            raise UsageError(
                f"{config_file}: '{file_keys[name]}' = {exc.shown}: must be {exc.rule}; "
                "fix the file"
            ) from None
        raise _option_error(exc, restore, name) from None
    if config.guide.enabled:
        from .guide.sources import check_paths

        # fail before a long run: paths, counts, JSON; pictures are read by the engine
        check_paths(config.guide, config.limits)
    sources = {
        "config": str(config_file) if config_file is not None else None,
        "look": merged.get("look"),
        "from_config": sorted(from_file),
        "from_command_line": sorted(given),
    }
    return config, sources


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Output file (or folder, when INPUT is a folder).",
)
@_settings_options
@_model_options
@_pipeline_options
@_segment_options
@_guide_options
@_max_pixels_option
@_post_options
@_run_options
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
    """Colorize INPUT (a video, an image, or a folder of them) into OUTPUT.

    Video keeps its frames, timestamps, audio, subtitles, metadata and chapters; only colour
    is added. Odd-sized video is written 4:4:4 (x264/x265 cannot do 4:2:0 at odd sizes).
    In a folder run, images keep their name and format, and videos keep their name and
    container when it is .mp4/.m4v/.mov/.mkv (others become .mkv).

    Colour options act on the predicted colour only; tone options change the film's luma
    and are all off by default. Settings come from, lowest to highest: the defaults, --look,
    --config FILE.toml, the options given here. Try them first with 'filmcolor preview'.
    """
    from .pipeline import restore as run_restore

    _setup_logging(verbose)
    with _errors_to_exit_codes(verbose):
        config, sources = _effective_config(ctx, options, config_file, overwrite)
        _run_and_report(
            lambda progress: run_restore(input_path, output, config, progress),
            sources,
            report,
            overwrite,
            quiet,
        )


def _run_and_report(
    run: Callable[[Any], Any],
    sources: dict[str, Any],
    report: Path | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Run ``run(progress)`` (a restore or a batch) under the progress display, then write
    the ``--report``, print the warnings and a folder's failures, and exit with its code."""
    from .pipeline import FolderReport

    if report is not None and report.exists() and not overwrite:
        _fail(f"{report}: report file already exists; pass --overwrite to replace it", 2)
    if report is not None and not report.parent.is_dir():
        _fail(f"{report.parent}: report folder does not exist; create it first", 2)
    with _progress_display(quiet) as progress:
        result = run(progress)
    if report is not None:
        data = result.to_dict()
        for entry in [data, *data.get("files", [])]:
            if isinstance(entry.get("settings"), dict):
                entry["settings"]["sources"] = sources
        from .atomic import atomic_output

        with atomic_output(report, overwrite) as tmp:
            tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    reports = result.files if isinstance(result, FolderReport) else [result]
    if not quiet:
        for r in reports:
            for w in r.warnings:
                click.echo(f"filmcolor: warning: {r.input}: {w}", err=True)
    if isinstance(result, FolderReport):
        for failed in result.failed:
            click.echo(f"filmcolor: error: {failed['error']}", err=True)
        if not quiet:
            click.echo(
                f"{len(result.files)} file(s) restored, {len(result.failed)} failed", err=True
            )
        if result.exit_code:
            sys.exit(result.exit_code)


@main.command(epilog=EXIT_CODES_HELP)
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
@_settings_options
@_model_options
@_pipeline_options
@_max_pixels_option
@_post_options
@_run_options
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
    from .cluster import restore_batch

    _setup_logging(verbose)
    with _errors_to_exit_codes(verbose):
        config, sources = _effective_config(ctx, options, config_file, overwrite)
        _run_and_report(
            lambda progress: restore_batch(in_dir, output, config, cluster, progress),
            sources,
            report,
            overwrite,
            quiet,
        )


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--at",
    "times",
    type=_TimeType(),
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
@_settings_options
@_model_options
@_max_pixels_option
@_post_options
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
    shown. A video's TIME counts from its first frame.
    """
    from .atomic import check_output_path
    from .preview import default_output_path, preview_sheet, write_sheet

    _setup_logging(verbose)
    with _errors_to_exit_codes(verbose):
        config, _ = _effective_config(ctx, options, config_file, overwrite)
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


@main.command(epilog=EXIT_CODES_HELP)
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
@_max_pixels_option
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
    rotation.
    """
    from .guide.keyframes import export_keyframes

    _setup_logging(verbose)
    with _errors_to_exit_codes(verbose):
        try:
            limits = LimitsConfig(max_pixels=max_pixels)
        except SettingValueError as exc:
            raise _option_error(exc, keyframes, "max_pixels") from None
        with _progress_display(quiet) as progress:
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


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_max_pixels_option
def info(file: Path, as_json: bool, max_pixels: int) -> None:
    """Show what filmcolor sees in FILE: streams, codecs, rate, frames, bit depth, colour tags."""
    from .media.probe import probe

    with _errors_to_exit_codes(False):
        try:
            limits = LimitsConfig(max_pixels=max_pixels)
        except SettingValueError as exc:
            raise _option_error(exc, info, "max_pixels") from None
        media = probe(file, limits.max_pixels).to_dict()
        if as_json:
            click.echo(json.dumps(media, indent=2))
            return
        for key, value in media.items():
            if key == "streams":
                continue
            click.echo(f"{key:17} {value}")
        click.echo("streams:")
        for s in media["streams"]:
            lang = f" [{s['language']}]" if s["language"] else ""
            disp = f" ({', '.join(s['disposition'])})" if s["disposition"] else ""
            click.echo(f"  #{s['index']} {s['type']:9} {s['codec']}{lang}{disp}")


@main.command("eval", epilog=EXIT_CODES_HELP)
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
def evaluate(reference: Path, candidate: Path, as_json: bool, plot_path: Path | None) -> None:
    """Score CANDIDATE against REFERENCE: PSNR, SSIM (BT.601 luma), colorfulness, ΔCF; for
    videos also CDC and warp error, on RGB and on the chroma (Lab a, b) alone.

    Two images, two videos (frames paired by presentation time), or two folders of either
    whose files are paired by name without extension. Sizes must match. PSNR is inf for
    identical pictures. For videos the reference's own CDC and warp error are shown too: the
    floor a consistent colouring can reach. --plot works on videos only.
    """
    with _errors_to_exit_codes(False):
        from .errors import UsageError
        from .metrics import evaluate_paths, input_kind, jsonable, plot_per_frame

        if plot_path is not None:
            if input_kind(reference, candidate) != "video":
                raise UsageError(
                    "--plot draws per-frame curves of videos; REFERENCE and CANDIDATE are "
                    "images, drop --plot (or use --json for the per-image values)"
                )
            if plot_path.suffix.lower() != ".png":
                raise UsageError(f"{plot_path}: --plot writes a PNG; give a name ending in .png")
        result = evaluate_paths(reference, candidate)
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
        from rich.table import Table

        def num(value: float, digits: int) -> str:
            return f"{value:.{digits}f}"

        if result["kind"] == "video":
            table = Table("video", "PSNR", "SSIM", "CF", "ΔCF", "CDC RGB", "CDC ab", "warp RGB")
            table.add_column("warp ab")
            table.caption = (
                f"{result['frames']} paired frames; ref: the reference's own CDC and warp "
                "error (the floor); ab: Lab chroma only"
            )
            temporal_keys = ("cdc_rgb", "cdc_chroma", "warp_error_rgb", "warp_error_chroma")
            rows = videos = result["per_video"]
            if len(videos) > 1:
                rows = [*videos, {**result, "name": f"mean of {len(videos)}"}]
            for v in rows:
                cells = [num(v["psnr"], 2), num(v["ssim"], 4), num(v["colorfulness_candidate"], 1)]
                cells.append(num(v["delta_colorfulness"], 2))
                table.add_row(f"{v['name']}", *cells, *(f"{v[k]:.3g}" for k in temporal_keys))
                ref = (f"{v[f'reference_{k}']:.3g}" for k in temporal_keys)
                cf_ref = num(v["colorfulness_reference"], 1)
                table.add_row("  ref", "", "", cf_ref, "", *ref, end_section=True)
            Console(highlight=False).print(table)
            return
        table = Table("image", "PSNR dB", "SSIM", "SSIM RGB", "CF cand", "CF ref", "ΔCF")
        keys = ("psnr", "ssim", "ssim_rgb", "colorfulness_candidate", "colorfulness_reference")
        keys += ("delta_colorfulness",)
        rows = result["per_image"]
        if len(rows) > 1:
            rows = [*rows, {**result, "name": f"mean of {len(rows)}"}]
        for m in rows:
            cells = (f"{m[k]:.4f}" if "ssim" in k else f"{m[k]:.2f}" for k in keys)
            table.add_row(m["name"], *cells)
        Console(highlight=False).print(table)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="filmcolor: %(levelname)s: %(name)s: %(message)s",
        stream=sys.stderr,
    )


_TRAIN = TrainConfig()
_LOSS = LossConfig()


@main.command(epilog=EXIT_CODES_HELP)
@click.option(
    "--frames",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder of colour images, gray/ + color/ pairs, videos, or a built corpus.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path(_TRAIN.output),
    show_default=True,
    help="Weights file to write (.safetensors); its checkpoint is OUTPUT with .ckpt.",
)
@click.option(
    "--init",
    default=_TRAIN.init,
    show_default=True,
    help="default (shipped weights), imagenet (pretrained encoder), or a weights/ckpt path.",
)
@click.option(
    "--steps", type=_bounded(TrainConfig, "steps"), default=_TRAIN.steps, show_default=True
)
@click.option(
    "--epochs",
    type=_bounded(TrainConfig, "epochs"),
    default=None,
    help="Train this many passes over the data instead of --steps.",
)
@click.option(
    "--time-limit",
    type=_bounded(TrainConfig, "time_limit"),
    default=None,
    help="Stop after this many minutes (checkpoint and best weights kept).",
)
@click.option(
    "--batch-size",
    type=_bounded(TrainConfig, "batch_size"),
    default=_TRAIN.batch_size,
    show_default=True,
)
@click.option(
    "--lr",
    type=_bounded(TrainConfig, "lr"),
    default=_TRAIN.lr,
    show_default=True,
    help="Learning rate of the decoder (the encoder's is 10x lower).",
)
@click.option(
    "--encoder-lr-scale",
    type=_bounded(TrainConfig, "encoder_lr_scale"),
    default=_TRAIN.encoder_lr_scale,
    show_default=True,
    help="Encoder learning rate as a share of --lr; 0 freezes the pretrained encoder.",
)
@click.option(
    "--size",
    type=_bounded(TrainConfig, "size"),
    default=_TRAIN.size,
    show_default=True,
    help="Training crop side in pixels (a multiple of 32).",
)
@click.option(
    "--val-fraction",
    type=_bounded(TrainConfig, "val_fraction"),
    default=_TRAIN.val_fraction,
    show_default=True,
    help="Share of pictures (by source picture) held out.",
)
@click.option(
    "--val-every",
    type=_bounded(TrainConfig, "val_every"),
    default=_TRAIN.val_every,
    show_default=True,
    help="Validate every N steps.",
)
@click.option(
    "--patience",
    type=_bounded(TrainConfig, "patience"),
    default=_TRAIN.patience,
    show_default=True,
    help="Stop after N validations without improvement.",
)
@click.option(
    "--checkpoint-every",
    type=_bounded(TrainConfig, "checkpoint_every"),
    default=_TRAIN.checkpoint_every,
    show_default=True,
)
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Write loss curves, a sample grid and metrics here.",
)
@click.option("--device", default=_TRAIN.device, show_default=True)
@click.option(
    "--workers",
    type=_bounded(TrainConfig, "workers"),
    default=_TRAIN.workers,
    show_default=True,
    help="Threads that prepare batches ahead of the model.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue from OUTPUT's checkpoint exactly (replacing that run's own files).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace OUTPUT, its checkpoint and report files that exist.",
)
@click.option("--seed", type=_bounded(TrainConfig, "seed"), default=_TRAIN.seed, show_default=True)
@click.option(
    "--degrade",
    type=_bounded(TrainConfig, "degrade"),
    default=_TRAIN.degrade,
    show_default=True,
    help="Share of inputs given film damage (grain, scratches…).",
)
@click.option(
    "--loss-ab", type=_bounded(LossConfig, "ab_l1"), default=_LOSS.ab_l1, show_default=True
)
@click.option(
    "--loss-rebalance",
    type=_bounded(LossConfig, "rebalance"),
    default=_LOSS.rebalance,
    show_default=True,
    help="Rarity rebalancing of the colour loss (0 off, 0.5 as Zhang et al. 2016).",
)
@click.option(
    "--loss-saturation",
    type=_bounded(LossConfig, "saturation"),
    default=_LOSS.saturation,
    show_default=True,
    help="Per-pixel chroma-magnitude matching (keeps colour from fading to gray).",
)
@click.option(
    "--loss-perceptual",
    type=_bounded(LossConfig, "perceptual"),
    default=_LOSS.perceptual,
    show_default=True,
)
@click.option(
    "--loss-colorfulness",
    type=_bounded(LossConfig, "colorfulness"),
    default=_LOSS.colorfulness,
    show_default=True,
)
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
def train(
    frames: Path,
    output: Path,
    init: str,
    steps: int,
    epochs: float | None,
    time_limit: float | None,
    batch_size: int,
    lr: float,
    encoder_lr_scale: float,
    size: int,
    val_fraction: float,
    val_every: int,
    patience: int,
    checkpoint_every: int,
    workers: int,
    report_dir: Path | None,
    device: str,
    resume: bool,
    overwrite: bool,
    seed: int,
    degrade: float,
    loss_ab: float,
    loss_rebalance: float,
    loss_saturation: float,
    loss_perceptual: float,
    loss_colorfulness: float,
    quiet: bool,
    verbose: bool,
) -> None:
    """Train or fine-tune the colorization model on your own frames.

    The first Ctrl-C stops after the current step and saves a checkpoint (exit 130);
    run the same command with --resume to continue exactly where it stopped.
    """
    import signal
    import threading

    from .train.loop import fit

    try:
        config = TrainConfig(
            frames=str(frames),
            output=str(output),
            init=init,
            steps=steps,
            epochs=epochs,
            time_limit=time_limit,
            batch_size=batch_size,
            lr=lr,
            encoder_lr_scale=encoder_lr_scale,
            size=size,
            val_fraction=val_fraction,
            val_every=val_every,
            patience=patience,
            checkpoint_every=checkpoint_every,
            workers=workers,
            report_dir=str(report_dir) if report_dir is not None else None,
            device=device,
            seed=seed,
            degrade=degrade,
            loss=LossConfig(
                ab_l1=loss_ab,
                rebalance=loss_rebalance,
                saturation=loss_saturation,
                perceptual=loss_perceptual,
                colorfulness=loss_colorfulness,
            ),
        )
    except SettingValueError as exc:  # the option is --loss-NAME for a LossConfig field
        loss = {"ab_l1": "loss_ab"}.get(exc.name, f"loss_{exc.name}")
        param = loss if exc.owner == LossConfig.__name__ else exc.name
        _fail(str(_option_error(exc, train, param)), exc.exit_code)
    stop = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        click.echo("filmcolor: stopping after this step (Ctrl-C again to abort)", err=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        stopped = "interrupted; the last checkpoint is kept: rerun with --resume to continue"
        with _errors_to_exit_codes(verbose, stopped), _train_progress(quiet) as progress:
            result = fit(config, resume=resume, overwrite=overwrite, progress=progress, stop=stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    best = result.best_val
    summary = (
        f"{result.stopped}: {result.steps_done} steps in {result.seconds / 60:.1f} min; "
        f"best at step {result.best_step}"
    )
    if best:
        summary += (
            f" (val PSNR {best['psnr']:.2f} dB, colourfulness x{best['colorfulness_ratio']:.2f})"
        )
    click.echo(f"{summary}; weights: {result.output}; checkpoint: {result.checkpoint}", err=True)
    if result.stopped == "interrupted":
        sys.exit(EXIT_INTERRUPTED)


@contextmanager
def _train_progress(quiet: bool) -> Iterator[Callable[[Any], None] | None]:
    if quiet:
        yield None
        return
    console = _console()
    if not console.is_terminal:
        last = [0.0]

        def plain(p: Any) -> None:
            now = time.monotonic()
            if p.val is not None or now - last[0] >= 10 or p.step == p.steps:
                last[0] = now
                val = f", val PSNR {p.val['psnr']:.2f}" if p.val else ""
                rate = f"{p.images_per_second:.1f} img/s"
                click.echo(f"step {p.step}/{p.steps} loss {p.loss:.4f} {rate}{val}", err=True)

        yield plain
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "loss {task.fields[loss]:.4f}  {task.fields[ips]:.1f} img/s  {task.fields[val]}"
        ),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("train", total=None, loss=0.0, ips=0.0, val="")

        def update(p: Any) -> None:
            fields = {"loss": p.loss, "ips": p.images_per_second}
            if p.val is not None:
                fields["val"] = f"val PSNR {p.val['psnr']:.2f}"
            bar.update(task, completed=p.step, total=p.steps, **fields)

        yield update


WATCH_EXIT_CODES_HELP = """\b
Exit codes:
  0    stopped by SIGTERM/SIGINT (running jobs finished or queued again)
  1    internal error, or a worker process could not start
  2    usage: bad option or folder, the job database is held by another daemon
  3    input: IN_DIR does not exist
  5    weights: missing or invalid weights file
"""


def _setup_watch_logging(log_json: bool, verbose: bool) -> None:
    from .daemon.logs import JsonEventFormatter, PlainEventFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonEventFormatter() if log_json else PlainEventFormatter())
    daemon_log = logging.getLogger("filmcolor.daemon")
    daemon_log.handlers[:] = [handler]
    daemon_log.setLevel(logging.DEBUG if verbose else logging.INFO)
    daemon_log.propagate = False


@main.command(epilog=WATCH_EXIT_CODES_HELP)
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
    type=_bounded(WatchOptions, "poll"),
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
    type=_bounded(WatchOptions, "settle"),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="A file is taken once its size and mtime stay unchanged this long.",
)
@click.option(
    "--retries",
    type=_bounded(WatchOptions, "retries"),
    default=2,
    show_default=True,
    metavar="N",
    help="Retries after a failed try, before the file is quarantined.",
)
@click.option(
    "--backoff",
    type=_bounded(WatchOptions, "backoff"),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait before the first retry; doubled for each further one.",
)
@click.option(
    "--workers",
    type=_bounded(WatchOptions, "workers"),
    default=1,
    show_default=True,
    metavar="N",
    help="Jobs run at once, each in its own worker process.",
)
@click.option(
    "--grace",
    type=_bounded(WatchOptions, "grace"),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="On SIGTERM/SIGINT, let running jobs finish this long, then stop them and queue "
    "them again.",
)
@_settings_options
@_model_options
@_pipeline_options
@_max_pixels_option
@_post_options
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
    from .daemon import WatchService

    _setup_watch_logging(log_json, verbose)
    with _errors_to_exit_codes(verbose):
        config, _ = _effective_config(ctx, options, config_file, False)
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
            raise _option_error(exc, watch, exc.name) from None
        code = WatchService(watch_options).run()
    sys.exit(code)


@main.command("jobs")
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
    type=click.Choice(["queued", "running", "done", "failed", "skipped"]),
    default=None,
    help="Only jobs with this status.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every field of every job).")
def jobs_command(state: Path | None, status: str | None, as_json: bool) -> None:
    """List the jobs of a 'filmcolor watch' daemon and their states (read from its database)."""
    from .daemon.jobs import JobStore
    from .daemon.service import STATE_DIR, STATE_NAME

    with _errors_to_exit_codes(False):
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
