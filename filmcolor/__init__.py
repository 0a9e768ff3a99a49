"""filmcolor: restore and colorize black-and-white films and photographs.

Public API::

    from filmcolor import restore, RestoreConfig
    report = restore("reel.mp4", "out.mp4", RestoreConfig())

Importing filmcolor has no side effects: no device is touched and nothing is printed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ColorizeConfig, EncodeConfig, ModelConfig, RestoreConfig
from .errors import FilmcolorError, InputError, MediaError, UsageError, WeightsError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .facade import restore
    from .model.colorizer import Colorizer

__all__ = [
    "ColorizeConfig",
    "Colorizer",
    "EncodeConfig",
    "FilmcolorError",
    "InputError",
    "MediaError",
    "ModelConfig",
    "RestoreConfig",
    "UsageError",
    "WeightsError",
    "__version__",
    "restore",
]


def __getattr__(name: str) -> Any:
    # torch and PyAV load only when the pipeline is first used, so `import filmcolor`
    # (and `filmcolor --help`) stays fast.
    if name == "restore":
        from .facade import restore

        return restore
    if name == "Colorizer":
        from .model.colorizer import Colorizer

        return Colorizer
    raise AttributeError(f"module 'filmcolor' has no attribute {name!r}")
