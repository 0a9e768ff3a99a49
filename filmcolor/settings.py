"""Restore settings from a TOML file, ``--look`` presets and options, merged into a config.

Layout of a settings file (``--config FILE.toml``): keys are the long option names of
``filmcolor restore``, with dashes or underscores, at the top level; the post-processing
ones may also sit in a ``[post]`` table (named like the options or like ``PostConfig``'s
fields). Hue bands are strings as on the command line, or tables::

    look = "period"
    render-size = 256
    keyframe-interval = 4
    codec = "libx265"
    crf = 22

    [post]
    saturation = 1.1
    white-balance = "gray-world"
    hue-range = ["270:90:0.7", "180:80:0.85:-12"]

    # or, instead of hue-range:
    # [[post.hue_ranges]]
    # center = 270
    # width = 90
    # saturation = 0.7

Precedence, lowest to highest: the ``PostConfig``/``RestoreConfig`` defaults, the ``look``
preset, the file, the options given on the command line. A look only sets starting values:
a value set in the file or on the command line wins over it, whichever of them named the
look. A relative ``weights``, ``reference`` (a path or a list of them), ``references`` or
``hints`` path in a file is taken relative to the file's folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import textwrap
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import (
    LOOK_VIVIDNESS,
    LOOKS,
    Bounds,
    ColorizeConfig,
    HueRange,
    PostConfig,
    RestoreConfig,
    Setting,
)
from .errors import SettingValueError, UsageError


@dataclass(frozen=True, slots=True)
class RestoreSetting:
    """A setting of ``RestoreConfig``: an option of restore (preview, batch, watch) and a key
    of a settings file, as declared on its config field (``config.settable``/``bounded``)."""

    #: The option and key as an identifier (``render_size``: ``--render-size``).
    name: str
    #: The ``RestoreConfig`` field holding the section (``colorize``), ``""`` for
    #: ``RestoreConfig`` itself; the field in that section; the section's class.
    section: str
    field: str
    owner: type
    default: Any
    setting: Setting
    bounds: Bounds | None


def _restore_settings() -> dict[str, RestoreSetting]:
    out: dict[str, RestoreSetting] = {}

    def add(section: str, owner: type) -> None:
        for f in dataclasses.fields(owner):
            setting = f.metadata.get("setting")
            if setting is not None:
                name = setting.name or f.name
                bounds = f.metadata.get("bounds")
                out[name] = RestoreSetting(name, section, f.name, owner, f.default, setting, bounds)
            elif section == "" and dataclasses.is_dataclass(f.default_factory):
                add(f.name, f.default_factory)  # type: ignore[arg-type]

    add("", RestoreConfig)
    return out


#: Every restore setting, in ``RestoreConfig``'s field order, by option name (identifier).
RESTORE_SETTINGS: dict[str, RestoreSetting] = _restore_settings()

#: Option names (as Python identifiers) of the post-processing settings; ``hue_range`` is
#: ``PostConfig.hue_ranges``.
POST_KEYS: tuple[str, ...] = tuple(n for n, s in RESTORE_SETTINGS.items() if s.section == "post")

#: Where each non-post setting lives in ``RestoreConfig``: (section, field); section ``""``
#: is ``RestoreConfig`` itself.
_TARGETS: dict[str, tuple[str, str]] = {
    n: (s.section, s.field) for n, s in RESTORE_SETTINGS.items() if s.section != "post"
}

#: The config class of each section of ``_TARGETS``.
_SECTION_CLASSES: dict[str, type] = {s.section: s.owner for s in RESTORE_SETTINGS.values()}

#: Settings that are paths: a relative one in a settings file is taken relative to the file.
_PATH_KEYS = frozenset(
    n
    for n, s in RESTORE_SETTINGS.items()
    if s.setting.path and s.setting.file_relative and not s.setting.multiple
)

#: Every setting ``build_restore_config`` understands.
SETTING_KEYS: frozenset[str] = frozenset({*RESTORE_SETTINGS, "look"})

#: Settings a file may not set: they concern one run (``--overwrite``).
COMMAND_LINE_ONLY: frozenset[str] = frozenset(
    n for n, s in RESTORE_SETTINGS.items() if not s.setting.in_file
)

_HUE_USAGE = "CENTER:WIDTH:SAT[:SHIFT] (degrees, degrees, factor, degrees), e.g. 270:90:0.7"


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def hue_range(
    center: float, width: float = 60.0, saturation: float = 1.0, shift: float = 0.0
) -> HueRange:
    """A ``HueRange`` with the centre taken modulo 360; ``ValueError`` naming the value out
    of ``HueRange``'s bounds (width in (0, 360] degrees, saturation ≥ 0, shift ±360)."""
    try:
        return HueRange(
            center=float(center) % 360.0,
            width=float(width),
            saturation=float(saturation),
            shift=float(shift),
        )
    except SettingValueError as exc:
        raise ValueError(f"{exc.name} {exc.shown} must be {exc.rule}") from None


