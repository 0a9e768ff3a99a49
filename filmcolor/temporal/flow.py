"""Optical flow on luma (OpenCV DIS), warping by a flow, and where a flow can be trusted.

Conventions: a flow is ``(H, W, 2)`` float32 ``(dx, dy)`` in pixels. ``flow = estimate(a, b)``
maps each pixel ``x`` of ``a`` to where it is in ``b``: ``b(x + flow(x)) ≈ a(x)``. So
``warp(b, flow)`` brings ``b``'s content into ``a``'s frame.

DIS (Kroeger et al. 2016) is the flow method of the whole project: it runs at a few hundred
frames a second at render size on one CPU core. The temporal metrics use it too, in place of
the FlowNet2 of Lai et al. 2018 (see ``filmcolor.metrics``).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Literal

import cv2
import numpy as np

Preset = Literal["ultrafast", "fast", "medium"]

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class FlowEstimator:
    """DIS optical flow between two ``(H, W)`` uint8 luma images of one size.

    One OpenCV DIS object per thread (they keep internal buffers), created on first use.
    """

    def __init__(self, preset: Preset = "fast") -> None:
        if preset not in _PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; use one of {sorted(_PRESETS)}")
        self.preset = preset
        self._local = threading.local()

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``(H, W, 2)`` float32 flow from ``a`` to ``b`` (see the module docstring)."""
        if a.shape != b.shape or a.ndim != 2 or a.dtype != np.uint8 or b.dtype != np.uint8:
            raise ValueError(
                f"flow needs two (H, W) uint8 images of one size, got {a.shape} {a.dtype} "
                f"and {b.shape} {b.dtype}"
            )
        dis = getattr(self._local, "dis", None)
        if dis is None:
            dis = self._local.dis = cv2.DISOpticalFlow_create(_PRESETS[self.preset])
        return dis.calc(np.ascontiguousarray(a), np.ascontiguousarray(b), None)


@lru_cache(maxsize=8)
def pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``x`` and ``y``, ``(h, w)`` float32 each (cached: read only)."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.flags.writeable = False
    gy.flags.writeable = False
    return gx, gy


def warp(image: np.ndarray, flow: np.ndarray, nearest: bool = False) -> np.ndarray:
    """Sample ``image`` ``(H, W)`` or ``(H, W, C)`` at ``x + flow(x)`` (bilinear, or the
    nearest pixel with ``nearest`` for labels; edges replicated); the result has ``image``'s
    shape and dtype."""
    h, w = flow.shape[:2]
    gx, gy = pixel_grid(h, w)
    map_x = gx + flow[..., 0]
    map_y = gy + flow[..., 1]
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)


def valid_flow(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: where ``forward`` (a → b) can be trusted, given ``backward`` (b → a).

    A pixel is rejected (Sundaram et al. 2010; Ruder et al. 2016, as used by Lai et al. 2018)
    when the round trip a → b → a misses by more than ``0.01 (|f|² + |b̂|²) + 0.5`` pixels²
    (occlusion), where ``b̂`` is ``backward`` sampled at ``x + forward(x)``; when the flow's
    gradient is steep, ``|∇u|² + |∇v|² > 0.01 |f|² + 0.002`` (a motion boundary); or when
    ``x + forward(x)`` falls outside the picture.
    """
    h, w = forward.shape[:2]
    back = warp(backward, forward)
    fx, fy = forward[..., 0], forward[..., 1]
    bx, by = back[..., 0], back[..., 1]
    # per-channel arithmetic: sums over a length-2 last axis are slow in numpy
    f2 = fx * fx + fy * fy
    sx, sy = fx + bx, fy + by
    ok = sx * sx + sy * sy <= 0.01 * (f2 + bx * bx + by * by) + 0.5
    du_dy, du_dx = np.gradient(fx)
    dv_dy, dv_dx = np.gradient(fy)
    ok &= du_dx * du_dx + du_dy * du_dy + dv_dx * dv_dx + dv_dy * dv_dy <= 0.01 * f2 + 0.002
    gx, gy = pixel_grid(h, w)
    tx, ty = gx + fx, gy + fy
    ok &= (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    return ok
