"""The colour stage of post-processing: ``adjust_chroma`` on the colour at render size
(white balance, hue, saturation…); latency 0. The luma's tone operations run on the decode
thread instead (``filmcolor.pipeline.LumaTone``)."""

from __future__ import annotations

from ..config import PostConfig
from ..stage import FrameBatch
from .adjust import adjust_chroma, colour_is_identity


class PostStage:
    """``ab_low`` ``(N, 2, h, w)`` float32 Lab a, b at render size → the same, adjusted by
    ``post``'s colour fields (given ``L_low``, ``(N, 1, h, w)`` float32 L in [0, 100]);
    untouched when they are all neutral."""

    latency = 0
    clocks = ("model",)

    def __init__(self, post: PostConfig) -> None:
        self.post = post
        self.identity = colour_is_identity(post)

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        if batch.frames and not self.identity:
            assert batch.ab_low is not None
            batch.ab_low = adjust_chroma(batch.ab_low, self.post, batch.L_low)
        return [batch]

    def flush(self) -> list[FrameBatch]:
        return []
