"""Carrying a colour layer (a reference's or a hint's colour) through its shot by optical flow.

A *layer* is what the user asked for at one frame, at render size: ``ab`` ``(2, h, w)``
float32 Lab a, b, the luma ``L`` ``(h, w)`` float32 in [0, 100] that the colour belongs to,
and ``base`` ``(h, w)`` float32 in [0, 1], how sure we still are that each pixel is where
the flow says. Moving it to the next frame warps all three along the flow
(``filmcolor.temporal.flow``) and multiplies ``base`` by

- the flow's trust for that frame: 1 where the forward–backward check passes and the
  frame-to-frame luma agrees, 0 where the content is occluded, newly visible or off the
  picture (the smoother's ``FramePlan.trust`` when the smoother ran, so no flow is computed
  twice; trust ≥ ``TRUST_FULL`` counts as fully trusted, so the per-frame noise of the luma
  term does not compound over hundreds of frames);
- ``decay`` (the ``GuideConfig`` value: a reference's say fades slowly with distance);

then pulls the layer onto the frame's own luma (``realign``: the DIS flow from the frame to
the carried anchor luma removes the drift that frame-to-frame flow errors accumulate).

The confidence used for the output is ``min(1, base · exp(−(ΔL / luma_sigma)²) / CONF_FULL)``
where ΔL is the difference between the frame's luma and the *carried anchor luma*, after
removing a global brightness change (flicker) as the smoother does. Comparing with the
anchor's own luma, rather than frame to frame, measures the drift of the whole path: where
the carried colour has slid off its object, the luma it came with no longer matches and the
model takes over.
Dividing by ``CONF_FULL`` (0.2) keeps the user's colour whole while the evidence is good
(a slow decay and a few units of luma noise would otherwise mix in a growing share of the
model's colour from the first frames on) and fades it out only once the path is doubtful.
``TRUST_FULL`` and ``CONF_FULL`` were set on the evaluation clips (``benchmarks/reference.py``):
at 0.5 and 0.5 carphone's carried colour covered 43 % of the picture after 4 s while its error
stayed at 4 Lab units; 0.2 and 0.2 gave +0.4 dB on the render-size chroma PSNR.
The output is ``ab = conf · carried + (1 − conf) · model``. A shot cut drops the layer.

Backward propagation (frames of the shot before the anchor) runs the same step with the flow
from each frame to the next; it needs those frames' luma, so it is done in the guide's
pre-pass (``filmcolor.guide.engine``) and its layers are stored quantized (``PackedLayer``:
int8 ab, uint8 confidence, 3 bytes a pixel) for the frames between the shot start and the
anchor, at most ``max_frames(decay)`` of them: 180 kB a frame at 160×376, about 108 MB for
the 600 frames ``decay`` 0.995 allows before the confidence falls under 5 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from ..temporal.flow import FlowEstimator, valid_flow, warp

#: A frame-to-frame trust at or above this counts as fully trusted (see the module docstring).
TRUST_FULL = 0.2
#: A carried colour at least this sure replaces the model's entirely (see ``confidence``).
CONF_FULL = 0.2
#: Confidence under which a carried layer is dropped (and backward propagation stops).
MIN_CONF = 0.05


@dataclass(slots=True)
class Layer:
    """A colour to carry, at render size (see the module docstring)."""

    #: ``(2, h, w)`` float32 Lab a, b.
    ab: np.ndarray
    #: ``(h, w)`` float32 Lab L in [0, 100] that the colour was given on, carried with it.
    L: np.ndarray
    #: ``(h, w)`` float32 in [0, 1]: trust of the path so far (mask, flow validity, decay).
    base: np.ndarray

    def confidence(self, L: np.ndarray, luma_sigma: float) -> np.ndarray:
        """``(h, w)`` float32 in [0, 1]: ``base`` × luma agreement of the frame's ``L`` with the
        carried luma, after removing a global brightness change."""
        diff = L - self.L
        sure = self.base > 0.5
        if sure.any():
            diff = diff - float(np.median(diff[sure][::4]))
        agree = np.exp(-np.square(diff / luma_sigma))
        return np.minimum(1.0, self.base * agree / CONF_FULL).astype(np.float32)

    def pack(self, conf: np.ndarray) -> PackedLayer:
        """Quantize for storage with the final confidence ``conf`` ``(h, w)`` in [0, 1]."""
        ab = np.clip(np.rint(self.ab), -127, 127).astype(np.int8)
        c = np.clip(np.rint(conf * 255), 0, 255).astype(np.uint8)
        return PackedLayer(ab, c)


@dataclass(frozen=True, slots=True)
class PackedLayer:
    """A backward-propagated layer as stored: 3 bytes a pixel."""

    #: ``(2, h, w)`` int8 Lab a, b rounded to whole units (clipped to ±127).
    ab: np.ndarray
    #: ``(h, w)`` uint8 confidence × 255.
    conf: np.ndarray

    def unpack(self) -> tuple[np.ndarray, np.ndarray]:
        """``((2, h, w) float32 ab, (h, w) float32 confidence in [0, 1])``."""
        return self.ab.astype(np.float32), self.conf.astype(np.float32) / 255.0


def to_u8(L: np.ndarray) -> np.ndarray:
    """``(h, w)`` L in [0, 100] → uint8 0–255, the flow estimator's input."""
    return np.clip(L * 2.55 + 0.5, 0, 255).astype(np.uint8)


