"""``fit()``: train or fine-tune the colorization U-Net, validate, stop early, checkpoint.

Checkpoints (``OUT.ckpt`` beside the output) hold the model, optimiser and scheduler states,
the step, the best validation result and the ``TrainConfig`` as plain tensors and lists:
they are written with ``torch.save`` and read back with ``torch.load(weights_only=True)``, so
loading one cannot run code. Batches are a pure function of (seed, step) (see ``data.py``),
so a resumed run continues exactly where the interrupted one stopped.

A run never replaces a file it did not make without being told: OUTPUT, its checkpoint and
the report files must not exist unless ``overwrite``; ``resume`` continues its own run and
replaces its own OUTPUT, checkpoint and (in the checkpoint's report folder) report files.
Every file is written beside its target and renamed into place.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import os
import pickle
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_output
from ..color import lab_to_rgb
from ..config import MODEL_ENCODER_NAMES, ModelConfig, TrainConfig
from ..errors import UsageError, WeightsError
from ..metrics import colorfulness_batch, psnr_batch
from ..model.colorizer import resolve_device
from ..model.unet import ColorUNet, load_imagenet_encoder
from ..model.weights import (
    default_weights_path,
    expected_shapes,
    load_weights,
    non_finite,
    save_weights,
    shape_problems,
)
from . import data
from .losses import ColorLoss
from .report import REPORT_FILES, evaluating, write_report

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "filmcolor-checkpoint-1"


@dataclass(frozen=True, slots=True)
class TrainProgress:
    """Sent to the progress callback after every step."""

    step: int
    steps: int
    loss: float
    images_per_second: float
    val: dict[str, float] | None = None


@dataclass(slots=True)
class TrainResult:
    """What ``fit`` did: where it wrote, how far it got, and why it stopped."""

    output: str
    checkpoint: str
    steps_done: int
    stopped: str
    best_step: int
    best_val: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    train_items: int = 0
    val_items: int = 0


def checkpoint_path(output: str | os.PathLike[str]) -> Path:
    """The checkpoint that goes with an output weights file (``OUT.ckpt``)."""
    return Path(output).with_suffix(".ckpt")


def _check_encoder(config: ModelConfig, encoder: str | None, source: str, todo: str) -> None:
    """``UsageError`` when ``encoder`` (a short name, ``None``: any) is not ``config``'s."""
    if encoder is None or MODEL_ENCODER_NAMES[encoder] == config.encoder:
        return
    own = config.encoder.removeprefix("efficientnet_")
    raise UsageError(f"--encoder {encoder} does not match {source}, a {own} model; {todo}")


def _initial_model(
    init: str, model_config: ModelConfig, encoder: str | None = None, head: str | None = None
) -> ColorUNet:
    """The model a run starts from: ``model_config`` with ImageNet encoder tensors for
    ``init == "imagenet"`` (``encoder``, a short name, replacing its encoder), else the model
    of the weights file or checkpoint ``init`` names, whose encoder ``encoder`` must match."""
    if init == "imagenet":
        if encoder is not None:
            model_config = dataclasses.replace(model_config, encoder=MODEL_ENCODER_NAMES[encoder])
        if head is not None:
            model_config = dataclasses.replace(model_config, head=head)
        model = ColorUNet(model_config)
        load_imagenet_encoder(model)
        return model
    path = default_weights_path() if init == "default" else Path(init)
    if init == "default" and not path.exists():
        raise WeightsError(
            f"{path}: the shipped weights are missing, so --init default cannot start from "
            "them; use --init imagenet"
        )
    if path.suffix == ".ckpt":
        todo = "pass a filmcolor .ckpt or .safetensors file to --init"
        state = _read_checkpoint(path, todo)
        model = _checkpoint_model(path, state, _checkpoint_config(path, state, todo).model, todo)
    else:
        model, _, _ = load_weights(path)
    todo = f"fine-tuning keeps the model's encoder: drop --encoder, or train a {encoder} model "
    _check_encoder(model.config, encoder, f"--init {init}", todo + "from --init imagenet")
    return model if head is None else with_head(model, head)


def with_head(model: ColorUNet, head: str) -> ColorUNet:
    """``model`` with colour head ``head`` (``MODEL_HEADS``): ``model`` itself when it has it,
    else a new model of that head holding every tensor of ``model`` that fits it by name and
    shape (encoder, decoder, a head both have); the new head's tensors start untrained."""
    if model.config.head == head:
        return model
    new = ColorUNet(dataclasses.replace(model.config, head=head))
    target = new.state_dict()
    kept = {
        k: v for k, v in model.state_dict().items() if k in target and v.shape == target[k].shape
    }
    new.load_state_dict(kept, strict=False)
    return new


