"""A job's own settings: a ``--look`` or a named preset, over the daemon's settings.

A job may carry ``{"look": NAME}`` (one of ``LOOKS``) or ``{"preset": NAME}``: a TOML
settings file ``NAME.toml`` in the presets folder (``filmcolor serve --presets DIR``),
written as for ``--config`` (``filmcolor restore --help``; see the settings guide).

- A look replaces the daemon's post-processing with that look's (and its vividness change),
  as ``--look`` does on the command line;
- a preset replaces the daemon's settings with the file's, over the defaults, except that
  the daemon's weights and device stay unless the file names its own.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from ..config import LOOKS, RestoreConfig
from ..errors import SettingValueError, UsageError
from ..settings import (
    COMMAND_LINE_ONLY,
    RESTORE_SETTINGS,
    build_restore_config,
    read_settings_file,
)

#: A preset's name: its file name without ``.toml``; letters, digits, ``-``, ``_``, ``.``.
PRESET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def list_presets(folder: Path | None) -> dict[str, Path]:
    """``{name: file}`` of the ``NAME.toml`` files directly in ``folder`` (sorted by name;
    empty without a folder). Names that are not ``PRESET_NAME`` are left out."""
    if folder is None or not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".toml" and path.is_file() and PRESET_NAME.fullmatch(path.stem):
            found[path.stem] = path
    return found


def check_job_settings(
    look: str | None, preset: str | None, folder: Path | None
) -> dict[str, str] | None:
    """The settings record of a new job (``{"look": ...}``, ``{"preset": ...}`` or None);
    ``UsageError`` for an unknown look or preset, both at once, or a preset file that does
    not read (its message names the file and the fix)."""
    if look and preset:
        raise UsageError("give a look or a preset, not both")
    if look:
        if look not in LOOKS:
            raise UsageError(f"unknown look '{look}'; choose one of {', '.join(sorted(LOOKS))}")
        return {"look": look}
    if preset:
        presets = list_presets(folder)
        if preset not in presets:
            names = ", ".join(presets) or "none (start the server with --presets DIR)"
            raise UsageError(f"unknown preset '{preset}'; the presets are: {names}")
        preset_config(RestoreConfig(), presets[preset])  # refuse a broken file now
        return {"preset": preset}
    return None


def preset_config(base: RestoreConfig, path: Path) -> RestoreConfig:
    """The settings of the preset file ``path``, keeping ``base``'s weights and device
    unless the file sets them."""
    known = {*RESTORE_SETTINGS, "look"} - COMMAND_LINE_ONLY
    values: dict[str, Any] = read_settings_file(path, known, COMMAND_LINE_ONLY)
    values.setdefault("weights", base.weights)
    values.setdefault("device", base.colorize.device)
    try:
        return build_restore_config(values)
    except (SettingValueError, TypeError, ValueError) as exc:
        raise UsageError(f"{path}: a value does not fit ({exc}); fix the preset") from None


def job_config(base: RestoreConfig, settings: dict[str, Any] | None) -> RestoreConfig:
    """``base`` with a job's own settings applied: ``{"look": NAME}`` or ``{"preset":
    PATH}`` (the preset file's path), or None for ``base`` itself."""
    if not settings:
        return base
    if settings.get("preset"):
        return preset_config(base, Path(settings["preset"]))
    look = settings.get("look")
    if look:
        values = {"look": look, "weights": base.weights}
        looked = build_restore_config(values)
        colorize = dataclasses.replace(base.colorize, vividness=looked.colorize.vividness)
        return dataclasses.replace(base, post=looked.post, colorize=colorize)
    return base
