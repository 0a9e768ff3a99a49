"""Vividness: the setting (option, TOML key, bounds), what --look does to it, and
benchmarks/eval_model.py's --split, --vividness and --saturation."""

from __future__ import annotations

import dataclasses
import json
import runpy
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import assert_one_line_error
from mediagen import make_image

from filmcolor.cli import main
from filmcolor.config import LOOK_VIVIDNESS, LOOKS, ColorizeConfig, ModelConfig
from filmcolor.model.palette import palette_index
from filmcolor.model.unet import ColorUNet
from filmcolor.model.weights import save_weights
from filmcolor.settings import build_restore_config

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ColorizeConfig().vividness


def test_looks_move_vividness_unless_it_is_given() -> None:
    assert set(LOOK_VIVIDNESS) <= set(LOOKS)
    vivid = build_restore_config({"look": "vivid"}).colorize.vividness
    faded = build_restore_config({"look": "faded"}).colorize.vividness
    natural = build_restore_config({"look": "natural"}).colorize.vividness
    assert build_restore_config({}).colorize.vividness == natural == DEFAULT
    assert faded < DEFAULT < vivid
    assert vivid == pytest.approx(min(1.0, DEFAULT + LOOK_VIVIDNESS["vivid"]))
    assert faded == pytest.approx(max(0.0, DEFAULT + LOOK_VIVIDNESS["faded"]))
    # an explicit value wins over the look, whichever way it goes
    for look in ("vivid", "faded"):
        for value in (0.0, 0.3, 1.0):
            config = build_restore_config({"look": look, "vividness": value})
            assert config.colorize.vividness == value


def test_look_vividness_stays_in_range(monkeypatch: pytest.MonkeyPatch) -> None:
    import filmcolor.settings as settings

    monkeypatch.setattr(settings, "LOOK_VIVIDNESS", {"vivid": 5.0, "faded": -5.0})
    assert build_restore_config({"look": "vivid"}).colorize.vividness == 1.0
    assert build_restore_config({"look": "faded"}).colorize.vividness == 0.0


@pytest.mark.parametrize("command", ["restore", "batch", "preview", "watch"])
def test_vividness_option_on_every_model_command(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "--vividness" in result.output


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan"])
def test_vividness_out_of_range_is_a_one_line_usage_error(tmp_path: Path, value: str) -> None:
    image = tmp_path / "in.png"
    make_image(image, width=48, height=32)
    args = ["restore", str(image), "-o", str(tmp_path / "o.png"), "--vividness", value]
    result = CliRunner().invoke(main, [*args, "--weights", str(tmp_path / "none.safetensors")])
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "--vividness", "must be")


def _class_weights(path: Path) -> Path:
    """A classification model whose every pixel predicts 40 % red, 25 % blue, 20 % green."""
    torch.manual_seed(0)
    config = ModelConfig(head="classification")
    model = ColorUNet(config).eval()
    p = torch.full((len(model.ab_palette),), 0.15 / (len(model.ab_palette) - 3))
    for rgb, share in (((1, 0, 0), 0.4), ((0, 0, 1), 0.25), ((0, 1, 0), 0.2)):
        lab = cv2.cvtColor(np.array([[rgb]], np.float32), cv2.COLOR_RGB2Lab)[0, 0]
        p[palette_index(torch.tensor(lab[1:]).view(1, 2, 1, 1)).item()] = share
    with torch.no_grad():
        model.class_head[1].weight.zero_()
        model.class_head[1].bias.copy_(p.log())
    save_weights(path, model, config, half=False)
    return path


@pytest.fixture(scope="module")
def class_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _class_weights(tmp_path_factory.mktemp("class") / "class.safetensors")


def _chroma(path: Path) -> float:
    bgr = cv2.imread(str(path)).astype(np.float32) / 255
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab)
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


def _restore(tmp_path: Path, weights: Path, *args: str, toml: str | None = None) -> tuple:
    """Restore a gray picture; (the report's vividness, the output's mean chroma)."""
    image = tmp_path / "in.png"
    cv2.imwrite(str(image), np.full((64, 64), 128, np.uint8))
    out, report = tmp_path / "out.png", tmp_path / "report.json"
    argv = ["restore", str(image), "-o", str(out), "--report", str(report), "--overwrite"]
    argv += ["--weights", str(weights), "--device", "cpu", "--render-size", "64", "-q"]
    if toml is not None:
        (tmp_path / "s.toml").write_text(toml)
        argv += ["--config", str(tmp_path / "s.toml")]
    result = CliRunner().invoke(main, [*argv, *args])
    assert result.exit_code == 0, result.stderr
    settings = json.loads(report.read_text())["settings"]
    return settings["colorize"]["vividness"], _chroma(out)


