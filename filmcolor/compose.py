"""Compose the final picture from the source luma and the predicted chroma.

The viewer's luma is the film's own: video keeps its Y plane verbatim and only gains Cb/Cr;
images keep their Lab L and gain a and b.

For video the stream's first and last stages live here (latency 0): ``LumaStage`` (luma →
L, at render size and, for small frames, full size) and ``ComposeStage`` (the guided filter's
fit at render size, upsampled under the source's L at chroma size → Cb/Cr). Full-resolution
float work is bounded by ``ColorizeConfig.band_pixels``: groups of frames, or row bands of a
4K/8K frame (``model.bands``), so memory does not grow with a batch of large frames.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .color import lab_to_rgb, luma_to_L, quantize_chroma, rgb_to_chroma
from .config import ColorizeConfig
from .media.encode import OutputFormat
from .model.bands import area_band, area_windows, bilinear_band, row_bands
from .model.colorizer import Colorizer, HostStaging, apply_coefficients, resize_L
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


def frame_groups(count: int, frame_pixels: int, pixels: int) -> list[tuple[int, int]] | None:
    """``[i0, i1)`` groups of ``count`` consecutive frames of ``frame_pixels`` pixels each,
    each group of at most ``pixels`` pixels; None when one frame alone is larger (it is
    worked on in row bands)."""
    per = pixels // max(1, frame_pixels)
    if per < 1:
        return None
    return [(i, min(i + per, count)) for i in range(0, count, per)]


def shrink_luma(
    luma: np.ndarray,
    shape: tuple[int, int],
    bit_depth: int,
    full_range: bool,
    staging: HostStaging,
    pixels: int,
) -> torch.Tensor:
    """One frame's ``(H, W)`` luma code values → ``(1, 1, h, w)`` float32 Lab L in [0, 100]
    at ``shape`` (``h ≤ H``, ``w ≤ W``), area-averaged as ``resize_L`` does, reading about
    ``pixels`` luma pixels at a time."""
    (H, W), (h, w) = luma.shape, shape
    start, stop = area_windows(H, h)
    parts = []
    for q0, q1 in row_bands(h, W * -(-H // h), pixels):
        s, e = int(start[q0]), int(stop[q1 - 1])
        L = luma_L(luma_tensor(luma[s:e], staging), bit_depth, full_range)
        parts.append(area_band(L, start[q0:q1] - s, stop[q0:q1] - s, w))
    return torch.cat(parts, dim=-2)


def shrink_frames(
    lumas: list[np.ndarray], colorizer: Colorizer, bit_depth: int, full_range: bool, pixels: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(H, W)`` luma code values of N frames → ``(L_low, L)``: Lab L float32 in [0, 100] at
    the colorizer's render size ``(N, 1, h, w)``, and at full size ``(N, 1, H, W)`` when the
    frames have at most ``pixels`` pixels in all (else None). Reads at most about ``pixels``
    pixels at a time: groups of frames, or row bands of a larger frame."""
    H, W = lumas[0].shape
    h, w = colorizer.render_shape(H, W)
    groups = frame_groups(len(lumas), H * W, pixels)
    if groups is None and (h > H or w > W):  # a render size above the picture's
        groups = [(i, i + 1) for i in range(len(lumas))]
    if groups is None:
        low = [
            shrink_luma(y, (h, w), bit_depth, full_range, colorizer.staging, pixels) for y in lumas
        ]
        return torch.cat(low), None
    parts = []
    for i0, i1 in groups:
        L = luma_L(luma_tensor(lumas[i0:i1], colorizer.staging), bit_depth, full_range)
        parts.append(colorizer.shrink(L))
    return torch.cat(parts), (L if len(groups) == 1 else None)


def rgb_bands(
    luma: np.ndarray,
    bit_depth: int,
    full_range: bool,
    coef: tuple[torch.Tensor, torch.Tensor],
    bits: int,
    staging: HostStaging,
    pixels: int,
) -> np.ndarray:
    """A picture's ``(H, W)`` luma and the guided filter's ``coef`` (``(1, 2, h, w)`` each,
    ``Colorizer.coefficients``) → ``(H, W, 3)`` RGB uint8/uint16 (``bits``), as
    ``rgb_picture`` of L and the upsampled ab, made at most ``pixels`` pixels at a time."""
    H, W = luma.shape
    mean_a, mean_b = coef
    dtype = np.uint8 if bits <= 8 else np.uint16
    out = np.empty((H, W, 3), dtype)
    h = mean_a.shape[-2]
    a_cols = F.interpolate(mean_a, size=(h, W), mode="bilinear", align_corners=False)
    b_cols = F.interpolate(mean_b, size=(h, W), mode="bilinear", align_corners=False)
    for r0, r1 in row_bands(H, W, pixels):
        L = luma_L(luma_tensor(luma[r0:r1], staging), bit_depth, full_range)
        if (r0, r1) == (0, H):  # one band: the whole-picture resize
            ab = apply_coefficients(mean_a, mean_b, L / 100.0)
        else:
            a, b = bilinear_band(a_cols, H, r0, r1), bilinear_band(b_cols, H, r0, r1)
            ab = a * (L / 100.0) + b
        out[r0:r1] = rgb_picture(L, ab, bits)[0]
    return out


