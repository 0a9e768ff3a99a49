"""Inference: device, render size, batching, and edge-aware chroma upsampling.

The network only ever sees the picture at the render size (short side ``render_size``);
its chroma is brought back to full resolution by a fast guided filter (He & Sun 2015) whose
guide is the full-resolution L, so colour edges snap to the film's own luma edges instead of
bleeding across them as plain bilinear upsampling does.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import ColorizeConfig
from ..errors import UsageError, WeightsError
from .palette import temperature
from .unet import fuse_for_inference
from .weights import default_weights_path, load_weights

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; otherwise the named device, checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise UsageError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {name} asked for, but no CUDA GPU is available; use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(
                f"device {name} does not exist; this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
    return device


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``name`` on ``device`` (None: plain fp32).

    ``auto`` is bf16 on CUDA (fp16 on GPUs without bf16) and fp32 on the CPU, where reduced
    precision measured no faster here (EfficientNet-Lite U-Net, 2 EPYC cores).
    """
    if name not in PRECISIONS:
        raise UsageError(f"unknown precision {name!r}; use {', '.join(PRECISIONS)}")
    if name == "fp32" or (name == "auto" and device.type != "cuda"):
        return None
    if name == "fp16" and device.type != "cuda":
        raise UsageError("fp16 runs on CUDA only; use --precision bf16 or fp32 on the CPU")
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if name == "bf16" else torch.float16


class HostStaging:
    """Host → device copies through reused pinned buffers (CUDA), so that copies are
    asynchronous and no page-locked memory is allocated per batch; a plain copy elsewhere."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._pinned: dict[tuple[tuple[int, ...], torch.dtype], torch.Tensor] = {}
        self._copied: torch.cuda.Event | None = None

    def to_device(self, array: np.ndarray) -> torch.Tensor:
        """``array`` (any shape; uint16 is widened to int32) → a tensor on the device."""
        if array.dtype == np.uint16:
            array = array.astype(np.int32)  # torch has no full uint16 arithmetic on every device
        host = torch.from_numpy(np.ascontiguousarray(array))
        if self.device.type != "cuda":
            return host.to(self.device)
        key = (tuple(host.shape), host.dtype)
        buf = self._pinned.get(key)
        if buf is None:
            if len(self._pinned) > 8:  # odd batch sizes and band heights: keep a handful
                self._pinned.clear()
            buf = self._pinned[key] = torch.empty(host.shape, dtype=host.dtype, pin_memory=True)
        if self._copied is not None:
            self._copied.synchronize()  # the previous copy out of this buffer has finished
        buf.copy_(host)
        out = buf.to(self.device, non_blocking=True)
        self._copied = torch.cuda.Event()
        self._copied.record()
        return out


def render_shape(height: int, width: int, render_size: int) -> tuple[int, int]:
    """The (h, w) the model sees: short side ``render_size``, aspect ratio kept."""
    if render_size < 16:
        raise UsageError(f"render size {render_size} is too small; use 128 or more")
    short = min(height, width)
    scale = render_size / short
    return max(1, round(height * scale)), max(1, round(width * scale))


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)² window, with edge windows shrunk to the picture (like He's boxfilter)."""
    k = 2 * radius + 1
    return F.avg_pool2d(x, k, stride=1, padding=radius, count_include_pad=False)


def guided_coefficients(
    guide_low: torch.Tensor, src_low: torch.Tensor, radius: int, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fast guided filter's fit at low resolution: ``(mean_a, mean_b)``, each ``(N, C, h,
    w)`` like ``src_low``, so that ``src ≈ mean_a·guide + mean_b`` (see ``guided_upsample``,
    which upsamples them and applies them to the full-resolution guide)."""
    mean_i = _box(guide_low, radius)
    mean_p = _box(src_low, radius)
    cov_ip = _box(guide_low * src_low, radius) - mean_i * mean_p
    var_i = _box(guide_low * guide_low, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return _box(a, radius), _box(b, radius)


def guided_upsample(
    guide_low: torch.Tensor,
    src_low: torch.Tensor,
    guide_full: torch.Tensor,
    radius: int,
    eps: float,
) -> torch.Tensor:
    """Fast guided filter: upsample ``src_low`` under the full-resolution ``guide_full``.

    Args:
        guide_low: ``(N, 1, h, w)`` guide at low resolution (L / 100, in [0, 1]).
        src_low: ``(N, C, h, w)`` values to upsample (e.g. Lab ab).
        guide_full: ``(N, 1, H, W)`` the same guide at full resolution.
        radius: window radius at low resolution; ``eps``: regularisation (guide units²).

    Returns ``(N, C, H, W)``: locally ``a·guide + b`` with (a, b) fitted at low resolution and
    bilinearly upsampled, so edges in ``guide_full`` stay sharp in the result.
    """
    mean_a, mean_b = guided_coefficients(guide_low, src_low, radius, eps)
    return apply_coefficients(mean_a, mean_b, guide_full)


def apply_coefficients(
    mean_a: torch.Tensor, mean_b: torch.Tensor, guide_full: torch.Tensor
) -> torch.Tensor:
    """``guided_coefficients`` ``(N, C, h, w)`` bilinearly upsampled to ``guide_full``'s
    ``(N, 1, H, W)`` size and applied to it: ``(N, C, H, W)``."""
    size = guide_full.shape[-2:]
    if tuple(size) == tuple(mean_a.shape[-2:]):
        return mean_a * guide_full + mean_b
    mean_a = F.interpolate(mean_a, size=size, mode="bilinear", align_corners=False)
    mean_b = F.interpolate(mean_b, size=size, mode="bilinear", align_corners=False)
    return mean_a * guide_full + mean_b


def resize_L(L: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(N, 1, H, W)`` L → ``(N, 1, h, w)``: area average to shrink, bilinear to enlarge."""
    if tuple(L.shape[-2:]) == tuple(size):
        return L
    if size[0] <= L.shape[-2] and size[1] <= L.shape[-1]:
        return F.interpolate(L, size=size, mode="area")
    return F.interpolate(L, size=size, mode="bilinear", align_corners=False, antialias=True)


