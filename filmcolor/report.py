"""What a restore reports: progress while it runs, and a summary of each file at the end.

Shared by every way of restoring (``filmcolor.facade``, ``filmcolor.pipeline``,
``filmcolor.segments``, ``filmcolor.batch``); these types depend on nothing else in filmcolor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported to the progress callback after each batch (and once per file in folders)."""

    path: str
    frames_done: int
    #: Frames in the file: counted by the container, else estimated from its duration.
    frames_total: int | None
    fps: float
    #: True on the last call for this file.
    finished: bool = False


ProgressCallback = Callable[[Progress], None]


@dataclass(slots=True)
class RestoreReport:
    """A machine-readable summary of one restored file (``--report``)."""

    input: str
    output: str
    kind: str
    frames_in: int = 0
    frames_out: int = 0
    frames_undecodable: int = 0
    frames_concealed: int = 0
    frames_dropped: int = 0
    #: Packets of copied streams (audio, subtitles…) left out as damaged: the muxer refused
    #: them (timestamps that go back, a broken frame header). Keyed by input stream index
    #: (as a string, like JSON's keys); only streams that lost packets appear.
    packets_dropped: dict[str, int] = field(default_factory=dict)
    #: Frames the model colorized; the rest were carried by flow (``--keyframe-interval``).
    frames_model: int = 0
    #: Shot cuts found by the temporal stage: the first frame of each new shot.
    cuts: list[dict[str, Any]] = field(default_factory=list)
    #: Set when a filter changed the frame count and timestamps (``--ivtc``, field-rate
    #: deinterlacing): the filter, time bases and rates in and out, frames in and out. The
    #: output's frames then have regular pts in ``time_base_out`` (frame k at k / rate_out
    #: after the first), and ``cuts`` are in that time base.
    retiming: dict[str, Any] | None = None
    #: A segmented run (``filmcolor.segments``): segment count, the segments reused from an
    #: interrupted run and those run now, the work folder.
    segments: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    fps: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    media: dict[str, Any] | None = None
    #: References and hints (``--reference``, ``--hints``) when given: each one's path or
    #: shape, kind (frame or style reference), frame and time it was anchored at, its luma
    #: correlation with that frame, frames carried backwards; ``frames_guided`` (frames the
    #: guide changed) and ``prepass_seconds``. None without references or hints.
    guide: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class FolderReport:
    """Summary of a folder run: one report per finished file, one entry per failed file."""

    input: str
    output: str
    files: list[RestoreReport] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    #: Warnings about the folder as a whole (each file's own are in its report).
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return int(self.failed[0]["exit_code"]) if self.failed else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "output": self.output,
            "files": [f.to_dict() for f in self.files],
            "failed": self.failed,
            "warnings": self.warnings,
        }
