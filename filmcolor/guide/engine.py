"""The guide stage: references and hints applied to a stream of frames at render size.

``Guide.prepare`` loads the references and hints and runs the *pre-pass*: one extra decode
of the film at render size (luma only; the model does not run), up to the last frame it
needs when every reference is anchored by time (the whole film to search for an unanchored
one's frame), that

- finds each reference's frame: a time-anchored reference (a timecode name or list) goes to
  the frame whose ``pts × time_base`` is nearest; an unanchored one to the frame whose luma
  correlates best with the reference's (Pearson correlation of L at render size) — at or
  above ``MATCH_MIN`` it is a *frame reference*, else a *style reference*;
- checks that a time-anchored reference is a coloured version of its frame (the same
  correlation, ``MATCH_MIN``; else it becomes a style reference and the report says so);
- aligns each frame reference to its frame: resized to render size, then moved by the DIS flow
  from the frame's luma to the reference's (a reference exported slightly shifted or
  cropped is put back in place; where its luma still disagrees the confidence is low);
- carries each frame reference *backwards* through the frames of its shot before the anchor
  (``propagate.propagate_backward``), keeping those layers quantized (``PackedLayer``).

The pre-pass holds at most ``propagate.max_frames(decay)`` frames of luma (uint8, since the
last cut) plus, per anchor, the packed backward layers of the frames between its shot's
start and the anchor (capped at the same count): 60 kB + 180 kB a frame at 160×376. Unanchored
references take a second pre-pass (the best frame is only known at the end of the first).

``Guide.apply`` is the per-frame step of the streaming pass, called after the temporal
smoother with the smoother's ``FramePlan`` (so the flow is not computed twice; without the
smoother the guide estimates the flow itself) and the frame's matching keys from the model's
pass (so the encoder does not run twice). In order:

1. style references, matched on the model's encoder features (``match``), pull the model's
   colour towards theirs with weight ``style_strength × similarity confidence``, in the shots
   whose scene they match (``style_scope`` ``matching``, as the memory decides it) or in every
   shot (``all``);
2. the carried layers (forward from references and hints, backward from later references)
   replace it with weight ``conf``: ``ab = conf · carried + (1 − conf) · ab``;
3. the long-term memory (``memory``: the frame references and the current shot's keyframes,
   read by dense correspondence on the encoder's features) replaces that with its own
   confidence: where a region still looks as it did in a reference, its colour comes straight
   from the reference, however long ago the reference was; moved and new regions get matched,
   carried or predicted colour. Frame references read into their own shot and into the shots
   that match their scene, never into unrelated ones.

Every frame is read: a frame the model skipped (the smoother's keyframe interval) takes the
last frame's keys moved along the flow, so the encoder never runs twice on a frame.

Hints are drawn at their start frame and carried by the flow like a reference until their
end time (or the shot's end): re-drawing the same box on every frame would leave the colour
where the object *was*, so the region is only given once and then follows the picture. All
hints share one ``hints.HintCanvas`` (one set of planes, one flow step a frame), so a file
of thousands of hints costs no more memory than one; the pre-pass only finds each hint's
start frame (in time order, stopping once every hint has one).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..color import rgb_to_lab
from ..config import GuideConfig, LimitsConfig, TemporalConfig
from ..model.colorizer import Colorizer
from ..temporal.cuts import CutDetector
from ..temporal.flow import FlowEstimator, pixel_grid, warp
from ..temporal.smooth import FramePlan
from .hints import HintCanvas, load_hints
from .match import StyleSource, match_colour, scene_share, style_source
from .memory import S_CELL, SCENE_MIN, ReferenceMemory, make_entry
from .propagate import (
    Layer,
    PackedLayer,
    Propagator,
    blend,
    flow_trust,
    max_frames,
    merge,
    propagate_backward,
    to_u8,
)
from .sources import load_references
from .types import Hint, Reference

log = logging.getLogger(__name__)

#: Luma correlation (Pearson, L at render size) from which a picture is a frame's colour version.
MATCH_MIN = 0.8
#: Seconds between a reference's time and its nearest frame beyond which it is not anchored.
MAX_TIME_GAP = 0.25
#: Frames of the pre-pass and of the stream: ``(pts, (h, w) float32 L in [0, 100])`` at
#: render size, in order. The callable gives a fresh iterator on each call (one per pass).
FrameSource = Callable[[], Iterable[tuple[int, np.ndarray]]]


def reference_lab(rgb: np.ndarray, h: int, w: int) -> np.ndarray:
    """``(H, W, 3)`` uint8 sRGB → ``(3, h, w)`` float32 Lab at ``h`` × ``w`` (area-resized)."""
    interp = cv2.INTER_AREA if rgb.shape[0] >= h and rgb.shape[1] >= w else cv2.INTER_LINEAR
    small = cv2.resize(rgb, (w, h), interpolation=interp)
    t = torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1).float() / 255.0
    return rgb_to_lab(t).numpy().astype(np.float32)


def luma_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two ``(h, w)`` luma pictures (−1…1; 0 when either is flat)."""
    a = a.astype(np.float64).ravel() - float(a.mean())
    b = b.astype(np.float64).ravel() - float(b.mean())
    # products and sums, not ``np.dot``: a BLAS call leaves OpenBLAS's worker threads
    # spinning for a while afterwards, which took a core from the model's first batch
    den = float(np.sqrt(np.square(a).sum() * np.square(b).sum()))
    return float(np.multiply(a, b).sum() / den) if den > 1e-9 else 0.0


