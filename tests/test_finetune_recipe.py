"""`filmcolor train` from trained weights uses the fine-tuning recipe unless told otherwise,
and says so; `--head` and `--loss-class` reach the training config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import assert_one_line_error

import filmcolor.train.loop as loop
from filmcolor.cli import main
from filmcolor.config import FINETUNE_RECIPE, LossConfig, TrainConfig
from filmcolor.errors import UsageError

NOTE = "with the fine-tuning recipe"


@pytest.fixture()
def captured(monkeypatch: pytest.MonkeyPatch) -> list[TrainConfig]:
    """``fit`` replaced by one that records its config and reports one step."""
    configs: list[TrainConfig] = []

    def fake_fit(config: TrainConfig, **kw: Any) -> loop.TrainResult:
        configs.append(config)
        if kw.get("progress") is not None:
            kw["progress"](loop.TrainProgress(1, 1, 0.5, 10.0, None))
        return loop.TrainResult(config.output, "x.ckpt", 1, "steps", 1, {})

    monkeypatch.setattr(loop, "fit", fake_fit)
    return configs


def _train(tmp_path: Path, *args: str) -> tuple[int, str]:
    argv = ["train", "--frames", str(tmp_path), "-o", str(tmp_path / "o.safetensors"), *args]
    result = CliRunner().invoke(main, argv)
    return result.exit_code, result.stderr


def test_the_recipe_is_a_frozen_encoder_without_rebalancing() -> None:
    assert FINETUNE_RECIPE == {"encoder_lr_scale": 0.0, "loss_rebalance": 0.0}
    # ...which differ from the defaults of a training from ImageNet
    assert TrainConfig().encoder_lr_scale != 0.0 and LossConfig().rebalance != 0.0


@pytest.mark.parametrize("init", ["default", "weights.safetensors"])
def test_fine_tuning_uses_the_recipe_and_says_so(
    tmp_path: Path, captured: list[TrainConfig], init: str
) -> None:
    code, err = _train(tmp_path, "--init", init)
    assert code == 0, err
    (config,) = captured
    assert config.encoder_lr_scale == 0.0 and config.loss.rebalance == 0.0
    (line,) = [ln for ln in err.splitlines() if NOTE in ln]
    assert f"--init {init}" in line
    assert "--encoder-lr-scale 0 --loss-rebalance 0" in line


def test_an_option_given_overrides_its_part_of_the_recipe(
    tmp_path: Path, captured: list[TrainConfig]
) -> None:
    code, err = _train(tmp_path, "--encoder-lr-scale", "0.1")
    assert code == 0, err
    assert captured[0].encoder_lr_scale == 0.1 and captured[0].loss.rebalance == 0.0
    (line,) = [ln for ln in err.splitlines() if NOTE in ln]
    assert "--loss-rebalance 0" in line and "--encoder-lr-scale" not in line
    # both given (even at the recipe's own values): nothing left to say
    code, err = _train(tmp_path, "--encoder-lr-scale", "0.5", "--loss-rebalance", "0.3")
    assert code == 0, err
    assert (captured[1].encoder_lr_scale, captured[1].loss.rebalance) == (0.5, 0.3)
    assert NOTE not in err


def test_no_recipe_from_imagenet_or_on_resume(tmp_path: Path, captured: list[TrainConfig]) -> None:
    defaults = TrainConfig()
    code, err = _train(tmp_path, "--init", "imagenet")
    assert code == 0, err
    assert captured[0].encoder_lr_scale == defaults.encoder_lr_scale
    assert captured[0].loss.rebalance == defaults.loss.rebalance
    assert NOTE not in err
    code, err = _train(tmp_path, "--resume")  # the checkpoint's own config is used
    assert code == 0, err
    assert captured[1].encoder_lr_scale == defaults.encoder_lr_scale
    assert NOTE not in err


def test_quiet_keeps_the_recipe_but_not_the_line(
    tmp_path: Path, captured: list[TrainConfig]
) -> None:
    code, err = _train(tmp_path, "-q")
    assert code == 0, err
    assert captured[0].encoder_lr_scale == 0.0 and NOTE not in err


def test_an_error_before_the_first_step_stays_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_fit(config: TrainConfig, **kw: Any) -> loop.TrainResult:
        raise UsageError("--init x.safetensors: not found; pass a weights file")

    monkeypatch.setattr(loop, "fit", failing_fit)
    code, err = _train(tmp_path)
    assert code == 2
    assert_one_line_error(err, "not found")
    code, err = _train(tmp_path, "--epochs", "nan")  # a bad value too
    assert code == 2
    assert_one_line_error(err, "--epochs nan")


def test_head_and_class_loss_options(tmp_path: Path, captured: list[TrainConfig]) -> None:
    code, err = _train(tmp_path, "--head", "classification", "--loss-class", "0.5")
    assert code == 0, err
    assert captured[0].head == "classification" and captured[0].loss.classification == 0.5
    code, _ = _train(tmp_path)
    assert captured[1].head is None  # the --init model's own
    assert captured[1].loss.classification == LossConfig().classification
    code, err = _train(tmp_path, "--head", "softmax")
    assert code == 2 and "softmax" in err
    code, err = _train(tmp_path, "--loss-class", "-1")
    assert code == 2
    assert_one_line_error(err, "--loss-class -1")