def parse_hue_range(text: str) -> HueRange:
    """``"CENTER:WIDTH:SAT[:SHIFT]"`` → ``HueRange``; ``ValueError`` with the expected form."""
    parts = text.strip().split(":")
    if len(parts) not in (3, 4):
        raise ValueError(f"{text!r} is not {_HUE_USAGE}")
    try:
        numbers = [_finite(p) for p in parts]
    except ValueError:
        raise ValueError(f"{text!r} is not {_HUE_USAGE}") from None
    try:
        return hue_range(*numbers)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None


def _hue_ranges_from_toml(value: Any, where: str) -> tuple[HueRange, ...]:
    """A string, or an array of strings and/or tables (``center``, ``width``, ``saturation``,
    ``shift``) → hue bands. ``UsageError`` naming ``where`` otherwise."""
    items = [value] if isinstance(value, str | dict) else value
    if not isinstance(items, list):
        raise UsageError(f"{where}: give hue bands as strings ({_HUE_USAGE}) or tables")
    fields = [f.name for f in dataclasses.fields(HueRange)]
    out = []
    for item in items:
        try:
            if isinstance(item, str):
                out.append(parse_hue_range(item))
                continue
            if not isinstance(item, dict):
                raise ValueError(f"{item!r} is neither a string ({_HUE_USAGE}) nor a table")
            unknown = sorted(set(item) - set(fields))
            if unknown:
                raise ValueError(f"unknown key '{unknown[0]}' (a band has {', '.join(fields)})")
            if "center" not in item:
                raise ValueError("a band needs a 'center' (degrees)")
            for key, number in item.items():
                if isinstance(number, bool) or not isinstance(number, int | float):
                    raise ValueError(f"'{key}' must be a number, not {number!r}")
            out.append(hue_range(**item))
        except ValueError as exc:
            raise UsageError(f"{where}: {exc}") from None
    return tuple(out)


def canonical_key(key: str) -> str:
    """A file or option key as a Python identifier: ``render-size`` → ``render_size``."""
    name = key.strip().replace("-", "_")
    return "hue_range" if name == "hue_ranges" else name


def _unknown(path: Path, table: str, key: str, known: Collection[str]) -> UsageError:
    where = f"in [{table}] " if table else ""
    close = difflib.get_close_matches(canonical_key(key), list(known), n=1)
    hint = f"did you mean '{close[0].replace('_', '-')}'?" if close else "remove it"
    return UsageError(
        f"{path}: unknown key '{key}' {where}(not a restore setting); {hint} "
        "(see 'filmcolor restore --help')"
    )