def align_reference(
    flows: FlowEstimator, L: np.ndarray, lab: np.ndarray, luma_sigma: float
) -> Layer:
    """A frame reference ``lab`` ``(3, h, w)`` put in place on its frame's ``L`` ``(h, w)``.

    The DIS flow from the frame to the reference brings the reference's colour (and luma) to
    each pixel of the frame where the flow holds; elsewhere the reference stays where it is.
    The layer's confidence (``Layer.confidence``) then compares the frame's luma with the
    moved reference luma, so whatever is still misaligned is given to the model.
    """
    flow, trust = flow_trust(flows, L, lab[0], luma_sigma)
    moved = np.ascontiguousarray(warp(np.ascontiguousarray(lab.transpose(1, 2, 0)), flow))
    moved = moved.transpose(2, 0, 1)
    keep = (trust >= 0.5)[None]
    lab_in_place = np.where(keep, moved, lab).astype(np.float32)
    base = np.ones(L.shape, np.float32)
    return Layer(np.ascontiguousarray(lab_in_place[1:]), lab_in_place[0].copy(), base)


@dataclass(slots=True)
class _Anchor:
    """A frame reference or a hint: where it starts and what it carries."""

    kind: str  # "reference" or "hint"
    source: Reference | Hint
    info: dict[str, Any]
    #: Target time (seconds) or, after a first pass, target frame number.
    time: Fraction | None = None
    index: int | None = None
    #: Best frame so far: (distance or −correlation, frame number, pts).
    best: tuple[float, int, int] | None = None
    layer: Layer | None = None
    #: Frame numbers → backward layers (before the anchor, same shot).
    backward: dict[int, PackedLayer] = field(default_factory=dict)
    end_time: Fraction | None = None
    #: Frame number of the first frame of the anchor's shot.
    shot_start: int | None = None


