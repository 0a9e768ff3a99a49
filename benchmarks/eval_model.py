"""Colour quality of a weights file on a split of the corpus, against two baselines.

    python benchmarks/eval_model.py --corpus /path/to/corpus [--split val] [--weights W]
        [--vividness V] [--saturation S] [--json out.json]

``--split``: ``val`` (the first 65 validation photos), ``val2`` (the validation photos of
the sources added later) or ``tune`` (held out from training for choosing constants such as
the default vividness; never report on it).

Each validation photo is made gray (BT.601 luma, 8-bit PNG, full resolution as in the
corpus), colorized through the default ``restore`` path (``filmcolor.restore`` on the image
file, default render size), read back and compared with the colour original. Baselines:

- gray: ab = 0 (the gray picture itself);
- mean ab per L: for each of 100 L bins, the mean a and b of the training split's pixels
  (what a model that only knows lightness would do).

``--saturation`` is the post-processing chroma factor (``restore --saturation``): a sweep of
it shows how much of the colour error a global saturation change can remove.

Prints PSNR, SSIM, colourfulness (candidate and truth) and two colourfulness errors for each,
as a Markdown table:

- ΔCF: the mean over photos of ``|CF − CF_truth|`` (``filmcolor.metrics``), which a model
  only meets by matching each photo's colourfulness;
- ΔCF of means: ``|mean CF − mean CF_truth|`` over the split, the ΔCF that colorization
  papers tabulate (DDColor, ColorFormer, CT2), which a model meets by matching the split's
  colourfulness on average.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from filmcolor.color import lab_to_rgb, luma_to_L, rgb_to_lab
from filmcolor.config import ColorizeConfig, PostConfig, RestoreConfig
from filmcolor.facade import restore
from filmcolor.metrics import evaluate_pairs, read_rgb
from filmcolor.model.colorizer import Colorizer

BINS = 100


def gray_of(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB → ``(H, W)`` uint8 BT.601 luma."""
    y = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return y.round().clip(0, 255).astype(np.uint8)


def colorize_gray(
    truth: np.ndarray, config: RestoreConfig, colorizer: Colorizer, folder: Path, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """``truth`` ``(H, W, 3)`` uint8 RGB made gray (``gray_of``), written as a PNG in
    ``folder`` and colorized through ``filmcolor.restore``: returns (gray ``(H, W)``, the
    restored ``(H, W, 3)`` RGB)."""
    gray = gray_of(truth)
    src, dst = folder / f"{name}-in.png", folder / f"{name}-out.png"
    cv2.imwrite(str(src), gray)
    restore(src, dst, config, colorizer=colorizer)
    return gray, read_rgb(dst)


def mean_ab_table(paths: list[Path]) -> torch.Tensor:
    """``(BINS, 2)`` mean Lab ab of the pixels in each L bin, over ``paths``."""
    sums = torch.zeros(BINS, 2, dtype=torch.float64)
    counts = torch.zeros(BINS, dtype=torch.float64)
    for path in paths:
        pixels = read_rgb(path)
        rgb = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255
        lab = rgb_to_lab(rgb).flatten(1)
        L = luma_to_L(torch.from_numpy(gray_of(pixels).astype(np.int64)), 8, True)
        idx = (L.flatten() / 100 * BINS).long().clamp(0, BINS - 1)
        sums.index_add_(0, idx, lab[1:].T.double())
        counts.index_add_(0, idx, torch.ones_like(idx, dtype=torch.float64))
    return (sums / counts.clamp(min=1).unsqueeze(1)).float()


def baseline(gray: np.ndarray, table: torch.Tensor | None) -> np.ndarray:
    L = luma_to_L(torch.from_numpy(gray.astype(np.int64)), 8, True)
    if table is None:
        ab = torch.zeros(2, *L.shape)
    else:
        idx = (L / 100 * BINS).long().clamp(0, BINS - 1)
        ab = table[idx].permute(2, 0, 1)
    rgb = lab_to_rgb(torch.cat((L.unsqueeze(0), ab)))
    return (rgb.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped file")
    parser.add_argument("--render-size", type=int, default=ColorizeConfig().render_size)
    parser.add_argument("--split", default="val", help="val, val2 or tune")
    parser.add_argument("--vividness", type=float, default=ColorizeConfig().vividness)
    parser.add_argument(
        "--saturation", type=float, default=PostConfig().saturation, help="chroma factor"
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N photos")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    manifest = json.loads((args.corpus / "manifest.json").read_text())["images"]
    val = [args.corpus / e["file"] for e in manifest if e["split"] == args.split]
    if not val:
        parser.error(f"no photos in split {args.split!r} of {args.corpus}")
    train = [args.corpus / e["file"] for e in manifest if e["split"] == "train"]
    if args.limit:
        val = val[: args.limit]
    table = mean_ab_table(train)
    config = RestoreConfig(
        weights=str(args.weights) if args.weights else None,
        colorize=ColorizeConfig(
            device="cpu", render_size=args.render_size, vividness=args.vividness
        ),
        post=PostConfig(saturation=args.saturation),
    )
    colorizer = Colorizer(config.weights, config.colorize)
    truths, ours, grays, means = [], [], [], []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for k, path in enumerate(val):
            truth = read_rgb(path)
            gray, out = colorize_gray(truth, config, colorizer, Path(tmp), str(k))
            truths.append(truth)
            ours.append(out)
            grays.append(baseline(gray, None))
            means.append(baseline(gray, table))
    seconds = time.perf_counter() - t0
    results = {
        "filmcolor": evaluate_pairs(truths, ours),
        "gray (ab = 0)": evaluate_pairs(truths, grays),
        "mean ab per L": evaluate_pairs(truths, means),
    }
    for r in results.values():
        r["delta_mean_colorfulness"] = abs(
            r["colorfulness_candidate"] - r["colorfulness_reference"]
        )
    print(
        f"{len(val)} {args.split} photos, full resolution, {seconds:.1f} s through restore"
        f" (vividness {args.vividness}, saturation {args.saturation})"
    )
    print("| method | PSNR dB | SSIM | colourfulness | truth colourfulness | ΔCF | ΔCF of means |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['colorfulness_candidate']:.2f} "
            f"| {r['colorfulness_reference']:.2f} | {r['delta_colorfulness']:.2f} "
            f"| {r['delta_mean_colorfulness']:.2f} |"
        )
    if args.json:
        summary = {k: {m: v for m, v in r.items() if m != "per_image"} for k, r in results.items()}
        report = {
            "split": args.split,
            "vividness": args.vividness,
            "saturation": args.saturation,
            "photos": len(val),
        }
        report["results"] = summary
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
