"""Training reports: loss curves and a sample grid as PNG, metrics as JSON.

Drawn with OpenCV (already a dependency) rather than adding a plotting library.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..color import lab_to_rgb
from ..model.unet import ColorUNet
from .data import Batch

_COLORS = [(200, 90, 30), (40, 160, 40), (30, 30, 200), (160, 60, 160), (0, 150, 200)]


def plot_curves(series: dict[str, list[tuple[int, float]]], path: Path, title: str) -> None:
    """Line plot of named (step, value) series, written as a PNG."""
    w, h, pad = 900, 420, 60
    img = np.full((h, w, 3), 255, np.uint8)
    points = [p for s in series.values() for p in s]
    if not points:
        return
    xs = [p[0] for p in points]
    ys = [p[1] for p in points if np.isfinite(p[1])]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 1, y1 + 1
    cv2.rectangle(img, (pad, pad // 2), (w - pad // 2, h - pad), (0, 0, 0), 1)
    for frac in (0.0, 0.5, 1.0):
        y = y0 + frac * (y1 - y0)
        py = int(h - pad - frac * (h - 1.5 * pad))
        cv2.putText(img, f"{y:.4g}", (2, py + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    cv2.putText(img, f"step {x0}", (pad, h - pad + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0, 1)
    cv2.putText(img, f"{x1}", (w - pad, h - pad + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0, 1)
    cv2.putText(img, title, (pad, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    for k, (name, s) in enumerate(series.items()):
        color = _COLORS[k % len(_COLORS)]
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
        cv2.putText(img, name, (w - 220, 40 + 18 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1)
    cv2.imwrite(str(path), img)


def _smooth(values: list[tuple[int, float]], n: int = 25) -> list[tuple[int, float]]:
    out, acc = [], []
    for step, v in values:
        acc = [*acc, v][-n:]
        out.append((step, float(np.mean(acc))))
    return out


@contextlib.contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode inside the block; every submodule's own mode restored after it."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.train(mode)


@torch.no_grad()
def sample_grid(model: ColorUNet, batch: Batch, device: torch.device, count: int = 6) -> np.ndarray:
    """Rows of (gray | ours | truth) for the first ``count`` pictures: ``(H, W, 3)`` uint8 BGR."""
    b = batch.to(device)
    n = min(count, b.L.shape[0])
    with evaluating(model):
        ab = model(b.L_in[:n])
    gray = lab_to_rgb(torch.cat((b.L[:n], torch.zeros_like(ab)), dim=1))
    ours = lab_to_rgb(torch.cat((b.L[:n], ab), dim=1))
    rows = [torch.cat((gray[i], ours[i], b.rgb[i]), dim=2) for i in range(n)]
    grid = (torch.cat(rows, dim=1).permute(1, 2, 0).clamp(0, 1) * 255).round().byte().cpu().numpy()
    return cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)


def write_report(
    folder: Path,
    history: list[dict[str, Any]],
    model: ColorUNet,
    val: list[Batch],
    device: torch.device,
    final: bool = False,
) -> None:
    """Refresh ``folder``: ``loss.png``, ``val.png``, ``samples.png``, ``metrics.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    train = {
        key: _smooth([(r["step"], r[key]) for r in history if key in r])
        for key in ("loss", "ab_l1", "saturation", "perceptual", "colorfulness")
        if any(key in r for r in history)
    }
    plot_curves(train, folder / "loss.png", "training loss (moving average of 25 steps)")
    vals = [r for r in history if "val" in r]
    plot_curves(
        {"val loss": [(r["step"], r["val"]["loss"]) for r in vals]},
        folder / "val.png",
        "validation loss",
    )
    if val:
        cv2.imwrite(str(folder / "samples.png"), sample_grid(model, val[0], device))
    metrics = {"final": final, "steps": history[-1]["step"] if history else 0, "validations": vals}
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