#: Encoder levels whose features make the matching keys (strides 8 and 16).
KEY_LEVELS = (2, 3)


def feature_keys(features: list[torch.Tensor], h: int, w: int) -> torch.Tensor:
    """The encoder's features (strides 2–32, as ``ColorUNet.forward_features`` gives them) of
    pictures ``h`` × ``w`` → ``(N, C, ⌈h/8⌉, ⌈w/8⌉)`` float32 matching keys: the stride-8 and
    stride-16 features (the latter upsampled), each L2-normalised over channels, concatenated
    and normalised again, so that a dot product of two keys is their cosine similarity.

    They are the MBConv block outputs (a projection, no activation): similarities lie in
    [−1, 1]."""
    grid = features[KEY_LEVELS[0]].shape[-2:]
    parts = [F.normalize(features[KEY_LEVELS[0]].float(), dim=1)]
    for level in KEY_LEVELS[1:]:
        up = F.interpolate(features[level].float(), size=grid, mode="bilinear", align_corners=False)
        parts.append(F.normalize(up, dim=1))
    out = F.normalize(torch.cat(parts, dim=1), dim=1)
    return out[..., : math.ceil(h / 8), : math.ceil(w / 8)].contiguous()


class Colorizer:
    """Predicts Lab ab for batches of L with a loaded model, on one device.

    ``weights`` of None takes the shipped default file; a missing or invalid file raises
    ``WeightsError`` before any frame is read. Never colorizes with untrained weights.
    """

    def __init__(
        self, weights: str | os.PathLike[str] | None, config: ColorizeConfig | None = None
    ) -> None:
        self.config = config or ColorizeConfig()
        self.device = resolve_device(self.config.device)
        path = Path(weights) if weights is not None else default_weights_path()
        if weights is None and not path.exists():
            raise WeightsError(
                f"{path}: the default weights file is missing; reinstall filmcolor, train one "
                "with 'filmcolor train', or pass --weights PATH"
            )
        self.weights_path = path
        model, self.model_config, self.metadata = load_weights(path, self.device)
        model.temperature = temperature(self.config.vividness)  # colour-class heads only
        self.autocast = resolve_precision(self.config.precision, self.device)
        # BatchNorm folded into the convolutions: the same outputs, about twice as fast.
        model = fuse_for_inference(model).eval()
        #: NHWC on CUDA: what cuDNN's tensor-core convolutions want (no gain measured on CPU).
        self.channels_last = self.device.type == "cuda"
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self._forward = model
        if self.config.compile:
            self._forward = torch.compile(model)  # type: ignore[assignment]
        self.staging = HostStaging(self.device)

    @property
    def stride(self) -> int:
        return self.model_config.stride

    def render_shape(self, height: int, width: int) -> tuple[int, int]:
        return render_shape(height, width, self.config.render_size)

    def shrink(self, L: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` L in [0, 100] → the same at render size, on the device."""
        L = L.to(self.device, torch.float32)
        return resize_L(L, self.render_shape(*L.shape[-2:]))

    @torch.inference_mode()
    def predict_low(self, L_low: torch.Tensor) -> torch.Tensor:
        """``(N, 1, h, w)`` L in [0, 100] at render size → ``(N, 2, h, w)`` float32 ab.

        Pads (by reflection) to the model stride and crops back. On CUDA out-of-memory the
        batch is split and retried; a single frame that still does not fit is an error. Colour
        that is not finite (NaN or inf: damaged weights, fp16 overflow) raises
        ``WeightsError`` rather than reaching a picture as gray or black.
        """
        return self._predict(L_low, keyed=False)[0]

    @torch.inference_mode()
    def predict_keyed(self, L_low: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``predict_low`` and the frames' matching keys from the same pass: ``((N, 2, h, w)
        float32 ab, (N, C, ⌈h/8⌉, ⌈w/8⌉) float32 keys)`` (see ``feature_keys``)."""
        ab, keys = self._predict(L_low, keyed=True)
        assert keys is not None
        return ab, keys

    @torch.inference_mode()
    def keys(self, L_low: torch.Tensor) -> torch.Tensor:
        """The matching keys of ``(N, 1, h, w)`` L in [0, 100] (any size): the encoder alone, up
        to stride 16, ``(N, C, ⌈h/8⌉, ⌈w/8⌉)`` float32 (see ``feature_keys``)."""
        h, w = L_low.shape[-2:]
        x = self._pad(L_low)
        x0 = x * (2.55 / 128.0) - (127.0 / 128.0)  # as ColorUNet normalises its input
        return feature_keys(self.model.encoder(x0, depth=KEY_LEVELS[-1] + 1), h, w)

    def _pad(self, L_low: torch.Tensor) -> torch.Tensor:
        """``L_low`` on the device, padded by reflection to a multiple of the model stride."""
        h, w = L_low.shape[-2:]
        s = self.stride
        ph, pw = (math.ceil(h / s) * s - h), (math.ceil(w / s) * s - w)
        x = L_low.to(self.device, torch.float32)
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _predict(
        self, L_low: torch.Tensor, keyed: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        h, w = L_low.shape[-2:]
        x = self._pad(L_low)
        amp = (
            torch.autocast(self.device.type, dtype=self.autocast)
            if self.autocast is not None
            else contextlib.nullcontext()
        )
        keys = None
        try:
            with amp:
                if keyed:
                    ab, features = self.model.forward_features(x)
                    keys = feature_keys(features, h, w)
                else:
                    ab = self._forward(x)
            ab = ab[..., :h, :w].float().contiguous()
        except torch.cuda.OutOfMemoryError:
            if x.shape[0] == 1:
                raise
        else:
            self._check_finite(ab)
            return ab, keys
        # Retried outside the except block, so the failed call's tensors are already freed.
        del x
        torch.cuda.empty_cache()
        half = L_low.shape[0] // 2
        log.warning("CUDA out of memory at batch %d; retrying as %d", L_low.shape[0], half)
        first, second = self._predict(L_low[:half], keyed), self._predict(L_low[half:], keyed)
        both_keys = None if first[1] is None else torch.cat((first[1], second[1]))  # type: ignore[arg-type]
        return torch.cat((first[0], second[0])), both_keys

    def _check_finite(self, ab: torch.Tensor) -> None:
        """``WeightsError`` if ``ab`` holds a NaN or an infinity. The sum is non-finite exactly
        then (chroma is far below float32's range), and costs about a tenth of
        ``isfinite().all()`` on the CPU: ~10 ms for a batch of 8 at 256x448, beside ~4 s of
        model time for it on 2 cores."""
        if bool(torch.isfinite(ab.sum())):
            return
        if self.autocast == torch.float16:
            why = "half precision overflowed or the weights are damaged"
            todo = "try --precision bf16 or fp32, or use another weights file"
        else:
            why = "the weights are damaged"
            todo = "use another weights file (or retrain: the training diverged)"
        raise WeightsError(
            f"weights file {self.weights_path}: the model gave NaN or infinite colour ({why}); "
            f"{todo}"
        )

    @torch.inference_mode()
    def predict(
        self, L: torch.Tensor, size: tuple[int, int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Colour for ``(N, 1, H, W)`` L in [0, 100] at full resolution.

        Returns ``(L_out, ab)``: ``(N, 1, h, w)`` L and ``(N, 2, h, w)`` float32 ab at ``size``
        (default: full resolution). A 4:2:0 output asks for its chroma size, so the edge-aware
        upsampling and the colour maths run on a quarter of the pixels.
        """
        L = L.to(self.device, torch.float32)
        L_low = self.shrink(L)
        ab_low = self.predict_low(L_low)
        L_out = L if size is None else resize_L(L, size)
        return L_out, self.upsample(L_low, ab_low, L_out)

    def coefficients(
        self, L_low: torch.Tensor, ab_low: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The guided filter's fit of ``ab_low`` ``(N, 2, h, w)`` to ``L_low`` ``(N, 1, h, w)``
        at render size: ``(mean_a, mean_b)``, each ``(N, 2, h, w)`` float32, which
        ``apply_coefficients`` turns into ab under L / 100 at any larger size."""
        return guided_coefficients(
            L_low / 100.0, ab_low, radius=self.config.guide_radius, eps=self.config.guide_eps
        )

    def upsample(
        self, L_low: torch.Tensor, ab_low: torch.Tensor, L_full: torch.Tensor
    ) -> torch.Tensor:
        """Edge-aware upsampling of ``ab_low`` ``(N, 2, h, w)`` to ``L_full``'s size."""
        return guided_upsample(
            L_low / 100.0,
            ab_low,
            L_full / 100.0,
            radius=self.config.guide_radius,
            eps=self.config.guide_eps,
        )
