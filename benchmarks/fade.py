"""Where a guided shot fades: the part of each frame its reference shows, and the rest.

    python benchmarks/fade.py COLOUR CANDIDATE [CANDIDATE ...] [--first N] [--last N]

``COLOUR`` is a single shot's colour truth and each ``CANDIDATE`` a restore of its gray
version (for instance the shots ``benchmarks/reference.py`` writes; keep them with
``--keep DIR``). The reference is the shot's first frame. For each scored frame the camera's
motion since frame 0 is estimated on the colour truth's luma (ORB features matched to frame
0, a RANSAC homography); the pixels it carries inside frame 0 (8 pixels from its edges) are
*shown by the reference*, the others entered the picture later. Printed per candidate, for
frames 1..N and for the last N frames: the share of pixels the reference shows, the PSNR
(RGB) over the whole frame, over those pixels and over the others.

Two ceilings are printed beside them, from the truth alone: the reference's own colours
(Lab ab) carried onto the frame by that homography, with the frame's true L, scored on the
shown pixels (how far one perspective warp explains the shot: a camera moving through a
scene with depth is not one), and the frame's own true ab at the render width (288) and back
(what the render size alone loses).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from filmcolor.guide.memory import homography_map
from filmcolor.media.frames import iter_rgb_frames
from filmcolor.temporal.flow import pixel_grid

MARGIN = 8
RENDER_WIDTH = 288


def frames(path: Path) -> list[np.ndarray]:
    """The ``(H, W, 3)`` uint8 RGB frames of ``path``, in order."""
    return [f.rgb for f in iter_rgb_frames(path)]


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB) of two uint8-range RGB pictures over the pixels of ``mask``."""
    if not mask.any():
        return float("nan")
    err = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    return float(10 * np.log10(255.0**2 / err[mask].mean()))


class MotionToFirst:
    """The camera's motion since the first frame, from ORB features matched to it."""

    def __init__(self, first: np.ndarray) -> None:
        """``first``: the first frame's ``(H, W)`` uint8 luma."""
        self.orb = cv2.ORB_create(4000)
        self.points, self.descriptors = self.orb.detectAndCompute(first, None)

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        """The 3×3 homography from ``frame``'s pixels (``(H, W)`` uint8 luma) to the first's;
        None where too few features match (a flat or dark frame, another shot)."""
        k1, d1 = self.orb.detectAndCompute(frame, None)
        if d1 is None or self.descriptors is None:
            return None
        matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(d1, self.descriptors)
        if len(matches) < 4:
            return None
        p1 = np.float32([k1[m.queryIdx].pt for m in matches])
        p0 = np.float32([self.points[m.trainIdx].pt for m in matches])
        hom, _ = cv2.findHomography(p1, p0, cv2.RANSAC, 2.0)
        return hom


def lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)


def rgb(lab_picture: np.ndarray) -> np.ndarray:
    return np.clip(cv2.cvtColor(lab_picture, cv2.COLOR_LAB2RGB) * 255, 0, 255)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("colour", type=Path)
    ap.add_argument("candidates", type=Path, nargs="+")
    ap.add_argument("--first", type=int, default=10, help="frames 1..N (default 10)")
    ap.add_argument("--last", type=int, default=10, help="the last N frames (default 10)")
    a = ap.parse_args()
    truth = frames(a.colour)
    outs = {p: frames(p) for p in a.candidates}
    for p, out in outs.items():
        if len(out) != len(truth):
            raise SystemExit(f"{p} has {len(out)} frames, {a.colour} {len(truth)}")
    n = len(truth)
    groups = {f"1–{a.first}": range(1, a.first + 1), f"last {a.last}": range(n - a.last, n)}
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in truth]
    h, w = gray[0].shape
    gx, gy = pixel_grid(h, w)
    ab0 = lab(truth[0])[..., 1:]
    motion = MotionToFirst(gray[0])
    rh = max(1, round(h * RENDER_WIDTH / w))
    rows: dict[str, dict[str, list[float]]] = {}
    for name, indices in groups.items():
        stats: dict[str, list[float]] = {}
        for t in indices:
            hom = motion(gray[t])
            if hom is None:
                raise SystemExit(f"frame {t}: no camera motion found: is COLOUR a single shot?")
            qx, qy = homography_map(hom, gx, gy)
            shown = (qx >= MARGIN) & (qx < w - MARGIN) & (qy >= MARGIN) & (qy < h - MARGIN)
            stats.setdefault("shown", []).append(float(shown.mean()))
            lab_t = lab(truth[t])
            L = lab_t[..., :1]
            warped = rgb(np.dstack([L, cv2.remap(ab0, qx, qy, cv2.INTER_LINEAR)]))
            stats.setdefault("warp", []).append(psnr(warped, truth[t], shown))
            small = cv2.resize(lab_t[..., 1:], (RENDER_WIDTH, rh), interpolation=cv2.INTER_AREA)
            back = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            stats.setdefault("render", []).append(psnr(rgb(np.dstack([L, back])), truth[t], shown))
            everything = np.ones_like(shown)
            for p, out in outs.items():
                for part, mask in (("all", everything), ("shown", shown), ("new", ~shown)):
                    stats.setdefault(f"{p}|{part}", []).append(psnr(out[t], truth[t], mask))
        rows[name] = stats

    def mean(values: list[float]) -> str:
        v = np.array(values)
        return f"{np.nanmean(v):.2f}" if np.isfinite(v).any() else "—"

    print(f"{a.colour}: {n} frames\n")
    print("| frames | shown by the reference | ceiling: reference warped | ceiling: render size |")
    print("|---|---|---|---|")
    for name, s in rows.items():
        print(f"| {name} | {np.mean(s['shown']):.2f} | {mean(s['warp'])} | {mean(s['render'])} |")
    print("\n| candidate | frames | PSNR all | PSNR shown | PSNR new |")
    print("|---|---|---|---|---|")
    for p in outs:
        for name, s in rows.items():
            cells = " | ".join(mean(s[f"{p}|{part}"]) for part in ("all", "shown", "new"))
            print(f"| {p.name} | {name} | {cells} |")


if __name__ == "__main__":
    main()
