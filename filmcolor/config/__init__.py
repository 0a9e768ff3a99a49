"""Every setting of filmcolor, with its default, in one place.

All configs are frozen dataclasses: a run's effective settings can be logged, stored in a
report or a checkpoint, and compared. ``dataclasses.replace`` derives a changed copy.

- ``fields``: how a field is declared: its ``Bounds`` and, for a user setting, its
  ``Setting`` (help, option and settings-file key), from which the CLI is generated;
- ``restore``: ``RestoreConfig`` and its sections, the ``--look`` presets;
- ``model``: ``ModelConfig``, the network's shape; ``train``: ``TrainConfig``, ``LossConfig``.
"""

from .fields import Bounds, Setting, bounded, bounds_of, check_bounds, settable
from .model import (
    MODEL_ENCODER_NAMES,
    MODEL_ENCODERS,
    MODEL_HEADS,
    MODEL_MAX_CHANNELS,
    MODEL_MAX_RESIDUAL_BLOCKS,
    MODEL_MAX_STAGES,
    MODEL_MAX_STRIDE,
    ModelConfig,
)
from .restore import (
    AUTO_KEYFRAME_INTERVAL,
    ENCODER_PRESETS,
    LOOK_VIVIDNESS,
    LOOKS,
    MAX_JSON_DEPTH,
    RATE_RANGE,
    Codec,
    ColorizeConfig,
    EncodeConfig,
    GuideConfig,
    HueRange,
    LimitsConfig,
    PostConfig,
    RestoreConfig,
    SegmentConfig,
    TemporalConfig,
    parse_rate,
)
from .train import FINETUNE_RECIPE, LossConfig, TrainConfig

__all__ = [
    "AUTO_KEYFRAME_INTERVAL",
    "ENCODER_PRESETS",
    "FINETUNE_RECIPE",
    "LOOKS",
    "LOOK_VIVIDNESS",
    "MAX_JSON_DEPTH",
    "MODEL_ENCODERS",
    "MODEL_ENCODER_NAMES",
    "MODEL_HEADS",
    "MODEL_MAX_CHANNELS",
    "MODEL_MAX_RESIDUAL_BLOCKS",
    "MODEL_MAX_STAGES",
    "MODEL_MAX_STRIDE",
    "RATE_RANGE",
    "Bounds",
    "Codec",
    "ColorizeConfig",
    "EncodeConfig",
    "GuideConfig",
    "HueRange",
    "LimitsConfig",
    "LossConfig",
    "ModelConfig",
    "PostConfig",
    "RestoreConfig",
    "SegmentConfig",
    "Setting",
    "TemporalConfig",
    "TrainConfig",
    "bounded",
    "bounds_of",
    "check_bounds",
    "parse_rate",
    "settable",
]
