"""Hostile or broken weights: bounded configs, shapes checked before allocating, NaN refused.

A weights file is checked from its header before any real tensor is made: the header's size,
the stored ``model_config`` against the ``ModelConfig`` bounds, and the tensors it lists
against the model that config makes (built on the ``meta`` device). Non-finite tensors are
refused at load, and non-finite colour after inference is an error, never a gray picture.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from conftest import TEST_RENDER, assert_one_line_error, make_const_weights
from mediagen import make_image, make_video
from safetensors import safe_open
from safetensors.torch import save_file

import filmcolor.model.weights as weights_module
from filmcolor.cli import main
from filmcolor.config import MODEL_HEADS, ColorizeConfig, ModelConfig
from filmcolor.errors import WeightsError
from filmcolor.model.colorizer import Colorizer
from filmcolor.model.unet import ColorUNet
from filmcolor.model.weights import (
    MAX_HEADER_BYTES,
    default_weights_path,
    expected_shapes,
    load_weights,
    save_weights,
)

FORMAT = {"format": "filmcolor-weights", "format_version": "1"}
#: A regression-head model: its head is the 1x1 conv ``head`` (``ModelConfig()`` has the
#: colour-class head).
REGRESSION = ModelConfig(head="regression")


@pytest.fixture()
def only_meta_models(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail the test if ``load_weights`` builds a real (allocated) model; record the devices
    every model was built on."""
    built: list[str] = []
    real = weights_module.ColorUNet

    def spy(config: ModelConfig) -> ColorUNet:
        device = torch.empty(0).device.type  # the default device at construction
        built.append(device)
        assert device == "meta", f"a real model of {config} was built before any check"
        return real(config)

    monkeypatch.setattr(weights_module, "ColorUNet", spy)
    return built


def _raw_safetensors(path: Path, header: dict[str, Any], data: bytes = b"") -> Path:
    """A safetensors file from a hand-made header (8-byte length, JSON, data)."""
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def _tiny_file(path: Path, model_config: dict[str, Any]) -> Path:
    """About 380 bytes: one small tensor and a model config that asks for anything."""
    meta = {**FORMAT, "model_config": json.dumps(model_config)}
    save_file({"head.bias": torch.zeros(2)}, str(path), metadata=meta)
    return path


def _load_error(path: Path, *needles: str) -> str:
    with pytest.raises(WeightsError) as info:
        load_weights(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message, message
    for needle in needles:
        assert needle in message, message
    return message


def _tensors_and_meta(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys()}, fh.metadata()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("encoder", "vgg16"),
        ("encoder", 3),
        ("decoder_channels", [20000] * 5),
        ("decoder_channels", [96] * 9),
        ("decoder_channels", []),
        ("decoder_channels", 20000),
        ("decoder_channels", [96, 64, 40, 24, 0]),
        ("decoder_channels", ["96", 64, 40, 24, 16]),
        ("decoder_channels", [96.0, 64, 40, 24, 16]),
        ("decoder_channels", [True, 64, 40, 24, 16]),
        ("residual_blocks", 9),
        ("residual_blocks", -1),
        ("residual_blocks", 1.5),
        ("residual_min_stride", 3),
        ("residual_min_stride", 0),
        ("stride", 48),
        ("stride", 128),
        ("stride", 2**40),
        ("stride", None),
    ],
)
def test_model_config_fields_are_bounded(key: str, value: Any) -> None:
    with pytest.raises(ValueError, match=key):
        ModelConfig.from_dict({**ModelConfig().to_dict(), key: value})


def test_model_config_within_bounds_round_trips() -> None:
    config = ModelConfig(decoder_channels=(1024, 8, 1, 3, 5), residual_blocks=8, stride=64)
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert ModelConfig.from_dict(ModelConfig().to_dict()) == ModelConfig()


def test_huge_decoder_in_a_tiny_file_is_refused_before_allocating(
    tmp_path: Path, only_meta_models: list[str]
) -> None:
    config = {**ModelConfig().to_dict(), "decoder_channels": [20000] * 5}
    path = _tiny_file(tmp_path / "bomb.safetensors", config)
    assert path.stat().st_size < 500
    _load_error(path, "decoder_channels", "20000", "1024")
    assert only_meta_models == []


def test_config_is_checked_against_the_header_shapes_before_allocating(
    tmp_path: Path, only_meta_models: list[str]
) -> None:
    # Within every bound, but ~800 M parameters: the header lists one small tensor, so the
    # file cannot hold that model and nothing the size of it may be allocated.
    config = ModelConfig(
        decoder_channels=(1024,) * 5, residual_blocks=8, residual_min_stride=1, head="regression"
    )
    path = _tiny_file(tmp_path / "big.safetensors", config.to_dict())
    _load_error(path, "missing tensors", "do not fit")
    assert only_meta_models == ["meta"]


@pytest.mark.parametrize("head", MODEL_HEADS)
def test_expected_shapes_match_a_real_model_without_allocating(head: str) -> None:
    config = ModelConfig(decoder_channels=(32, 24, 16, 12, 8), head=head)
    real = {k: tuple(v.shape) for k, v in ColorUNet(config).state_dict().items()}
    assert expected_shapes(config) == real
    with pytest.raises(ValueError, match="decoder_channels"):
        expected_shapes(ModelConfig(decoder_channels=(64, 32)))


