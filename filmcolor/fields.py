"""Interlaced video coloured field by field.

An interlaced frame holds two pictures taken half a frame apart: its even rows (the top
field) and its odd rows (the bottom field). Coloured as one picture, the model would see the
combing of anything that moves, and each chroma row, made from the luma of both fields,
would carry the colour of both instants into each (chroma smear across fields).

So, when the source is interlaced and no deinterlacing filter ran, ``FieldSplit`` (right
after ``LumaStage``) turns each batch of N frames into a batch of 2N fields in time order
(first field, second field, per the stream's field order): ``L`` becomes the fields'
half-height L and ``L_low`` each field stretched back to the frame's render size (so the
model sees the picture's own proportions). The model, the temporal smoother, the colour
adjustments, the upsampling and the compose then run on the fields as on a video at twice
the rate (the smoother follows each field from the one before it), and ``FieldWeave`` (the
last stage) weaves the fields' Cb/Cr rows back into the frames: chroma row j of an
interlaced frame belongs to field j mod 2, as in MPEG-2/H.264 interlaced 4:2:0.
``FirstFields`` runs a stage that counts frames (the guide, whose references are anchored to
frame numbers) on each frame's first field and gives its second field the same change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from .color import luma_to_L
from .media.decode import LumaFrame
from .model.colorizer import Colorizer, resize_L
from .stage import FrameBatch, Stage
from .temporal.flow import warp


@dataclass(slots=True)
class FieldBatch(FrameBatch):
    """The fields of ``frames``' batch, two per frame in time order; the stages fill the
    fields' entries (``L`` ``(2N, 1, ⌈H/2⌉, W)`` and so on) as for frames."""

    #: The frames' own batch, which ``FieldWeave`` hands on with the woven chroma.
    frame_batch: FrameBatch = field(default_factory=lambda: FrameBatch([]))


def field_rows(height: int, parity: int) -> int:
    """How many of ``height`` rows belong to the field of ``parity`` (0 top, 1 bottom)."""
    return (height - parity + 1) // 2


def split_fields(L: torch.Tensor, top_field_first: bool) -> torch.Tensor:
    """``(N, C, H, W)`` frames → ``(2N, C, ⌈H/2⌉, W)`` fields, each frame's first field then
    its second. With an odd H the bottom field is one row short: its last row is repeated
    (``weave_fields`` drops it again)."""
    if L.shape[-2] % 2:
        L = torch.cat((L, L[..., -1:, :]), dim=-2)
    top, bottom = L[..., 0::2, :], L[..., 1::2, :]
    first, second = (top, bottom) if top_field_first else (bottom, top)
    n, c, h, w = first.shape
    return torch.stack((first, second), dim=1).reshape(2 * n, c, h, w)