def max_frames(decay: float) -> int:
    """Frames after which ``decay`` alone takes a confidence of 1 under ``MIN_CONF``."""
    if decay >= 1.0:
        return 1 << 30
    if decay <= 0.0:
        return 1
    return max(1, math.ceil(math.log(MIN_CONF) / math.log(decay)))


def flow_trust(
    flows: FlowEstimator, L: np.ndarray, L_other: np.ndarray, luma_sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Flow from frame ``L`` to ``L_other`` (both ``(h, w)`` L in [0, 100]) and its trust.

    Returns ``((h, w, 2) float32 flow, (h, w) float32 trust in [0, 1])``, the trust computed as
    ``ChromaSmoother.plan`` does: forward–backward check × luma agreement after removing a
    global brightness change, blurred 3×3.
    """
    a, b = to_u8(L), to_u8(L_other)
    forward = flows(a, b)
    backward = flows(b, a)
    valid = valid_flow(forward, backward)
    diff = L - warp(L_other, forward)
    if valid.any():
        diff -= float(np.median(diff[valid][::4]))
    trust = np.where(valid, np.exp(-np.square(diff / luma_sigma)), 0.0).astype(np.float32)
    return forward, cv2.blur(trust, (3, 3))


def carry(layer: Layer, flow: np.ndarray, trust: np.ndarray, decay: float) -> Layer:
    """``layer`` moved into the frame that ``flow`` ``(h, w, 2)`` starts from.

    ``flow`` maps each pixel of the new frame to where it is in the layer's frame, as
    ``FramePlan.flow`` (frame → previous) does; ``trust`` ``(h, w)`` in [0, 1] is that flow's.
    """
    hwc = np.ascontiguousarray(layer.ab.transpose(1, 2, 0))  # OpenCV: channels last
    ab = warp(hwc, flow).transpose(2, 0, 1)
    L = warp(layer.L, flow)
    # Outside the picture BORDER_REPLICATE would invent content: that is caught by the trust
    # (valid_flow rejects targets off the picture).
    base = warp(layer.base, flow) * np.minimum(1.0, trust / TRUST_FULL) * decay
    return Layer(np.ascontiguousarray(ab, dtype=np.float32), L, base.astype(np.float32))


def realign(layer: Layer, L: np.ndarray, flows: FlowEstimator) -> Layer:
    """``layer`` (already carried into the frame of ``L``) pulled onto the frame's own luma.

    Frame-to-frame flow errors add up along a shot (DIS under-estimates motion by a few per
    cent, and each bilinear warp blurs): after a hundred frames the colour would lag behind
    its object. The carried luma is the anchor's own picture, so the DIS flow from the frame
    to it measures exactly that accumulated drift, and warping by it removes it. No validity
    check is needed here: ``Layer.confidence`` compares the realigned luma with the frame's.
    """
    flow = flows(to_u8(L), to_u8(layer.L))
    hwc = np.ascontiguousarray(layer.ab.transpose(1, 2, 0))
    ab = np.ascontiguousarray(warp(hwc, flow).transpose(2, 0, 1), dtype=np.float32)
    return Layer(ab, warp(layer.L, flow), warp(layer.base, flow))


def blend(model_ab: np.ndarray, ab: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """``conf · ab + (1 − conf) · model_ab``: ``(2, h, w)`` float32 each, ``conf`` ``(h, w)``."""
    return (model_ab + conf[None] * (ab - model_ab)).astype(np.float32)


def merge(
    a: tuple[np.ndarray, np.ndarray] | None, b: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Two ``(ab, conf)`` colourings of one frame as one: confidence-weighted colour, combined
    confidence ``1 − (1 − c_a)(1 − c_b)`` (two agreeing sources are surer than either)."""
    if a is None:
        return b
    if b is None:
        return a
    (ab_a, c_a), (ab_b, c_b) = a, b
    total = c_a + c_b
    w = np.divide(c_a, total, out=np.full_like(total, 0.5), where=total > 1e-6)
    ab = w[None] * ab_a + (1 - w[None]) * ab_b
    return ab.astype(np.float32), (1 - (1 - c_a) * (1 - c_b)).astype(np.float32)


class Propagator:
    """Carries layers forward through a stream, frame by frame (zero latency).

    Call ``step`` once per frame, in order; ``add`` a layer at the frame it is anchored to
    (after that frame's ``step``); ``colour`` gives the frame's carried ``(ab, conf)``. A cut
    (``step`` with ``flow=None``) drops every layer. Memory: the live layers, each 4 float planes
    at render size.
    """

    def __init__(
        self, decay: float, luma_sigma: float, refine: FlowEstimator | None = None
    ) -> None:
        self.decay = decay
        self.luma_sigma = luma_sigma
        #: Flow for ``realign`` after each step (None: frame-to-frame flow alone).
        self.refine = refine
        #: Live layers with the time (seconds) after which each ends (None: its shot's end).
        self.layers: list[tuple[Layer, Fraction | None]] = []

    def reset(self) -> None:
        self.layers.clear()

    def step(
        self,
        L: np.ndarray,
        flow: np.ndarray | None,
        trust: np.ndarray | None,
        now: Fraction | None = None,
    ) -> None:
        """Move the live layers into the next frame (``L`` ``(h, w)``, at time ``now``),
        given the flow ``(h, w, 2)`` from this frame to the previous one and its trust
        ``(h, w)``; ``flow`` None means a shot start: every layer is dropped. Layers whose
        end is before ``now`` are dropped too."""
        if flow is None or trust is None:
            self.layers.clear()
            return
        kept: list[tuple[Layer, Fraction | None]] = []
        for layer, end in self.layers:
            if end is not None and now is not None and now > end:
                continue
            moved = carry(layer, flow, trust, self.decay)
            if self.refine is not None:
                moved = realign(moved, L, self.refine)
            if float(moved.base.max()) >= MIN_CONF:
                kept.append((moved, end))
        self.layers = kept

    def add(self, layer: Layer, end: Fraction | None = None) -> None:
        """Start carrying ``layer`` from the current frame (until time ``end`` inclusive)."""
        self.layers.append((layer, end))

    def colour(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The current frame's carried ``((2, h, w) ab, (h, w) conf)``, or None."""
        out: tuple[np.ndarray, np.ndarray] | None = None
        for layer, _ in self.layers:
            out = merge(out, (layer.ab, layer.confidence(L, self.luma_sigma)))
        return out


def propagate_backward(
    layer: Layer,
    Ls: list[np.ndarray],
    flows: FlowEstimator,
    decay: float,
    luma_sigma: float,
    trust_sigma: float,
) -> list[PackedLayer | None]:
    """Carry ``layer``, given on the last frame of ``Ls`` (the anchor), back through the others.

    ``Ls`` are the ``(h, w)`` L of the frames from the first one to carry into up to and
    including the anchor, oldest first, all in the anchor's shot. Returns one packed layer per
    frame before the anchor (``len(Ls) - 1``, same order), None where the confidence has
    fallen under ``MIN_CONF`` everywhere (and for every earlier frame).
    """
    out: list[PackedLayer | None] = [None] * (len(Ls) - 1)
    current = layer
    for i in range(len(Ls) - 2, -1, -1):
        flow, trust = flow_trust(flows, Ls[i], Ls[i + 1], trust_sigma)
        current = realign(carry(current, flow, trust, decay), Ls[i], flows)
        if float(current.base.max()) < MIN_CONF:
            break
        out[i] = current.pack(current.confidence(Ls[i], luma_sigma))
    return out
