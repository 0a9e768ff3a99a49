"""Numbered image sequences (film scans) as one film: find them, open them, write them.

A sequence is a video whose demuxer is FFmpeg's ``image2``: ``open_input`` opens the
pattern with ``av.open(pattern, format="image2", options={"start_number": ..., "framerate":
...})``, which gives one video stream whose frame *k* is the file numbered ``start + k``, at
pts *k* in the time base ``1 / rate``. Decoding, the pipeline, segments and resume then treat
it as any other film.

Names follow FFmpeg's image2 convention: one printf field ``%d`` or ``%0Nd`` in the file name
(``reel_%06d.dpx``; ``%Nd`` pads with zeros too, as in FFmpeg), ``%%`` for a literal ``%``.
``find_sequence`` scans the folder for the files the pattern names (any start number);
``scan_folder`` finds the one numbered sequence in a folder (``restore --sequence``).

Rules (each broken one is a one-line ``InputError``, exit 3):

- the frames are numbered without a gap: a missing number would shift the timing of every
  frame after it, so the error names the missing frames (fill them in, e.g. with a copy of a
  neighbour, or restore the parts on either side as sequences of their own);
- every frame has the size of the first (checked from the file headers of DPX, PNG, TIFF and
  JPEG before anything is decoded; an EXR frame of another size stops the run when decoded).

Timing: ``--fps`` when given, else the frame rate in the first file's header where the format
carries one and FFmpeg reads it (DPX), else 24 fps. The first file's timecode (DPX) is kept in
``ImageSequence.timecode``.

EXR holds linear light: it is read through the sRGB curve (FFmpeg's ``apply_trc``) so the
model sees the picture as displayed, values above 1.0 are clipped, and an EXR output is
written back through the inverse curve.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..config import RATE_RANGE, LimitsConfig, parse_rate
from ..errors import InputError, UsageError, picture_too_large
from .images import picture_size
from .kinds import IMAGE_EXTENSIONS

#: File extensions a sequence may have (FFmpeg's image2 decoders for each).
SEQUENCE_EXTENSIONS = frozenset(IMAGE_EXTENSIONS | {".dpx", ".exr"})
#: The frame rate of a sequence whose headers carry none, when ``--fps`` is not given.
DEFAULT_RATE = Fraction(24)
_DEFAULT_MAX_PIXELS = LimitsConfig().max_pixels

_FIELD = re.compile(r"%(\d*)d")
#: The sRGB transfer FFmpeg's EXR decoder applies to its linear values (``apply_trc``).
_EXR_TRC = "iec61966_2_1"


def is_pattern(path: str | os.PathLike[str]) -> bool:
    """Whether the file name of ``path`` holds one printf frame-number field (``%06d``)."""
    return len(_FIELD.findall(Path(path).name.replace("%%", ""))) == 1


def _split(pattern: Path) -> tuple[str, str, int]:
    """(prefix, suffix, width) of a pattern's file name; width 0 for a plain ``%d``."""
    name = pattern.name
    fields = list(_FIELD.finditer(name.replace("%%", "\0\0")))
    if len(fields) != 1:
        raise UsageError(
            f"{pattern}: a sequence pattern holds one frame-number field such as %06d "
            "(write a literal % as %%)"
        )
    m = fields[0]
    width = int(m.group(1)) if m.group(1) else 0
    return name[: m.start()].replace("%%", "%"), name[m.end() :].replace("%%", "%"), width


def frame_name(pattern: Path, number: int) -> str:
    """The file name of frame ``number`` of ``pattern`` (``reel_%06d.dpx``, 86400 →
    ``reel_086400.dpx``)."""
    prefix, suffix, width = _split(pattern)
    return f"{prefix}{number:0{width}d}{suffix}"


