"""The settings of ``filmcolor train``: the run (``TrainConfig``) and its losses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import SettingValueError
from .fields import bounded, check_bounds, settable
from .model import MODEL_ENCODER_NAMES, MODEL_HEADS, ModelConfig

#: The fine-tuning recipe (``benchmarks/finetune.py``), by option name: what ``filmcolor train``
#: uses when it starts from trained weights (any ``--init`` but ``imagenet``) and the option
#: is not given.
#: A frozen encoder keeps the features learnt on the whole corpus on a few hundred frames of
#: one film, and rarity rebalancing (colours rare in the corpus) means little on one film.
FINETUNE_RECIPE: dict[str, float] = {"encoder_lr_scale": 0.0, "loss_rebalance": 0.0}


@dataclass(frozen=True, slots=True)
class LossConfig:
    """Weights of the training losses (0 turns a term off)."""

    #: L1 on Lab ab (Lab units / 100): the colour itself.
    ab_l1: float = bounded(1.0, 0, help="Weight of the L1 colour loss.", name="loss_ab")
    #: Rarity rebalancing of that L1 (Zhang et al. 2016): each pixel is weighted by how rare
    #: its true colour is in the training data, so rare saturated colours are not averaged
    #: away into brown. 0 is plain L1; 0.5 mixes the empirical prior half-and-half with a
    #: uniform one, as in the paper; 1 is full inverse frequency.
    rebalance: float = bounded(
        0.5,
        0,
        1,
        help="Rarity rebalancing of the colour loss (0 off, 0.5 as Zhang et al. 2016).",
        name="loss_rebalance",
    )
    #: L1 between the chroma magnitudes |ab| of prediction and truth, pixel by pixel: where
    #: the hue is uncertain, plain L1 shrinks the colour towards gray; this term keeps the
    #: true saturation and lets the model commit to its likeliest hue.
    saturation: float = bounded(
        0.3,
        0,
        help="Per-pixel chroma-magnitude matching (keeps colour from fading to gray).",
        name="loss_saturation",
    )
    #: Cross entropy of the colour-class head (models with ``head`` classification or both)
    #: over the quantised ab palette, with soft targets and the same rarity rebalancing.
    classification: float = bounded(
        1.0, 0, help="Weight of the colour-class cross entropy.", name="loss_class"
    )
    #: L1 between frozen ImageNet EfficientNet-Lite0 features of predicted and true RGB.
    #: Off by default: it costs about 40 % more CPU time a step (see weights/README.md).
    perceptual: float = bounded(
        0.0, 0, help="Weight of the ImageNet feature loss.", name="loss_perceptual"
    )
    #: |colorfulness(pred) − colorfulness(truth)| per image (Hasler–Süsstrunk, / 100). A
    #: global statistic: at high weight the model games it (coloured borders, a sepia cast).
    colorfulness: float = bounded(
        0.0, 0, help="Weight of the per-image colourfulness loss.", name="loss_colorfulness"
    )

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything ``filmcolor train`` needs; stored in every checkpoint."""

    frames: str = settable(
        "", "Folder of colour images, gray/ + color/ pairs, videos, or a built corpus.", path=True
    )
    output: str = settable(
        "filmcolor-finetuned.safetensors",
        "Weights file to write (.safetensors); its checkpoint is OUTPUT with .ckpt.",
        path=True,
    )
    #: ``default`` (the shipped weights), ``imagenet`` (pretrained encoder), or a path to a
    #: weights file or a checkpoint.
    init: str = settable(
        "default",
        "default (shipped weights), imagenet (pretrained encoder), or a weights/ckpt path.",
    )
    #: The encoder by short name (``MODEL_ENCODER_NAMES``: ``lite0``, ``lite1``, ``lite2``).
    #: ``None``: the ``--init`` model's own, or ``model.encoder`` for ``--init imagenet``. A
    #: model being fine-tuned keeps its encoder: naming another one is a ``UsageError``.
    encoder: str | None = settable(
        None,
        "Encoder of a model trained from --init imagenet (default lite0); "
        "fine-tuning keeps the model's own.",
        choices=tuple(MODEL_ENCODER_NAMES),
        show_default=False,
    )
    #: The colour head (``MODEL_HEADS``). ``None``: the ``--init`` model's own, or
    #: ``model.head`` for ``--init imagenet``. A fine-tuned model given another head keeps
    #: every tensor that fits (encoder and decoder); the new head starts untrained.
    head: str | None = settable(
        None,
        "Colour head: classification (quantised colours, annealed-mean decode), regression, "
        "or both; default: the --init model's own (classification from --init imagenet).",
        choices=MODEL_HEADS,
        show_default=False,
    )
    #: Optimiser steps; ``epochs`` (if set) overrides it with epochs × steps per epoch.
    steps: int = bounded(2000, 1, 10_000_000, help="Optimiser steps.")
    epochs: float | None = bounded(
        None,
        0,
        10_000,
        lo_open=True,
        help="Train this many passes over the data instead of --steps.",
    )
    #: Stop (with a checkpoint and the best weights) after this many minutes (up to a
    #: year), if set.
    time_limit: float | None = bounded(
        None,
        0,
        525_600,
        lo_open=True,
        help="Stop after this many minutes (checkpoint and best weights kept).",
    )
    batch_size: int = bounded(16, 1, 1024, help="Crops per optimiser step.")
    lr: float = bounded(
        1e-3, 0, 1, help="Learning rate of the decoder (the encoder's is 10x lower)."
    )
    #: The pretrained encoder learns this much slower than the decoder; 0 freezes it (its
    #: BatchNorm statistics too), which trains about 2.5x faster on a CPU and keeps the
    #: ImageNet features intact on small data sets.
    encoder_lr_scale: float = bounded(
        0.1,
        0,
        10,
        help="Encoder learning rate as a share of --lr; 0 freezes the pretrained encoder.",
    )
    weight_decay: float = bounded(1e-4, 0, 1)
    warmup_steps: int = bounded(100, 0, 10_000_000)
    #: Training crop side in pixels: a multiple of the model stride (32).
    size: int = bounded(
        192, 64, 2048, multiple_of=32, help="Training crop side in pixels (a multiple of 32)."
    )
    val_fraction: float = bounded(
        0.12, 0, 0.9, help="Share of pictures (by source picture) held out."
    )
    #: Validate every this many steps; stop after ``patience`` validations without gain.
    val_every: int = bounded(200, 1, 10_000_000, help="Validate every N steps.")
    patience: int = bounded(5, 1, 1_000_000, help="Stop after N validations without improvement.")
    checkpoint_every: int = bounded(200, 1, 10_000_000, help="Write the checkpoint every N steps.")
    report_dir: str | None = settable(
        None, "Write loss curves, a sample grid and metrics here.", path=True
    )
    device: str = settable("auto", "cpu, cuda, cuda:N, or auto.")
    #: Seeds the data split, the augmentation and the initialisation (0 to 2**32 − 1).
    seed: int = bounded(0, 0, 2**32 - 1, help="Seed of the split, augmentation and init.")
    #: Probability of film-like degradation (grain, flicker, blur, scratches) of the input.
    degrade: float = bounded(
        0.5, 0, 1, help="Share of inputs given film damage (grain, scratches…)."
    )
    #: Frames sampled per shot from video files.
    frames_per_shot: int = bounded(3, 1, 1000)
    #: Threads that build the next batches while the model trains on this one.
    workers: int = bounded(2, 1, 64, help="Threads that prepare batches ahead of the model.")
    #: Images are cached in memory with their long side at most this (speed; random crops).
    cache_side: int = bounded(512, 64, 8192)
    loss: LossConfig = field(default_factory=LossConfig)
    model: ModelConfig = field(default_factory=ModelConfig)

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.head is not None and self.head not in MODEL_HEADS:
            rule = "one of " + ", ".join(MODEL_HEADS)
            raise SettingValueError(type(self).__name__, "head", self.head, rule)
        if self.encoder is not None and self.encoder not in MODEL_ENCODER_NAMES:
            rule = "one of " + ", ".join(MODEL_ENCODER_NAMES)
            raise SettingValueError(type(self).__name__, "encoder", self.encoder, rule)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        values = dict(data)
        values["loss"] = LossConfig(**values.get("loss", {}))
        values["model"] = ModelConfig.from_dict(values.get("model", {}))
        return cls(**values)