def read_settings_file(
    path: str | Path,
    known: Collection[str],
    command_line_only: Collection[str] = (),
    keys: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Read a TOML settings file into ``{option name: value}`` (option names as identifiers).

    Args:
        path: the TOML file (layout in this module's docstring).
        known: the top-level keys it may hold (the options that a file can set, as
            identifiers); ``[post]`` takes ``POST_KEYS``.
        command_line_only: keys refused with a message that says to give them as options.
        keys: if given, filled with ``{option name: the key as written}`` (``post.saturation``,
            ``render-size``), for messages about a value.
    Returns:
        Values as TOML gives them (types and ranges are the caller's to check), except
        ``hue_range``: a tuple of ``HueRange``; ``weights``, ``references``, ``hints``:
        made absolute against the file's folder; ``reference``: a tuple of such paths.
    Raises:
        UsageError: missing or unreadable file, invalid TOML (with line and column), an
            unknown key (named, with the file), a key set twice, or a bad hue band.
    """
    p = Path(path)
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "no such file"
        raise UsageError(f"{p}: {what}; give the path of a TOML settings file to --config")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8-sig"))  # a BOM is allowed
    except UnicodeDecodeError as exc:
        raise UsageError(f"{p}: not a UTF-8 text file ({exc.reason}); save it as UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{p}: invalid TOML: {exc}; fix the file there") from exc
    except RecursionError:  # arrays or tables nested thousands deep
        raise UsageError(f"{p}: values nested too deeply to read; fix the file") from None
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}

    def put(table: str, key: str, value: Any, allowed: Collection[str]) -> None:
        name = canonical_key(key)
        if name in command_line_only:
            raise UsageError(
                f"{p}: '{key}' cannot be set in a settings file, only on the command line "
                f"(--{name.replace('_', '-')}); remove it from the file"
            )
        if name not in allowed:
            raise _unknown(p, table, key, allowed)
        where = f"[{table}] {key}" if table else key
        if name in values:
            raise UsageError(
                f"{p}: '{where}' sets what '{origin[name]}' already set; keep one of them"
            )
        if name == "hue_range":
            value = _hue_ranges_from_toml(value, f"{p}: {where}")
        elif name in _PATH_KEYS and isinstance(value, str):
            value = str((p.parent / Path(value).expanduser()).absolute())
        elif name == "reference":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                raise UsageError(f"{p}: '{where}' must be a path or a list of paths in quotes")
            value = tuple(str((p.parent / Path(v).expanduser()).absolute()) for v in items)
        values[name] = value
        origin[name] = where
        if keys is not None:
            keys[name] = f"{table}.{key}" if table else key

    for key, value in data.items():
        if key == "post" and isinstance(value, dict):
            for sub, subvalue in value.items():
                put("post", sub, subvalue, POST_KEYS)
        else:
            put("", key, value, known)
    return values


def setting_of(error: SettingValueError) -> str | None:
    """The setting (an option name as identifier, as in ``SETTING_KEYS``) whose value
    ``error`` refuses, from the config class and field it names; None for a field no
    setting sets."""
    if error.owner == PostConfig.__name__:
        name = "hue_range" if error.name == "hue_ranges" else error.name
        return name if name in POST_KEYS else None
    for key, (section, name) in _TARGETS.items():
        if _SECTION_CLASSES[section].__name__ == error.owner and name == error.name:
            return key
    return None


def build_restore_config(values: Mapping[str, Any]) -> RestoreConfig:
    """A ``RestoreConfig`` from settings ``{option name: value}``, already merged and
    checked (``SETTING_KEYS``; ``hue_range`` a sequence of ``HueRange``); settings left out
    keep their defaults. ``look`` (a ``LOOKS`` name or None) sets the post-processing
    starting point; the post values given override it. A value out of its field's bounds
    raises ``SettingValueError`` (``setting_of`` names its setting)."""
    unknown = set(values) - SETTING_KEYS
    if unknown:
        raise ValueError(f"unknown settings: {sorted(unknown)}")
    look = values.get("look")
    if look is not None and look not in LOOKS:
        raise UsageError(f"unknown look '{look}'; choose one of {', '.join(sorted(LOOKS))}")
    post_values = {
        ("hue_ranges" if k == "hue_range" else k): v for k, v in values.items() if k in POST_KEYS
    }
    if "hue_ranges" in post_values:
        post_values["hue_ranges"] = tuple(post_values["hue_ranges"])
    post = dataclasses.replace(LOOKS[look] if look else PostConfig(), **post_values)
    sections: dict[str, dict[str, Any]] = {section: {} for section in _SECTION_CLASSES}
    for key, value in values.items():
        if key in _TARGETS:
            section, name = _TARGETS[key]
            sections[section][name] = value
    if look in LOOK_VIVIDNESS and "vividness" not in values:
        _, field = _TARGETS["vividness"]
        default = ColorizeConfig().vividness
        sections["colorize"][field] = min(1.0, max(0.0, default + LOOK_VIVIDNESS[look]))
    parts = {
        section: owner(**sections[section])
        for section, owner in _SECTION_CLASSES.items()
        if section not in ("", "post")
    }
    return RestoreConfig(**parts, post=post, **sections[""])


def _toml_value(value: Any) -> str | None:
    """``value`` written as TOML (``None``: it has no TOML form; the setting is left out)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(v for v in map(_toml_value, value) if v is not None) + "]"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    return repr(value)


def settings_template() -> str:
    """A commented settings file with every key a file may set: its help, its values and
    its default (generated from the config fields, so it lists exactly what the reader
    takes). Uncommenting a line that has a value sets that setting to its default."""
    lines = [
        "# filmcolor settings: pass this file with --config FILE.toml (restore, batch, preview,",
        "# watch). Keys are the options' long names; options given on the command line win.",
        "",
        "# Colour preset: one of " + ", ".join(sorted(LOOKS)) + ".",
        '# look = "natural"',
    ]
    for name, s in RESTORE_SETTINGS.items():
        if not s.setting.in_file:
            continue
        lines.append("")
        lines += textwrap.wrap(s.setting.help, 88, initial_indent="# ", subsequent_indent="# ")
        if s.setting.choices:
            lines.append("# One of: " + ", ".join(s.setting.choices) + ".")
        elif s.bounds is not None:
            lines.append(f"# Values: {s.bounds.describe()}.")
        value = _toml_value(s.default)
        key = name.replace("_", "-")
        lines.append(f"# {key} = {value}" if value is not None else f"# {key} = (not set)")
    return "\n".join(lines) + "\n"
