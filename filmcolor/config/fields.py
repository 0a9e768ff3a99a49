"""How a config field is declared: its default, the values it may take, and how users set it.

A field of a config dataclass is declared once, with everything the rest of filmcolor needs
to know about it::

    saturation: float = bounded(1.0, 0, help="Colour: chroma factor; 0 is gray, ...")

``bounded`` records the ``Bounds`` its values must keep (checked by ``check_bounds`` when the
config is built, shown in ``--help`` and in error messages); ``help=`` (and the other
``Setting`` arguments) make it a user setting: an option of ``filmcolor restore`` (and
``preview``, ``batch``, ``watch``) and a key of a ``--config`` TOML file, with that help.
``settable`` does the same for a field without bounds. The command line, the settings-file
reader and the docs are generated from these declarations.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import SettingValueError


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True, slots=True)
class Bounds:
    """The values a numeric setting may take. Declared once, beside its field (``bounded``);
    checked when a config is built (``check_bounds``), shown in ``--help`` and in messages.

    A value must be a number (a whole number if ``integer``), finite, within ``lo``..``hi``
    (``None``: no limit on that side; ``lo_open``/``hi_open``: that end excluded) and a
    multiple of ``multiple_of`` if set, or else one of ``also`` (e.g. 0 = off);
    ``optional``: ``None`` (the codec's or the run's own default) is allowed too.
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    also: tuple[float, ...] = ()
    multiple_of: int | None = None
    optional: bool = False

    def describe(self) -> str:
        """What is allowed, in words: ``a finite number from 0 to 1``."""
        text = "a whole number" if self.integer else "a finite number"
        lo, hi = self.lo, self.hi
        if lo is not None and hi is not None and not (self.lo_open or self.hi_open):
            text += f" from {_number_text(lo)} to {_number_text(hi)}"
        else:
            ends = []
            if lo is not None:
                ends.append(("above " if self.lo_open else "at least ") + _number_text(lo))
            if hi is not None:
                ends.append(("below " if self.hi_open else "at most ") + _number_text(hi))
            text += (", " + " and ".join(ends)) if ends else ""
        if self.multiple_of:
            text += f", a multiple of {self.multiple_of}"
        if self.also:
            text = " or ".join(_number_text(v) for v in self.also) + ", or " + text
        return text

    def allows(self, value: Any) -> bool:
        """Whether ``value`` is one of the values described."""
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if value in self.also:
            return True
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return False
        return not (self.multiple_of and value % self.multiple_of)


@dataclass(frozen=True, slots=True)
class Setting:
    """How users set a config field: one name for the option and the settings-file key.

    ``name`` (default: the field's name) as a Python identifier; the option is ``--NAME``
    with dashes (``render_size`` → ``--render-size``), the TOML key is NAME with dashes or
    underscores (a ``PostConfig`` field may also sit in the file's ``[post]`` table).
    """

    #: The ``--help`` text (the range, from the field's ``Bounds``, is added by the CLI).
    help: str
    name: str = ""
    #: The values a string setting may take (``--codec``), checked by the CLI.
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    #: Whether ``--help`` shows the default (not for ``None`` defaults: "the codec's own").
    show_default: bool = True
    #: Repeatable option (``--reference``); the field holds a tuple.
    multiple: bool = False
    #: A file or folder path; ``file_relative``: a relative one in a settings file is taken
    #: relative to that file's folder.
    path: bool = False
    file_relative: bool = False
    #: A boolean option comes as ``--NAME/--no-NAME``; ``negatable=False``: a plain flag.
    negatable: bool = True
    #: Whether a settings file may set it (``False``: it concerns one run, like --overwrite).
    in_file: bool = True


def bounded(
    default: Any,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    integer: bool | None = None,
    also: tuple[float, ...] = (),
    multiple_of: int | None = None,
    help: str | None = None,
    **setting: Any,
) -> Any:
    """A dataclass field with ``default`` (``dataclasses.MISSING``: none) and the ``Bounds``
    its values must keep (see ``Bounds``). ``integer`` defaults to whether ``default`` is an
    int; a ``None`` default is itself allowed (``optional``). The class calls
    ``check_bounds`` in ``__post_init__``. With ``help`` (and any other ``Setting``
    argument) the field is also a user setting (see ``settable``)."""
    if integer is None:
        integer = isinstance(default, int) and not isinstance(default, bool)
    bounds = Bounds(lo, hi, lo_open, hi_open, integer, also, multiple_of, default is None)
    metadata: dict[str, Any] = {"bounds": bounds}
    if help is not None:
        metadata["setting"] = Setting(help, **setting)
    if default is dataclasses.MISSING:  # a field without a default
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


def settable(default: Any, help: str, **setting: Any) -> Any:
    """A dataclass field with ``default`` that users set, as an option and a settings-file
    key: ``Setting(help, **setting)``."""
    return field(default=default, metadata={"setting": Setting(help, **setting)})


def bounds_of(config_class: type, name: str) -> Bounds:
    """The ``Bounds`` declared on field ``name`` of ``config_class`` (``KeyError`` if none)."""
    for f in dataclasses.fields(config_class):
        if f.name == name:
            return f.metadata["bounds"]  # type: ignore[no-any-return]
    raise KeyError(f"{config_class.__name__} has no field {name!r}")


def check_bounds(config: Any) -> None:
    """Check every bounded field of the dataclass instance ``config``.

    Raises:
        SettingValueError: (a ``UsageError``, exit 2, and a ``ValueError``) naming the class,
            the field, the value and its ``Bounds.describe()``, for the first field whose
            value is not a finite number in its range (NaN and infinities never are).
    """
    for f in dataclasses.fields(config):
        bounds = f.metadata.get("bounds")
        if bounds is not None:
            value = getattr(config, f.name)
            if not bounds.allows(value):
                raise SettingValueError(type(config).__name__, f.name, value, bounds.describe())
