"""``filmcolor train``: train or fine-tune the colorization model on your own frames."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from ..config import FINETUNE_RECIPE, LossConfig, TrainConfig
from ..errors import EXIT_INTERRUPTED, SettingValueError
from .common import EXIT_CODES_HELP, bounded, console, errors_to_exit_codes, fail, option_error
from .options import long_option


def _field_option(owner: type, name: str, *short: str, **overrides: Any) -> Any:
    """The option of a ``TrainConfig``/``LossConfig`` field, from what the field declares
    (help, option name, range, default): declared once, in ``filmcolor.config.train``."""
    f = {x.name: x for x in dataclasses.fields(owner)}[name]
    setting = f.metadata["setting"]
    kwargs: dict[str, Any] = {"help": setting.help, "default": f.default}
    if f.metadata.get("bounds") is not None:
        kwargs["type"] = bounded(owner, name)
    elif setting.path:
        kwargs["type"] = click.Path(path_type=Path)
    elif setting.choices:
        kwargs["type"] = click.Choice(list(setting.choices))
    kwargs["show_default"] = f.default is not None
    kwargs.update(overrides)
    return click.option(*short, long_option(setting.name or name), **kwargs)


@click.command(epilog=EXIT_CODES_HELP)
@_field_option(TrainConfig, "frames", required=True, default=None, show_default=False)
@_field_option(TrainConfig, "output", "-o")
@_field_option(TrainConfig, "init")
@_field_option(TrainConfig, "encoder")
@_field_option(TrainConfig, "head")
@_field_option(TrainConfig, "steps")
@_field_option(TrainConfig, "epochs")
@_field_option(TrainConfig, "time_limit")
@_field_option(TrainConfig, "batch_size")
@_field_option(TrainConfig, "lr")
@_field_option(TrainConfig, "encoder_lr_scale")
@_field_option(TrainConfig, "size")
@_field_option(TrainConfig, "val_fraction")
@_field_option(TrainConfig, "val_every")
@_field_option(TrainConfig, "patience")
@_field_option(TrainConfig, "checkpoint_every")
@_field_option(TrainConfig, "report_dir")
@_field_option(TrainConfig, "device")
@_field_option(TrainConfig, "workers")
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
@_field_option(TrainConfig, "seed")
@_field_option(TrainConfig, "degrade")
@_field_option(LossConfig, "ab_l1")
@_field_option(LossConfig, "rebalance")
@_field_option(LossConfig, "saturation")
@_field_option(LossConfig, "classification")
@_field_option(LossConfig, "perceptual")
@_field_option(LossConfig, "colorfulness")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@click.pass_context
def train(
    ctx: click.Context,
    frames: Path,
    output: Path,
    init: str,
    encoder: str | None,
    head: str | None,
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
    loss_class: float,
    loss_perceptual: float,
    loss_colorfulness: float,
    quiet: bool,
    verbose: bool,
) -> None:
    """Train or fine-tune the colorization model on your own frames.

    Starting from trained weights (--init default, the shipped model, or a weights or
    checkpoint file), the fine-tuning recipe applies unless the option is given: a frozen
    encoder (--encoder-lr-scale 0) and no rarity rebalancing (--loss-rebalance 0).
    The first Ctrl-C stops after the current step and saves a checkpoint (exit 130);
    run the same command with --resume to continue exactly where it stopped.
    """
    import signal
    import threading

    from ..train.loop import fit

    recipe: dict[str, float] = {}
    if init != "imagenet" and not resume:
        recipe = {
            name: value
            for name, value in FINETUNE_RECIPE.items()
            if ctx.get_parameter_source(name) is click.core.ParameterSource.DEFAULT
        }
        encoder_lr_scale = recipe.get("encoder_lr_scale", encoder_lr_scale)
        loss_rebalance = recipe.get("loss_rebalance", loss_rebalance)

    try:
        config = TrainConfig(
            frames=str(frames),
            output=str(output),
            init=init,
            encoder=encoder,
            head=head,
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
                classification=loss_class,
                perceptual=loss_perceptual,
                colorfulness=loss_colorfulness,
            ),
        )
    except SettingValueError as exc:  # the option is --loss-NAME for a LossConfig field
        loss = {"ab_l1": "loss_ab", "classification": "loss_class"}.get(
            exc.name, f"loss_{exc.name}"
        )
        param = loss if exc.owner == LossConfig.__name__ else exc.name
        fail(str(option_error(exc, train, param)), exc.exit_code)
    note = None
    if recipe:
        used = " ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in recipe.items())
        note = (
            f"filmcolor: fine-tuning --init {init} with the fine-tuning recipe ({used}); "
            "give those options to change it"
        )
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
            progress = _with_note(progress, note)
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


def _with_note(
    progress: Callable[[Any], None] | None, note: str | None
) -> Callable[[Any], None] | None:
    """``progress`` that first says ``note`` on stderr, at the first step: once the run has
    started, so that an error before it (bad --init, no pictures) stays a one-line error."""
    if progress is None or note is None:
        return progress
    pending = [note]

    def call(p: Any) -> None:
        if pending:
            click.echo(pending.pop(), err=True)
        progress(p)

    return call


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
