"""The one shape of a restore stage, and the batch of frames the stages pass along.

A stage takes a ``FrameBatch`` and returns the batches it can release (``push``); at the end
of the stream ``flush`` returns the rest. A stage with ``latency`` 0 returns each batch as it
came; one that looks ahead may hold batches back, so callers always use what comes out. The
pipeline runs its stages as a list (``filmcolor.pipeline``): adding a stage is one module and
one line there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .media.decode import LumaFrame

if TYPE_CHECKING:
    import numpy as np
    import torch


@dataclass(slots=True)
class FrameBatch:
    """Consecutive frames of one stream, and what the stages have made of them so far.

    Stages fill the fields in the order they run; a batch without frames (only copied
    packets) passes every stage untouched.
    """

    #: What the decoder gave, in file order: ``LumaFrame`` s and the copied packets among them.
    items: list[Any]
    #: The ``LumaFrame`` s of ``items`` (N frames), in order: ``(H, W)`` uint8/uint16 luma each.
    frames: list[LumaFrame] = field(init=False)
    #: ``(N, 1, H, W)`` float32 Lab L in [0, 100] of the source luma, on the device; None for
    #: large frames (4K, 8K), whose L is made a band at a time where it is needed.
    L: torch.Tensor | None = None
    #: ``(N, 1, h, w)`` float32 L in [0, 100] at render size, on the device.
    L_low: torch.Tensor | None = None
    #: ``(N, 2, h, w)`` float32 Lab a, b (about ±110) at render size, on the device.
    ab_low: torch.Tensor | None = None
    #: The temporal smoother's ``FramePlan`` per frame when it ran, else None.
    plans: list[Any] | None = None
    #: When the guide asked for them: per frame, the ``(C, ⌈h/8⌉, ⌈w/8⌉)`` float32 matching
    #: keys from the model's pass (``Colorizer.predict_keyed``), None for the frames the model
    #: skipped (the smoother's carried frames).
    keys: list[Any] | None = None
    #: The guided filter's fit of ``ab_low`` to ``L_low``: ``(mean_a, mean_b)``, each
    #: ``(N, 2, h, w)`` float32 at render size (``Colorizer.coefficients``).
    coef: tuple[torch.Tensor, torch.Tensor] | None = None
    #: Per frame, ``(2, hc, wc)`` uint8/uint16 Cb/Cr code values in the output's format, at
    #: its chroma size.
    chroma: list[np.ndarray] | None = None

    def __post_init__(self) -> None:
        self.frames = [x for x in self.items if isinstance(x, LumaFrame)]


class Stage(Protocol):
    """One step of the restore: ``push`` a batch, get back the batches it releases."""

    #: Batches held back before output (0: each batch comes straight back).
    latency: int
    #: The entries of the run's ``seconds`` that this stage's time adds to.
    clocks: tuple[str, ...]

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        """Take the next batch (stream order); return those ready, in stream order."""
        ...

    def flush(self) -> list[FrameBatch]:
        """End of stream: return every batch still held, in order, and forget the state."""
        ...


#: Called with each stage and the seconds its ``push`` or ``flush`` took.
Clock = Callable[[Stage, float], None]


def run_stages(
    stages: Sequence[Stage], batches: list[FrameBatch], clock: Clock, start: int = 0
) -> list[FrameBatch]:
    """``batches`` through ``stages[start:]`` in order: the batches the last one releases."""
    for stage in stages[start:]:
        t = time.perf_counter()
        batches = [out for b in batches for out in stage.push(b)]
        clock(stage, time.perf_counter() - t)
    return batches


def flush_stages(stages: Sequence[Stage], clock: Clock) -> list[FrameBatch]:
    """End of stream: flush each stage in order, its held batches going through the stages
    after it (which may hold them again until their own flush)."""
    out: list[FrameBatch] = []
    for i, stage in enumerate(stages):
        t = time.perf_counter()
        held = stage.flush()
        clock(stage, time.perf_counter() - t)
        out += run_stages(stages, held, clock, i + 1)
    return out
