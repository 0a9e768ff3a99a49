"""The model's two stages: the prediction at render size (``ModelStage``) and the fit of the
edge-aware upsampling of that colour (``UpsampleStage``; ``ComposeStage`` applies it at the
output's chroma size). Both have latency 0."""

from __future__ import annotations

from ..stage import FrameBatch
from .colorizer import Colorizer


class ModelStage:
    """``L_low`` ``(N, 1, h, w)`` float32 L in [0, 100] at render size → ``ab_low``
    ``(N, 2, h, w)`` float32 Lab a, b: the model on every frame (without the temporal
    smoother, which runs the model itself, see ``filmcolor.temporal.stage``). ``keyed``: also
    the frames' matching ``keys`` from the same pass (for the guide)."""

    latency = 0
    clocks = ("model",)

    def __init__(self, colorizer: Colorizer, keyed: bool = False) -> None:
        self.colorizer = colorizer
        self.keyed = keyed

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        if batch.frames:
            assert batch.L_low is not None
            if self.keyed:
                batch.ab_low, keys = self.colorizer.predict_keyed(batch.L_low)
                batch.keys = list(keys)
            else:
                batch.ab_low = self.colorizer.predict_low(batch.L_low)
        return [batch]

    def flush(self) -> list[FrameBatch]:
        return []


class UpsampleStage:
    """``ab_low`` at render size → ``coef``, the guided filter's fit of it to ``L_low``
    (``Colorizer.coefficients``): ``ComposeStage`` applies it under the source's L at the
    output's chroma size, so colour edges follow the film's own luma edges."""

    latency = 0
    clocks = ("model",)

    def __init__(self, colorizer: Colorizer) -> None:
        self.colorizer = colorizer

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        if batch.frames:
            assert batch.L_low is not None and batch.ab_low is not None
            batch.coef = self.colorizer.coefficients(batch.L_low, batch.ab_low)
        return [batch]

    def flush(self) -> list[FrameBatch]:
        return []
