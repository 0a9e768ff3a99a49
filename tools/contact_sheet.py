"""Contact sheet of a corpus split: gray | filmcolor | truth, for the docs.

    python tools/contact_sheet.py --corpus corpus --split val -o docs/contact-sheet.jpg

The photos are not picked by hand: the sheet takes ``--count`` photos evenly spaced through
the split (sorted by file name). Each is made gray (BT.601 luma, as
``benchmarks/eval_model.py`` does), colorized through ``filmcolor.restore`` at full resolution
with the given weights (default: the shipped ones), and shown beside its gray input and its
colour original, two triples per row.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from filmcolor.config import ColorizeConfig, RestoreConfig
from filmcolor.metrics import read_rgb
from filmcolor.model.colorizer import Colorizer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from eval_model import colorize_gray  # gray exactly as the benchmark makes it

HEIGHT = 180  # pixels per tile
GAP = 6


def tile(rgb: np.ndarray, width: int) -> np.ndarray:
    """``rgb`` scaled into a ``HEIGHT`` × ``width`` box, centred on white."""
    h, w = rgb.shape[:2]
    scale = min(HEIGHT / h, width / w)
    small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    out = np.full((HEIGHT, width, 3), 255, np.uint8)
    y, x = (HEIGHT - small.shape[0]) // 2, (width - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped file")
    parser.add_argument("--vividness", type=float, default=ColorizeConfig().vividness)
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()

    manifest = json.loads((args.corpus / "manifest.json").read_text())["images"]
    files = sorted(e["file"] for e in manifest if e["split"] == args.split)
    if len(files) < args.count:
        parser.error(f"split {args.split!r} has {len(files)} photos, fewer than --count")
    picks = [files[round(i)] for i in np.linspace(0, len(files) - 1, args.count)]
    config = RestoreConfig(
        weights=str(args.weights) if args.weights else None,
        colorize=ColorizeConfig(device="cpu", vividness=args.vividness),
    )
    colorizer = Colorizer(config.weights, config.colorize)
    width = round(HEIGHT * 4 / 3)
    triples = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, name in enumerate(picks):
            truth = read_rgb(args.corpus / name)
            gray, ours = colorize_gray(truth, config, colorizer, Path(tmp), str(k))
            parts = [tile(np.dstack([gray] * 3), width), tile(ours, width), tile(truth, width)]
            gap = np.full((HEIGHT, GAP, 3), 255, np.uint8)
            triples.append(np.hstack([parts[0], gap, parts[1], gap, parts[2]]))
    rows = []
    for i in range(0, len(triples), 2):
        pair = triples[i : i + 2]
        if len(pair) == 1:
            pair.append(np.full_like(pair[0], 255))
        rows.append(np.hstack([pair[0], np.full((HEIGHT, 4 * GAP, 3), 255, np.uint8), pair[1]]))
        rows.append(np.full((GAP, rows[-1].shape[1], 3), 255, np.uint8))
    sheet = np.vstack(rows[:-1])
    cv2.imwrite(
        str(args.output), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
    )
    print(f"{args.output}: {len(picks)} photos of split {args.split}: " + ", ".join(picks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
