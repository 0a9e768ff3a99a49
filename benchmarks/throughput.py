"""Throughput and memory of ``filmcolor restore`` against a plain transcode, on real content.

    python benchmarks/throughput.py [--sizes 480 1080] [--long-minutes 20] [--json out.json]

The clip is ``samples/city-gray.mp4`` (real footage, CC0, 190 frames at 25 fps), scaled to
each height (854x480, 1920x1080) and written as gray H.264 (crf 18) first. For each size, in
separate processes (so each peak RSS is its own):

- **transcode**: decode → encode with filmcolor's default encoder settings (libx264, crf 18,
  preset medium, yuv420p, the encoder's own threads), nothing else: the ceiling;
- **restore**: ``filmcolor.restore`` with the default settings (temporal smoothing on, the
  device's default keyframe interval, default encoder), and, for context, with
  ``--keyframe-interval 1``.

Prints per-stage fps (frames / seconds spent in the stage: decode, model — which includes
the temporal smoothing — compose, encode; the stages overlap on threads), end-to-end fps,
peak RSS, peak GPU memory (allocated and reserved, CUDA only) and the ratio of restore fps to
the transcode's. ``--long-minutes N`` also restores an N-minute 480p film (the clip looped)
and a 1-minute one, and compares their peak RSS (memory must not grow with length).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import torch

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "city-gray.mp4"
SIZES = {480: (854, 480), 1080: (1920, 1080)}


def make_clip(dst: Path, width: int, height: int, seconds: float | None = None) -> int:
    """The sample scaled to ``width``×``height`` as gray H.264 (looped to ``seconds`` if
    given); returns the frame count."""
    with av.open(str(SAMPLE)) as inp:
        stream = inp.streams.video[0]
        frames = [
            f.reformat(width, height, "yuv420p", interpolation="BICUBIC")
            for f in inp.decode(stream)
        ]
        rate = stream.average_rate or Fraction(25)
    count = len(frames) if seconds is None else round(seconds * rate)
    tb = 1 / rate
    with av.open(str(dst), "w") as out:
        v = out.add_stream("libx264", rate=rate, options={"crf": "18", "preset": "veryfast"})
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.time_base = tb
        for i in range(count):
            frame = frames[i % len(frames)]
            frame.pts = i
            frame.time_base = tb
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return count


def transcode(src: Path, dst: Path) -> dict[str, Any]:
    """Decode → encode with filmcolor's default encoder settings; the plain ceiling."""
    t0 = time.perf_counter()
    n = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        v = out.add_stream(
            "libx264", rate=vin.average_rate, options={"crf": "18", "preset": "medium"}
        )
        v.width, v.height, v.pix_fmt = vin.width, vin.height, "yuv420p"
        v.time_base = vin.time_base
        v.codec_context.thread_type = "AUTO"
        for frame in inp.decode(vin):
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(v.encode(frame))
            n += 1
        out.mux(v.encode(None))
    total = time.perf_counter() - t0
    return {"frames": n, "fps": n / total, "seconds": {"total": total}}


def restore_run(src: Path, dst: Path, keyframe_interval: int | None) -> dict[str, Any]:
    from filmcolor.config import RestoreConfig, TemporalConfig
    from filmcolor.facade import restore
    from filmcolor.report import RestoreReport

    temporal = (
        TemporalConfig()
        if keyframe_interval is None
        else TemporalConfig(keyframe_interval=keyframe_interval)
    )
    report = restore(src, dst, RestoreConfig(temporal=temporal))
    assert isinstance(report, RestoreReport)
    n = report.frames_out
    stages = {k: n / v for k, v in report.seconds.items() if k != "total" and v > 0}
    return {
        "frames": n,
        "fps": n / report.seconds["total"],
        "stage_fps": stages,
        "frames_model": report.frames_model,
        "keyframe_interval": report.settings["temporal"]["keyframe_interval"],
        "seconds": report.seconds,
    }


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB.

    Linux: ``VmHWM`` of ``/proc/self/status``, which starts afresh with the new address space
    of an exec'd process; ``ru_maxrss`` would not: it keeps the high-water mark of the parent
    that forked the spawned child (the first version of this script reported the parent's).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, src: str, dst: str, k: int | None, queue: mp.Queue) -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = (
        transcode(Path(src), Path(dst))
        if kind == "transcode"
        else restore_run(Path(src), Path(dst), k)
    )
    result["peak_rss_mb"] = peak_rss_mb()
    if torch.cuda.is_available():
        result["gpu_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
        result["gpu_reserved_mb"] = torch.cuda.max_memory_reserved() / 2**20
    queue.put(result)


def measure(kind: str, src: Path, dst: Path, k: int | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh process (spawned: its peak RSS is its own)."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(kind, str(src), str(dst), k, queue))
    proc.start()
    result = queue.get()
    proc.join()
    dst.unlink(missing_ok=True)
    return result


def cpu_name() -> str:
    """The CPU's model name (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[480, 1080], choices=sorted(SIZES))
    parser.add_argument("--long-minutes", type=float, default=0.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else cpu_name()
    print(
        f"{time.strftime('%Y-%m-%d')}, {device}, {mp.cpu_count()} CPU threads, "
        f"torch {torch.__version__}"
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for size in args.sizes:
            w, h = SIZES[size]
            src = tmp / f"city{size}.mp4"
            make_clip(src, w, h)
            runs = {
                "transcode": measure("transcode", src, tmp / "t.mp4"),
                "restore (defaults)": measure("restore", src, tmp / "r.mp4"),
                "restore, keyframe interval 1": measure("restore", src, tmp / "r1.mp4", 1),
            }
            results[f"{w}x{h}"] = runs
        if args.long_minutes:
            w, h = SIZES[480]
            memory = {}
            for minutes in (1.0, args.long_minutes):
                src = tmp / f"long{minutes}.mp4"
                frames = make_clip(src, w, h, seconds=60 * minutes)
                run = measure("restore", src, tmp / "l.mp4")
                src.unlink()
                memory[f"{minutes:g} min"] = {"frames": frames, **run}
            results["memory, 480p"] = memory

    print()
    print(
        "| size | run | end-to-end fps | decode | model + smoothing | compose | encode | "
        "peak RSS MB | GPU alloc / reserved MB | × transcode |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size, runs in results.items():
        if size.startswith("memory"):
            continue
        base = runs["transcode"]["fps"]
        for label, r in runs.items():
            st = r.get("stage_fps", {})
            gpu = (
                f"{r['gpu_allocated_mb']:.0f} / {r['gpu_reserved_mb']:.0f}"
                if "gpu_allocated_mb" in r
                else "—"
            )
            cells = [
                f"{st[k]:.0f}" if k in st else "—" for k in ("decode", "model", "compose", "encode")
            ]
            if label == "transcode":
                cells = ["—"] * 4
            k = f" (K = {r['keyframe_interval']})" if "keyframe_interval" in r else ""
            print(
                f"| {size} | {label}{k} | {r['fps']:.1f} | "
                + " | ".join(cells)
                + f" | {r['peak_rss_mb']:.0f} | {gpu} | {r['fps'] / base:.2f} |"
            )
    if "memory, 480p" in results:
        print()
        mem = results["memory, 480p"]
        for label, r in mem.items():
            print(
                f"{label} ({r['frames']} frames): peak RSS {r['peak_rss_mb']:.0f} MB, "
                f"{r['fps']:.1f} fps"
            )
        a, b = (r["peak_rss_mb"] for r in mem.values())
        print(f"peak RSS, long / short: {b / a:.3f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
