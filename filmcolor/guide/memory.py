"""Long-term colour memory: every frame reads colour straight from the references.

Carrying a reference's colour from frame to frame (``propagate``) resamples it at each step
and loses trust with every doubtful flow vector, so on its own a reference fades over a long
shot and never reaches what enters the picture later. The memory looks back at the
references themselves instead.

**What it holds.** One *entry* per frame reference (its aligned colour, as laid on its
frame) and, per shot, up to ``MAX_KEYFRAMES`` *keyframes*: guided output frames of the
current shot, added every ``KEYFRAME_EVERY`` frames, so that whatever entered the picture
after the reference (a person walking in, the far side of a pan) keeps the colour it was
first given. An entry is the picture at render size ``(h, w)`` — Lab ab, L, and a per-pixel
*value confidence* (1 for a reference; for a keyframe, how sure its colour was, at least
``NEWCOMER_CONF``) — and its matching keys: the model's own encoder features at strides 8
and 16 (``Colorizer.predict_keyed``, computed in the model's pass at no extra cost), one
L2-normalised ``C``-vector per 8×8 cell. A shot cut drops the keyframes and keeps the
references. Memory is bounded: ``(references + MAX_KEYFRAMES)`` entries of
``4 · h · w + C · h · w / 64`` floats, about 1.3 MB each at 160×288, whatever the length of
the film.

**Reading.** For each entry, each cell ``i`` of the frame finds its nearest cell ``j`` of the
entry (cosine similarity of the keys: one ``(n_frame × n_entry)`` product, the batched
attention that belongs on a GPU)::

    s_i = max_j cos(q_i, k_j),    d_i = position(j*) − position(i)

The displacement field ``d`` (cell units × 8 = pixels) is upsampled bilinearly to render
size and the entry's ab, L and value confidence are sampled there at full resolution: a
static region maps onto itself and reads the reference's own colour, sharp, at every frame
of the shot; a moved object reads it where it has moved. The per-pixel confidence is

    conf = clip((s − S_LOW) / (S_HIGH − S_LOW), 0, 1) · exp(−(ΔL / luma_sigma)²) · value_conf

with ΔL the frame's L minus the sampled entry L after removing a global brightness change:
a correspondence that lands on different luma (a wrong match, a motion boundary at 8-pixel
resolution) is given to the carried colour and the model. The match is the best over the
references the frame may read; a cell that matches none of them well (``s < S_HIGH``) takes
a keyframe's cell instead where one is closer, so that what entered the picture later keeps
its colour while what the reference shows reads the reference itself.

The cells' matches are whole 8-pixel steps. Every ``GLOBAL_EVERY`` frames each reference
also gets a *global* candidate: the homography that carries the frame onto it (RANSAC over
the cells' matches, refined by image alignment of the luma), which follows a turning or
zooming camera to a fraction of a pixel without drifting; between fits the last frame's
choice, moved along the flow, follows it.

Beside this exact read, a *soft* one gives every cell the attention-weighted colour of the
entries' cells that a reference coloured (``match.match_colour``'s rule, on the similarities
already computed): regions that moved too far or changed too much for the exact read still
lean towards the reference's colours.

**Cost.** Per frame: one ``(n_frame × n_reference_cells)`` product of keys (about 720 × 720 ×
152 at render size 160×288 with one reference) and one of the cells no reference matches well
with the keyframes' cells (at most 720 × 2,880 × 152 with 4 keyframes; on a static shot
almost none), the soft read's softmax over the references' cells,
and 7 (8 with the global candidate) single-plane ``remap`` s and box filters at render size for
the candidates, and every ``GLOBAL_EVERY`` frames one homography fit and alignment per
reference (about 7 ms on a CPU at 160×288); the keys of
the frames the model skips are the last frame's moved along the flow (``Guide``), so the
encoder never runs twice on a frame. On a GPU the product, the maxima and the softmax are
batched attention on the model's device (the keys never leave it; only the ``n_frame``
best indices and similarities come back to the CPU for the per-pixel choice); the
per-pixel choice is a handful of gathers and would move to the device too if it ever
dominated.

**Shots stay their own.** A reference reads into the frames of the shot it anchors to. Any
other shot reads it only once the shot *matches* the reference's scene: the share of the
frame's cells whose best similarity with the reference is at least ``S_CELL`` reaches
``SCENE_MIN`` (then for the rest of that shot). An unrelated shot is left to the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..temporal.flow import pixel_grid, warp
from .match import attend

#: Similarity at which a match starts to count (confidence 0) …
S_LOW = 0.3
#: … and from which it counts fully (confidence 1). Chosen on the tuning set of
#: ``benchmarks/reference.py`` (mean guided PSNR of its four shots: 0.5/0.8 → 35.48 dB,
#: 0.6/0.9 → 35.34, 0.4/0.7 → 35.56, 0.3/0.6 → 35.57, 0.2/0.5 → 35.56): the luma agreement,
#: not the similarity, is what rejects a wrong match.
S_HIGH = 0.6
#: A cell *matches* a reference when its best similarity is at least this …
S_CELL = 0.6
#: … and another shot counts as the reference's scene from this share of matching cells. On
#: the tuning clips (first frame as reference, every 4th frame) the share was 0.31–1.00 in the
#: reference's own shot and at most 0.12 in the other clips.
SCENE_MIN = 0.3
#: Frames between two keyframes of a shot (half a second at 24 fps; a keyframe is taken on
#: a frame the model ran on, so with a keyframe interval K the gap is rounded up to K).
KEYFRAME_EVERY = 12
#: Keyframes kept per shot (the least used is dropped beyond it).
MAX_KEYFRAMES = 4
#: Value confidence of a keyframe's pixels that no reference coloured (the model's colour,
#: kept so that a newcomer keeps its colour).
NEWCOMER_CONF = 0.5
#: Cells matching a reference (similarity ≥ ``S_HIGH``) needed to fit its global motion …
GLOBAL_MIN_CELLS = 24
#: … how far (render pixels) a cell's match may be from it to count (a correct match is
#: a whole 8-pixel step, up to 4 pixels off in each direction) …
GLOBAL_TOLERANCE = 6.0
#: … and frames between two fits; in between, the carried correspondence follows it. On
#: the tuning camera moves of ``benchmarks/reference.py`` (mean guided PSNR over water:
#: 33.39 dB fitting every frame, 33.34 every 4th, 31.55 without) at a quarter of the cost.
GLOBAL_EVERY = 4
#: Image-alignment iterations refining a fit (``cv2.findTransformECC``; on the same move
#: 4 give 33.35 dB and 8 give 33.34, in 7 ms against 11).
ALIGN_ITERATIONS = 4
#: Value confidence from which a cell's colour is read softly (``Read.steer``).
SURE_CELL = 0.75


@dataclass(slots=True)
class Entry:
    """A picture the memory reads from, at render size."""

    #: ``(n, C)`` float32 keys of its cells (row-major over the ``grid``), on the model's device.
    keys: torch.Tensor
    #: ``(gh, gw)``: cells down and across (``⌈h/8⌉``, ``⌈w/8⌉``).
    grid: tuple[int, int]
    #: ``(h, w, 4)`` float32: Lab a, b, L in [0, 100] and the value confidence in [0, 1].
    planes: np.ndarray
    #: ``(n, 2)`` float32 ab area-averaged over each cell, for the soft read.
    cell_ab: torch.Tensor
    #: ``(n,)`` bool: the cells a reference coloured (value confidence ≥ ``SURE_CELL``),
    #: the only ones the soft read takes colour from (not a newcomer's guess).
    sure: torch.Tensor
    #: Frame number of the first frame of the shot it belongs to (a reference: its anchor's).
    shot: int
    #: How many frame cells have matched it so far, for eviction.
    used: float = 0.0
    #: A frame reference's frame number (None: a keyframe).
    frame: int | None = None


def make_entry(
    keys: torch.Tensor,
    ab: np.ndarray,
    L: np.ndarray,
    conf: np.ndarray,
    shot: int,
    frame: int | None = None,
) -> Entry:
    """An entry from its ``(C, gh, gw)`` keys, ``(2, h, w)`` ab, ``(h, w)`` L and ``(h, w)``
    value confidence in [0, 1]; ``frame``: a frame reference's frame number."""
    c, gh, gw = keys.shape
    planes = np.ascontiguousarray(
        np.concatenate([ab, L[None], conf[None]]).transpose(1, 2, 0), dtype=np.float32
    )
    flat = keys.reshape(c, gh * gw).T.contiguous()
    pooled = (
        F.adaptive_avg_pool2d(torch.from_numpy(np.concatenate([ab, conf[None]]))[None], (gh, gw))[0]
        .flatten(1)
        .T
    )  # (n, 3): cell ab and value confidence
    cell_ab = pooled[:, :2].contiguous().to(flat.device)
    sure = (pooled[:, 2] >= SURE_CELL).to(flat.device)
    return Entry(flat, (gh, gw), planes, cell_ab, sure, shot, frame=frame)


