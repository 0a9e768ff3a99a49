"""Compose the final picture from the source luma and the predicted chroma.

The viewer's luma is the film's own: video keeps its Y plane verbatim and only gains Cb/Cr;
images keep their Lab L and gain a and b.

For video the stream's first and last stages live here (latency 0): ``LumaStage`` (luma →
L, at full and render size) and ``ComposeStage`` (L and ab at chroma size → Cb/Cr).
"""

from __future__ import annotations

import numpy as np
import torch

from .color import lab_to_rgb, luma_to_L, quantize_chroma, rgb_to_chroma
from .media.encode import OutputFormat
from .model.colorizer import Colorizer, HostStaging
from .stage import FrameBatch


def luma_tensor(
    luma: np.ndarray | list[np.ndarray], device: torch.device | HostStaging
) -> torch.Tensor:
    """``(H, W)`` or a list of them, uint8/uint16 → ``(N, H, W)`` integer tensor on the device
    (through ``HostStaging``'s pinned buffers when one is given)."""
    arr = np.stack(luma) if isinstance(luma, list) else luma[None]
    staging = device if isinstance(device, HostStaging) else HostStaging(device)
    return staging.to_device(arr)


def luma_L(luma: torch.Tensor, bit_depth: int, full_range: bool) -> torch.Tensor:
    """``(N, H, W)`` luma code values → ``(N, 1, H, W)`` float32 Lab L in [0, 100]."""
    return luma_to_L(luma, bit_depth, full_range).unsqueeze(1)


def chroma_size(height: int, width: int, fmt: OutputFormat) -> tuple[int, int]:
    """(h, w) of ``fmt``'s chroma planes for a ``height`` × ``width`` picture."""
    sx, sy = fmt.chroma_shift
    return -(-height // (1 << sy)), -(-width // (1 << sx))


def chroma_planes(L: torch.Tensor, ab: torch.Tensor, fmt: OutputFormat) -> np.ndarray:
    """Cb/Cr planes of the picture (L, ab) in ``fmt``.

    Args:
        L: ``(N, 1, h, w)`` float32 Lab L in [0, 100], the source's, at chroma size.
        ab: ``(N, 2, h, w)`` float32 Lab a, b at chroma size (see ``chroma_size``).
    Returns:
        ``(N, 2, h, w)`` uint8 or uint16 code values in ``fmt``'s bit depth, range and matrix.
    """
    rgb = lab_to_rgb(torch.cat((L, ab), dim=1))
    chroma = rgb_to_chroma(rgb, fmt.matrix, fmt.bit_depth, fmt.full_range)  # type: ignore[arg-type]
    dtype = np.uint8 if fmt.bit_depth <= 8 else np.uint16
    return quantize_chroma(chroma, fmt.bit_depth, fmt.full_range).cpu().numpy().astype(dtype)


def rgb_picture(L: torch.Tensor, ab: torch.Tensor, bits: int) -> np.ndarray:
    """``(N, 1, H, W)`` L and ``(N, 2, H, W)`` ab → ``(N, H, W, 3)`` RGB uint8/uint16 (``bits``)."""
    rgb = lab_to_rgb(torch.cat((L, ab), dim=1)).permute(0, 2, 3, 1)
    top = (1 << bits) - 1
    out = (rgb * top).round().clamp(0, top).cpu().numpy()
    return out.astype(np.uint8 if bits <= 8 else np.uint16)


class LumaStage:
    """The frames' luma → ``L`` ``(N, 1, H, W)`` float32 Lab L in [0, 100] on the device, and
    ``L_low``, the same at the model's render size ``(N, 1, h, w)``."""

    latency = 0
    clocks = ("model",)

    def __init__(self, colorizer: Colorizer, bit_depth: int, full_range: bool) -> None:
        self.colorizer = colorizer
        self.bit_depth = bit_depth
        self.full_range = full_range

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        if batch.frames:
            luma = luma_tensor([f.luma for f in batch.frames], self.colorizer.staging)
            batch.L = luma_L(luma, self.bit_depth, self.full_range)
            batch.L_low = self.colorizer.shrink(batch.L)
        return [batch]

    def flush(self) -> list[FrameBatch]:
        return []


class ComposeStage:
    """``L_c`` and ``ab`` at chroma size → ``chroma`` ``(N, 2, hc, wc)`` uint8/uint16 Cb/Cr
    code values in ``fmt`` (see ``chroma_planes``)."""

    latency = 0
    clocks = ("compose",)

    def __init__(self, fmt: OutputFormat) -> None:
        self.fmt = fmt

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        if batch.frames:
            assert batch.L_c is not None and batch.ab is not None
            batch.chroma = chroma_planes(batch.L_c, batch.ab, self.fmt)
        return [batch]

    def flush(self) -> list[FrameBatch]:
        return []
