"""Shot cuts from the luma alone, robust to old-film flicker and to fades.

Each frame is shrunk to a thumbnail and normalised to zero mean and unit contrast, so a
change of exposure (flicker, a fade, a lamp switched on) does not move it. Two distances
between consecutive thumbnails then measure a change of picture:

- structural: ``(1 − NCC) / 2`` with NCC the normalised cross-correlation, taken at the
  best of the shifts up to ``MAX_SHIFT`` thumbnail pixels (so camera motion and shake are
  not mistaken for a new picture), in [0, 1];
- histogram: half the L1 distance of 16-bin histograms of the normalised values, in [0, 1].

Their mean is the frame's score. A cut is a score above an absolute floor *and* well above the
scores of the recent frames (``ratio`` times their mean): a shaky or fast-moving shot raises
its own baseline, so it must change far more than usual to count as a cut (the adaptive
threshold of PySceneDetect's adaptive detector, causal here: no look-ahead, zero latency).
Frames with almost no contrast (black, a flash to white) carry no structure to compare: they
are never a cut, and the next frame with structure is compared with the last one that had it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

#: Thumbnail width in pixels (height follows the aspect ratio, at least 8).
THUMB_WIDTH = 64
#: Largest shift (thumbnail pixels, each way) searched when correlating two thumbnails.
MAX_SHIFT = 4
#: Contrast (standard deviation, L units) below which a frame has no usable structure.
MIN_CONTRAST = 1.5
_BINS = np.linspace(-2.5, 2.5, 17)


@dataclass(frozen=True, slots=True)
class CutScore:
    """How one frame compares with the previous one with structure."""

    structural: float
    histogram: float

    @property
    def score(self) -> float:
        return 0.5 * (self.structural + self.histogram)


def thumbnail(L: np.ndarray) -> np.ndarray | None:
    """``(H, W)`` float L in [0, 100] → normalised ``(h, THUMB_WIDTH)`` float32 thumbnail, or
    None when the frame has no usable contrast."""
    h, w = L.shape
    th = max(8, round(h * THUMB_WIDTH / w))
    small = cv2.resize(L.astype(np.float32), (THUMB_WIDTH, th), interpolation=cv2.INTER_AREA)
    std = float(small.std())
    if std < MIN_CONTRAST:
        return None
    return (small - float(small.mean())) / std


def compare(a: np.ndarray, b: np.ndarray) -> CutScore:
    """Distances between two normalised thumbnails of one shape (see the module docstring)."""
    m = MAX_SHIFT
    if min(a.shape) > 4 * m:
        # the centre of b slid over a: the best normalised correlation over the shifts
        ncc = float(cv2.matchTemplate(a, b[m:-m, m:-m], cv2.TM_CCOEFF_NORMED).max())
    else:
        ncc = float(np.mean(a * b))
    ha = np.histogram(np.clip(a, -2.5, 2.5), _BINS)[0] / a.size
    hb = np.histogram(np.clip(b, -2.5, 2.5), _BINS)[0] / b.size
    return CutScore(
        structural=float(np.clip((1 - ncc) / 2, 0, 1)),
        histogram=float(0.5 * np.abs(ha - hb).sum()),
    )


class CutDetector:
    """Streaming shot-cut detector: feed frames in order, learn whether each starts a shot.

    Args:
        threshold: the absolute floor a score must pass (0–1).
        ratio: how many times the mean of the recent scores a cut's score must reach.
        window: how many recent scores make that mean.
        min_shot: frames a shot has at least; a second cut sooner is ignored (a flash).
    """

    def __init__(
        self, threshold: float = 0.2, ratio: float = 3.0, window: int = 24, min_shot: int = 4
    ) -> None:
        self.threshold = threshold
        self.ratio = ratio
        self.min_shot = min_shot
        self._recent: deque[float] = deque(maxlen=window)
        self._last: np.ndarray | None = None
        self._since_cut = min_shot  # a cut may come as early as the second frame
        self.last_score: CutScore | None = None

    def reset(self) -> None:
        """Forget the past: the next frame starts a new stream (not reported as a cut)."""
        self._recent.clear()
        self._last = None
        self._since_cut = self.min_shot
        self.last_score = None

    def update(self, L: np.ndarray) -> bool:
        """Feed ``(H, W)`` L in [0, 100]; True when this frame starts a new shot.

        The first frame of a stream is not a cut (nothing precedes it).
        """
        thumb = thumbnail(L)
        self._since_cut += 1
        self.last_score = None
        if thumb is None:
            return False
        last, self._last = self._last, thumb
        if last is None or last.shape != thumb.shape:
            return False
        self.last_score = compare(last, thumb)
        score = self.last_score.score
        baseline = float(np.mean(self._recent)) if self._recent else 0.0
        is_cut = (
            score > self.threshold
            and score > self.ratio * baseline
            and self._since_cut >= self.min_shot
        )
        if is_cut:
            self._since_cut = 0
            self._recent.clear()  # the new shot's motion sets its own baseline
        else:
            self._recent.append(score)
        return is_cut


def find_cuts(frames: list[np.ndarray] | np.ndarray, **kwargs: float) -> list[int]:
    """Indices of the frames of ``frames`` (each ``(H, W)`` L in [0, 100]) that start a shot."""
    detector = CutDetector(**kwargs)  # type: ignore[arg-type]
    return [i for i, L in enumerate(frames) if detector.update(np.asarray(L, np.float32))]
