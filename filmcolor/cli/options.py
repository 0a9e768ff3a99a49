"""The restore settings as click options, generated from their config fields, and the
merge of defaults, ``--look``, ``--config FILE.toml`` and the command line into one config.

Each option's name, help, range, choices and default are declared once, on the config field
it sets (``filmcolor.config``, table in ``filmcolor.settings.RESTORE_SETTINGS``); this module
only says which options each group shows, in which order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..config import LOOKS, RestoreConfig
from ..errors import FilmcolorError, SettingValueError, UsageError
from ..settings import (
    COMMAND_LINE_ONLY,
    POST_KEYS,
    RESTORE_SETTINGS,
    SETTING_KEYS,
    build_restore_config,
    read_settings_file,
    setting_of,
)
from .common import HueRangeType, bounded, options


def long_option(name: str) -> str:
    """The option of setting ``name``: ``render_size`` → ``--render-size``."""
    return "--" + name.replace("_", "-")


def _declaration(name: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    """click's ``param_decls`` and keyword arguments for restore setting ``name``."""
    s = RESTORE_SETTINGS[name]
    setting, flag = s.setting, long_option(name)
    kwargs: dict[str, Any] = {"help": setting.help}
    decls: tuple[str, ...] = (flag,)
    if isinstance(s.default, bool):
        if setting.negatable:
            decls = (f"{flag}/--no-{flag[2:]}",)
            kwargs["default"] = s.default
        else:
            kwargs["is_flag"] = True
    elif setting.multiple:
        kwargs["multiple"] = True
    else:
        kwargs["default"] = s.default
    if setting.choices:
        kwargs["type"] = click.Choice(list(setting.choices))
    elif s.bounds is not None:
        kwargs["type"] = bounded(s.owner, s.field)
    elif setting.path:
        kwargs["type"] = click.Path(path_type=Path)
    elif name == "hue_range":
        kwargs["type"] = HueRangeType()
    if setting.show_default and s.default is not None:
        kwargs["show_default"] = True
    if setting.metavar is not None:
        kwargs["metavar"] = setting.metavar
    return decls, kwargs


def setting_options(*names: str) -> Callable[[Any], Any]:
    """The options of these restore settings, in this order, as one decorator."""
    return options(*(click.option(*d, **kw) for d, kw in map(_declaration, names)))


_LOOK: dict[str, Any] = {
    "type": click.Choice(sorted(LOOKS)),
    "default": None,
    "help": "Colour preset (never touches the luma): the starting values of the colour "
    "options; any colour option set in --config or on the command line overrides it.",
}

#: The click parameter of every restore setting: how a value from a settings file is checked.
_PARAMS: dict[str, click.Option] = {"look": click.Option(("--look",), **_LOOK)}


def _param(name: str) -> click.Option:
    if name not in _PARAMS:
        decls, kwargs = _declaration(name)
        _PARAMS[name] = click.Option(decls, **kwargs)
    return _PARAMS[name]


#: --config and --look (restore, batch, preview, watch).
settings_options = options(
    click.option(
        "--config",
        "config_file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        metavar="FILE.toml",
        help="Read settings from this TOML file (keys named like these options; post "
        "options may sit in a [post] table; see docs/guide/settings.md). Options given on the "
        "command line override the file.",
    ),
    click.option("--look", **_LOOK),
)
#: The model (restore, batch, preview, watch).
model_options = setting_options(
    "weights", "device", "batch_size", "render_size", "vividness", "precision", "compile"
)
#: Temporal, encoder and damage options (restore, batch, watch).
pipeline_options = setting_options(
    "temporal", "keyframe_interval", "codec", "crf", "preset", "pix_fmt", "strict"
)
#: Segmented, resumable runs and their scale-out (restore only).
segment_options = setting_options("segment_seconds", "work_dir", "resume", "cluster")
#: Image sequences: a folder of numbered scans as one film, its frame rate (restore only).
sequence_options = setting_options("sequence", "fps")
#: Reference frames and colour hints (restore); read and checked by ``filmcolor.guide``.
guide_options = setting_options(
    "reference", "references", "hints", "style_scope", "max_hints", "max_references"
)
#: The largest picture read (restore, batch, preview, keyframes, info, watch).
max_pixels_option = setting_options("max_pixels")
#: The post-processing options (restore, batch, preview, watch): colour, then tone.
post_options = setting_options(*POST_KEYS)
#: How a run writes and talks (restore and batch).
run_options = options(
    setting_options("overwrite"),
    click.option(
        "--report",
        type=click.Path(path_type=Path),
        default=None,
        help="Write a JSON summary here (with the effective settings and their sources).",
    ),
    click.option("-q", "--quiet", is_flag=True, help="No progress, no warnings."),
    click.option("-v", "--verbose", is_flag=True, help="Log details; show tracebacks."),
)

#: Settings that only the command line gives (never a --config file): they concern one run.
RUN_ONLY = frozenset({"output", "report", "quiet", "verbose", "config", *COMMAND_LINE_ONLY})
_GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT)


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


def _setting_error(exc: SettingValueError, name: str | None) -> FilmcolorError:
    """``exc`` re-worded with the option of setting ``name``: ``--saturation nan: must be a
    finite number, at least 0`` (``exc`` itself for a field no option sets)."""
    if name is None or name not in RESTORE_SETTINGS:
        return exc
    return UsageError(f"{long_option(name)} {exc.shown}: must be {exc.rule}")


def effective_config(
    ctx: click.Context, values: dict[str, Any], config_file: Path | None, overwrite: bool
) -> tuple[RestoreConfig, dict[str, Any]]:
    """The RestoreConfig of this run and where its values came from.

    Precedence, lowest to highest: defaults < the look < the --config file < the options
    given on the command line (``ctx.get_parameter_source``: an option left at its default
    never overrides the file or the look).
    """
    from_file: dict[str, Any] = {}
    file_keys: dict[str, str] = {}  # setting → its key as written in the file
    if config_file is not None:
        known = {*RESTORE_SETTINGS, "look"} - RUN_ONLY
        for name, value in read_settings_file(config_file, known, RUN_ONLY, file_keys).items():
            key = file_keys.get(name, name.replace("_", "-"))
            from_file[name] = _file_value(_param(name), key, value, config_file)
    given = {
        name: value
        for name, value in values.items()
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
        raise _setting_error(exc, name) from None
    if config.guide.enabled:
        from ..guide.sources import check_paths

        # fail before a long run: paths, counts, JSON; pictures are read by the engine
        check_paths(config.guide, config.limits)
    sources = {
        "config": str(config_file) if config_file is not None else None,
        "look": merged.get("look"),
        "from_config": sorted(from_file),
        "from_command_line": sorted(given),
    }
    return config, sources
