"""Throughput and memory of ``filmcolor restore`` against a plain transcode, on real content.

    python benchmarks/throughput.py [--sizes 480 1080] [--long-minutes 20] [--json out.json]
    python benchmarks/throughput.py --sizes 2160 4320 --frames 12 --runs transcode restore
    python benchmarks/throughput.py --sizes 4096x3112 --bits 16 --frames 12
    python benchmarks/throughput.py --input 'scans/reel_%06d.tif'

The clip is ``samples/city-gray.mp4`` (real footage, CC0, 190 frames at 25 fps), scaled to
each size (a height: 854x480, 1920x1080, 3840x2160, 7680x4320; or WIDTHxHEIGHT, e.g. a 4K
scan's 4096x3112) and written first as gray H.264 (crf 18), or with ``--bits 16`` as 16-bit
gray FFV1 (gray16le, lossless: a stand-in for 16-bit scans). ``--frames N`` keeps the first N
frames (the large sizes take long on a CPU). ``--input PATH`` (repeatable) measures the given
files instead: anything ``filmcolor restore`` takes as one film. For each size, in separate
processes (so each peak RSS is its own):

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
``--runs`` picks among ``transcode``, ``restore`` and ``k1`` (the keyframe-interval-1
restore); ``--codec`` sets the restore's encoder (e.g. ``ffv1``, which keeps 16 bits).
``--profile DIR`` runs each restore under ``torch.profiler`` and ``cProfile`` and writes
their tables to ``DIR/<size>-<run>.txt`` (where the time of a stage goes, on a GPU too).
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
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from queue import Empty
from typing import Any

import av
import torch

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "city-gray.mp4"
SIZES = {480: (854, 480), 1080: (1920, 1080), 2160: (3840, 2160), 4320: (7680, 4320)}
RUNS = ("transcode", "restore", "k1")


def parse_size(text: str) -> tuple[int, int]:
    """``480``/``1080``/``2160``/``4320`` (16:9) or ``WIDTHxHEIGHT`` → (width, height)."""
    if text.isdigit() and int(text) in SIZES:
        return SIZES[int(text)]
    w, sep, h = text.lower().partition("x")
    if not (sep and w.isdigit() and h.isdigit()):
        known = ", ".join(map(str, SIZES))
        raise argparse.ArgumentTypeError(f"{text!r}: use one of {known} or WIDTHxHEIGHT")
    return int(w), int(h)


def make_clip(
    dst: Path,
    width: int,
    height: int,
    seconds: float | None = None,
    frames: int | None = None,
    bits: int = 8,
) -> int:
    """The sample scaled to ``width``×``height`` (looped to ``seconds`` if given, cut to
    ``frames`` if given) as gray H.264, or 16-bit gray FFV1 for ``bits`` 16 (``dst`` .mkv);
    returns the frame count. Frames are scaled as they are written: an 8K clip is never
    held whole."""
    with av.open(str(SAMPLE)) as inp:
        stream = inp.streams.video[0]
        source = [f.reformat(format="yuv420p") for f in inp.decode(stream)]
        rate = stream.average_rate or Fraction(25)
    count = len(source) if seconds is None else round(seconds * rate)
    if frames is not None:
        count = min(count, frames)
    tb = 1 / rate
    with av.open(str(dst), "w") as out:
        if bits == 16:
            v = out.add_stream("ffv1", rate=rate, options={"level": "3", "g": "1"})
            v.pix_fmt = "gray16le"
        else:
            v = out.add_stream("libx264", rate=rate, options={"crf": "18", "preset": "veryfast"})
            v.pix_fmt = "yuv420p"
        v.width, v.height = width, height
        v.time_base = tb
        v.codec_context.thread_type = "AUTO"
        for i in range(count):
            frame = source[i % len(source)].reformat(
                width, height, v.pix_fmt, interpolation="BICUBIC"
            )
            frame.pts = i
            frame.time_base = tb
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return count


def transcode(src: Path, dst: Path) -> dict[str, Any]:
    """Decode → encode with filmcolor's default encoder settings (10-bit for a deeper source);
    the plain ceiling."""
    t0 = time.perf_counter()
    n = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        from filmcolor.media.encode import x264_lookahead

        deep = vin.codec_context.format.components[0].bits > 8
        options = {"crf": "18", "preset": "medium"}
        lookahead = x264_lookahead(vin.width, vin.height, 10 if deep else 8, "medium")
        if lookahead is not None:  # as restore does for 4K/8K pictures
            options["rc-lookahead"] = str(lookahead)
        v = out.add_stream("libx264", rate=vin.average_rate, options=options)
        v.width, v.height = vin.width, vin.height
        v.pix_fmt = "yuv420p10le" if deep else "yuv420p"  # what restore writes by default
        v.time_base = vin.time_base
        v.codec_context.thread_type = "AUTO"
        for frame in inp.decode(vin):
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(v.encode(frame))
            n += 1
        out.mux(v.encode(None))
    total = time.perf_counter() - t0
    return {"frames": n, "fps": n / total, "seconds": {"total": total}}


def profiled(run: Callable[[], Any], path: Path) -> Any:
    """``run()`` under ``torch.profiler`` (CPU, and CUDA where there is a GPU) and
    ``cProfile`` (the calling thread, where the stages run); writes both tables to ``path``:
    the operators by their own time on the device (CUDA) or CPU, then the Python functions
    by cumulative time. Returns what ``run`` returns."""
    import cProfile
    import io
    import pstats

    from torch.profiler import ProfilerActivity, profile

    cuda = torch.cuda.is_available()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    python = cProfile.Profile()
    with profile(activities=activities) as prof:
        python.enable()
        try:
            result = run()
        finally:
            python.disable()
    if cuda:
        torch.cuda.synchronize()
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    text = io.StringIO()
    text.write(f"# torch operators by {key}\n\n")
    text.write(prof.key_averages().table(sort_by=key, row_limit=40))
    text.write("\n\n# Python functions of the stage thread by cumulative time\n\n")
    pstats.Stats(python, stream=text).sort_stats("cumulative").print_stats(60)
    path.write_text(text.getvalue())
    return result


def restore_run(
    src: Path,
    dst: Path,
    keyframe_interval: int | None,
    codec: str | None = None,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    from filmcolor.config import EncodeConfig, RestoreConfig, TemporalConfig
    from filmcolor.facade import restore
    from filmcolor.report import RestoreReport

    temporal = (
        TemporalConfig()
        if keyframe_interval is None
        else TemporalConfig(keyframe_interval=keyframe_interval)
    )
    encode = EncodeConfig() if codec is None else EncodeConfig(codec=codec)  # type: ignore[arg-type]
    config = RestoreConfig(temporal=temporal, encode=encode)
    if profile_to is None:
        report = restore(src, dst, config)
    else:
        report = profiled(lambda: restore(src, dst, config), profile_to)
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


def _child(
    kind: str,
    src: str,
    dst: str,
    k: int | None,
    codec: str | None,
    profile_to: str | None,
    queue: mp.Queue,
) -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    prof = Path(profile_to) if profile_to else None
    result = (
        transcode(Path(src), Path(dst))
        if kind == "transcode"
        else restore_run(Path(src), Path(dst), k, codec, prof)
    )
    result["peak_rss_mb"] = peak_rss_mb()
    if torch.cuda.is_available():
        result["gpu_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
        result["gpu_reserved_mb"] = torch.cuda.max_memory_reserved() / 2**20
    queue.put(result)


def measure(
    kind: str,
    src: Path,
    dst: Path,
    k: int | None = None,
    codec: str | None = None,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    """Run one measurement in a fresh process (spawned: its peak RSS is its own); a restore
    with ``profile_to`` runs under the profilers (see ``profiled``)."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    prof = str(profile_to) if profile_to is not None else None
    proc = ctx.Process(target=_child, args=(kind, str(src), str(dst), k, codec, prof, queue))
    proc.start()
    while True:
        try:
            result = queue.get(timeout=5)
            break
        except Empty:
            if not proc.is_alive():  # it failed (its traceback is above): do not wait forever
                msg = f"the {kind} run of {src} failed (exit {proc.exitcode})"
                raise RuntimeError(msg) from None
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
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=[SIZES[480], SIZES[1080]])
    parser.add_argument("--bits", type=int, choices=(8, 16), default=8)
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--input", type=Path, action="append", default=[])
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    parser.add_argument("--codec", default=None, choices=("libx264", "libx265", "prores", "ffv1"))
    parser.add_argument("--long-minutes", type=float, default=0.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="profile each restore run (its fps then include the profilers' cost) into DIR",
    )
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else cpu_name()
    print(
        f"{time.strftime('%Y-%m-%d')}, {device}, {mp.cpu_count()} CPU threads, "
        f"torch {torch.__version__}"
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        out = ".mp4" if args.codec in (None, "libx264", "libx265") else ".mkv"
        inputs: list[tuple[str, Path]] = [(str(path), path) for path in args.input]
        if not args.input:
            for w, h in args.sizes:
                src = tmp / (f"city{w}x{h}.mp4" if args.bits == 8 else f"city{w}x{h}-16.mkv")
                make_clip(src, w, h, frames=args.frames, bits=args.bits)
                label = f"{w}x{h}" + (", 16-bit" if args.bits == 16 else "")
                inputs.append((label, src))
        for label, src in inputs:
            runs = {}
            slug = "".join(c if c.isalnum() else "-" for c in label)

            def prof(run: str, slug: str = slug) -> Path | None:
                return args.profile / f"{slug}-{run}.txt" if args.profile else None

            if "transcode" in args.runs:
                runs["transcode"] = measure("transcode", src, tmp / "t.mp4")
            if "restore" in args.runs:
                runs["restore (defaults)"] = measure(
                    "restore", src, tmp / f"r{out}", codec=args.codec, profile_to=prof("restore")
                )
            if "k1" in args.runs:
                runs["restore, keyframe interval 1"] = measure(
                    "restore", src, tmp / f"r1{out}", 1, args.codec, prof("k1")
                )
            results[label] = runs
            if src.parent == tmp:
                src.unlink()
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
        base = runs["transcode"]["fps"] if "transcode" in runs else None
        for label, r in runs.items():
            st = r.get("stage_fps", {})
            gpu = (
                f"{r['gpu_allocated_mb']:.0f} / {r['gpu_reserved_mb']:.0f}"
                if "gpu_allocated_mb" in r
                else "—"
            )
            cells = [
                (f"{st[k]:.0f}" if st[k] >= 10 else f"{st[k]:.2g}") if k in st else "—"
                for k in ("decode", "model", "compose", "encode")
            ]
            if label == "transcode":
                cells = ["—"] * 4
            k = f" (K = {r['keyframe_interval']})" if "keyframe_interval" in r else ""
            print(
                f"| {size} | {label}{k} | {r['fps']:.1f} | "
                + " | ".join(cells)
                + f" | {r['peak_rss_mb']:.0f} | {gpu} | "
                + (f"{r['fps'] / base:.2f} |" if base else "— |")
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
