"""Steering colour from a different picture by matching the model's own encoder features.

A *style reference* is a colour picture that is not a frame of the film (a photograph of the
same street, the costume in daylight). Its colour cannot be warped onto the frame, so each
position of the frame looks for the positions of the reference that *look alike* to the
colorization network: the frame's and the reference's matching keys
(``filmcolor.model.colorizer.feature_keys``: the encoder's features at strides 8 and 16,
L2-normalised per position; the frame's come from the model's own pass). For each frame
position ``i``::

    s_ij = cos(f_i, g_j)                      over every reference position j
    ab_i = Σ_j softmax_j(s_ij / T) · ab_ref_j  (T = ``TEMPERATURE``)
    conf_i = clip((max_j s_ij − S0) / (1 − S0), 0, 1)

with the reference's ab area-averaged to the feature grid. ``ab`` and ``conf`` are upsampled
to render size (bilinear) and blended with the model: ``model + strength · conf · (ab −
model)``. Positions that resemble nothing in the reference keep the model's colour. Which
frames a style reference steers (the shots that match its scene, or all) is the guide's
``style_scope``.

Cost: an ``(n_frame × n_ref)`` similarity product at stride 8: about 720 × 720 at render
size 160×288.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..model.colorizer import Colorizer

#: Softmax temperature on cosine similarities.
TEMPERATURE = 0.02
#: Cosine similarity mapped to confidence 0 (1 at a perfect match). The keys are MBConv
#: block outputs (no activation), so similarities lie in [−1, 1] and S0 = −1 makes the
#: confidence (1 + s) / 2, never 0: a style reference steers every position of the frames it
#: applies to (a different picture rarely matches closely: the median best similarity between
#: unrelated pictures is 0.41–0.50). Which frames those are is the guide's ``style_scope``.
S0 = -1.0


@dataclass(frozen=True, slots=True)
class StyleSource:
    """A style reference prepared for matching."""

    path: str
    #: ``(n, C)`` float32 L2-normalised features of the reference's positions.
    features: torch.Tensor
    #: ``(n, 2)`` float32 Lab ab of the same positions.
    ab: torch.Tensor


def style_source(colorizer: Colorizer, path: str, lab: torch.Tensor) -> StyleSource:
    """Prepare a style reference from its ``(3, h, w)`` Lab picture (at about render size)."""
    feats = colorizer.keys(lab[None, :1])[0]  # (C, gh, gw)
    gh, gw = feats.shape[-2:]
    ab = F.adaptive_avg_pool2d(lab[None, 1:].to(feats.device, torch.float32), (gh, gw))[0]
    return StyleSource(path, feats.flatten(1).T.contiguous(), ab.flatten(1).T.contiguous())


@torch.inference_mode()
def match_colour(
    keys: torch.Tensor, sources: list[StyleSource], size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The style references' colour for frames of render size ``size`` = ``(h, w)`` from
    their ``(N, C, ⌈h/8⌉, ⌈w/8⌉)`` matching keys. Returns ``((N, 2, h, w) float32 Lab ab,
    (N, h, w) float32 confidence in [0, 1])``."""
    gh, gw = keys.shape[-2:]
    q = keys.float().flatten(2).transpose(1, 2)  # (N, n_pos, C)
    ref_keys = torch.cat([s.features for s in sources]).to(q.device)
    values = torch.cat([s.ab for s in sources]).to(q.device)
    return attend(q @ ref_keys.T, values, (gh, gw), size)


def attend(
    sim: torch.Tensor, values: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The rule above on similarities already computed: ``sim`` ``(N, n_pos, m)`` between the
    frames' ``grid`` = ``(gh, gw)`` cells and ``m`` source cells whose ab are ``values``
    ``(m, 2)`` → ``((N, 2, h, w) float32 Lab ab, (N, h, w) float32 confidence in [0, 1])`` at
    render size ``size`` = ``(h, w)``."""
    n = sim.shape[0]
    gh, gw = grid
    h, w = size
    weights = torch.softmax(sim / TEMPERATURE, dim=2)
    ab = (weights @ values).transpose(1, 2).reshape(n, 2, gh, gw)
    conf = ((sim.max(dim=2).values - S0) / (1 - S0)).clamp(0, 1).reshape(n, 1, gh, gw)
    # each grid cell covers 8×8 pixels: upsample to the cells' span, then crop to (h, w)
    cells = (gh * 8, gw * 8)
    ab = F.interpolate(ab, size=cells, mode="bilinear", align_corners=False)[..., :h, :w]
    conf = F.interpolate(conf, size=cells, mode="bilinear", align_corners=False)[..., :h, :w]
    return ab.cpu().numpy().astype(np.float32), conf[:, 0].cpu().numpy().astype(np.float32)


def scene_share(keys: torch.Tensor, source_keys: torch.Tensor, s_cell: float) -> float:
    """Share of a frame's cells (``(C, gh, gw)`` keys) whose best similarity with any of
    ``source_keys`` ``(m, C)`` is at least ``s_cell``: how much of the frame the source's
    scene explains."""
    q = keys.float().flatten(1).T
    best = (q @ source_keys.to(q.device).T).max(dim=1).values
    return float((best >= s_cell).float().mean())
