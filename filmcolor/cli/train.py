"""``filmcolor train``: train or fine-tune the colorization model on your own frames."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from ..config import LossConfig, TrainConfig
from ..errors import EXIT_INTERRUPTED, SettingValueError
from .common import EXIT_CODES_HELP, bounded, console, errors_to_exit_codes, fail, option_error

_TRAIN = TrainConfig()
_LOSS = LossConfig()


@click.command(epilog=EXIT_CODES_HELP)
@click.option(
    "--frames",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder of colour images, gray/ + color/ pairs, videos, or a built corpus.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path(_TRAIN.output),
    show_default=True,
    help="Weights file to write (.safetensors); its checkpoint is OUTPUT with .ckpt.",
)
@click.option(
    "--init",
    default=_TRAIN.init,
    show_default=True,
    help="default (shipped weights), imagenet (pretrained encoder), or a weights/ckpt path.",
)
@click.option(
    "--steps", type=bounded(TrainConfig, "steps"), default=_TRAIN.steps, show_default=True
)
@click.option(
    "--epochs",
    type=bounded(TrainConfig, "epochs"),
    default=None,
    help="Train this many passes over the data instead of --steps.",
)
@click.option(
    "--time-limit",
    type=bounded(TrainConfig, "time_limit"),
    default=None,
    help="Stop after this many minutes (checkpoint and best weights kept).",
)
@click.option(
    "--batch-size",
    type=bounded(TrainConfig, "batch_size"),
    default=_TRAIN.batch_size,
    show_default=True,
)
@click.option(
    "--lr",
    type=bounded(TrainConfig, "lr"),
    default=_TRAIN.lr,
    show_default=True,
    help="Learning rate of the decoder (the encoder's is 10x lower).",
)
@click.option(
    "--encoder-lr-scale",
    type=bounded(TrainConfig, "encoder_lr_scale"),
    default=_TRAIN.encoder_lr_scale,
    show_default=True,
    help="Encoder learning rate as a share of --lr; 0 freezes the pretrained encoder.",
)
@click.option(
    "--size",
    type=bounded(TrainConfig, "size"),
    default=_TRAIN.size,
    show_default=True,
    help="Training crop side in pixels (a multiple of 32).",
)
@click.option(
    "--val-fraction",
    type=bounded(TrainConfig, "val_fraction"),
    default=_TRAIN.val_fraction,
    show_default=True,
    help="Share of pictures (by source picture) held out.",
)
@click.option(
    "--val-every",
    type=bounded(TrainConfig, "val_every"),
    default=_TRAIN.val_every,
    show_default=True,
    help="Validate every N steps.",
)
@click.option(
    "--patience",
    type=bounded(TrainConfig, "patience"),
    default=_TRAIN.patience,
    show_default=True,
    help="Stop after N validations without improvement.",
)
@click.option(
    "--checkpoint-every",
    type=bounded(TrainConfig, "checkpoint_every"),
    default=_TRAIN.checkpoint_every,
    show_default=True,
)
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Write loss curves, a sample grid and metrics here.",
)
@click.option("--device", default=_TRAIN.device, show_default=True)
@click.option(
    "--workers",
    type=bounded(TrainConfig, "workers"),
    default=_TRAIN.workers,
    show_default=True,
    help="Threads that prepare batches ahead of the model.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue from OUTPUT's checkpoint exactly (replacing that run's own files).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace OUTPUT, its checkpoint and report files that exist.",
)
@click.option("--seed", type=bounded(TrainConfig, "seed"), default=_TRAIN.seed, show_default=True)
@click.option(
    "--degrade",
    type=bounded(TrainConfig, "degrade"),
    default=_TRAIN.degrade,
    show_default=True,
    help="Share of inputs given film damage (grain, scratches…).",
)
@click.option(
    "--loss-ab", type=bounded(LossConfig, "ab_l1"), default=_LOSS.ab_l1, show_default=True
)
@click.option(
    "--loss-rebalance",
    type=bounded(LossConfig, "rebalance"),
    default=_LOSS.rebalance,
    show_default=True,
    help="Rarity rebalancing of the colour loss (0 off, 0.5 as Zhang et al. 2016).",
)
@click.option(
    "--loss-saturation",
    type=bounded(LossConfig, "saturation"),
    default=_LOSS.saturation,
    show_default=True,
    help="Per-pixel chroma-magnitude matching (keeps colour from fading to gray).",
)
@click.option(
    "--loss-perceptual",
    type=bounded(LossConfig, "perceptual"),
    default=_LOSS.perceptual,
    show_default=True,
)
@click.option(
    "--loss-colorfulness",
    type=bounded(LossConfig, "colorfulness"),
    default=_LOSS.colorfulness,
    show_default=True,
)
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
def train(
    frames: Path,
    output: Path,
    init: str,
    steps: int,
    epochs: float | None,
    time_limit: float | None,
    batch_size: int,
    lr: float,
    encoder_lr_scale: float,
    size: int,
    val_fraction: float,
    val_every: int,
    patience: int,
    checkpoint_every: int,
    workers: int,
    report_dir: Path | None,
    device: str,
    resume: bool,
    overwrite: bool,
    seed: int,
    degrade: float,
    loss_ab: float,
    loss_rebalance: float,
    loss_saturation: float,
    loss_perceptual: float,
    loss_colorfulness: float,
    quiet: bool,
    verbose: bool,
) -> None:
    """Train or fine-tune the colorization model on your own frames.

    The first Ctrl-C stops after the current step and saves a checkpoint (exit 130);
    run the same command with --resume to continue exactly where it stopped.
    """
    import signal
    import threading

    from ..train.loop import fit

    try:
        config = TrainConfig(
            frames=str(frames),
            output=str(output),
            init=init,
            steps=steps,
            epochs=epochs,
            time_limit=time_limit,
            batch_size=batch_size,
            lr=lr,
            encoder_lr_scale=encoder_lr_scale,
            size=size,
            val_fraction=val_fraction,
            val_every=val_every,
            patience=patience,
            checkpoint_every=checkpoint_every,
            workers=workers,
            report_dir=str(report_dir) if report_dir is not None else None,
            device=device,
            seed=seed,
            degrade=degrade,
            loss=LossConfig(
                ab_l1=loss_ab,
                rebalance=loss_rebalance,
                saturation=loss_saturation,
                perceptual=loss_perceptual,
                colorfulness=loss_colorfulness,
            ),
        )
    except SettingValueError as exc:  # the option is --loss-NAME for a LossConfig field
        loss = {"ab_l1": "loss_ab"}.get(exc.name, f"loss_{exc.name}")
        param = loss if exc.owner == LossConfig.__name__ else exc.name
        fail(str(option_error(exc, train, param)), exc.exit_code)
    stop = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        click.echo("filmcolor: stopping after this step (Ctrl-C again to abort)", err=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        stopped = "interrupted; the last checkpoint is kept: rerun with --resume to continue"
        with errors_to_exit_codes(verbose, stopped), _train_progress(quiet) as progress:
            result = fit(config, resume=resume, overwrite=overwrite, progress=progress, stop=stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    best = result.best_val
    summary = (
        f"{result.stopped}: {result.steps_done} steps in {result.seconds / 60:.1f} min; "
        f"best at step {result.best_step}"
    )
    if best:
        summary += (
            f" (val PSNR {best['psnr']:.2f} dB, colourfulness x{best['colorfulness_ratio']:.2f})"
        )
    click.echo(f"{summary}; weights: {result.output}; checkpoint: {result.checkpoint}", err=True)
    if result.stopped == "interrupted":
        sys.exit(EXIT_INTERRUPTED)


@contextmanager
def _train_progress(quiet: bool) -> Iterator[Callable[[Any], None] | None]:
    if quiet:
        yield None
        return
    stderr = console()
    if not stderr.is_terminal:
        last = [0.0]

        def plain(p: Any) -> None:
            now = time.monotonic()
            if p.val is not None or now - last[0] >= 10 or p.step == p.steps:
                last[0] = now
                val = f", val PSNR {p.val['psnr']:.2f}" if p.val else ""
                rate = f"{p.images_per_second:.1f} img/s"
                click.echo(f"step {p.step}/{p.steps} loss {p.loss:.4f} {rate}{val}", err=True)

        yield plain
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "loss {task.fields[loss]:.4f}  {task.fields[ips]:.1f} img/s  {task.fields[val]}"
        ),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr) as bar:
        task = bar.add_task("train", total=None, loss=0.0, ips=0.0, val="")

        def update(p: Any) -> None:
            fields = {"loss": p.loss, "ips": p.images_per_second}
            if p.val is not None:
                fields["val"] = f"val PSNR {p.val['psnr']:.2f}"
            bar.update(task, completed=p.step, total=p.steps, **fields)

        yield update
