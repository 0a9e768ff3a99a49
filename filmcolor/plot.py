"""Line plots as PNG, drawn with OpenCV (already a dependency) rather than a plotting library.

Used by the training reports (loss curves) and by ``filmcolor eval --plot`` (per-frame curves).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

#: Series colours (BGR), in the order the series are given.
COLORS = [(200, 90, 30), (40, 160, 40), (30, 30, 200), (160, 60, 160), (0, 150, 200)]

#: One named series: (x, y) points; non-finite y values are left out of the line.
Series = dict[str, Sequence[tuple[float, float]]]


def _label(v: float) -> str:
    return f"{v:.4g}"


def curves_image(
    series: Series, title: str, x_label: str = "step", size: tuple[int, int] = (900, 420)
) -> np.ndarray | None:
    """A line plot of ``series`` as an ``(H, W, 3)`` uint8 BGR image (``size`` is W, H).

    The y axis spans the finite values of all series; None when there is no point at all.
    """
    w, h = size
    pad = 60
    points = [p for s in series.values() for p in s]
    if not points:
        return None
    img = np.full((h, w, 3), 255, np.uint8)
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points if np.isfinite(p[1])] or [0.0]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 1, y1 + 1
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.rectangle(img, (pad, pad // 2), (w - pad // 2, h - pad), (0, 0, 0), 1)
    for frac in (0.0, 0.5, 1.0):
        y = y0 + frac * (y1 - y0)
        py = int(h - pad - frac * (h - 1.5 * pad))
        cv2.putText(img, _label(y), (2, py + 4), font, 0.4, (0, 0, 0), 1)
    cv2.putText(img, f"{x_label} {_label(x0)}", (pad, h - pad + 18), font, 0.4, 0, 1)
    cv2.putText(img, _label(x1), (w - pad, h - pad + 18), font, 0.4, 0, 1)
    cv2.putText(img, title, (pad, 20), font, 0.55, (0, 0, 0), 1)
    for k, (name, s) in enumerate(series.items()):
        color = COLORS[k % len(COLORS)]
        pts = [
            (
                int(pad + (x - x0) / (x1 - x0) * (w - 1.5 * pad)),
                int(h - pad - (y - y0) / (y1 - y0) * (h - 1.5 * pad)),
            )
            for x, y in s
            if np.isfinite(y)
        ]
        if len(pts) > 1:
            cv2.polylines(img, [np.array(pts, np.int32)], False, color, 1, cv2.LINE_AA)
        elif len(pts) == 1:
            cv2.circle(img, pts[0], 2, color, -1, cv2.LINE_AA)
        cv2.putText(img, name, (w - 220, 40 + 18 * k), font, 0.45, color, 1)
    return img


def write_png(image: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write a BGR uint8 image as PNG; ``OSError`` when it cannot be written."""
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"{path}: could not encode the plot as PNG")
    with open(path, "wb") as f:
        f.write(data.tobytes())


def plot_panels(
    panels: Sequence[tuple[str, Series]],
    path: str | os.PathLike[str],
    x_label: str = "frame",
    size: tuple[int, int] = (900, 300),
) -> None:
    """Several line plots, one per ``(title, series)`` panel, stacked top to bottom in one PNG.

    Each panel has its own y axis (``size`` is one panel's W, H); empty panels say so.
    """
    images = []
    for title, series in panels:
        img = curves_image(series, title, x_label=x_label, size=size)
        if img is None:
            img = np.full((size[1], size[0], 3), 255, np.uint8)
            cv2.putText(img, f"{title}: no data", (60, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, 0, 1)
        images.append(img)
    if not images:
        raise ValueError("plot_panels needs at least one panel")
    write_png(np.concatenate(images, axis=0), path)


def plot_per_frame(video: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the per-frame curves of one ``filmcolor.metrics.evaluate_videos`` result as a PNG:
    PSNR; colourfulness of candidate and reference; chroma warp error of candidate and
    reference (x: paired frame index)."""
    pf = video["per_frame"]

    def series(key: str) -> list[tuple[float, float]]:
        return [(float(i), float(v)) for i, v in enumerate(pf[key])]

    plot_panels(
        [
            (f"{video['name']}: PSNR (dB)", {"PSNR": series("psnr")}),
            (
                "colourfulness (Hasler-Susstrunk)",
                {
                    "candidate": series("colorfulness_candidate"),
                    "reference": series("colorfulness_reference"),
                },
            ),
            (
                "chroma warp error (Lab ab/100, frame t vs t-1)",
                {
                    "candidate": series("warp_error_chroma_candidate"),
                    "reference": series("warp_error_chroma_reference"),
                },
            ),
        ],
        path,
        x_label="frame",
    )