@dataclass(frozen=True, slots=True)
class ImageSequence:
    """A numbered image sequence, read as one film.

    Frame index ``k`` (0-based; its pts in the time base ``1 / rate``) is the file numbered
    ``start + k``.
    """

    #: The folder and printf pattern of the files: ``scans/reel_%06d.dpx``.
    pattern: Path
    start: int
    count: int
    rate: Fraction
    #: Where ``rate`` comes from: ``--fps``, ``header`` or ``default``.
    rate_source: str
    #: The first frame's timecode from its header (``01:02:03:04``), when it has one.
    timecode: str | None = None

    def __str__(self) -> str:
        return str(self.pattern)

    def path(self, index: int) -> Path:
        """The file of frame ``index`` (0-based)."""
        return self.pattern.with_name(frame_name(self.pattern, self.start + index))

    def frame_of_name(self, name: str | os.PathLike[str]) -> int | None:
        """The index of the frame whose file name, extension aside, is ``name``'s
        (``reel_086412.png`` for ``reel_086412.dpx``), or None."""
        prefix, suffix, width = _split(self.pattern)
        stem_suffix = suffix[: -len(self.pattern.suffix)] if self.pattern.suffix else suffix
        stem = Path(name).stem
        if not (stem.startswith(prefix) and stem.endswith(stem_suffix)):
            return None
        digits = stem[len(prefix) : len(stem) - len(stem_suffix)]
        if not digits.isdigit() or f"{int(digits):0{width}d}" != digits:
            return None
        index = int(digits) - self.start
        return index if 0 <= index < self.count else None

    def time_of_name(self, name: str | os.PathLike[str]) -> Fraction | None:
        """Seconds from the first frame of the frame named like ``name`` (see
        ``frame_of_name``), exact; None when no frame has that name."""
        index = self.frame_of_name(name)
        return None if index is None else index / self.rate

    def identity(self) -> dict[str, Any]:
        """What a resumed run checks: the files, their numbers and the timing."""
        first = self.path(0).stat()
        return {
            "input": str(self.pattern.absolute()),
            "start": self.start,
            "count": self.count,
            "rate": str(self.rate),
            "first_size": first.st_size,
            "first_mtime_ns": first.st_mtime_ns,
        }

    def open(self, max_pixels: int | None = None) -> av.container.InputContainer:
        """The sequence as a container of one video stream (image2), ready to decode."""
        options = {
            "pattern_type": "sequence",
            "start_number": str(self.start),
            "framerate": str(self.rate),
        }
        if max_pixels:
            options["max_pixels"] = str(max_pixels)
        folder = str(self.pattern.parent.absolute()).replace("%", "%%")
        try:
            container = av.open(
                os.path.join(folder, self.pattern.name), "r", format="image2", options=options
            )
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.pattern}: cannot open the sequence ({exc})") from exc
        for stream in container.streams.video:
            if stream.codec_context.name == "exr":  # linear light → as displayed
                ctx = stream.codec_context
                ctx.options = {**ctx.options, "apply_trc": _EXR_TRC}
        return container


def _numbered(folder: Path, pattern: Path) -> list[int]:
    """The frame numbers of the files in ``folder`` that ``pattern`` names, sorted."""
    prefix, suffix, width = _split(pattern)
    out = []
    for entry in os.scandir(folder):
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        digits = name[len(prefix) : len(name) - len(suffix)]
        if digits.isdigit() and f"{int(digits):0{width}d}" == digits and entry.is_file():
            out.append(int(digits))
    return sorted(out)


def _ranges(numbers: list[int]) -> str:
    """``86410–86411, 86420`` for missing numbers (at most five stretches shown)."""
    stretches: list[tuple[int, int]] = []
    for n in numbers:
        if stretches and stretches[-1][1] == n - 1:
            stretches[-1] = (stretches[-1][0], n)
        else:
            stretches.append((n, n))
    text = ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in stretches[:5])
    return text + (f" and {len(stretches) - 5} more stretches" if len(stretches) > 5 else "")


def header_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from a DPX, PNG, TIFF or JPEG header (nothing decoded); None for
    other formats (EXR), whose size is checked as they are decoded."""
    if path.suffix.lower() == ".dpx":
        with open(path, "rb") as f:
            head = f.read(780)
        if len(head) < 780 or head[:4] not in (b"SDPX", b"XPDS"):
            raise InputError(f"{path}: not a DPX file (no SDPX magic); is it complete?")
        order = ">" if head[:4] == b"SDPX" else "<"
        width, height = struct.unpack(order + "II", head[772:780])
        return int(width), int(height)
    if path.suffix.lower() == ".exr":
        return None
    return picture_size(path)


def _check_frames(pattern: Path, numbers: list[int], max_pixels: int) -> tuple[int, int] | None:
    """``InputError`` for a gap in ``numbers``, a first frame larger than ``max_pixels`` or a
    frame whose size is not the first's (from the headers); the size, None when unknown."""
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
    if missing:
        raise InputError(
            f"{pattern}: {len(missing)} frame(s) missing in {numbers[0]}–{numbers[-1]}: "
            f"{_ranges(missing)}; a film's frames must follow without a gap: add the "
            "missing scans (a copy of a neighbour keeps the timing) or restore the parts "
            "on either side as sequences of their own"
        )
    first = pattern.with_name(frame_name(pattern, numbers[0]))
    size = header_size(first)
    if size is None:
        return None
    if size[0] * size[1] > max_pixels:
        raise picture_too_large(first, "picture", size[0], size[1], max_pixels)
    for n in numbers[1:]:
        path = pattern.with_name(frame_name(pattern, n))
        other = header_size(path)
        if other != size:
            raise InputError(
                f"{path}: is {other[0]}x{other[1]} where {first.name} is {size[0]}x{size[1]}; "
                "a film has one picture size: rescan it, or restore the frames of each size "
                "as sequences of their own"
            )
    return size


def _header_timing(first: Path) -> tuple[Fraction | None, str | None]:
    """The frame rate and timecode FFmpeg reads from a DPX file's header, or None (other
    formats carry neither)."""
    if first.suffix.lower() != ".dpx":
        return None, None
    try:
        with av.open(str(first.absolute()), "r", format="image2") as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                rate = stream.codec_context.framerate
                timecode = frame.metadata.get("timecode")
                return (Fraction(rate) if rate else None), timecode
    except av.error.FFmpegError as exc:
        raise InputError(f"{first}: cannot decode the first frame ({exc})") from exc
    return None, None