@pytest.mark.slow
def test_vividness_and_looks_change_the_colour_of_a_restore(
    tmp_path: Path, class_weights: Path
) -> None:
    low = _restore(tmp_path, class_weights, "--vividness", "0.1")
    default = _restore(tmp_path, class_weights)
    high = _restore(tmp_path, class_weights, "--vividness", "0.95")
    assert (low[0], default[0], high[0]) == (0.1, DEFAULT, 0.95)
    assert low[1] + 5 < default[1] < high[1] - 5
    # the looks: the vividness they set, and the TOML key; the command line wins over both
    assert _restore(tmp_path, class_weights, "--look", "vivid")[0] > DEFAULT
    assert _restore(tmp_path, class_weights, "--look", "faded")[0] < DEFAULT
    toml = 'look = "vivid"\nvividness = 0.2\n'
    assert _restore(tmp_path, class_weights, toml=toml)[0] == 0.2
    assert _restore(tmp_path, class_weights, "--vividness", "0.7", toml=toml)[0] == 0.7


# --- benchmarks/eval_model.py -------------------------------------------------------------


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    images = []
    for k, split in enumerate(("train", "train", "tune", "val", "val")):
        pic = np.zeros((64, 64, 3), np.uint8)
        pic[:32] = (230, 160, 90)
        pic[32:] = (60, 170, 70)
        pic = np.clip(pic + rng.normal(0, 6, pic.shape), 0, 255).astype(np.uint8)
        name = f"p{k}.png"
        cv2.imwrite(str(tmp_path / name), pic)
        images.append({"file": name, "split": split})
    (tmp_path / "manifest.json").write_text(json.dumps({"images": images}))
    return tmp_path


def _eval_model(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["eval_model.py", *args])
    runpy.run_path(str(ROOT / "benchmarks" / "eval_model.py"), run_name="__main__")


@pytest.mark.slow
def test_eval_model_split_and_vividness(
    corpus: Path, class_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = {}
    for split, vividness in (("tune", "0.1"), ("val", "0.1"), ("val", "0.95")):
        out = tmp_path / f"{split}-{vividness}.json"
        with pytest.raises(SystemExit) as exit_:
            _eval_model(
                monkeypatch,
                *("--corpus", str(corpus), "--weights", str(class_weights)),
                *("--split", split, "--vividness", vividness, "--json", str(out)),
            )
        assert exit_.value.code == 0
        reports[split, vividness] = json.loads(out.read_text())
    assert reports["tune", "0.1"]["photos"] == 1 and reports["tune", "0.1"]["split"] == "tune"
    low, high = reports["val", "0.1"], reports["val", "0.95"]
    assert low["photos"] == high["photos"] == 2 and high["vividness"] == 0.95
    cf = [r["results"]["filmcolor"]["colorfulness_candidate"] for r in (low, high)]
    assert cf[0] < cf[1]
    # baselines do not depend on the model
    assert low["results"]["gray (ab = 0)"] == high["results"]["gray (ab = 0)"]


@pytest.mark.slow
def test_eval_model_saturation_and_the_difference_of_means(
    corpus: Path, class_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = {}
    for saturation in ("0", "1", "1.5"):
        out = tmp_path / f"s{saturation}.json"
        with pytest.raises(SystemExit) as exit_:
            _eval_model(
                monkeypatch,
                *("--corpus", str(corpus), "--weights", str(class_weights), "--split", "val"),
                *("--saturation", saturation, "--json", str(out)),
            )
        assert exit_.value.code == 0
        reports[saturation] = json.loads(out.read_text())
    assert [reports[s]["saturation"] for s in ("0", "1", "1.5")] == [0.0, 1.0, 1.5]
    ours = {s: r["results"]["filmcolor"] for s, r in reports.items()}
    truth = ours["1"]["colorfulness_reference"]
    assert ours["0"]["colorfulness_candidate"] < 1.0  # a chroma factor of 0 is gray
    assert ours["0"]["delta_mean_colorfulness"] == pytest.approx(truth, abs=1.0)
    assert ours["1"]["colorfulness_candidate"] + 1 < ours["1.5"]["colorfulness_candidate"]
    for r in (*ours.values(), reports["1"]["results"]["mean ab per L"]):
        # the papers' ΔCF: the difference of the split's means, never above the per-photo one
        assert r["delta_mean_colorfulness"] == pytest.approx(
            abs(r["colorfulness_candidate"] - r["colorfulness_reference"])
        )
        assert r["delta_mean_colorfulness"] <= r["delta_colorfulness"] + 1e-9


def test_eval_model_refuses_an_empty_split(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        _eval_model(monkeypatch, "--corpus", str(corpus), "--split", "val2")
    assert exit_.value.code == 2
    assert "no photos in split 'val2'" in capsys.readouterr().err


def test_colorize_config_vividness_bounds() -> None:
    assert 0 < DEFAULT < 1
    for bad in (-0.01, 1.01, float("nan")):
        with pytest.raises(ValueError, match="vividness"):
            dataclasses.replace(ColorizeConfig(), vividness=bad)