def test_absurd_or_truncated_header_is_refused(tmp_path: Path) -> None:
    claims = tmp_path / "claims.safetensors"
    claims.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    _load_error(claims, "not a readable safetensors file", "over the limit of 16 MiB")
    over = tmp_path / "over.safetensors"
    over.write_bytes(struct.pack("<Q", MAX_HEADER_BYTES + 1) + b" " * 64)
    _load_error(over, "over the limit")
    short = tmp_path / "short.safetensors"
    short.write_bytes(struct.pack("<Q", 4096) + b'{"a": 1}')
    _load_error(short, "truncated", "4096")


def test_listed_tensor_bytes_must_match_the_file(tmp_path: Path) -> None:
    meta = {**FORMAT, "model_config": json.dumps(ModelConfig().to_dict())}
    header = {
        "__metadata__": meta,
        "head.bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    }
    # 8 bytes of data listed, 16 present: refused (by safetensors or our own size check)
    _load_error(_raw_safetensors(tmp_path / "a.safetensors", header, b"\0" * 16))


def test_integer_tensor_is_refused(tmp_path: Path) -> None:
    tensors, meta = _tensors_and_meta(default_weights_path())
    # the shipped model's last tensor: the colour-class head's output bias (262 bins)
    tensors["class_head.1.bias"] = torch.zeros(262, dtype=torch.int64)
    path = tmp_path / "int.safetensors"
    save_file(tensors, str(path), metadata=meta)
    _load_error(path, "not floating point", "class_head.1.bias")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_tensors_are_refused_at_load(tmp_path: Path, value: float) -> None:
    tensors, meta = _tensors_and_meta(default_weights_path())
    path = tmp_path / "one.safetensors"
    save_file(
        {**tensors, "class_head.1.weight": torch.full_like(tensors["class_head.1.weight"], value)},
        str(path),
        metadata=meta,
    )
    _load_error(path, "NaN or infinite", "class_head.1.weight")


@pytest.fixture(scope="module")
def nan_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped weights with every tensor NaN (same config and metadata)."""
    tensors, meta = _tensors_and_meta(default_weights_path())
    path = tmp_path_factory.mktemp("nan") / "nan.safetensors"
    save_file(
        {k: torch.full_like(v, float("nan")) for k, v in tensors.items()}, str(path), metadata=meta
    )
    return path


def _restore(src: Path, out: Path, weights: Path) -> tuple[int, str]:
    argv = ["restore", str(src), "-o", str(out), "--weights", str(weights)]
    argv += ["--device", "cpu", "--render-size", str(TEST_RENDER), "-q"]
    result = CliRunner().invoke(main, argv)
    return result.exit_code, result.stderr


def test_all_nan_weights_exit_5_for_a_photo_and_a_film(tmp_path: Path, nan_weights: Path) -> None:
    _load_error(nan_weights, "NaN or infinite")
    photo = tmp_path / "photo.png"
    make_image(photo)
    code, err = _restore(photo, tmp_path / "out.png", nan_weights)
    assert code == 5, err
    assert_one_line_error(err, str(nan_weights), "NaN")
    film = tmp_path / "film.mkv"
    make_video(film, width=96, height=64, frames=4)
    code, err = _restore(film, tmp_path / "out.mkv", nan_weights)
    assert code == 5, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mkv", "photo.png"]


def _exploding_weights(path: Path) -> Path:
    """Finite tensors whose output overflows float32: a head weight of 1e38."""
    torch.manual_seed(0)
    model = ColorUNet(REGRESSION).eval()
    with torch.no_grad():
        model.head.weight.fill_(1e38)
    save_weights(path, model, REGRESSION, half=False)
    return path


def test_non_finite_colour_is_an_error_not_a_gray_film(tmp_path: Path) -> None:
    weights = _exploding_weights(tmp_path / "boom.safetensors")
    load_weights(weights)  # every tensor is finite: accepted at load
    colorizer = Colorizer(weights, ColorizeConfig(device="cpu", render_size=TEST_RENDER))
    with pytest.raises(WeightsError, match="NaN or infinite colour"):
        colorizer.predict_low(torch.full((2, 1, 64, 96), 50.0))
    film = tmp_path / "film.mkv"
    make_video(film, width=96, height=64, frames=4)
    code, err = _restore(film, tmp_path / "out.mkv", weights)
    assert code == 5, err
    assert_one_line_error(err, str(weights), "NaN or infinite colour", "another weights file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boom.safetensors", "film.mkv"]


def test_out_of_memory_retry_still_splits_and_checks_each_half(
    tmp_path: Path, const_weights: Path
) -> None:
    colorizer = Colorizer(const_weights, ColorizeConfig(device="cpu", render_size=TEST_RENDER))
    real = colorizer._forward
    calls: list[int] = []

    def small_memory(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        if x.shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(x)

    colorizer._forward = small_memory  # type: ignore[assignment]
    ab = colorizer.predict_low(torch.full((4, 1, 64, 64), 50.0))
    assert calls == [4, 2, 2] and ab.shape == (4, 2, 64, 64)
    assert bool(torch.isfinite(ab).all())

    def small_and_broken(x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return torch.full((x.shape[0], 2, *x.shape[2:]), float("nan"))

    colorizer._forward = small_and_broken  # type: ignore[assignment]
    with pytest.raises(WeightsError, match="NaN"):
        colorizer.predict_low(torch.full((4, 1, 64, 64), 50.0))


def test_const_weights_still_load(tmp_path: Path) -> None:
    path = make_const_weights(tmp_path / "c.safetensors")
    model, config, meta = load_weights(path)
    assert config == REGRESSION and meta == {}
    assert not any(p.device.type == "meta" for p in model.parameters())
