"""The guide stage: the user's references and hints steer the colour at render size
(``Guide.apply_batch``); latency 0."""

from __future__ import annotations

import torch

from ..stage import FrameBatch
from .engine import Guide


class GuideStage:
    """``ab_low`` ``(N, 2, h, w)`` float32 Lab a, b at render size → the same, guided, given
    ``L_low`` ``(N, 1, h, w)`` float32 L in [0, 100] and the smoother's ``plans`` (if any)."""

    latency = 0
    clocks = ("model", "guide")

    def __init__(self, guide: Guide) -> None:
        self.guide = guide

    @property
    def wants_keys(self) -> bool:
        """Whether the model's pass should give the frames' matching keys (``FrameBatch.keys``)."""
        return self.guide.wants_keys

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        if batch.frames:
            assert batch.L_low is not None and batch.ab_low is not None
            L_np = batch.L_low[:, 0].float().cpu().numpy()
            ab_np = batch.ab_low.float().cpu().numpy()
            pts = [f.pts for f in batch.frames]
            guided = self.guide.apply_batch(pts, L_np, ab_np, batch.plans, batch.keys)
            batch.ab_low = torch.from_numpy(guided).to(batch.L_low.device)
        return [batch]

    def flush(self) -> list[FrameBatch]:
        return []