class LumaStage:
    """The frames' luma → ``L_low``, Lab L at the model's render size ``(N, 1, h, w)``
    float32 in [0, 100] on the device, and ``L``, the same at full size ``(N, 1, H, W)``,
    when the batch has at most ``4 × pixels`` pixels (else None: ``ComposeStage`` reads the
    luma again, a band at a time; a frame of more than that is shrunk in row bands)."""

    latency = 0
    clocks = ("model",)

    def __init__(
        self,
        colorizer: Colorizer,
        bit_depth: int,
        full_range: bool,
        pixels: int = ColorizeConfig().band_pixels,
    ) -> None:
        self.colorizer = colorizer
        self.bit_depth = bit_depth
        self.full_range = full_range
        #: Luma pixels at once: its working set is about a quarter of the compose's a pixel.
        self.pixels = 4 * pixels

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        if batch.frames:
            batch.L_low, batch.L = shrink_frames(
                [f.luma for f in batch.frames],
                self.colorizer,
                self.bit_depth,
                self.full_range,
                self.pixels,
            )
        return [batch]

    def flush(self) -> list[FrameBatch]:
        return []


class ComposeStage:
    """The frames' luma (or ``L``, when ``LumaStage`` kept it) and the guided filter's
    ``coef`` at render size → ``chroma``: per frame ``(2, hc, wc)`` uint8/uint16 Cb/Cr code
    values in ``fmt`` (see ``chroma_planes``), ab upsampled under the source's L at chroma
    size (``resize_L``, ``apply_coefficients``).

    Works on at most ``pixels`` chroma pixels at a time (about 120 bytes each): groups of
    whole frames, or row bands of a larger frame, with the same result (``model.bands``)."""

    latency = 0
    clocks = ("compose",)

    def __init__(
        self,
        fmt: OutputFormat,
        bit_depth: int = 8,
        full_range: bool = False,
        staging: HostStaging | None = None,
        pixels: int = ColorizeConfig().band_pixels,
    ) -> None:
        self.fmt = fmt
        self.bit_depth = bit_depth
        self.full_range = full_range
        self.staging = staging or HostStaging(torch.device("cpu"))
        self.pixels = pixels

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        if not batch.frames:
            return [batch]
        assert batch.coef is not None
        mean_a, mean_b = batch.coef
        lumas = [f.luma for f in batch.frames]
        H, W = lumas[0].shape
        hc, wc = chroma_size(H, W, self.fmt)
        groups = frame_groups(len(lumas), hc * wc, self.pixels)
        if groups is None:
            batch.chroma = [
                self._banded(y, mean_a[i : i + 1], mean_b[i : i + 1], (hc, wc))
                for i, y in enumerate(lumas)
            ]
            return [batch]
        chroma: list[np.ndarray] = []
        for i0, i1 in groups:
            L = batch.L[i0:i1] if batch.L is not None else self._L(lumas[i0:i1])
            L_c = resize_L(L, (hc, wc))
            del L
            ab = apply_coefficients(mean_a[i0:i1], mean_b[i0:i1], L_c / 100.0)
            chroma.extend(chroma_planes(L_c, ab, self.fmt))
        batch.chroma = chroma
        return [batch]

    def _L(self, lumas: list[np.ndarray] | np.ndarray) -> torch.Tensor:
        return luma_L(luma_tensor(lumas, self.staging), self.bit_depth, self.full_range)

    def _banded(
        self, luma: np.ndarray, mean_a: torch.Tensor, mean_b: torch.Tensor, size: tuple[int, int]
    ) -> np.ndarray:
        """One frame's Cb/Cr ``(2, hc, wc)``, a band of chroma rows at a time."""
        hc, wc = size
        start, stop = area_windows(luma.shape[0], hc)
        h = mean_a.shape[-2]
        # Columns first, once per frame (small: render-size rows), then rows per band.
        a_cols = F.interpolate(mean_a, size=(h, wc), mode="bilinear", align_corners=False)
        b_cols = F.interpolate(mean_b, size=(h, wc), mode="bilinear", align_corners=False)
        dtype = np.uint8 if self.fmt.bit_depth <= 8 else np.uint16
        out = np.empty((2, hc, wc), dtype)
        for r0, r1 in row_bands(hc, wc, self.pixels):
            s, e = int(start[r0]), int(stop[r1 - 1])
            L_c = area_band(self._L(luma[s:e]), start[r0:r1] - s, stop[r0:r1] - s, wc)
            a = bilinear_band(a_cols, hc, r0, r1)
            b = bilinear_band(b_cols, hc, r0, r1)
            out[:, r0:r1] = chroma_planes(L_c, a * (L_c / 100.0) + b, self.fmt)[0]
        return out

    def flush(self) -> list[FrameBatch]:
        return []
