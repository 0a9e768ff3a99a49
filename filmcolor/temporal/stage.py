"""The temporal stage: the model's colour smoothed over time by ``ChromaSmoother`` (latency
0), the model running only on the frames the smoother asks for."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..stage import FrameBatch
from .smooth import ChromaSmoother


class TemporalStage:
    """``L_low`` ``(N, 1, h, w)`` float32 L in [0, 100] at render size → ``ab_low``
    ``(N, 2, h, w)`` float32 Lab a, b smoothed over time, and ``plans`` (one ``FramePlan``
    per frame: its cut flag, whether the model ran, its flow to the previous frame).

    ``predict`` is the model (``Colorizer.predict_low``): ``(M, 1, h, w)`` L →
    ``(M, 2, h, w)`` float32 ab, called once per batch on the frames that need it. Given
    ``predict_keyed`` (``Colorizer.predict_keyed``: the same and the frames' matching keys) it
    is called instead, and the batch's ``keys`` hold them for the frames the model ran on.
    """

    latency = ChromaSmoother.latency
    clocks = ("model",)

    def __init__(
        self,
        smoother: ChromaSmoother,
        predict: Callable[[torch.Tensor], torch.Tensor],
        predict_keyed: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> None:
        self.smoother = smoother
        self.predict = predict
        self.predict_keyed = predict_keyed

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        if not batch.frames:
            return [batch]
        L_low = batch.L_low
        assert L_low is not None
        L_np = L_low[:, 0].float().cpu().numpy()
        plans = [self.smoother.plan(L_np[i]) for i in range(len(L_np))]
        wanted = [i for i, p in enumerate(plans) if p.run_model]
        predicted: dict[int, np.ndarray] = {}
        keys: list[torch.Tensor | None] = [None] * len(plans)
        if wanted and self.predict_keyed is not None:
            ab_t, keys_t = self.predict_keyed(L_low[wanted])
            predicted = dict(zip(wanted, ab_t.cpu().numpy(), strict=True))
            for j, i in enumerate(wanted):
                keys[i] = keys_t[j]
        elif wanted:
            ab = self.predict(L_low[wanted]).cpu().numpy()
            predicted = dict(zip(wanted, ab, strict=True))
        out = [self.smoother.apply(p, predicted.get(i)) for i, p in enumerate(plans)]
        batch.ab_low = torch.from_numpy(np.stack(out)).to(L_low.device)
        batch.plans = plans
        if self.predict_keyed is not None:
            batch.keys = keys
        return [batch]

    def flush(self) -> list[FrameBatch]:
        self.smoother.flush()
        return []
