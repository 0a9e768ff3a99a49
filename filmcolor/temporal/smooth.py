"""The flow-guided chroma smoother: steady colour without smearing it across cuts or motion.

For each frame (at render size) the previous *output* chroma is warped into the frame along
the optical flow of the luma and blended with the model's fresh prediction::

    ab_t = w · warp(ab_{t−1}) + (1 − w) · ab_pred_t,    w = carry · trust_t

``trust`` is 1 where the flow passes the forward–backward check (not occluded, not on a motion
boundary, inside the picture) and the warped luma agrees with the frame's luma, falling off
as ``exp(−(ΔL / luma_sigma)²)`` with ΔL measured after removing a global brightness change
(flicker); it is 0 elsewhere, so newly visible content takes the fresh prediction. Along a
trajectory this is an exponential average of the predictions with a time constant of about
``1 / (1 − carry)`` frames: flicker is averaged out, the colour itself is not pulled to gray.

A shot cut resets the state. With ``keyframe_interval`` K > 1 the model runs only on frames
whose number is a multiple of K, on the first frame of each shot, and on frames where too
little can be carried (``refresh_below``); other frames are the carried colour alone.

The smoother is causal: its latency is zero frames and ``flush`` has nothing to emit. Its
state is one frame (luma and chroma at render size), so memory is flat for any length. It is
used in two steps so that the model can run on a batch in between: ``plan`` (luma only: cut,
flow, trust, whether the model is needed) for each frame in order, then ``apply`` in the same
order with the predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..config import TemporalConfig
from .cuts import CutDetector
from .flow import FlowEstimator, Preset, valid_flow, warp


@dataclass(slots=True)
class FramePlan:
    """What ``plan`` learnt about one frame, for ``apply``."""

    #: Frame number in the stream (0-based).
    index: int
    #: True when the frame starts a shot (a detected cut); the first frame is not a cut.
    cut: bool
    #: True when the frame needs the model's prediction.
    run_model: bool
    #: ``(h, w, 2)`` float32 flow from this frame to the previous one, or None at a shot start.
    flow: np.ndarray | None = None
    #: ``(h, w)`` float32 in [0, 1]: how far the warped previous colour can be trusted.
    trust: np.ndarray | None = None


def _to_u8(L: np.ndarray) -> np.ndarray:
    return np.clip(L * 2.55 + 0.5, 0, 255).astype(np.uint8)


class ChromaSmoother:
    """Streaming chroma smoother for one video stream (see the module docstring)."""

    #: Frames held back before output: the smoother only looks backwards.
    latency = 0

    def __init__(self, config: TemporalConfig | None = None, first_index: int = 0) -> None:
        """``first_index``: the frame number (in the whole film) of the first frame planned,
        so that keyframes fall on the same frames when a film is restored in segments."""
        self.config = config or TemporalConfig(keyframe_interval=1)
        if self.config.keyframe_interval < 1:
            raise ValueError(
                "keyframe_interval must be 1 or more (resolve 0, automatic, with "
                "TemporalConfig.resolved first)"
            )
        self._flow = FlowEstimator(self._preset(self.config.flow_preset))
        self._cuts = CutDetector(self.config.cut_threshold, self.config.cut_ratio)
        self._count = first_index
        self._prev_L: np.ndarray | None = None
        self._prev_u8: np.ndarray | None = None
        self._prev_ab: np.ndarray | None = None
        #: Frame numbers of the detected cuts, in order.
        self.cuts: list[int] = []
        #: How many frames the model was asked for.
        self.model_frames = 0

    @staticmethod
    def _preset(name: str) -> Preset:
        if name not in ("ultrafast", "fast", "medium"):
            raise ValueError(f"unknown flow preset {name!r}; use ultrafast, fast or medium")
        return name  # type: ignore[return-value]

    def plan(self, L: np.ndarray) -> FramePlan:
        """Look at the next frame's ``(h, w)`` float32 L in [0, 100] at render size."""
        cfg = self.config
        index = self._count
        self._count += 1
        cut = self._cuts.update(L)
        if cut:
            self.cuts.append(index)
        u8 = _to_u8(L)
        prev_L, prev_u8 = self._prev_L, self._prev_u8
        self._prev_L, self._prev_u8 = L, u8
        if prev_L is None or prev_u8 is None or cut or prev_L.shape != L.shape:
            self.model_frames += 1
            return FramePlan(index, cut, run_model=True)
        to_prev = self._flow(u8, prev_u8)
        to_here = self._flow(prev_u8, u8)
        valid = valid_flow(to_prev, to_here)
        diff = L - warp(prev_L, to_prev)
        if valid.any():
            # a global brightness change is not motion (median of every 4th trusted pixel)
            diff -= float(np.median(diff[valid][::4]))
        trust = np.where(valid, np.exp(-np.square(diff / cfg.luma_sigma)), 0.0)
        trust = cv2.blur(trust.astype(np.float32), (3, 3))  # no hard seams at mask edges
        run = (
            cfg.keyframe_interval <= 1
            or index % cfg.keyframe_interval == 0
            or float(trust.mean()) < cfg.refresh_below
        )
        self.model_frames += int(run)
        return FramePlan(index, cut, run_model=run, flow=to_prev, trust=trust)

    def apply(self, plan: FramePlan, ab: np.ndarray | None) -> np.ndarray:
        """The output chroma ``(2, h, w)`` float32 Lab ab of ``plan``'s frame.

        ``ab`` is the model's ``(2, h, w)`` prediction for the frame, required when
        ``plan.run_model``; frames must be applied in the order they were planned.
        """
        if plan.run_model and ab is None:
            raise ValueError(f"frame {plan.index} needs the model's prediction")
        if plan.flow is None or self._prev_ab is None:
            assert ab is not None
            out = np.ascontiguousarray(ab, dtype=np.float32)
        else:
            hwc = np.ascontiguousarray(self._prev_ab.transpose(1, 2, 0))  # OpenCV: channels last
            carried = warp(hwc, plan.flow).transpose(2, 0, 1)
            if ab is None:
                out = np.ascontiguousarray(carried)
            else:
                assert plan.trust is not None
                w = self.config.carry * plan.trust
                out = (w * carried + (1 - w) * ab).astype(np.float32)
        self._prev_ab = out
        return out

    def flush(self) -> None:
        """End of stream: nothing is held back (latency 0); forget the state."""
        self._prev_L = self._prev_u8 = self._prev_ab = None
        self._cuts.reset()
