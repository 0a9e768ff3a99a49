"""Steering colour from a different picture by matching the model's own encoder features.

A *style reference* is a colour picture that is not a frame of the film (a photograph of the
same street, the costume in daylight). Its colour cannot be warped onto the frame, so each
position of the frame looks for the positions of the reference that *look alike* to the
colorization network: the frame's and the reference's luma go through the model's encoder
(``ColorUNet.encoder``, also inside the fused inference model), and the features at strides 8
and 16 (the latter upsampled to stride 8) are concatenated and L2-normalised per position. For
each frame position ``i``::

    s_ij = cos(f_i, g_j)                      over every reference position j
    ab_i = Σ_j softmax_j(s_ij / T) · ab_ref_j  (T = ``TEMPERATURE``)
    conf_i = clip((max_j s_ij − S0) / (1 − S0), 0, 1)     (S0 = −1: in [0.5, 1])

with the reference's ab area-averaged to the feature grid. ``ab`` and ``conf`` are upsampled
to render size (bilinear) and blended with the model: ``model + strength · conf · (ab −
model)``. Positions that resemble nothing in the reference keep the model's colour.

Cost: one extra encoder pass per frame (the decoder is not run) and an ``(n_frame × n_ref)``
similarity product at stride 8: about 940 × 940 at render size 160×376.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..model.colorizer import Colorizer

#: Softmax temperature on cosine similarities.
TEMPERATURE = 0.02
#: Cosine similarity mapped to confidence 0 (1 at a perfect match). The encoder's features
#: are MBConv block outputs (a projection after BatchNorm, no activation), so similarities
#: lie in [−1, 1] and S0 = −1 makes the confidence (1 + s) / 2, never 0: every frame takes
#: some matched colour, whatever its shot. Chosen with model v1 on whole bikes and carphone
#: clips with the first frame as reference (chroma PSNR at render size, frame-reference
#: steering at strength 1): S0 0 → 24.6 / 30.2 dB (bikes / carphone), −1 → 26.6 / 30.3; S0 0.3
#: at strength 0.8 gave 22.5 / 29.5 (v1's own guess: 20.4 / 18.6). Those clips now hold
#: report shots of ``benchmarks/reference.py``: a retuning belongs on its ``--set tune``.
S0 = -1.0
#: Encoder levels used (indices into the encoder's features at strides 2, 4, 8, 16, 32).
LEVELS = (2, 3)


@dataclass(frozen=True, slots=True)
class StyleSource:
    """A style reference prepared for matching."""

    path: str
    #: ``(n, C)`` float32 L2-normalised features of the reference's positions.
    features: torch.Tensor
    #: ``(n, 2)`` float32 Lab ab of the same positions.
    ab: torch.Tensor


@torch.inference_mode()
def encoder_features(colorizer: Colorizer, L: torch.Tensor) -> torch.Tensor:
    """``(N, 1, h, w)`` L in [0, 100] → ``(N, C, ⌈h/8⌉, ⌈w/8⌉)`` float32 features, L2-normalised
    over C (strides 8 and 16 of the model's encoder, the latter upsampled)."""
    h, w = L.shape[-2:]
    s = colorizer.stride
    ph, pw = math.ceil(h / s) * s - h, math.ceil(w / s) * s - w
    x = L.to(colorizer.device, torch.float32)
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    x0 = x * (2.55 / 128.0) - (127.0 / 128.0)  # as ColorUNet.forward normalises its input
    feats = colorizer.model.encoder(x0)
    grid = feats[LEVELS[0]].shape[-2:]
    parts = [F.normalize(feats[LEVELS[0]].float(), dim=1)]
    for level in LEVELS[1:]:
        up = F.interpolate(feats[level].float(), size=grid, mode="bilinear", align_corners=False)
        parts.append(F.normalize(up, dim=1))
    out = F.normalize(torch.cat(parts, dim=1), dim=1)
    return out[..., : math.ceil(h / 8), : math.ceil(w / 8)].contiguous()


def style_source(colorizer: Colorizer, path: str, lab: torch.Tensor) -> StyleSource:
    """Prepare a style reference from its ``(3, h, w)`` Lab picture (at about render size)."""
    feats = encoder_features(colorizer, lab[None, :1])[0]  # (C, gh, gw)
    gh, gw = feats.shape[-2:]
    ab = F.adaptive_avg_pool2d(lab[None, 1:].to(feats.device, torch.float32), (gh, gw))[0]
    return StyleSource(path, feats.flatten(1).T.contiguous(), ab.flatten(1).T.contiguous())


@torch.inference_mode()
def match_colour(
    colorizer: Colorizer, L: torch.Tensor, sources: list[StyleSource]
) -> tuple[np.ndarray, np.ndarray]:
    """The style references' colour for a batch of frames (one encoder pass for all).

    ``L`` is ``(N, 1, h, w)`` L in [0, 100] at render size. Returns ``((N, 2, h, w) float32
    Lab ab, (N, h, w) float32 confidence in [0, 1])`` at render size.
    """
    n, _, h, w = L.shape
    feats = encoder_features(colorizer, L)  # (N, C, gh, gw)
    gh, gw = feats.shape[-2:]
    q = feats.flatten(2).transpose(1, 2)  # (N, n_pos, C)
    keys = torch.cat([s.features for s in sources]).to(q.device)
    values = torch.cat([s.ab for s in sources]).to(q.device)
    sim = q @ keys.T  # (N, n_pos, m) cosine similarities
    weights = torch.softmax(sim / TEMPERATURE, dim=2)
    ab = (weights @ values).transpose(1, 2).reshape(n, 2, gh, gw)
    conf = ((sim.max(dim=2).values - S0) / (1 - S0)).clamp(0, 1).reshape(n, 1, gh, gw)
    # each grid cell covers 8×8 pixels: upsample to the cells' span, then crop to (h, w)
    size = (gh * 8, gw * 8)
    ab = F.interpolate(ab, size=size, mode="bilinear", align_corners=False)[..., :h, :w]
    conf = F.interpolate(conf, size=size, mode="bilinear", align_corners=False)[..., :h, :w]
    return ab.cpu().numpy().astype(np.float32), conf[:, 0].cpu().numpy().astype(np.float32)
