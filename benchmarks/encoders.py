"""CPU speed, size and parameters of the colorization U-Net per encoder (Lite0/1/2) and head.

    python benchmarks/encoders.py [--heads regression classification both] [--render-size 160]
        [--batch 8] [--threads 2] [--runs 5]

The network of each ``ModelConfig.encoder`` and ``--heads`` entry (every other setting at
its default) is built
with random weights (speed does not depend on them), fused for inference as ``filmcolor
restore`` runs it on a CPU (``fuse_for_inference``: BatchNorm folded, channels-last weights)
and timed on a batch of 480p frames at the render size restore uses: a 854x480 frame with
its short side at ``--render-size`` (restore's default 160 gives 160x285), padded to the
model stride (160x288). After ``--warmup`` calls, the encoders take turns for ``--runs``
rounds, so that a change in the machine's load touches them alike; the median call gives
ms per frame (wall time; and CPU time of the process, less sensitive to other work on the
machine). Also printed: multiply-adds per frame (``torch.utils.flop_counter``, independent of
the machine), parameters, and the size of the weights file (fp16 safetensors, as shipped).
A colour-class head's time includes its annealed-mean decode and the upsampling to the render
size.
``--json FILE`` writes the rows.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from filmcolor.config import MODEL_ENCODERS, MODEL_HEADS, ColorizeConfig, ModelConfig
from filmcolor.model.colorizer import render_shape
from filmcolor.model.unet import ColorUNet, fuse_for_inference
from filmcolor.model.weights import save_weights


def _padded(n: int, stride: int) -> int:
    return math.ceil(n / stride) * stride


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--render-size", type=int, default=ColorizeConfig().render_size, help="short side"
    )
    parser.add_argument("--batch", type=int, default=8, help="frames per model call")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--heads", nargs="+", choices=MODEL_HEADS, default=list(MODEL_HEADS))
    parser.add_argument("--encoders", nargs="+", choices=MODEL_ENCODERS, default=MODEL_ENCODERS)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    h, w = render_shape(480, 854, args.render_size)
    models: dict[str, torch.nn.Module] = {}
    rows: dict[str, dict[str, float | int | str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for encoder in args.encoders:
            for head in args.heads:
                torch.manual_seed(0)
                config = ModelConfig(encoder=encoder, head=head)
                model = ColorUNet(config).eval()
                key = f"{encoder.removeprefix('efficientnet_')} {head}"
                path = Path(tmp) / f"{encoder}-{head}.safetensors"
                save_weights(path, model, config, half=True)
                rows[key] = {
                    "encoder": encoder,
                    "head": head,
                    "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
                    "file_mb": path.stat().st_size / 1e6,
                }
                models[key] = fuse_for_inference(model)
    stride = ModelConfig().stride
    shape = (args.batch, 1, _padded(h, stride), _padded(w, stride))
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 100
    times: dict[str, list[float]] = {e: [] for e in models}
    cpu: dict[str, list[float]] = {e: [] for e in models}
    with torch.inference_mode():
        for encoder, model in models.items():
            with FlopCounterMode(display=False) as counter:
                model(x[:1])
            rows[encoder]["gmac_per_frame"] = counter.get_total_flops() / 2e9
            for _ in range(args.warmup):
                model(x)
        for _ in range(args.runs):
            for encoder, model in models.items():
                t, c = time.perf_counter(), time.process_time()
                model(x)
                times[encoder].append(time.perf_counter() - t)
                cpu[encoder].append(time.process_time() - c)

    print(
        f"480p render {h}x{w} (padded {shape[2]}x{shape[3]}), batch {args.batch}, "
        f"{args.threads} threads, torch {torch.__version__}, {platform.machine()}; "
        f"median of {args.runs} after {args.warmup} warm-up calls"
    )
    first = next(iter(models))
    base = statistics.median(times[first])
    print(
        f"{'model':<24}{'ms/frame':>10}{'vs first':>10}{'CPU ms':>10}{'GMAC':>8}"
        f"{'params M':>10}{'fp16 MB':>10}"
    )
    for encoder, row in rows.items():
        median = statistics.median(times[encoder])
        row["ms_per_frame"] = median / args.batch * 1000
        row["spread_ms_per_frame"] = (max(times[encoder]) - min(times[encoder])) / args.batch * 1000
        row["cpu_ms_per_frame"] = statistics.median(cpu[encoder]) / args.batch * 1000
        print(
            f"{encoder:<24}{row['ms_per_frame']:>10.1f}{median / base:>9.2f}x"
            f"{row['cpu_ms_per_frame']:>10.1f}{row['gmac_per_frame']:>8.2f}"
            f"{row['params_m']:>10.2f}{row['file_mb']:>10.1f}"
        )
    if args.json is not None:
        meta = {"render": [h, w], "input": list(shape), "threads": args.threads}
        args.json.write_text(json.dumps({**meta, "rows": list(rows.values())}, indent=2))


if __name__ == "__main__":
    main()