def weave_fields(fields: np.ndarray, height: int, top_field_first: bool) -> np.ndarray:
    """``(2N, C, h, W)`` fields (as ``split_fields`` orders them) → ``(N, C, height, W)``
    frames: row j from field j mod 2. A field may have a spare last row (dropped)."""
    n2, c, _, w = fields.shape
    pairs = fields.reshape(n2 // 2, 2, c, -1, w)
    out = np.empty((n2 // 2, c, height, w), fields.dtype)
    for parity in (0, 1):
        which = parity if top_field_first else 1 - parity
        out[:, :, parity::2] = pairs[:, which, :, : field_rows(height, parity)]
    return out


class FieldSplit:
    """Frames → their fields (see the module docstring); latency 0. Takes ``L`` from
    ``LumaStage`` (or, where it kept none for a very large batch, the frames' luma code
    values of ``bit_depth`` and ``full_range``); gives ``L`` (the fields' own rows) and
    ``L_low`` (each field at the frame's render size)."""

    latency = 0
    clocks = ("model",)

    def __init__(
        self,
        colorizer: Colorizer,
        top_field_first: bool,
        bit_depth: int = 8,
        full_range: bool = False,
    ) -> None:
        self.colorizer = colorizer
        self.top_field_first = top_field_first
        self.bit_depth = bit_depth
        self.full_range = full_range

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        if not batch.frames:
            return [batch]
        L = batch.L
        if L is None:  # interlaced pictures are SD or HD: the batch's full-size L fits
            luma = torch.from_numpy(np.stack([f.luma for f in batch.frames]))
            L = luma_to_L(luma, self.bit_depth, self.full_range).unsqueeze(1)
            L = L.to(self.colorizer.device)
        height, width = L.shape[-2:]
        L = split_fields(L, self.top_field_first)
        order = (0, 1) if self.top_field_first else (1, 0)
        items = [LumaFrame(f.pts, f.luma[p::2]) for f in batch.frames for p in order]
        fields = FieldBatch(items, frame_batch=batch)
        fields.L = L
        fields.L_low = resize_L(L.float(), self.colorizer.render_shape(height, width))
        return [fields]

    def flush(self) -> list[FrameBatch]:
        return []


class FieldWeave:
    """Fields' ``chroma`` (2N arrays ``(2, hf, wc)``) → their frames' batch with ``chroma``
    (N arrays ``(2, hc, wc)``, rows woven, see ``weave_fields``) and one ``plans`` entry per frame
    (a cut if either field starts a shot, the model counted if it ran on either); latency 0.
    Other batches pass."""

    latency = 0
    clocks = ("compose",)

    def __init__(self, chroma_height: int, top_field_first: bool) -> None:
        self.chroma_height = chroma_height
        self.top_field_first = top_field_first

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        if not isinstance(batch, FieldBatch):
            return [batch]
        assert batch.chroma is not None
        frames = batch.frame_batch
        woven = weave_fields(np.stack(batch.chroma), self.chroma_height, self.top_field_first)
        frames.chroma = list(woven)
        if batch.plans is not None:
            frames.plans = [
                dataclasses.replace(a, cut=a.cut or b.cut, run_model=a.run_model or b.run_model)
                for a, b in zip(batch.plans[0::2], batch.plans[1::2], strict=True)
            ]
        return [frames]

    def flush(self) -> list[FrameBatch]:
        return []


class FirstFields:
    """Runs ``stage`` (latency 0, changing ``ab_low``: the guide) on the first field of each
    frame only, so that it sees one picture per frame as it counts them, and adds the change
    it made to each first field's ``ab_low`` to the second field's, moved along the
    smoother's flow from the second field to the first when there is one. The stage follows
    the first fields itself (no ``plans``: the smoother's flows go from field to field)."""

    clocks: tuple[str, ...]

    def __init__(self, stage: Stage) -> None:
        if stage.latency != 0:
            raise ValueError("FirstFields needs a stage of latency 0")
        self.stage = stage
        self.latency = 0
        self.clocks = stage.clocks

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        if not isinstance(batch, FieldBatch):
            return self.stage.push(batch)
        assert batch.L_low is not None and batch.ab_low is not None
        first = FrameBatch(batch.items[0::2])
        first.L_low = batch.L_low[0::2]
        first.ab_low = batch.ab_low[0::2]
        first.keys = None if batch.keys is None else batch.keys[0::2]
        (out,) = self.stage.push(first)
        assert out.ab_low is not None
        change = (out.ab_low - batch.ab_low[0::2]).float().cpu().numpy()
        if batch.plans is not None:  # moved along the smoother's flow, second → first field
            for j, plan in enumerate(batch.plans[1::2]):
                if plan.flow is not None:
                    moved = warp(np.ascontiguousarray(change[j].transpose(1, 2, 0)), plan.flow)
                    change[j] = moved.transpose(2, 0, 1)
        ab = batch.ab_low.clone()
        ab[0::2] = out.ab_low
        ab[1::2] += torch.from_numpy(change).to(ab.device, ab.dtype)
        batch.ab_low = ab
        return [batch]

    def flush(self) -> list[FrameBatch]:
        return self.stage.flush()
