"""Full-resolution work in row bands, with the result of the whole picture.

A 4K or 8K frame is turned into colour a band of rows at a time (``filmcolor.compose``), so
the float32 working set is a band's, not a batch's. The two resamplings that cross band edges
are written out here per output row, restricted to a band and reading exactly the input rows
it needs: area averaging (``F.interpolate(mode="area")``, PyTorch's adaptive average pooling:
output row ``i`` of ``n`` averages input rows ``⌊i·N/n⌋ … ⌈(i+1)·N/n⌉ − 1``) and bilinear
interpolation (``align_corners=False``). A banded result equals the whole picture's to float
rounding (about 1e-5 of L or ab), so bands need no overlap.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def area_windows(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """The input rows ``[start, stop)`` that area averaging from ``n_in`` to ``n_out`` rows
    (``n_out ≤ n_in``) averages into each output row: two ``(n_out,)`` int64 arrays."""
    i = np.arange(n_out, dtype=np.int64)
    return (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)


def area_band(x: torch.Tensor, start: np.ndarray, stop: np.ndarray, width: int) -> torch.Tensor:
    """Area-average ``x`` ``(N, C, R, W)``, a band of input rows, to ``(N, C, n, width)``.

    ``start``/``stop`` (``(n,)``, from ``area_windows``, made relative to the band's first
    row) are the rows of ``x`` each output row averages; columns are averaged from ``W`` to
    ``width`` (``width ≤ W``) as ``F.interpolate(mode="area")`` does.
    """
    if x.shape[-1] != width:
        x = F.adaptive_avg_pool2d(x, (x.shape[-2], width))  # columns only: rows map 1:1
    count = stop - start
    if len(count) == x.shape[-2] and (count == 1).all():
        return x
    k_max = int(count.max())
    uneven = bool((count != k_max).any())
    total = torch.zeros(*x.shape[:-2], len(count), width, dtype=x.dtype, device=x.device)
    for k in range(k_max):
        rows = torch.from_numpy(np.minimum(start + k, stop - 1)).to(x.device)
        part = x.index_select(-2, rows)
        if uneven:  # windows shorter than k_max add nothing from here on
            part = part * torch.from_numpy((k < count).astype(np.float32)).to(x.device)[:, None]
        total += part
    return total / torch.from_numpy(count.astype(np.float32)).to(x.device)[:, None]


def bilinear_rows(
    n_in: int, n_out: int, r0: int, r1: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Output rows ``[r0, r1)`` of a bilinear resize (``align_corners=False``) from ``n_in``
    to ``n_out`` rows: the two input rows each one mixes and the weight of the second,
    ``((n,), (n,), (n,) float32)``, computed in float32 as PyTorch's CPU kernel does."""
    scale = np.float32(n_in) / np.float32(n_out)
    dst = np.arange(r0, r1, dtype=np.float32)
    src = np.maximum(scale * (dst + np.float32(0.5)) - np.float32(0.5), np.float32(0))
    lo = src.astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (src - lo.astype(np.float32)).astype(np.float32)


def bilinear_band(x: torch.Tensor, n_out: int, r0: int, r1: int) -> torch.Tensor:
    """Rows ``[r0, r1)`` of ``x`` ``(N, C, h, W)`` resized bilinearly to ``n_out`` rows
    (``align_corners=False``; columns are kept): ``(N, C, r1 − r0, W)``."""
    n_in = x.shape[-2]
    if n_in == n_out:
        return x[..., r0:r1, :]
    lo, hi, t = bilinear_rows(n_in, n_out, r0, r1)
    w1 = torch.from_numpy(t).to(x.device)[:, None]
    a = x.index_select(-2, torch.from_numpy(lo).to(x.device))
    b = x.index_select(-2, torch.from_numpy(hi).to(x.device))
    return a * (1 - w1) + b * w1


def row_bands(rows: int, width: int, pixels: int) -> list[tuple[int, int]]:
    """``[r0, r1)`` bands covering ``rows`` rows of ``width`` pixels, each of at most
    ``pixels`` pixels (at least one row), of equal height but the last."""
    step = max(1, pixels // max(1, width))
    return [(r, min(r + step, rows)) for r in range(0, rows, step)]
