"""The settings of a restore (``RestoreConfig`` and its sections), and the ``--look`` presets.

Each field a user sets carries its option's help (``help=``): ``filmcolor restore --help``,
the ``--config`` file's keys and the docs all come from these declarations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from ..errors import SettingValueError
from .fields import bounded, check_bounds, settable

#: Frame rates ``parse_rate`` accepts, inclusive.
RATE_RANGE = (Fraction(1, 1000), Fraction(1000))


def parse_rate(text: str) -> Fraction:
    """A frame rate from ``24``, ``25``, ``29.97`` or ``24000/1001`` as an exact Fraction
    (decimals are taken as written: ``29.97`` is 2997/100, as FFmpeg reads it; NTSC's rate
    is ``30000/1001``).

    Raises:
        ValueError: naming what is allowed, for text that is no positive rate from 1/1000 to
            1000 fps.
    """
    rule = "a frame rate such as 24, 25, 29.97 or 24000/1001, from 1/1000 to 1000"
    try:
        rate = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(rule) from None
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        raise ValueError(rule)
    return rate


Codec = Literal["libx264", "libx265", "prores", "ffv1"]

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

#: How the help of a tone option (one that changes the film's luma) starts.
_TONE = "Tone: changes the luma, off by default."


@dataclass(frozen=True, slots=True)
class EncodeConfig:
    """How the colorized video stream is encoded.

    ``crf``/``preset`` of ``None`` take the codec's documented default (see ``encode.py``).
    ``pix_fmt`` of ``None`` picks 4:2:0 for even sizes and 4:4:4 for odd sizes, 10-bit where
    the source has more than 8 bits and the codec can carry it.
    """

    codec: Codec = settable(  # noqa: RUF009 (a field(), as the ruff rule cannot see)
        "libx264", "Video encoder.", choices=("libx264", "libx265", "prores", "ffv1")
    )
    #: x264/x265 constant rate factor: 0 (lossless with x264) to 51 (worst).
    crf: int | None = bounded(
        None,
        0,
        51,
        integer=True,
        help="Quality for libx264/libx265 (default 18 / 20; 0 is lossless for x264).",
    )
    #: One of ``ENCODER_PRESETS[codec]``; only libx264 and libx265 have presets.
    preset: str | None = settable(
        None,
        "libx264/libx265 speed preset (default medium): "
        f"{', '.join(ENCODER_PRESETS['libx264'])}; the other codecs have none.",
    )
    pix_fmt: str | None = settable(
        None,
        "Output pixel format (default: 4:2:0, or 4:4:4 for odd sizes; 10-bit for deep sources).",
    )
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
    render_size: int = bounded(
        160, 64, 2048, help="Short side, in pixels, of the picture the model sees."
    )
    batch_size: int = bounded(8, 1, 1024, help="Frames per model call.")
    #: How boldly a model with a colour-class head commits to a colour: it predicts a
    #: distribution over quantised colours, decoded as the mean of that distribution sharpened
    #: at temperature ``T = 1 − vividness`` (at least 0.05). 0 is the plain mean (cautious,
    #: brownish where several colours are plausible), 1 the likeliest colour (vivid, can turn
    #: blotchy). Regression models (the first weights) have no distribution and ignore it.
    vividness: float = bounded(
        0.7,
        0,
        1,
        help="Colour boldness of the model's prediction: 0 cautious (the average of the "
        "plausible colours), 1 the likeliest colour.",
    )
    #: ``auto`` takes CUDA when available, else the CPU.
    device: str = settable("auto", "auto, cpu, cuda or cuda:N.")
    #: Radius of the guided filter that upsamples the chroma under the full-resolution luma,
    #: in render-size pixels.
    guide_radius: int = bounded(2, 0, 16)
    #: Regularisation of the guided filter, in (L/100)^2 units: smaller follows edges harder.
    guide_eps: float = bounded(1e-3, 0, 1, lo_open=True)
    #: Full-resolution pixels (at the output's chroma size) turned into colour at once: frames
    #: are composed in groups that fit, a larger frame in bands of rows (4K, 8K scans), so the
    #: float working set stays near 100 bytes a pixel of this; the picture does not depend on
    #: it. The default holds a batch of 8 1080p frames (4:2:0) whole.
    band_pixels: int = bounded(1 << 22, 1, 1 << 30)
    #: Arithmetic of the network: ``auto`` = bf16 autocast on CUDA (fp16 where the GPU has
    #: no bf16), fp32 on the CPU; or ``fp32``, ``bf16``, ``fp16`` (fp16 only on CUDA).
    precision: str = settable(
        "auto",
        "Network arithmetic: auto is bf16 autocast on CUDA, fp32 on the CPU.",
        choices=("auto", "fp32", "bf16", "fp16"),
    )
    #: Compile the network with ``torch.compile`` (CUDA; a one-off warm-up of ~a minute).
    compile: bool = settable(
        False, "torch.compile the network (CUDA; about a minute of warm-up, for long films)."
    )

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True, slots=True)
class TemporalConfig:
    """The temporal stage: shot cuts, flow-guided chroma smoothing, keyframes."""

    #: Off gives the per-frame result (``--no-temporal``), for comparisons.
    enabled: bool = settable(
        True,
        "Smooth the colour over time along the optical flow, reset at shot cuts; "
        "--no-temporal gives the per-frame result.",
        name="temporal",
    )
    #: Run the model on every K-th frame only (by frame number in the file, and on the first
    #: frame of each shot) and carry the colour between by optical flow: the CPU fast path.
    #: 0 is automatic: ``AUTO_KEYFRAME_INTERVAL`` by device type (4 on the CPU, where the
    #: model is the bottleneck; 1 on a GPU). See ``resolved``.
    keyframe_interval: int = bounded(
        0,
        0,
        1000,
        help="Run the model on every K-th frame (and each shot's first) and carry the colour "
        "between by optical flow: about K times less model time, at a small quality cost. "
        "0 is automatic: 4 on the CPU, 1 on a GPU.",
    )
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
#: and K = 4 keeps real time at 480p at no measured quality cost (docs/benchmarks/temporal.md);
#: a GPU runs the model on every frame.
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
    saturation: float = bounded(
        1.0, 0, help="Colour: chroma factor; 0 is gray, 1 unchanged, above 1 more saturated."
    )
    #: Raises weak chroma more than strong chroma (−1 to 1: beyond, the curve stops being
    #: monotonic or flips weak colours' hue).
    vibrance: float = bounded(
        0.0,
        -1,
        1,
        help="Colour: raise weak chroma more than strong (0 off; 1 doubles gray-ish colour; "
        "negative mutes weak colour).",
    )
    white_balance: str = settable(
        "none",
        "Colour: gray-world shifts each frame's mean colour to neutral.",
        choices=("none", "gray-world"),
    )
    #: Explicit balance in Lab units (b for temperature, a for tint).
    temperature: float = bounded(
        0.0, -100, 100, help="Colour: + warmer (towards yellow), − cooler, in Lab b units."
    )
    tint: float = bounded(
        0.0, -100, 100, help="Colour: + towards magenta, − towards green, in Lab a units."
    )
    hue_shift: float = bounded(
        0.0, -360, 360, help="Colour: rotate every hue by this many degrees."
    )
    #: Bands of hue to desaturate or move.
    hue_ranges: tuple[HueRange, ...] = settable(
        (),
        "Colour: scale the chroma by SAT and turn the hue by SHIFT degrees in a band of "
        "hues (Lab hue angle: 0 red-magenta, 90 yellow, 180 green, 270 blue) WIDTH degrees "
        "wide, fading out towards its edges; e.g. 270:90:0.7 mutes blues. Repeatable.",
        name="hue_range",
        multiple=True,
        metavar="CENTER:WIDTH:SAT[:SHIFT]",
        show_default=False,
    )
    chroma_limit: float = bounded(
        0.0,
        0,
        help="Colour: soft upper limit of the chroma |ab| against garish outliers (0 off).",
    )

    # --- tone (the luma): off by default ---
    contrast: float = bounded(1.0, 0, help=f"{_TONE} Contrast around mid-gray (1 unchanged).")
    gamma: float = bounded(
        1.0,
        0,
        lo_open=True,
        help=f"{_TONE} Gamma (1 unchanged; above 1 brightens the mid-tones).",
    )
    clahe: float = bounded(
        0.0, 0, help=f"{_TONE} Local contrast (CLAHE) clip limit; 0 off, 2 moderate."
    )
    clahe_tiles: int = bounded(8, 1, 64, help="CLAHE tiles per side.")
    #: Unsharp-mask radius at most 100: the blur's kernel grows with it.
    sharpen: float = bounded(0.0, 0, help=f"{_TONE} Unsharp-mask amount (0 off).")
    sharpen_radius: float = bounded(
        1.5, 0, 100, lo_open=True, help="Unsharp-mask radius in pixels."
    )
    #: Luminance deflicker: each frame's brightness and contrast follow their running mean
    #: over this many frames.
    deflicker: int = bounded(
        0,
        0,
        1000,
        metavar="N",
        help=f"{_TONE} Even out brightness flicker over N frames (0 off).",
    )
    #: 1 is FFmpeg's default, up to about 10: FFmpeg ``atadenoise`` (see ``post/filters.py``).
    denoise: float = bounded(
        0.0,
        0,
        help=f"{_TONE} Grain reduction strength (0 off, 1 moderate): temporal averaging "
        "where neighbouring frames agree.",
    )
    #: ``bwdif-field`` halves the video's time base.
    deinterlace: str = settable(
        "off",
        f"{_TONE} bwdif keeps one frame per frame (frame count and pts kept); "
        "bwdif-field gives one frame per field: it CHANGES the frame count (twice as many) "
        "and the timestamps (see --report). Off, an interlaced film stays interlaced, "
        "coloured field by field.",
        choices=("off", "bwdif", "bwdif-field"),
    )
    #: Inverse telecine (FFmpeg fieldmatch + yadif on leftover combed frames + decimate): the
    #: video gets a regular time base of 1 / (4/5 × the source rate).
    ivtc: bool = settable(
        False,
        f"{_TONE} Inverse telecine: 3:2 pulled-down film back to its own frames. "
        "CHANGES the frame count (4 of every 5) and the timestamps (see --report); off by "
        "default.",
    )

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


#: What a ``--look`` does to ``ColorizeConfig.vividness``: added to its default (and kept in
#: [0, 1]) unless ``--vividness`` is given too; looks not listed leave it alone.
LOOK_VIVIDNESS: dict[str, float] = {"vivid": 0.15, "faded": -0.3}


@dataclass(frozen=True, slots=True)
class GuideConfig:
    """User guidance: coloured reference frames and colour hints (``--reference``, ``--hints``)."""

    #: A name with a timecode (``00-01-23.450.png``) anchors the picture to that time;
    #: otherwise its frame is found by matching the luma.
    references: tuple[str, ...] = settable(
        (),
        "A coloured picture to follow: a coloured frame of the film (named by its "
        "timecode, e.g. 00-01-23.450.png, or found by matching) whose colours are carried "
        "through its shot, or a colour picture of the scene that steers the colours. "
        "Repeatable.",
        name="reference",
        multiple=True,
        metavar="PATH",
        path=True,
        file_relative=True,
        show_default=False,
    )
    references_dir: str | None = settable(
        None,
        "A folder of coloured frames named by timecode (HH-MM-SS.mmm.png, as "
        "'filmcolor keyframes' writes them), or a .json/.csv list of time and image.",
        name="references",
        metavar="DIR|LIST",
        path=True,
        file_relative=True,
    )
    hints: str | None = settable(
        None,
        "Colour hints: points or boxes with a colour over a time range "
        "(format: docs/guide/references.md).",
        metavar="FILE.json",
        path=True,
        file_relative=True,
    )
    #: How much a propagated reference's confidence decays per frame (1 = never).
    decay: float = bounded(0.995, 0, 1)
    #: Luma agreement scale (L units) of the reference's carried colour, like luma_sigma.
    luma_sigma: float = bounded(10.0, 0, 1000, lo_open=True)
    #: Weight of a style reference (a different picture) against the model's colour.
    style_strength: float = bounded(0.8, 0, 1)
    #: Which shots a style reference (a picture that is no frame of the film) steers:
    #: ``matching``, the shots whose scene it matches (by the model's features, as a frame
    #: reference reaches other shots), or ``all``, every frame of the film.
    style_scope: str = settable(
        "matching",
        "Which shots a reference that is no frame of the film restyles: 'matching' (the "
        "shots that look like it) or 'all' (the whole film).",
        choices=("matching", "all"),
    )

    def __post_init__(self) -> None:
        check_bounds(self)

    @property
    def enabled(self) -> bool:
        return bool(self.references or self.references_dir or self.hints)


@dataclass(frozen=True, slots=True)
class SegmentConfig:
    """Segmented, resumable restores (and their scale-out over a Ray cluster)."""

    #: Inputs longer than this are restored in segments, with a manifest and finished
    #: segments kept in a work folder.
    segment_seconds: float = bounded(
        300.0,
        0.5,
        86400,
        also=(0,),
        help="Restore films longer than this in segments of about this length, keeping "
        "finished segments in a work folder so a re-run after a crash redoes only the rest. "
        "0: never segment; else 0.5 to 86400 (a day).",
    )
    #: Frames decoded before each segment's start to warm the temporal stage (not written).
    overlap_frames: int = bounded(24, 0, 1000)
    #: It must be new, empty or made by filmcolor (``segments.WorkDir.claim``); only
    #: filmcolor's own files in it are ever deleted. A relative path in a settings file is
    #: taken as it stands (from the current folder).
    work_dir: str | None = settable(
        None,
        "Work folder of a segmented run (default: .OUTPUT.filmcolor-work beside OUTPUT): "
        "a new or empty folder, or one filmcolor made; its files are deleted after success.",
        path=True,
    )
    resume: bool = settable(
        True,
        "Pick up the finished segments of an interrupted run of the same command; "
        "--no-resume starts over.",
    )
    #: ``None``: this machine; else run the segments as Ray tasks.
    cluster: str | None = settable(
        None,
        "Run the segments on a Ray cluster: ray://HOST:PORT, auto (a cluster running "
        "here) or local (start one here). Needs pip install 'filmcolor[cluster]'.",
        metavar="ADDRESS",
    )

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

    #: Checked from the file's header before anything is decoded; an input error (exit 3).
    max_pixels: int = bounded(
        2**26,
        1,
        metavar="N",
        help="Limit: refuse a picture (image, video frame, reference) of more than N pixels, "
        "width x height, read from its header before decoding (exit 3). The default, 2**26, "
        "is 8192 x 8192.",
    )
    #: A usage error (exit 2), before the film is read.
    max_hints: int = bounded(
        10_000,
        1,
        metavar="N",
        help="Limit: refuse a --hints file with more hints than this (exit 2).",
    )
    #: A usage error (exit 2). A feature film's keyframe export (one per shot) fits.
    max_references: int = bounded(
        5000,
        1,
        metavar="N",
        help="Limit: refuse more reference pictures than this, counted before any is read "
        "(--reference files, list entries, a folder's images; exit 2).",
    )

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True, slots=True)
class RestoreConfig:
    """Everything ``restore`` needs besides the input and output paths."""

    weights: str | None = settable(
        None,
        "Weights file (.safetensors); default: the shipped weights.",
        path=True,
        file_relative=True,
    )
    colorize: ColorizeConfig = field(default_factory=ColorizeConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    post: PostConfig = field(default_factory=PostConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    guide: GuideConfig = field(default_factory=GuideConfig)
    segments: SegmentConfig = field(default_factory=SegmentConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    overwrite: bool = settable(
        False,
        "Replace output files that exist.",
        negatable=False,
        show_default=False,
        in_file=False,
    )
    #: Turn undecodable frames, damaged packets of copied streams and truncation (normally
    #: warnings) into a media error.
    strict: bool = settable(
        False,
        "Fail (exit 4) on undecodable frames, damaged packets or truncation instead of "
        "keeping every good frame and packet.",
        show_default=False,
    )
    #: Frames held between the decode, model and encode threads.
    queue_frames: int = bounded(32, 1, 1024)
    #: A folder INPUT is one film of numbered scans (``media.sequence.scan_folder``), not
    #: a batch of separate files.
    sequence: bool = settable(
        False,
        "INPUT is a folder of numbered scans (reel_086400.dpx, ...) that make one film; "
        "without it a folder's files are restored one by one.",
        negatable=False,
        show_default=False,
    )
    #: Frame rate of an image sequence as text (``24``, ``24000/1001``); None: the rate in
    #: the files' headers (DPX), else 24.
    fps: str | None = settable(
        None,
        "Frame rate of an image sequence, e.g. 24, 25 or 24000/1001 (default: the rate in "
        "the scans' headers where they carry one, else 24).",
        metavar="RATE",
    )
    #: Memory for pictures, in MB, of each queue between threads and of one batch:
    #: ``queue_frames`` and ``colorize.batch_size`` are cut to fit large frames (4K, 8K), to
    #: no fewer than 2 queued frames and 1 frame a batch.
    picture_mb: int = bounded(128, 1, 1 << 20)

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.fps is not None:
            try:
                parse_rate(self.fps)
            except ValueError as exc:
                raise SettingValueError("RestoreConfig", "fps", self.fps, str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
