"""Training reports: loss curves and a sample grid as PNG, metrics as JSON.

Drawn with OpenCV (already a dependency; the line plots live in ``filmcolor.plot``). Each
file is written beside its name and renamed into place, so a reader never sees half a file.
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

from ..atomic import atomic_output
from ..color import lab_to_rgb
from ..model.unet import ColorUNet
from ..plot import curves_image
from .data import Batch

#: The files ``write_report`` writes (and replaces) in its folder.
REPORT_FILES = ("loss.png", "val.png", "samples.png", "metrics.json")


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


def _replace(path: Path, data: bytes) -> None:
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_bytes(data)


def _png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"could not encode a {image.shape} picture as PNG")
    return data.tobytes()


def write_report(
    folder: Path,
    history: list[dict[str, Any]],
    model: ColorUNet,
    val: list[Batch],
    device: torch.device,
    final: bool = False,
) -> None:
    """Refresh ``folder``'s :data:`REPORT_FILES`: ``loss.png``, ``val.png``, ``samples.png``,
    ``metrics.json``, each replaced whole (the caller decides whether it may replace them)."""
    folder.mkdir(parents=True, exist_ok=True)
    train = {
        key: _smooth([(r["step"], r[key]) for r in history if key in r])
        for key in ("loss", "ab_l1", "saturation", "perceptual", "colorfulness")
        if any(key in r for r in history)
    }
    vals = [r for r in history if "val" in r]
    curves = (
        ("loss.png", train, "training loss (moving average of 25 steps)"),
        ("val.png", {"val loss": [(r["step"], r["val"]["loss"]) for r in vals]}, "validation loss"),
    )
    for name, series, title in curves:
        image = curves_image(series, title)
        if image is not None:
            _replace(folder / name, _png(image))
    if val:
        _replace(folder / "samples.png", _png(sample_grid(model, val[0], device)))
    metrics = {"final": final, "steps": history[-1]["step"] if history else 0, "validations": vals}
    _replace(folder / "metrics.json", (json.dumps(metrics, indent=1) + "\n").encode())