def find_sequence(
    pattern: str | os.PathLike[str], fps: str | None = None, max_pixels: int = _DEFAULT_MAX_PIXELS
) -> ImageSequence:
    """The sequence ``pattern`` names (``scans/reel_%06d.dpx``), from whatever number its
    first file has; ``fps`` (``parse_rate`` text) overrides the headers' rate.

    Raises:
        InputError: the folder does not exist, no file matches, the frames have a gap or
            differ in size, the first is larger than ``max_pixels`` (``LimitsConfig``, from
            its header, before anything is decoded), or it cannot be decoded (exit 3).
        UsageError: the pattern has no single frame-number field, or ``fps`` is no rate.
    """
    p = Path(pattern)
    _split(p)
    if not p.parent.is_dir():
        raise InputError(f"{p.parent}: no such folder; check the path of the sequence")
    if p.suffix.lower() not in SEQUENCE_EXTENSIONS:
        kinds = ", ".join(sorted(SEQUENCE_EXTENSIONS))
        raise InputError(f"{p}: a sequence of {p.suffix or 'extensionless'} files; use {kinds}")
    numbers = _numbered(p.parent, p)
    if not numbers:
        raise InputError(
            f"{p}: no file matches the pattern in {p.parent}; check the name and the "
            f"number of digits ({frame_name(p, 86400)} is what it names for frame 86400)"
        )
    return _sequence(p, numbers, fps, max_pixels)


def _sequence(p: Path, numbers: list[int], fps: str | None, max_pixels: int) -> ImageSequence:
    _check_frames(p, numbers, max_pixels)
    header_rate, timecode = _header_timing(p.with_name(frame_name(p, numbers[0])))
    if fps is not None:
        try:
            rate, source = parse_rate(fps), "--fps"
        except ValueError as exc:
            raise UsageError(f"--fps {fps}: must be {exc}") from None
    elif header_rate is not None and RATE_RANGE[0] <= header_rate <= RATE_RANGE[1]:
        rate, source = header_rate, "header"
    else:
        rate, source = DEFAULT_RATE, "default"
    return ImageSequence(p, numbers[0], len(numbers), rate, source, timecode)


_NUMBERED_NAME = re.compile(r"^(.*?)(\d+)(\D*)$")


def scan_folder(
    folder: str | os.PathLike[str], fps: str | None = None, max_pixels: int = _DEFAULT_MAX_PIXELS
) -> ImageSequence:
    """The one numbered sequence in ``folder`` (``restore --sequence``): its image files
    (DPX, EXR, TIFF, PNG, JPEG…) whose names end in a frame number, in number order.
    Other files (notes, XML sidecars) are passed over.

    Raises:
        InputError: no numbered image, several sequences, images that are not numbered
            alike, a gap, or frames of different sizes (see ``find_sequence``).
    """
    d = Path(folder)
    groups: dict[tuple[str, str, int], list[str]] = {}
    stray: list[str] = []
    for entry in sorted(os.scandir(d), key=lambda e: e.name):
        name = entry.name
        ext = Path(name).suffix
        if name.startswith(".") or ext.lower() not in SEQUENCE_EXTENSIONS or not entry.is_file():
            continue
        m = _NUMBERED_NAME.match(name[: -len(ext)])
        if m is None:
            stray.append(name)
            continue
        digits = m.group(2)
        width = len(digits) if digits.startswith("0") else 0
        groups.setdefault((m.group(1), m.group(3) + ext, width), []).append(digits)
    # unpadded (%d) numbers of a padded sequence's length belong to it: reel_100000 in %06d
    for (prefix, suffix, width), names in list(groups.items()):
        if width == 0:
            for (p2, s2, w2), names2 in groups.items():
                if (p2, s2) == (prefix, suffix) and w2 and all(len(n) == w2 for n in names):
                    names2.extend(names)
                    del groups[(prefix, suffix, width)]
                    break
    if not groups:
        raise InputError(
            f"{d}: --sequence found no numbered image (reel_086400.dpx…) in the folder"
        )
    if len(groups) > 1 or stray:
        ranked = sorted(groups.items(), key=lambda g: -len(g[1]))
        found = [f"{p}{f'%0{w}d' if w else '%d'}{s} ({len(n)} files)" for (p, s, w), n in ranked]
        found += [f"{name} (no number)" for name in stray[:3]]
        raise InputError(
            f"{d}: holds more than one sequence: {', '.join(found[:4])}; give the one to "
            f"restore as a pattern, e.g. '{d / found[0].split(' (')[0]}'"
        )
    (prefix, suffix, width), digits = next(iter(groups.items()))
    field = f"%0{width}d" if width else "%d"
    pattern = d / (prefix.replace("%", "%%") + field + suffix.replace("%", "%%"))
    return _sequence(pattern, sorted(int(n) for n in digits), fps, max_pixels)


def as_source(src: str | os.PathLike[str] | ImageSequence) -> Path | ImageSequence:
    """``src`` as what ``probe`` and ``open_input`` take: a sequence as it is, else a Path."""
    return src if isinstance(src, ImageSequence) else Path(src)
