"""The errors filmcolor raises on purpose; each carries its CLI exit code.

Messages are one line, name the file involved, and say what to do next.
"""

from __future__ import annotations


class FilmcolorError(Exception):
    """Base of all deliberate errors. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(FilmcolorError):
    """The options or paths given cannot work together (e.g. OUTPUT exists, no --overwrite)."""

    exit_code = 2


class SettingValueError(UsageError, ValueError):
    """A setting's value is not a finite number, or outside its allowed range (exit 2).

    Raised by the config dataclasses (``filmcolor.config``), where each numeric field declares
    its range. ``owner`` is the config class (``"PostConfig"``), ``name`` the field
    (``"saturation"``), ``value`` the value refused and ``rule`` what is allowed (``"a finite
    number of at least 0"``): the command line and the settings file re-word it with the
    option (``--saturation``) or the TOML key (``post.saturation``). Also a ``ValueError``,
    for callers of the library that build configs themselves.
    """

    def __init__(self, owner: str, name: str, value: object, rule: str) -> None:
        self.owner = owner
        self.name = name
        self.value = value
        self.rule = rule
        super().__init__(f"{owner}.{name} = {self.shown}: must be {rule}")

    @property
    def shown(self) -> str:
        """The refused value as the user would type it (``nan``, ``-inf``, ``1.5``, ``"x"``)."""
        if isinstance(self.value, float):
            return repr(self.value)
        text = repr(self.value)
        return text if len(text) <= 40 else text[:37] + "..."

    def __reduce__(self) -> tuple[type, tuple[str, str, object, str]]:
        return (type(self), (self.owner, self.name, self.value, self.rule))


class InputError(FilmcolorError):
    """The input is missing, empty, not media, or has no video stream."""

    exit_code = 3


class MediaError(FilmcolorError):
    """The media could not be decoded or encoded."""

    exit_code = 4


class WeightsError(FilmcolorError):
    """The weights file is missing, unreadable or does not fit the model."""

    exit_code = 5


#: Exit code when the user interrupts (Ctrl-C), as shells do for SIGINT.
EXIT_INTERRUPTED = 130


def _megapixels(count: int) -> str:
    return f" ({count / 1e6:.1f} megapixels)" if count >= 100_000 else ""


def picture_too_large(
    path: object, what: str, width: int, height: int, max_pixels: int
) -> InputError:
    """The input error (exit 3) for a picture above the ``LimitsConfig.max_pixels`` limit:
    ``what`` (``"picture"``, ``"video"``) of ``width`` × ``height``, the limit, and how to
    raise it."""
    return InputError(
        f"{path}: {what} of {width}x{height}{_megapixels(width * height)} is larger than the "
        f"limit of {max_pixels} pixels{_megapixels(max_pixels)}; raise it with --max-pixels "
        "(max-pixels in a --config file) if this machine has the memory"
    )
