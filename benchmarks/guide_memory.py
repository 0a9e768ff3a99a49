"""Peak memory of a guided restore: a 20-minute film against a 1-minute one.

    python benchmarks/guide_memory.py [--short-minutes 1] [--long-minutes 20] [--rate 4]
                                      [--size 320x180] [--shot-seconds 20] [--no-auto]
                                      [--work DIR] [--weights W] [--json out.json] [--check]

Acceptance criterion of reference frames: the peak memory of a guided restore of a 20-minute
film is within 10 % of that of a 1-minute one: what the guide keeps (its pass over the film,
the reference's colours, each shot's state) must not grow with the film's length.

The films are synthetic, drawn by FFmpeg's test sources through PyAV filter graphs, streamed
frame by frame (never held in memory): at ``--size`` (320×180) and ``--rate`` (4 fps), a
shot cut every ``--shot-seconds`` (20 s), the shots cycling through three scenes with motion
(``testsrc2``'s moving pattern, a ``mandelbrot`` zoom, a coloured game of ``life``; each shot
starts its scene afresh). The rate is low so that the whole run takes minutes, not an hour,
on a 2-core CPU (the model sees every film at its render size, so a smaller picture would
not save much); the 20-minute film still has 4,800 frames in 60 shots, 20 times the
1-minute one. ``--rate 24`` measures a film at a cinema rate.

Each film is made gray as ``tools/make_samples.py`` does (BT.601 luma
``0.299 R' + 0.587 G' + 0.114 B'`` as limited-range Y, neutral chroma, tagged BT.601; H.264
crf 18), and its frame 0 in its true colours is written as ``00-00-00.000.png``, the
reference (named by its timecode, so it is anchored to frame 0).

Each restore runs with the default settings (``filmcolor.facade.restore``; default weights,
render size, temporal smoothing with the device's keyframe interval) in a fresh process
(this script with ``--child``), so each peak is its own: the guided restore (``--reference
00-00-00.000.png``) of the short and of the long film, and, for comparison, the automatic
restore of the long film (in segments when it is over five minutes, as ``restore`` does by
default; skipped with ``--no-auto``). Peak memory is the process's peak resident set size
(``VmHWM``; see ``peak_rss_mb``), plus the peak CUDA memory on a GPU. Also printed: frames,
shots and the cuts found, the process's wall and CPU seconds (start-up and model loading
included) and ``restore``'s own fps.

``--check`` exits 1 if the long guided film's peak RSS is more than 1.10 × the short one's.
``--work DIR`` keeps the generated films there and reuses them on the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.filter
import cv2
import numpy as np

from filmcolor.guide.timecode import format_timecode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import cpu_name, peak_rss_mb

#: The scenes the shots cycle through: an FFmpeg test source and its options.
SCENES = (
    ("testsrc2", ""),
    ("mandelbrot", ""),
    ("life", "mold=10:life_color=#ff8040:death_color=#202080:mold_color=#40a040"),
)
#: Most the long film's peak RSS may exceed the short one's.
MAX_RATIO = 1.10
#: BT.601 luma weights of R', G', B'.
BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_AVCOL_SPC_SMPTE170M = 6
_AVCOL_RANGE_MPEG = 1


def scene_frames(shot: int, width: int, height: int, rate: Fraction) -> Iterator[np.ndarray]:
    """The ``(H, W, 3)`` uint8 RGB frames of shot ``shot``'s scene, from its start, endless."""
    name, options = SCENES[shot % len(SCENES)]
    args = f"size={width}x{height}:rate={rate}"
    if name == "life":
        args += f":seed={shot}"
    graph = av.filter.Graph()
    source = graph.add(name, f"{args}:{options}" if options else args)
    rgb = graph.add("format", "pix_fmts=rgb24")
    sink = graph.add("buffersink")
    source.link_to(rgb)
    rgb.link_to(sink)
    graph.configure()
    while True:
        yield sink.pull().to_ndarray()