def _read_checkpoint(path: Path, todo: str) -> dict[str, Any]:
    """The checkpoint at ``path`` as plain values and tensors, or ``WeightsError`` ending in
    ``todo``. torch's own error text is not passed on: it advises ``weights_only=False``,
    which would run whatever code the file holds."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. pickle protocol notes, on stderr
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        what = (
            "it holds Python objects, and filmcolor loads only tensors and plain values"
            if "Unsupported global" in str(exc)
            else "damaged, or not a PyTorch file"
        )
        raise WeightsError(f"{path}: not a filmcolor checkpoint ({what}); {todo}") from None
    except Exception:  # EOFError, a damaged zip (RuntimeError), a folder (OSError) ...
        raise WeightsError(
            f"{path}: not a filmcolor checkpoint (damaged, truncated or another format); {todo}"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise WeightsError(f"{path}: not a filmcolor checkpoint; {todo}")
    return state


def _checkpoint_config(path: Path, state: dict[str, Any], todo: str) -> TrainConfig:
    """The run's config stored in a checkpoint, its model config within bounds and buildable."""
    try:
        config = TrainConfig.from_dict(state["config"])
        expected_shapes(config.model)  # a config the network cannot take fails here, cheaply
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        problem = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise WeightsError(
            f"{path}: the checkpoint's config does not parse ({problem[:200]}); {todo}"
        ) from None
    return config


def _checkpoint_model(
    path: Path, state: dict[str, Any], config: ModelConfig, todo: str
) -> ColorUNet:
    """The model of a checkpoint: its tensors checked against ``config``'s shapes (found
    without allocating) and for NaN/inf before the network is built."""
    tensors = state.get("model")
    if not isinstance(tensors, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()
    ):
        raise WeightsError(f"{path}: not a filmcolor checkpoint (no model tensors); {todo}")
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    problems = shape_problems(expected_shapes(config), found)
    if problems:
        raise WeightsError(
            f"{path}: the model tensors do not fit the checkpoint's config "
            f"({'; '.join(problems)}); {todo}"
        )
    broken = non_finite(tensors)
    if broken:
        shown = ", ".join(broken[:5]) + (f" (+{len(broken) - 5} more)" if len(broken) > 5 else "")
        raise WeightsError(f"{path}: model tensors hold NaN or infinite values ({shown}); {todo}")
    model = ColorUNet(config)
    model.load_state_dict(tensors)
    return model


def _check_outputs(
    output: Path,
    ckpt: Path,
    report_dir: Path | None,
    *,
    overwrite: bool,
    resuming: bool = False,
    own_report_dir: Path | None = None,
) -> None:
    """``UsageError`` before anything is trained if the run would replace a file it did not
    make: OUTPUT, its checkpoint or a report file (in ``report_dir``) exists and ``overwrite``
    is off. A resumed run's OUTPUT and checkpoint are its own, and so are the report files in
    ``own_report_dir`` (the folder its checkpoint names)."""
    for path in (output, ckpt):
        if path.is_dir():
            raise UsageError(f"{path}: is a folder; give the weights a file name")
    if report_dir is not None and report_dir.exists() and not report_dir.is_dir():
        raise UsageError(f"{report_dir}: --report-dir names a file; give a folder")
    if overwrite:
        return
    taken = [] if resuming else [p for p in (output, ckpt) if os.path.lexists(p)]
    own = (
        resuming
        and report_dir is not None
        and own_report_dir is not None
        and report_dir.resolve() == own_report_dir.resolve()
    )
    if report_dir is not None and not own:
        taken += [report_dir / n for n in REPORT_FILES if os.path.lexists(report_dir / n)]
    if taken:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        resume = ", or --resume to continue its run" if ckpt in taken else ""
        raise UsageError(
            f"{taken[0]}: already exists{more}; pass --overwrite to replace it{resume}"
        )


def _optimizer(model: ColorUNet, cfg: TrainConfig) -> torch.optim.Optimizer:
    enc = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    return torch.optim.AdamW(
        [
            {"params": enc, "lr": cfg.lr * cfg.encoder_lr_scale},
            {"params": rest, "lr": cfg.lr},
        ],
        weight_decay=cfg.weight_decay,
    )


