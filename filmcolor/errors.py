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
