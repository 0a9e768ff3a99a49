"""Training reports: loss curves and a sample grid as PNG, metrics as JSON.

Drawn with OpenCV (already a dependency; the line plots live in ``filmcolor.plot``).
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
from ..plot import plot_curves
from .data import Batch


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