def _schedule(cfg: TrainConfig, total: int) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to 5 % of the learning rate."""

    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        t = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return factor


@torch.no_grad()
def validate(
    model: ColorUNet, batches: list[data.Batch], loss_fn: ColorLoss, device: torch.device
) -> dict[str, float]:
    """Mean loss, PSNR and colorfulness ratio of ``model`` on the validation batches."""
    n, loss_sum, psnr_sum, cf_pred, cf_true = 0, 0.0, 0.0, 0.0, 0.0

    for batch in batches:
        b = batch.to(device)
        with evaluating(model):
            ab_reg, logits = model.forward_train(b.L_in)
            ab = model.decode(logits, b.ab.shape[-2:]) if logits is not None else ab_reg
        assert ab is not None
        loss, _ = loss_fn(ab_reg, logits, b.ab, b.L, b.rgb)
        rgb = lab_to_rgb(torch.cat((b.L, ab), dim=1))
        k = b.L.shape[0]
        n += k
        loss_sum += float(loss) * k
        psnr_sum += float(psnr_batch(rgb, b.rgb).sum())
        cf_pred += float(colorfulness_batch(rgb).sum())
        cf_true += float(colorfulness_batch(b.rgb).sum())
    return {
        "loss": loss_sum / n,
        "psnr": psnr_sum / n,
        "colorfulness_ratio": cf_pred / max(cf_true, 1e-6),
    }


def fit(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[TrainProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train as ``cfg`` says; write the best weights to ``cfg.output`` (safetensors, fp16).

    Setting ``stop`` (the CLI does on Ctrl-C) ends the run after the current step with a
    checkpoint, so the same call with ``resume=True`` continues it exactly. Without
    ``overwrite``, an existing OUTPUT, checkpoint or report file is a ``UsageError`` (a
    resumed run replaces its own); with it, ``--init`` weights that are OUTPUT or its
    checkpoint are read whole before anything is written.
    """
    t_start = time.perf_counter()
    device = resolve_device(cfg.device)
    output = Path(cfg.output)
    if output.suffix != ".safetensors":
        raise UsageError(f"{output}: the output must be a .safetensors file")
    if not output.parent.is_dir():
        raise UsageError(f"{output.parent}: output folder does not exist; create it first")
    ckpt = checkpoint_path(output)
    report_dir = Path(cfg.report_dir) if cfg.report_dir else None
    state: dict[str, Any] | None = None
    if resume:
        if not ckpt.is_file():
            raise UsageError(f"{ckpt}: no checkpoint to resume; run without --resume")
        todo = "start afresh without --resume (and with --overwrite to replace it)"
        state = _read_checkpoint(ckpt, todo)
        saved = _checkpoint_config(ckpt, state, todo)
        _check_encoder(saved.model, cfg.encoder, f"the checkpoint {ckpt}", "drop --encoder")
        own = Path(saved.report_dir) if saved.report_dir else None
        _check_outputs(
            output, ckpt, report_dir, overwrite=overwrite, resuming=True, own_report_dir=own
        )
        model = _checkpoint_model(ckpt, state, saved.model, todo)
        # The run's shape comes from the checkpoint; only where it runs may change.
        cfg = dataclasses.replace(saved, device=cfg.device, report_dir=cfg.report_dir)
    else:
        _check_outputs(output, ckpt, report_dir, overwrite=overwrite)
        # before the pictures are read, so that a wrong --init or --encoder fails at once
        model = _initial_model(cfg.init, cfg.model, cfg.encoder, cfg.head)
        cfg = dataclasses.replace(cfg, model=model.config)

    items = data.discover(Path(cfg.frames), cfg.frames_per_shot)
    train_items, val_items = data.split_items(items, cfg.val_fraction, cfg.seed)
    if not train_items:
        raise UsageError(f"{cfg.frames}: every picture went to validation; lower --val-fraction")
    cache = data.load_pictures(train_items + val_items, cfg.cache_side)
    val = data.val_batches(cache, val_items, batch_size=cfg.batch_size, size=cfg.size)

    total = cfg.steps
    if cfg.epochs is not None:
        total = max(1, round(cfg.epochs * len(train_items) / cfg.batch_size))

    model.to(device).train()
    if cfg.encoder_lr_scale == 0:
        model.encoder.requires_grad_(False)
        model.encoder.eval()  # frozen BatchNorm statistics too
    sample = data.ab_sample([cache[i.key] for i in train_items])
    palette = model.ab_palette.detach().cpu() if model.classification else None
    loss_fn = ColorLoss(cfg.loss, sample, palette, regression=model.regression).to(device)
    opt = _optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, total))
    step, best_step, bad = 0, -1, 0
    best: dict[str, float] = {}
    history: list[dict[str, Any]] = []
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, best_step, bad = int(state["step"]), int(state["best_step"]), int(state["bad"])
        best = dict(state["best"])
        history = list(state["history"])

    use_amp = device.type == "cuda"
    if use_amp:
        torch.backends.cudnn.benchmark = True  # fixed crop size: pick the fastest kernels once
    stop = stop or threading.Event()

    def make(s: int) -> data.Batch:
        return data.train_batch(
            cache,
            train_items,
            s,
            seed=cfg.seed,
            batch_size=cfg.batch_size,
            size=cfg.size,
            degrade=cfg.degrade,
        )

    def save_checkpoint() -> None:
        payload = {
            "format": CHECKPOINT_FORMAT,
            "config": _plain(cfg.to_dict()),
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "step": step,
            "best_step": best_step,
            "bad": bad,
            "best": best,
            "history": history,
        }
        with atomic_output(ckpt, overwrite=True) as tmp:
            torch.save(payload, tmp)

    def save_best() -> None:
        meta = {
            "trained_steps": str(step),
            "val_psnr": f"{best.get('psnr', float('nan')):.3f}",
            "init": cfg.init,
        }
        save_weights(output, model, model.config, metadata=meta, half=True)

    def _record_final_validation() -> None:
        nonlocal best, best_step
        result = validate(model, val, loss_fn, device)
        history[-1]["val"] = result
        if not best or result["loss"] < best["loss"]:
            best, best_step = result, step
            save_best()

    stopped = "steps"
    # Batches are a pure function of the step, so several threads can build the next ones
    # ahead of time without changing what the run sees.
    ahead = max(1, cfg.workers)
    pool = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="filmcolor-batches")
    pending: collections.deque[Future[data.Batch]] = collections.deque(
        pool.submit(make, s) for s in range(step, min(total, step + ahead))
    )
    window: list[float] = []
    try:
        deadline = t_start + cfg.time_limit * 60 if cfg.time_limit else None
        while step < total:
            if stop.is_set():
                stopped = "interrupted"
                break
            if deadline is not None and time.perf_counter() > deadline:
                stopped = "time_limit"
                break
            t = time.perf_counter()
            batch = pending.popleft().result().to(device)
            if step + ahead < total:
                pending.append(pool.submit(make, step + ahead))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                ab, logits = model.forward_train(batch.L_in)
            if ab is not None:
                ab = ab.float()
            loss, parts = loss_fn(ab, logits, batch.ab, batch.L, batch.rgb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            step += 1
            window = [*window, cfg.batch_size / (time.perf_counter() - t)][-20:]
            row: dict[str, Any] = {"step": step, "loss": float(loss.detach()), **parts}
            val_result = None
            last = step == total
            if val and (step % cfg.val_every == 0 or last):
                val_result = validate(model, val, loss_fn, device)
                row["val"] = val_result
                if not best or val_result["loss"] < best["loss"]:
                    best, best_step, bad = val_result, step, 0
                    save_best()
                else:
                    bad += 1
            history.append(row)
            if progress is not None:
                ips = sum(window) / len(window)
                progress(TrainProgress(step, total, row["loss"], ips, val_result))
            if step % cfg.checkpoint_every == 0 or last:
                save_checkpoint()
            if val_result is not None and cfg.report_dir:
                write_report(Path(cfg.report_dir), history, model, val, device)
            if val and bad >= cfg.patience:
                stopped = "early_stopping"
                break
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
        if stopped in ("interrupted", "time_limit"):
            save_checkpoint()
    if stopped == "time_limit" and val and history and "val" not in history[-1]:
        _record_final_validation()
    if not val:  # nothing to select on: the last weights are the result
        best_step = step
        save_best()
    if cfg.report_dir:
        write_report(Path(cfg.report_dir), history, model, val, device, final=True)
    return TrainResult(
        output=str(output),
        checkpoint=str(ckpt),
        steps_done=step,
        stopped=stopped,
        best_step=best_step,
        best_val=best,
        history=history,
        seconds=time.perf_counter() - t_start,
        train_items=len(train_items),
        val_items=len(val_items),
    )


def _plain(value: Any) -> Any:
    """Config values as lists/dicts/str/numbers only, loadable with ``weights_only=True``."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