@dataclass(slots=True)
class Read:
    """What the memory gave one frame: two ``((2, h, w) float32 Lab ab, (h, w) float32
    confidence in [0, 1])`` colourings, or None where no entry steers the frame."""

    #: Pixel-exact colour through dense correspondence, sure only where the luma agrees.
    colour: tuple[np.ndarray, np.ndarray] | None
    #: The entries' colour by attention over their cells (``match.match_colour``): soft,
    #: everywhere, for the regions nothing else colours (moved far, new, occluded).
    steer: tuple[np.ndarray, np.ndarray] | None = None
    #: Share of the frame's cells matching each reference (``S_CELL``), by entry position.
    scene: list[float] = field(default_factory=list)


class ReferenceMemory:
    """The references and the current shot's keyframes (see the module docstring)."""

    def __init__(self, luma_sigma: float) -> None:
        self.luma_sigma = luma_sigma
        #: The entries joined for reading (keys, cell colours, atlas), rebuilt when they change.
        self._joined: _Joined | None = None
        #: The last read's correspondence, ``(h, w)`` atlas x and y per pixel.
        self._last_map: tuple[np.ndarray, np.ndarray] | None = None
        self.references: list[Entry] = []
        self.keyframes: list[Entry] = []
        #: Shot start (frame number) of the current shot, and the references it has matched.
        self._shot = -1
        self._matched: set[int] = set()
        self._last_keyframe: int | None = None
        #: Per reference (by position), the global motion of the last fit, and reads since
        #: the shot began.
        self._motion: dict[int, np.ndarray] = {}
        self._reads = 0

    def __len__(self) -> int:
        return len(self.references) + len(self.keyframes)

    @property
    def shot(self) -> int:
        """Frame number of the current shot's first frame."""
        return self._shot

    def matched(self) -> bool:
        """Whether the current shot reads a reference of another shot (its scene matched)."""
        return bool(self._matched)

    def add_reference(self, entry: Entry) -> None:
        self.references.append(entry)
        self._joined = None

    def start_shot(self, shot: int) -> None:
        """A new shot begins at frame ``shot``: its keyframes go, its matches are unknown."""
        self._shot = shot
        self._last_map = None
        self._motion = {}
        self._reads = 0
        if self.keyframes:
            self.keyframes.clear()
            self._joined = None
        self._matched.clear()
        self._last_keyframe = None  # the shot's first guided model frame is one

    def active(self) -> list[Entry]:
        """The references that steer the current shot (their own, or a matched one)."""
        return [
            e for i, e in enumerate(self.references) if e.shot == self._shot or i in self._matched
        ]

    def read(self, keys: torch.Tensor, L: np.ndarray, flow: np.ndarray | None = None) -> Read:
        """Colour for a frame of the current shot from its ``(C, gh, gw)`` keys and ``(h, w)``
        L in [0, 100] at render size; ``flow`` ``(h, w, 2)`` from this frame to the last one
        read (None: no motion known), which moves the last read's correspondence here as one
        more candidate."""
        c, gh, gw = keys.shape
        q = keys.reshape(c, -1).T  # (n, C)
        if self._joined is None:
            self._joined = _Joined(self.references + self.keyframes)
        joined = self._joined
        bounds = joined.bounds
        n_ref = int(bounds[len(self.references)])
        keys_all = joined.keys.to(q.device)
        sim = q @ keys_all[:n_ref].T  # (n, m_ref): one product for every reference
        scene: list[float] = []
        use = torch.zeros(n_ref, dtype=torch.bool, device=sim.device)
        best: torch.Tensor | None = None
        idx = torch.zeros(0)
        for i, entry in enumerate(self.references):
            value, where = sim[:, bounds[i] : bounds[i + 1]].max(dim=1)
            share = float((value >= S_CELL).float().mean())
            scene.append(share)
            if entry.shot != self._shot and i not in self._matched and share >= SCENE_MIN:
                self._matched.add(i)
            if entry.shot == self._shot or i in self._matched:
                use[bounds[i] : bounds[i + 1]] = True
                where = where + int(bounds[i])
                if best is None:
                    best, idx = value, where
                else:
                    better = value > best
                    best, idx = torch.where(better, value, best), torch.where(better, where, idx)
        if best is None:
            return Read(None, None, scene)
        if self.keyframes:
            # a cell that matches a reference well reads the reference itself, not a keyframe
            # (a keyframe is a copy of a copy: read in its place, colour would drift; on the
            # tuning clips 35.69 dB against 35.57 for the best match over all entries); so
            # only the other cells are compared with the keyframes
            rows = torch.nonzero(best < S_HIGH)[:, 0]
            if len(rows):
                value, where = (q[rows] @ keys_all[n_ref:].T).max(dim=1)
                better = value > best[rows]
                best[rows] = torch.where(better, value, best[rows])
                idx[rows] = torch.where(better, where + n_ref, idx[rows])
        colour = self._sample(joined, best, idx, (gh, gw), L, flow)
        # the soft read: attention over the references' cells (the keyframes' sure cells are
        # copies of them; on the tuning clips 35.73 dB without them, 35.69 with, and faster)
        sure = use & joined.sure[:n_ref].to(sim.device)
        steer = None
        if bool(sure.any()):
            values = joined.cell_ab[:n_ref].to(sim.device)[sure]
            sab, sconf = attend(sim[:, sure][None], values, (gh, gw), L.shape)
            steer = (sab[0], sconf[0])
        return Read(colour, steer, scene)

    def offer_keyframe(
        self, index: int, keys: torch.Tensor, L: np.ndarray, ab: np.ndarray, conf: np.ndarray
    ) -> bool:
        """Consider frame ``index`` of the current shot (its keys, L, guided output ab and
        guided confidence) as a keyframe; True if it was added: at least ``KEYFRAME_EVERY``
        frames after the last one, and only in shots a reference steers. A reference's own
        frame counts as one but is not copied (it would repeat the reference)."""
        last = self._last_keyframe
        if not self.active() or (last is not None and index - last < KEYFRAME_EVERY):
            return False
        self._last_keyframe = index
        if any(e.frame == index for e in self.references):
            return False
        value = conf + (1.0 - conf) * NEWCOMER_CONF
        self.keyframes.append(make_entry(keys, ab, L, value, self._shot))
        self._joined = None
        if len(self.keyframes) > max(MAX_KEYFRAMES, 1):
            # the newest stays whatever its use; of the others the least used goes
            least = min(range(len(self.keyframes) - 1), key=lambda k: self.keyframes[k].used)
            del self.keyframes[least]
        return True

    def _sample(
        self,
        joined: _Joined,
        sim: torch.Tensor,
        idx: torch.Tensor,
        grid: tuple[int, int],
        L: np.ndarray,
        flow: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The entries' colour and confidence on the frame's pixels through the matches:
        ``sim`` ``(n,)`` and ``idx`` ``(n,)``, each cell's best similarity and matched cell
        (an index into ``joined``'s cells).

        Each pixel tries the match of its own cell, of the 4 cells beside it, the bilinear
        blend of their displacements, each reference's global motion (``_fit_motion``, every
        ``GLOBAL_EVERY`` frames) and the last frame's choice moved along the flow, and
        keeps the one whose entry luma agrees best with the frame's over a 5×5 window: a match
        found per 8×8 cell, made exact per pixel (an object's edge takes the displacement of
        the object or of what is behind it; slow motion keeps its sub-pixel steps). The
        entries lie side by side in one atlas, so each candidate is one ``remap`` whatever
        their number."""
        gh, gw = grid
        h, w = L.shape
        idx_np = idx.cpu().numpy()
        which = np.searchsorted(joined.bounds, idx_np, side="right") - 1  # entry of each match
        local = idx_np - joined.bounds[which]
        ew = joined.widths[which]
        ey, ex = np.divmod(local, ew)
        ys, xs = np.divmod(np.arange(gh * gw), gw)
        cells = np.stack([(ex - xs) * 8.0, (ey - ys) * 8.0, which], axis=-1).astype(np.float32)
        cells = cells.reshape(gh, gw, 3)
        size = (gw * 8, gh * 8)
        padded = np.pad(cells, ((1, 1), (1, 1), (0, 0)), mode="edge")
        nearest = cv2.resize(cells, size, interpolation=cv2.INTER_NEAREST)[:h, :w]
        shift = np.ascontiguousarray(cells[..., :2])
        smooth = cv2.resize(shift, size, interpolation=cv2.INTER_LINEAR)[:h, :w]
        candidates = [np.dstack([smooth, nearest[..., 2:]])]
        for dy, dx in ((1, 1), (0, 1), (2, 1), (1, 0), (1, 2)):
            shifted = np.ascontiguousarray(padded[dy : dy + gh, dx : dx + gw])
            resized = cv2.resize(shifted, size, interpolation=cv2.INTER_NEAREST)
            candidates.append(resized[:h, :w])
        atlas, atlas_L = joined.atlas, joined.atlas_L
        gx, gy = pixel_grid(h, w)
        s = sim.float().cpu().numpy().reshape(gh, gw).astype(np.float32)
        s_px = cv2.resize(s, size, interpolation=cv2.INTER_LINEAR)[:h, :w]
        maps = []
        for cand in candidates:
            # each entry's own picture, clamped to its edges (as BORDER_REPLICATE would)
            mx = np.clip(gx + cand[..., 0], 0, w - 1) + cand[..., 2] * w
            my = np.clip(gy + cand[..., 1], 0, h - 1)
            maps.append((mx, my, cv2.remap(atlas_L, mx, my, interpolation=cv2.INTER_LINEAR)))
        if self._reads % GLOBAL_EVERY == 0:
            n_ref = len(self.references)
            for r, hom in _fit_motion(cells, s, n_ref, L, atlas_L, self._motion).items():
                mx, my = homography_map(hom, gx, gy)
                mx = np.clip(mx, 0, w - 1) + np.float32(r * w)
                my = np.clip(my, 0, h - 1)
                maps.append((mx, my, cv2.remap(atlas_L, mx, my, interpolation=cv2.INTER_LINEAR)))
        self._reads += 1
        if self._last_map is not None and flow is not None and flow.shape[:2] == (h, w):
            # the last frame's correspondence moved along the flow: sub-pixel exact through
            # slow motion (the cells' are whole 8-pixel steps), and never resampled colour
            mx, my = warp(self._last_map[0], flow), warp(self._last_map[1], flow)
            on_ref = mx <= len(self.references) * w - 1  # keyframes may have moved since
            mx = np.where(on_ref, mx, maps[1][0])
            my = np.where(on_ref, my, maps[1][1])
            maps.append((mx, my, cv2.remap(atlas_L, mx, my, interpolation=cv2.INTER_LINEAR)))
        # a global brightness change (flicker, exposure drift) is not a different object:
        # removed as the smoother does, by the median difference where the cells match well
        diff = L - maps[1][2]  # the pixels' own cells' matches
        sure = s_px >= S_HIGH
        offset = float(np.median((diff[sure] if sure.any() else diff.ravel())[::4]))
        target = L - offset
        best_err = np.full((h, w), np.inf, np.float32)
        best_x = np.zeros((h, w), np.float32)
        best_y = np.zeros((h, w), np.float32)
        for mx, my, luma in maps:
            err = cv2.blur(np.square(target - luma), (5, 5))
            better = err < best_err
            np.copyto(best_err, err, where=better)
            np.copyto(best_x, mx, where=better)
            np.copyto(best_y, my, where=better)
        self._last_map = (best_x, best_y)
        planes = cv2.remap(atlas, best_x, best_y, interpolation=cv2.INTER_LINEAR)
        best_err = cv2.blur(np.square(target - planes[..., 2]), (5, 5))
        ab = np.ascontiguousarray(planes[..., :2].transpose(2, 0, 1))
        agree = np.exp(-best_err / (self.luma_sigma * self.luma_sigma))
        match = np.clip((s_px - S_LOW) / (S_HIGH - S_LOW), 0.0, 1.0)
        conf = (match * agree * planes[..., 3]).astype(np.float32)
        used = np.bincount(which, minlength=len(joined.entries))
        for entry, n in zip(joined.entries, used, strict=True):
            entry.used += float(n)
        return ab, conf


def _fit_motion(
    cells: np.ndarray,
    sim: np.ndarray,
    n_ref: int,
    L: np.ndarray,
    atlas_L: np.ndarray,
    last: dict[int, np.ndarray],
) -> dict[int, np.ndarray]:
    """Each reference's global motion: the 3×3 homography from the frame's render pixels to
    the reference's, for the references that at least ``GLOBAL_MIN_CELLS`` cells match.

    ``cells`` ``(gh, gw, 3)`` are the cells' matches (x and y displacement in pixels, entry),
    ``sim`` ``(gh, gw)`` their similarities, ``L`` ``(h, w)`` the frame's L and ``atlas_L``
    ``(h, n · w)`` the entries' side by side; ``last`` holds each reference's previous fit
    in the shot and is updated.

    A camera that turns, zooms or drifts over a still scene moves the picture by nearly one
    homography. It is found afresh from the reference each time, so it never drifts (the
    carried correspondence, moved along the flow frame after frame, adds up the flow's
    errors): image alignment of the frame's L on the reference's (ECC), started from the
    previous fit while at least half the cells' matches still follow it, else from RANSAC
    over the cells' whole-cell matches. Where the scene does not follow it (objects moving
    on their own, parallax), the per-pixel luma test keeps the other candidates."""
    gh, gw = sim.shape
    w = L.shape[1]
    which = cells[..., 2].astype(np.int64)
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    centres = np.stack([xs * 8 + 3.5, ys * 8 + 3.5], axis=-1)
    frame = np.ascontiguousarray(L, dtype=np.float32)
    fits: dict[int, np.ndarray] = {}
    for r in range(n_ref):
        sure = (which == r) & (sim >= S_HIGH)
        if int(sure.sum()) < GLOBAL_MIN_CELLS:
            continue
        src = centres[sure]
        dst = src + cells[..., :2][sure]
        start = last.get(r)
        agree = 0 if start is None else _agreeing(start, src, dst)
        if agree < max(GLOBAL_MIN_CELLS, len(src) // 2):
            # no previous fit, or the cells no longer follow it: RANSAC over the cells
            start, inliers = cv2.findHomography(src, dst, cv2.USAC_FAST, GLOBAL_TOLERANCE)
            if start is None or int(inliers.sum()) < GLOBAL_MIN_CELLS:
                continue
            agree = _agreeing(start, src, dst)
        ref = np.ascontiguousarray(atlas_L[:, r * w : (r + 1) * w])
        warp = (start / start[2, 2]).astype(np.float32)
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ALIGN_ITERATIONS, 1e-3)
        try:
            _, warp = cv2.findTransformECC(
                frame, ref, warp, cv2.MOTION_HOMOGRAPHY, criteria, None, 1
            )
            fine = warp.astype(np.float64)
        except cv2.error:  # no convergence (a flat picture): the fit it started from
            fine = start
        if not np.isfinite(fine).all() or _agreeing(fine, src, dst) < 0.9 * agree:
            fine = start  # degenerate, or aligned onto something else
        fits[r] = last[r] = fine
    return fits


def _agreeing(hom: np.ndarray, src: np.ndarray, dst: np.ndarray) -> int:
    """How many of the cells' matches (``src`` → ``dst``, ``(n, 2)`` pixels) homography
    ``hom`` follows to within ``GLOBAL_TOLERANCE``."""
    moved = cv2.perspectiveTransform(src[None].astype(np.float64), hom)[0] - dst
    return int((np.hypot(moved[:, 0], moved[:, 1]) <= GLOBAL_TOLERANCE).sum())


def homography_map(
    hom: np.ndarray, gx: np.ndarray, gy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where ``hom`` (3×3) takes the pixels ``gx``, ``gy``: ``(h, w)`` float32 x and y."""
    den = hom[2, 0] * gx + hom[2, 1] * gy + hom[2, 2]
    mx = (hom[0, 0] * gx + hom[0, 1] * gy + hom[0, 2]) / den
    my = (hom[1, 0] * gx + hom[1, 1] * gy + hom[1, 2]) / den
    return mx.astype(np.float32), my.astype(np.float32)


class _Joined:
    """The memory's entries joined for one product and one ``remap`` per candidate: keys,
    cell colours and flags concatenated, pictures side by side in an atlas."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self.keys = torch.cat([e.keys for e in entries])
        self.cell_ab = torch.cat([e.cell_ab for e in entries])
        self.sure = torch.cat([e.sure for e in entries])
        #: Start of each entry's cells in the joined ones (and the total at the end).
        self.bounds = np.cumsum([0] + [len(e.keys) for e in entries])
        #: Cells across, per entry.
        self.widths = np.array([e.grid[1] for e in entries])
        #: ``(h, n_entries · w, 4)`` and its L plane, contiguous (OpenCV's remap wants that).
        self.atlas = np.concatenate([e.planes for e in entries], axis=1)
        self.atlas_L = np.ascontiguousarray(self.atlas[..., 2])