def colour_frames(
    count: int, width: int, height: int, rate: Fraction, shot_frames: int
) -> Iterator[np.ndarray]:
    """``count`` RGB frames, a new shot (the next scene) every ``shot_frames``."""
    for start in range(0, count, shot_frames):
        frames = scene_frames(start // shot_frames, width, height, rate)
        for _ in range(min(shot_frames, count - start)):
            yield next(frames)


def gray_frame(rgb: np.ndarray, pts: int, time_base: Fraction) -> av.VideoFrame:
    """A yuv420p frame of ``rgb``'s BT.601 luma (limited range) and neutral chroma."""
    h, w = rgb.shape[:2]
    luma = 16.0 + (219.0 / 255.0) * (rgb.astype(np.float32) @ BT601)
    arr = np.full((h * 3 // 2, w), 128, dtype=np.uint8)
    arr[:h] = np.clip(np.rint(luma), 0, 255)
    frame = av.VideoFrame.from_ndarray(arr, format="yuv420p")
    frame.pts, frame.time_base = pts, time_base
    frame.colorspace, frame.color_range = _AVCOL_SPC_SMPTE170M, _AVCOL_RANGE_MPEG
    return frame


def make_film(
    folder: Path, minutes: float, width: int, height: int, rate: Fraction, shot_seconds: float
) -> dict[str, Any]:
    """Write ``folder/gray.mp4`` (``minutes`` long) and its reference, frame 0 in colour;
    reuse them if a finished earlier run left them there. Returns paths and counts."""
    gray, part = folder / "gray.mp4", folder / "gray.mp4.part"
    reference = folder / f"{format_timecode(Fraction(0))}.png"
    paths = {"gray": str(gray), "reference": str(reference)}
    meta = folder / "film.json"  # written last: the film and its reference are complete
    if meta.is_file() and gray.is_file() and reference.is_file():
        return paths | json.loads(meta.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    count = max(1, round(minutes * 60 * rate))
    shot_frames = max(1, round(shot_seconds * rate))
    tb = 1 / rate
    with av.open(str(part), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=rate)
        cc = stream.codec_context
        cc.width, cc.height, cc.pix_fmt = width, height, "yuv420p"
        cc.time_base = stream.time_base = tb
        cc.colorspace, cc.color_range = _AVCOL_SPC_SMPTE170M, _AVCOL_RANGE_MPEG
        cc.options = {"crf": "18", "preset": "veryfast"}
        for i, rgb in enumerate(colour_frames(count, width, height, rate, shot_frames)):
            if i == 0:
                cv2.imwrite(str(reference), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            out.mux(stream.encode(gray_frame(rgb, i, tb)))
        out.mux(stream.encode(None))
    part.replace(gray)
    counts = {"frames": count, "shots": -(-count // shot_frames)}
    meta.write_text(json.dumps(counts, indent=2))
    return paths | counts


def child(src: str, dst: str, result: str, reference: str | None, weights: str | None) -> int:
    """One restore in this (fresh) process; its numbers go to ``result`` as JSON."""
    import torch

    from filmcolor.config import GuideConfig, RestoreConfig
    from filmcolor.facade import restore
    from filmcolor.report import RestoreReport

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    guide = GuideConfig((reference,)) if reference else GuideConfig()
    report = restore(src, dst, RestoreConfig(weights=weights, guide=guide))
    assert isinstance(report, RestoreReport)
    out: dict[str, Any] = {
        "frames": report.frames_out,
        "cuts": len(report.cuts),
        "segments": (report.segments or {}).get("count"),
        "fps": report.frames_out / report.seconds["total"],
        "seconds": report.seconds,
        "frames_guided": (report.guide or {}).get("frames_guided"),
        "peak_rss_mb": peak_rss_mb(),
        "cpu_seconds": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
    }
    if cuda:
        out["gpu_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
        out["gpu_reserved_mb"] = torch.cuda.max_memory_reserved() / 2**20
    Path(result).write_text(json.dumps(out, indent=2))
    return 0


def measure(film: dict[str, Any], tmp: Path, guided: bool, weights: str | None) -> dict[str, Any]:
    """Restore ``film`` in a fresh process (this script with ``--child``); its numbers."""
    dst, result = tmp / "out.mp4", tmp / "result.json"
    script = str(Path(__file__).resolve())
    cmd = [sys.executable, script, "--child", film["gray"], str(dst), str(result)]
    if guided:
        cmd += ["--child-reference", film["reference"]]
    if weights:
        cmd += ["--weights", weights]
    t0 = time.perf_counter()
    code = subprocess.run(cmd).returncode
    wall = time.perf_counter() - t0
    if code:
        raise SystemExit(f"restore of {film['gray']} failed (exit {code}); see above")
    run = json.loads(result.read_text())
    dst.unlink(missing_ok=True)
    result.unlink()
    return {"wall_seconds": wall, **run}


def size(text: str) -> tuple[int, int]:
    """``WxH``, both even (the gray films are 4:2:0)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give WIDTHxHEIGHT, e.g. 320x180") from None
    if w < 32 or h < 32 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be even, >= 32")
    return w, h


def print_table(runs: dict[str, dict[str, Any]]) -> None:
    gpu = any("gpu_allocated_mb" in r for r in runs.values())
    print()
    print(
        "| run | frames | shots | cuts found | wall s | CPU s | restore fps | peak RSS MB |"
        + (" GPU alloc / reserved MB |" if gpu else "")
    )
    print("|---|---|---|---|---|---|---|---|" + ("---|" if gpu else ""))
    for label, r in runs.items():
        cells = [
            label,
            str(r["frames"]),
            str(r["shots"]),
            str(r["cuts"]),
            f"{r['wall_seconds']:.0f}",
            f"{r['cpu_seconds']:.0f}",
            f"{r['fps']:.1f}",
            f"{r['peak_rss_mb']:.0f}",
        ]
        if gpu:
            cells.append(f"{r['gpu_allocated_mb']:.0f} / {r['gpu_reserved_mb']:.0f}")
        print("| " + " | ".join(cells) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short-minutes", type=float, default=1.0)
    parser.add_argument("--long-minutes", type=float, default=20.0)
    parser.add_argument("--rate", type=Fraction, default=Fraction(4), help="frames a second")
    parser.add_argument("--size", type=size, default=(320, 180), help="WxH, default 320x180")
    parser.add_argument("--shot-seconds", type=float, default=20.0, help="a cut every N s")
    parser.add_argument("--no-auto", action="store_true", help="skip the automatic restore")
    parser.add_argument(
        "--work", "--cache", type=Path, default=None, help="keep (and reuse) the films here"
    )
    parser.add_argument("--weights", default=None, help="default: the shipped file")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the ratio is over 1.10")
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-reference", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child, args.child_reference, args.weights)
    if args.rate <= 0 or args.shot_seconds <= 0:
        parser.error("--rate and --shot-seconds must be above 0")
    if not 0 < args.short_minutes < args.long_minutes:
        parser.error("give 0 < --short-minutes < --long-minutes")

    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else cpu_name()
    print(
        f"{time.strftime('%Y-%m-%d')}, {device}, {os.cpu_count()} CPU threads, "
        f"torch {torch.__version__}"
    )
    (w, h), rate = args.size, args.rate
    print(
        f"films: {w}x{h} at {rate} fps, a cut every {args.shot_seconds:g} s "
        f"({', '.join(name for name, _ in SCENES)}), reference on frame 0"
    )
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        work = args.work or tmp
        films = {}
        for minutes in (args.short_minutes, args.long_minutes):
            key = f"{minutes:g}min-{w}x{h}-{float(rate):g}fps-cut{args.shot_seconds:g}s"
            t0 = time.perf_counter()
            film = make_film(work / key, minutes, w, h, rate, args.shot_seconds)
            print(f"film {key}: {film['frames']} frames ({time.perf_counter() - t0:.0f} s)")
            films[minutes] = film
        plan = [
            (f"guided, {args.short_minutes:g} min", films[args.short_minutes], True),
            (f"guided, {args.long_minutes:g} min", films[args.long_minutes], True),
        ]
        if not args.no_auto:
            plan.append((f"automatic, {args.long_minutes:g} min", films[args.long_minutes], False))
        runs: dict[str, dict[str, Any]] = {}
        for label, film, guided in plan:
            run = measure(film, tmp, guided, args.weights)
            if run["segments"]:
                label += f" ({run['segments']} segment{'s' if run['segments'] > 1 else ''})"
            runs[label] = {"shots": film["shots"], **run}
            print(f"{label}: {run['wall_seconds']:.0f} s, peak RSS {run['peak_rss_mb']:.0f} MB")

    print_table(runs)
    short, long = (r["peak_rss_mb"] for r in list(runs.values())[:2])
    ratio = long / short
    passed = ratio <= MAX_RATIO
    print()
    print(
        f"peak RSS, guided {args.long_minutes:g} min / {args.short_minutes:g} min: "
        f"{ratio:.3f} (limit {MAX_RATIO:.2f}): " + ("passed" if passed else "FAILED")
    )
    if args.json:
        settings = {
            "size": f"{w}x{h}",
            "rate": str(rate),
            "shot_seconds": args.shot_seconds,
            "scenes": [name for name, _ in SCENES],
            "device": device,
        }
        result = {"settings": settings, "runs": runs, "ratio": ratio, "passed": passed}
        args.json.write_text(json.dumps(result, indent=2))
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