class Guide:
    """References and hints for one video stream (see the module docstring).

    Build with ``prepare``; call ``apply`` for every frame in order. ``summary`` is the
    ``RestoreReport.guide`` dict, updated as frames go by.
    """

    def __init__(
        self,
        config: GuideConfig,
        colorizer: Colorizer,
        temporal: TemporalConfig | None = None,
        first_index: int = 0,
    ) -> None:
        self.config = config
        self.colorizer = colorizer
        self.temporal = temporal or TemporalConfig()
        self.flows = FlowEstimator("fast")
        self.anchors: list[_Anchor] = []
        self.hints: list[_Anchor] = []
        self.styles: list[StyleSource] = []
        #: The frame references and the current shot's keyframes, read by every frame.
        self.memory = ReferenceMemory(config.luma_sigma)
        # no re-alignment to the anchor's luma each frame: the memory reads the reference
        # itself (on the tuning clips, 35.57 dB with and without, at a DIS flow a frame less)
        self.propagator = Propagator(config.decay, config.luma_sigma)
        self.canvas = HintCanvas(config.decay, config.luma_sigma, self.flows)
        self.summary: dict[str, Any] = {
            "references": [],
            "hints": [],
            "frames_guided": 0,
            "prepass_seconds": 0.0,
            "keyframes": 0,
            "shots_matched": 0,
        }
        self._time_base = Fraction(0)
        self._shape: tuple[int, int] = (0, 0)
        self._index = first_index
        self._first_index = first_index
        self._prev_L: np.ndarray | None = None
        self._cuts: CutDetector | None = None
        self._by_index: dict[int, list[_Anchor]] = {}
        self._shot_hints: list[_Anchor] = []
        #: Whether the style references steer the current shot (``style_scope``).
        self._style_on = False
        #: The style references' keys, joined (for the scene test).
        self._style_keys: torch.Tensor | None = None
        #: The last frame's matching keys (moved along the flow to the frames the model skips).
        self._last_keys: torch.Tensor | None = None
        self._shots_matched: set[int] = set()
        #: Frame references on the stream's first frame, added to the memory with the keys
        #: the model's pass gives that frame.
        self._deferred: list[_Anchor] = []

    # ------------------------------------------------------------------ preparation

    @classmethod
    def prepare(
        cls,
        frames: FrameSource,
        time_base: Fraction,
        config: GuideConfig,
        colorizer: Colorizer,
        *,
        temporal: TemporalConfig | None = None,
        references: list[Reference] | None = None,
        hints: list[Hint] | None = None,
        rate: Fraction | None = None,
        first_index: int = 0,
        limits: LimitsConfig | None = None,
    ) -> Guide:
        """Load (unless given) the references and hints of ``config`` and run the pre-pass
        over ``frames`` (see the module docstring). ``time_base`` turns pts into seconds;
        ``rate`` is the film's frame rate (for hints given in frames); ``limits`` bound the
        number of references and hints and the size of the pictures (default: the
        defaults)."""
        t0 = time.perf_counter()
        limits = limits or LimitsConfig()
        if hints is None:  # a cheap file, checked before any reference picture is read
            hints = []
            if config.hints:
                start = cls._start_time(frames, time_base)
                hints = load_hints(config.hints, rate=rate, start=start, limits=limits)
        if references is None:
            references = []
            if config.references or config.references_dir:
                references = load_references(config, limits)
        guide = cls(config, colorizer, temporal, first_index)
        guide._time_base = time_base
        guide._load(references, hints)
        guide._prepass(frames, time_base)
        guide.summary["prepass_seconds"] = round(time.perf_counter() - t0, 3)
        return guide

    @staticmethod
    def _start_time(frames: FrameSource, time_base: Fraction) -> Fraction:
        for pts, _ in frames():
            return pts * time_base
        return Fraction(0)

    def _load(self, references: list[Reference], hints: list[Hint]) -> None:
        for ref in references:
            info: dict[str, Any] = {"path": ref.path, "kind": "frame"}
            if ref.time is not None:
                info["time"] = float(ref.time)
            self.anchors.append(_Anchor("reference", ref, info, time=ref.time))
        for hint in hints:
            info = {
                "shape": hint.shape,
                "coords": list(hint.coords),
                "rgb": list(hint.rgb),
                "start": float(hint.start),
                "end": None if hint.end is None else float(hint.end),
            }
            self.hints.append(_Anchor("hint", hint, info, time=hint.start, end_time=hint.end))
        self.summary["references"] = [a.info for a in self.anchors]
        self.summary["hints"] = [a.info for a in self.hints]

    def _prepass(self, frames: FrameSource, time_base: Fraction) -> None:
        if self.anchors:
            timed = [a for a in self.anchors if a.time is not None]
            free = [a for a in self.anchors if a.time is None]
            self._pass(frames, time_base, timed, search=free)
            for a in free:
                assert a.best is not None
                a.info["luma_correlation"] = round(-a.best[0], 4)
                if -a.best[0] >= MATCH_MIN:
                    a.index = a.best[1]
                    a.best = None
            found = [a for a in free if a.index is not None]
            if found:
                self._pass(frames, time_base, found, search=[])
        if self.hints:
            self._hint_pass(frames, time_base)
        for a in self.anchors:
            if a.layer is None:
                a.info["kind"] = "style"
                h, w = self._shape
                ref = a.source
                assert isinstance(ref, Reference)
                rh, rw = _style_shape(ref.rgb.shape[0], ref.rgb.shape[1], min(h, w))
                lab = torch.from_numpy(reference_lab(ref.rgb, rh, rw))
                self.styles.append(style_source(self.colorizer, ref.path, lab))
            else:
                idx = a.info["frame"]
                self._by_index.setdefault(idx, []).append(a)
                assert a.shot_start is not None
                if idx == self._first_index:
                    # the first frame the stream brings: the model's own pass gives its keys
                    # (``apply_batch``), so the encoder does not run on it twice
                    self._deferred.append(a)
                else:
                    self._add_reference(a, None)
        for a in self.hints:
            if "frame" in a.info:
                self._by_index.setdefault(a.info["frame"], []).append(a)

    def _add_reference(self, a: _Anchor, keys: torch.Tensor | None) -> None:
        """Add frame reference ``a`` to the memory, with its frame's ``(C, gh, gw)`` keys
        (None: the encoder's, on the reference's luma)."""
        assert a.layer is not None and a.shot_start is not None
        L_ref = a.layer.L
        if keys is None:
            L_t = torch.from_numpy(np.ascontiguousarray(L_ref))[None, None]
            keys = self.colorizer.keys(L_t)[0]
        ones = np.ones(L_ref.shape, np.float32)
        frame = a.info["frame"]
        self.memory.add_reference(make_entry(keys, a.layer.ab, L_ref, ones, a.shot_start, frame))

    def _hint_pass(self, frames: FrameSource, time_base: Fraction) -> None:
        """One decode of the film (until every hint has its frame): each hint starts at the
        first frame at or after its start time. Hints are taken in time order, so this is
        linear in frames plus hints."""
        starts = [(a.time if a.time is not None else Fraction(0), a) for a in self.hints]
        starts.sort(key=lambda item: item[0])
        k = 0
        index = self._first_index - 1
        self._shape = (0, 0)
        for pts, L in frames():
            index += 1
            h, w = np.shape(L)
            self._shape = (h, w)
            t = pts * time_base
            while k < len(starts) and starts[k][0] <= t:
                starts[k][1].info["frame"] = index
                starts[k][1].info["seconds"] = round(float(t), 6)
                k += 1
            if k == len(starts):
                break

    def _pass(
        self,
        frames: FrameSource,
        time_base: Fraction,
        targets: list[_Anchor],
        search: list[_Anchor],
        backward: bool = True,
    ) -> None:
        """One decode of the film: find ``targets``' frames (by time or frame number) and
        build their layers (and backward layers); find ``search``'s best-matching frames."""
        cfg = self.config
        keep = max_frames(cfg.decay) + 1
        ring: deque[tuple[int, int, np.ndarray]] = deque(maxlen=keep)  # (index, pts, u8 L)
        cuts = CutDetector(self.temporal.cut_threshold, self.temporal.cut_ratio)
        pending = [a for a in targets if a.layer is None and "frame" not in a.info]
        search_lab: dict[int, np.ndarray] = {}
        index = self._first_index - 1
        self._shape = (0, 0)
        shot_start = self._first_index
        for pts, L in frames():
            index += 1
            L = np.asarray(L, np.float32)
            self._shape = L.shape
            t = pts * time_base
            cut = cuts.update(L)
            # a target whose nearest frame was the previous one is finished before a cut
            # clears the ring
            for a in [a for a in pending if self._passed(a, index, t)]:
                self._finish(a, ring, shot_start, time_base, backward)
                pending.remove(a)
            if not pending and not search:
                break  # every target is built and nothing is searched: the rest is not needed
            if cut:
                ring.clear()
                shot_start = index
            ring.append((index, pts, to_u8(L)))
            for a in pending:
                self._consider(a, index, pts, t)
            for a in search:
                lab = search_lab.get(id(a))
                if lab is None or lab.shape[1:] != L.shape:
                    ref = a.source
                    assert isinstance(ref, Reference)
                    lab = search_lab[id(a)] = reference_lab(ref.rgb, *L.shape)
                score = -luma_correlation(L, lab[0])
                if a.best is None or score < a.best[0]:
                    a.best = (score, index, pts)
        for a in pending:
            if a.best is not None:
                self._finish(a, ring, shot_start, time_base, backward)

    @staticmethod
    def _passed(a: _Anchor, index: int, t: Fraction) -> bool:
        """Whether frame (``index``, time ``t``) is past ``a``'s target, so the best frame so
        far is final."""
        if a.best is None:
            return False
        if a.index is not None:
            return index > a.index
        assert a.time is not None
        return t > a.time and abs(float(t - a.time)) > a.best[0]

    @staticmethod
    def _consider(a: _Anchor, index: int, pts: int, t: Fraction) -> None:
        if a.index is not None:
            if index == a.index:
                a.best = (0.0, index, pts)
            return
        assert a.time is not None
        dist = abs(float(t - a.time))
        if a.best is None or dist < a.best[0]:
            a.best = (dist, index, pts)

    def _finish(
        self,
        a: _Anchor,
        ring: deque[tuple[int, int, np.ndarray]],
        shot_start: int,
        time_base: Fraction,
        backward: bool,
    ) -> None:
        """Build ``a``'s layer on its frame (the newest of ``ring`` at or before it)."""
        assert a.best is not None
        _, idx, pts = a.best
        cfg = self.config
        a.info["frame"] = idx
        a.info["seconds"] = round(float(pts * time_base), 6)
        if a.time is not None and a.index is None and a.best[0] > MAX_TIME_GAP:
            # its time is outside the decoded frames (past the end, or another segment's)
            a.info["note"] = (
                f"no frame within {MAX_TIME_GAP} s of its time (nearest at "
                f"{a.info['seconds']} s): used as a style reference"
            )
            log.warning("%s: %s", a.source.path, a.info["note"])  # type: ignore[union-attr]
            del a.info["frame"]
            return
        frames = [f for f in ring if f[0] <= idx]
        if not frames or frames[-1][0] != idx:
            return  # its frame left the ring (cannot happen: the ring ends at the newest)
        L = frames[-1][2].astype(np.float32) / 2.55
        ref = a.source
        assert isinstance(ref, Reference)
        lab = reference_lab(ref.rgb, *L.shape)
        corr = luma_correlation(L, lab[0])
        a.info["luma_correlation"] = round(corr, 4)
        if corr < MATCH_MIN:
            a.info["note"] = (
                f"its luma does not match frame {idx} (correlation {corr:.2f} < {MATCH_MIN}): "
                "used as a style reference"
            )
            log.warning("%s: %s", ref.path, a.info["note"])
            del a.info["frame"]
            return
        a.layer = align_reference(self.flows, L, lab, cfg.luma_sigma)
        a.info["kind"] = "frame"
        a.shot_start = shot_start
        a.info["backward_frames"] = 0
        if backward and idx > shot_start and len(frames) > 1:
            Ls = [f[2].astype(np.float32) / 2.55 for f in frames if f[0] >= shot_start]
            first = idx - (len(Ls) - 1)
            # the anchor's own layer, given on the anchor frame: its luma is the frame's
            layer = Layer(a.layer.ab, a.layer.L, a.layer.base)
            packed = propagate_backward(
                layer, Ls, self.flows, cfg.decay, cfg.luma_sigma, self.temporal.luma_sigma
            )
            a.backward = {first + i: p for i, p in enumerate(packed) if p is not None}
            a.info["backward_frames"] = len(a.backward)

    # ------------------------------------------------------------------ streaming

    @property
    def wants_keys(self) -> bool:
        """Whether ``apply_batch`` reads the frames' matching keys (frame references in the
        memory, or style references): the model's pass then gives them."""
        return bool(self.memory.references or self._deferred or self.styles)

    def apply(
        self, pts: int, L: np.ndarray, ab: np.ndarray, plan: FramePlan | None = None
    ) -> np.ndarray:
        """The guided ``(2, h, w)`` float32 Lab ab of the next frame (``apply_batch`` of one)."""
        return self.apply_batch([pts], L[None], ab[None], None if plan is None else [plan])[0]

    def apply_batch(
        self,
        pts: list[int],
        L: np.ndarray,
        ab: np.ndarray,
        plans: list[FramePlan] | None = None,
        keys: list[torch.Tensor | None] | None = None,
    ) -> np.ndarray:
        """The guided ``(N, 2, h, w)`` float32 Lab ab of the next ``N`` frames.

        ``L`` is their ``(N, h, w)`` float32 L in [0, 100] at render size, ``ab`` the model's
        (or the smoother's) ``(N, 2, h, w)`` colour, ``plans`` the smoother's plans for them
        when the smoother ran (their cut flags, flows to the previous frame and trusts are
        reused), ``keys`` their ``(C, ⌈h/8⌉, ⌈w/8⌉)`` matching keys from the model's pass (None
        for a frame the model skipped). Frames must come in stream order, every one of them.

        Per frame, in order: the style references (in the shots they steer) pull the colour
        towards theirs (``style_strength`` × match confidence); the carried layers (forward
        from references and hints, backward from later references) replace it with their
        confidence; the memory (``filmcolor.guide.memory``) replaces that with its own. Every
        frame is read: a frame without keys (the model skipped it) takes the last frame's,
        moved along the flow (reading only every K-th frame and following the colour in
        between made it pulse at that period: chroma CDC up to 2× the automatic path's on
        the tuning clips).
        """
        out = np.array(ab, dtype=np.float32, copy=True)
        for i, p in enumerate(pts):
            plan = None if plans is None else plans[i]
            first = self._index == self._first_index
            carried, flow = self._carry(p, L[i], plan)
            k = None if keys is None else keys[i]
            if k is None and self.wants_keys:
                k = self._frame_keys(L[i], flow)
            if first and self._deferred:
                for a in self._deferred:
                    self._add_reference(a, k)  # the keys of the reference's own frame
                self._deferred.clear()
            self._last_keys = k
            guided = False
            if self.styles:
                style = self._style(k, L[i])
                if style is not None:
                    out[i] = blend(out[i], style[0], self.config.style_strength * style[1])
                    guided = True
            steer, memory = self._read_memory(k, L[i], flow)
            if steer is not None:
                out[i] = blend(out[i], steer[0], steer[1])
            if carried is not None:
                out[i] = blend(out[i], carried[0], carried[1])
                guided = guided or float(carried[1].max()) >= 0.05
            if memory is not None:
                out[i] = blend(out[i], memory[0], memory[1])
            guided = guided or steer is not None or memory is not None
            if k is not None and self.memory.references:
                sure = [c[1] for c in (carried, memory) if c is not None]
                conf = np.zeros(L[i].shape, np.float32)
                for c in sure:
                    conf = 1 - (1 - conf) * (1 - c)
                if self.memory.offer_keyframe(self._index - 1, k, L[i], out[i], conf):
                    self.summary["keyframes"] += 1
            self.summary["frames_guided"] += int(guided)
        return out

    def _frame_keys(self, L: np.ndarray, flow: np.ndarray | None) -> torch.Tensor:
        """Keys for a frame the model skipped: the last frame's moved along the flow
        (``flow`` ``(h, w, 2)``, this frame → the last, averaged over each 8×8 cell), else
        the encoder's (up to stride 16)."""
        last = self._last_keys
        if last is None or flow is None:
            return self.colorizer.keys(torch.from_numpy(np.ascontiguousarray(L))[None, None])[0]
        _, gh, gw = last.shape
        cells = cv2.resize(flow, (gw, gh), interpolation=cv2.INTER_AREA) / 8.0
        gx, gy = pixel_grid(gh, gw)
        # grid_sample's coordinates: −1 and 1 are the centres of the first and last cells
        nx = (gx + cells[..., 0]) * (2.0 / max(gw - 1, 1)) - 1.0
        ny = (gy + cells[..., 1]) * (2.0 / max(gh - 1, 1)) - 1.0
        grid = torch.from_numpy(np.stack([nx, ny], axis=-1))[None].to(last.device)
        moved = F.grid_sample(
            last[None], grid, mode="bilinear", padding_mode="border", align_corners=True
        )
        return F.normalize(moved[0], dim=0)

    def _read_memory(
        self, keys: torch.Tensor | None, L: np.ndarray, flow: np.ndarray | None
    ) -> tuple[tuple[np.ndarray, np.ndarray] | None, tuple[np.ndarray, np.ndarray] | None]:
        """The memory's soft and exact ``(ab, conf)`` for the frame (``memory.Read``)."""
        if not self.memory.references or keys is None:
            return None, None
        read = self.memory.read(keys, L, flow)
        if self.memory.matched():
            self._shots_matched.add(self.memory.shot)
            self.summary["shots_matched"] = len(self._shots_matched)
        return read.steer, read.colour

    def _style(
        self, keys: torch.Tensor | None, L: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The style references' ``(ab, conf)`` for the frame, in the shots they steer
        (``style_scope``)."""
        if keys is None:
            return None
        if self.config.style_scope == "all":
            self._style_on = True
        elif not self._style_on:
            if self._style_keys is None:
                self._style_keys = torch.cat([s.features for s in self.styles])
            self._style_on = scene_share(keys, self._style_keys, S_CELL) >= SCENE_MIN
        if not self._style_on:
            return None
        sab, sconf = match_colour(keys[None], self.styles, L.shape)  # type: ignore[arg-type]
        return sab[0], sconf[0]

    def _carry(
        self, pts: int, L: np.ndarray, plan: FramePlan | None
    ) -> tuple[tuple[np.ndarray, np.ndarray] | None, np.ndarray | None]:
        """Move the propagated layers into the next frame: its carried ``(ab, conf)`` and the
        flow ``(h, w, 2)`` to the previous frame (None at a shot's first frame, where the
        memory starts the shot)."""
        index = self._index
        self._index += 1
        flow: np.ndarray | None
        trust: np.ndarray | None
        if plan is not None:
            flow, trust = plan.flow, plan.trust
        else:
            if self._cuts is None:
                self._cuts = CutDetector(self.temporal.cut_threshold, self.temporal.cut_ratio)
            cut = self._cuts.update(L)
            prev, self._prev_L = self._prev_L, L
            flow = trust = None
            if prev is not None and not cut and prev.shape == L.shape:
                flow, trust = flow_trust(self.flows, L, prev, self.temporal.luma_sigma)
        if flow is None or trust is None:
            self.memory.start_shot(index)
            self._style_on = False
        now = pts * self._time_base
        self.propagator.step(L, flow, trust, now)
        self.canvas.step(L, flow, trust, now)
        starting: list[Hint] = []
        for a in self._by_index.get(index, ()):
            if a.kind == "reference":
                assert a.layer is not None
                self.propagator.add(a.layer, None)
            else:
                assert isinstance(a.source, Hint)
                starting.append(a.source)
        if starting:
            self.canvas.paint(starting, L)
        carried = merge(self.propagator.colour(L), self.canvas.colour(L))
        for a in self.anchors:
            packed = a.backward.pop(index, None)
            if packed is not None:
                carried = merge(carried, packed.unpack())
        return carried, flow


def _style_shape(height: int, width: int, short: int) -> tuple[int, int]:
    """A style picture's size at the render size's short side (aspect ratio kept)."""
    scale = short / min(height, width)
    return max(8, round(height * scale)), max(8, round(width * scale))


def guide_picture(
    L: np.ndarray,
    ab: np.ndarray,
    config: GuideConfig,
    colorizer: Colorizer,
    *,
    references: list[Reference] | None = None,
    hints: list[Hint] | None = None,
    limits: LimitsConfig | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """References and hints applied to one still picture at render size.

    ``L`` ``(h, w)`` float32 L in [0, 100], ``ab`` the model's ``(2, h, w)`` float32 Lab ab.
    A reference whose luma matches the picture's (``MATCH_MIN``) is aligned and laid on it,
    any other steers by feature matching; hints apply from time 0 (a still has no time),
    drawn in file order, each over the ones before. ``limits`` as for ``Guide.prepare``.
    Returns the guided ``(2, h, w)`` ab and the ``RestoreReport.guide`` summary.
    """
    limits = limits or LimitsConfig()
    if hints is None:
        hints = load_hints(config.hints, limits=limits) if config.hints else []
    if references is None:
        references = []
        if config.references or config.references_dir:
            references = load_references(config, limits)
    flows = FlowEstimator("fast")
    summary: dict[str, Any] = {"references": [], "hints": [], "frames_guided": 0}
    styles: list[StyleSource] = []
    carried: tuple[np.ndarray, np.ndarray] | None = None
    h, w = L.shape
    for ref in references:
        lab = reference_lab(ref.rgb, h, w)
        corr = luma_correlation(L, lab[0])
        info: dict[str, Any] = {"path": ref.path, "luma_correlation": round(corr, 4)}
        if corr >= MATCH_MIN:
            layer = align_reference(flows, L, lab, config.luma_sigma)
            carried = merge(carried, (layer.ab, layer.confidence(L, config.luma_sigma)))
            info["kind"] = "frame"
        else:
            rh, rw = _style_shape(ref.rgb.shape[0], ref.rgb.shape[1], min(h, w))
            styles.append(
                style_source(colorizer, ref.path, torch.from_numpy(reference_lab(ref.rgb, rh, rw)))
            )
            info["kind"] = "style"
        summary["references"].append(info)
    if hints:
        canvas = HintCanvas(config.decay, config.luma_sigma)
        canvas.paint(hints, L)
        carried = merge(carried, canvas.drawn())
    for hint in hints:
        summary["hints"].append({"shape": hint.shape, "coords": list(hint.coords)})
    out = ab
    steered = False
    if styles:
        keys = colorizer.keys(torch.from_numpy(np.ascontiguousarray(L))[None, None])
        source_keys = torch.cat([s.features for s in styles])
        steered = (
            config.style_scope == "all" or scene_share(keys[0], source_keys, S_CELL) >= SCENE_MIN
        )
        for info in summary["references"]:
            if info["kind"] == "style":
                info["applied"] = steered
    if steered:
        sab, sconf = match_colour(keys, styles, (h, w))
        out = blend(out, sab[0], config.style_strength * sconf[0])
    if carried is not None:
        out = blend(out, carried[0], carried[1])
    summary["frames_guided"] = int(steered or carried is not None)
    return out, summary
