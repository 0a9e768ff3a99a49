"""The colour heads of the U-Net (regression, classification, both): shapes, decoding, the
weights format, switching heads, their loss, and a short training run with each."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import randomise_bn
from safetensors.torch import load_file, save_file

from filmcolor.config import MODEL_HEADS, ColorizeConfig, LossConfig, ModelConfig, TrainConfig
from filmcolor.errors import WeightsError
from filmcolor.model.colorizer import Colorizer
from filmcolor.model.palette import ab_palette, annealed_mean, palette_index, temperature
from filmcolor.model.unet import ColorUNet, fuse_for_inference
from filmcolor.model.weights import load_weights, save_weights
from filmcolor.train import data
from filmcolor.train.loop import fit, with_head
from filmcolor.train.losses import ColorLoss, class_loss

SMALL = ModelConfig(decoder_channels=(32, 24, 16, 12, 8), head="regression")
CLASS = dataclasses.replace(SMALL, head="classification")
BOTH = dataclasses.replace(SMALL, head="both")
Q = 262


def _model(config: ModelConfig, seed: int = 0) -> ColorUNet:
    torch.manual_seed(seed)
    model = ColorUNet(config)
    randomise_bn(model, seed)
    if model.classification:  # logits spread enough that the temperature shows
        with torch.no_grad():
            model.class_head[1].weight.mul_(20)
    return model.eval()


def _input(n: int, h: int, w: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 1, h, w, generator=torch.Generator().manual_seed(seed)) * 100


def _bias_model(config: ModelConfig, probs: dict[int, float]) -> ColorUNet:
    """A class-head model whose every pixel predicts the distribution ``probs`` (bin → p; the
    rest share what is left): zero class-head weights, the log-probabilities as bias."""
    model = _model(config)
    p = torch.full((Q,), (1 - sum(probs.values())) / (Q - len(probs)))
    for index, value in probs.items():
        p[index] = value
    with torch.no_grad():
        model.class_head[1].weight.zero_()
        model.class_head[1].bias.copy_(p.log())
    return model


def _bin(rgb: tuple[float, float, float]) -> int:
    lab = cv2.cvtColor(np.array([[rgb]], np.float32), cv2.COLOR_RGB2Lab)[0, 0]
    return int(palette_index(torch.tensor(lab[1:]).view(1, 2, 1, 1)).item())


# --- config -------------------------------------------------------------------------------


def test_head_is_checked_and_old_configs_are_regression() -> None:
    assert MODEL_HEADS == ("regression", "classification", "both")
    assert ModelConfig().head == "classification"
    with pytest.raises(ValueError, match="head 'softmax' is not one of"):
        ModelConfig(head="softmax")
    old = SMALL.to_dict()
    del old["head"]  # a weights file written before the head was a choice
    assert ModelConfig.from_dict(old) == SMALL
    assert ModelConfig.from_dict(CLASS.to_dict()).head == "classification"


# --- the network --------------------------------------------------------------------------


def test_classification_model_builds_no_stage_finer_than_stride_4() -> None:
    model = _model(CLASS)
    assert len(model.decoder) == 3  # strides 16, 8, 4
    assert not hasattr(model, "head") and model.classification and not model.regression
    assert torch.equal(model.ab_palette, ab_palette())
    assert "ab_palette" in model.state_dict()
    assert len(_model(BOTH).decoder) == len(_model(SMALL).decoder) == 5
    assert not hasattr(_model(SMALL), "ab_palette")


@pytest.mark.parametrize(("n", "h", "w"), [(1, 64, 96), (2, 32, 64)])
def test_classification_output_is_the_upsampled_annealed_mean(n: int, h: int, w: int) -> None:
    model = _model(CLASS)
    L = _input(n, h, w)
    with torch.no_grad():
        ab_reg, logits = model.forward_train(L)
        ab = model(L)
    assert ab_reg is None
    assert logits is not None and logits.shape == (n, Q, h // 4, w // 4)
    assert ab.shape == (n, 2, h, w) and ab.dtype == torch.float32
    want = F.interpolate(
        annealed_mean(logits, ab_palette(), model.temperature),
        size=(h, w),
        mode="bilinear",
        align_corners=False,
    )
    torch.testing.assert_close(ab, want)
    torch.testing.assert_close(model.decode(logits, (h, w)), want)
    # the default temperature is the default vividness's
    assert model.temperature == temperature(ColorizeConfig().vividness)


def test_temperature_changes_a_classification_models_colour() -> None:
    model = _bias_model(CLASS, {_bin((1, 0, 0)): 0.4, _bin((0, 0, 1)): 0.25, _bin((0, 1, 0)): 0.2})
    L = _input(1, 64, 64)
    chroma = []
    for vividness in (0.0, 0.5, 0.9):
        model.temperature = temperature(vividness)
        with torch.no_grad():
            chroma.append(model(L).norm(dim=1).mean().item())
    assert chroma == sorted(chroma) and chroma[2] > chroma[0] + 1.0
    regression = _model(SMALL)
    with torch.no_grad():
        before = regression(L)
        regression.temperature = 0.05
        assert torch.equal(regression(L), before)


def test_both_heads_train_together_and_colour_with_the_class_head() -> None:
    model = _model(BOTH)
    L = _input(2, 64, 64)
    with torch.no_grad():
        ab_reg, logits = model.forward_train(L)
        ab = model(L)
        skipped, logits2 = model.forward_train(L, regression=False)
    assert ab_reg is not None and ab_reg.shape == (2, 2, 64, 64)
    assert logits is not None and logits.shape == (2, Q, 16, 16)
    assert skipped is None and logits2 is not None and torch.equal(logits, logits2)
    torch.testing.assert_close(ab, model.decode(logits, (64, 64)))
    assert not torch.allclose(ab, ab_reg)
    # the regression head's output is exactly its 1x1 conv, as for a regression model
    captured: list[torch.Tensor] = []
    model.head.register_forward_hook(lambda _m, _i, out: captured.append(out))
    with torch.no_grad():
        model(L)
    assert not captured  # forward skips the regression path
    with torch.no_grad():
        model.forward_train(L)
    assert len(captured) == 1


def test_regression_model_forward_train_has_no_logits() -> None:
    model = _model(SMALL)
    L = _input(1, 32, 64)
    with torch.no_grad():
        ab, logits = model.forward_train(L)
        assert logits is None and ab is not None
        assert torch.equal(model(L), ab)


@pytest.mark.parametrize("config", [CLASS, BOTH], ids=["classification", "both"])
def test_fuse_for_inference_agrees_with_a_class_head(config: ModelConfig) -> None:
    model = _model(config)
    model.temperature = 0.3
    fused = fuse_for_inference(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert fused.temperature == 0.3
    L = _input(2, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(fused(L), model(L), rtol=1e-3, atol=1e-2)


# --- the weights file ----------------------------------------------------------------------


@pytest.mark.parametrize("config", [CLASS, BOTH], ids=["classification", "both"])
def test_save_load_round_trip_keeps_head_and_palette(tmp_path: Path, config: ModelConfig) -> None:
    model = _model(config)
    path = tmp_path / "c.safetensors"
    save_weights(path, model, config, half=False)
    assert torch.equal(load_file(str(path))["ab_palette"], ab_palette())
    loaded, loaded_config, _ = load_weights(path)
    assert loaded_config == config and loaded.config.head == config.head
    assert torch.equal(loaded.ab_palette, ab_palette())
    L = _input(1, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(L), model(L))
    # half precision stores the palette exactly (multiples of 10 up to 110)
    save_weights(path, model, config, half=True)
    assert torch.equal(load_weights(path)[0].ab_palette, ab_palette())


def test_a_class_weights_file_without_its_palette_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.safetensors"
    save_weights(path, _model(CLASS), CLASS, half=False)
    tensors = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
    del tensors["ab_palette"]
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(WeightsError, match="ab_palette"):
        load_weights(path)


def test_old_weights_file_without_head_loads_as_regression(tmp_path: Path) -> None:
    model = _model(SMALL)
    path = tmp_path / "old.safetensors"
    save_weights(path, model, SMALL, half=False)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata())
    old = json.loads(meta["model_config"])
    del old["head"]
    meta["model_config"] = json.dumps(old)
    save_file(load_file(str(path)), str(path), metadata=meta)
    loaded, config, _ = load_weights(path)
    assert config.head == "regression" and config == SMALL
    L = _input(1, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(L), model(L))


def test_colorizer_vividness_sets_the_temperature(tmp_path: Path) -> None:
    red, blue, green = _bin((1, 0, 0)), _bin((0, 0, 1)), _bin((0, 1, 0))
    path = tmp_path / "c.safetensors"
    save_weights(path, _bias_model(CLASS, {red: 0.4, blue: 0.25, green: 0.2}), CLASS, half=False)
    L = torch.full((1, 1, 64, 64), 50.0)
    chroma = {}
    for vividness in (0.0, 0.4, 0.8, 1.0):
        colorizer = Colorizer(path, ColorizeConfig(device="cpu", vividness=vividness))
        assert colorizer.model.temperature == temperature(vividness)
        _, ab = colorizer.predict(L)
        assert ab.shape == (1, 2, 64, 64)
        chroma[vividness] = ab.norm(dim=1).mean().item()
    assert chroma[0.0] < chroma[0.4] < chroma[0.8] < chroma[1.0]
    assert chroma[1.0] > 2 * chroma[0.0]
    # at vividness 1 (T = 0.05) the colour is the likeliest bin's
    _, ab = Colorizer(path, ColorizeConfig(device="cpu", vividness=1.0)).predict(L)
    torch.testing.assert_close(ab.mean(dim=(2, 3)).flatten(), ab_palette()[red], atol=0.5, rtol=0)


# --- switching heads ------------------------------------------------------------------------


def test_with_head_keeps_every_tensor_that_fits() -> None:
    regression = _model(SMALL)
    assert with_head(regression, "regression") is regression
    classification = with_head(regression, "classification")
    assert classification.config == CLASS
    before, after = regression.state_dict(), classification.state_dict()
    shared = [k for k in after if k.startswith(("encoder.", "decoder."))]
    assert any(k.startswith("decoder.2.") for k in shared)
    assert not any(k.startswith("decoder.3.") for k in after)
    for key in shared:
        assert torch.equal(after[key], before[key]), key
    assert torch.equal(classification.ab_palette, ab_palette())
    # to both: the class head and the regression head come along too
    both = with_head(classification, "both")
    kept = both.state_dict()
    for key, tensor in after.items():
        assert torch.equal(kept[key], tensor), key
    # and back: the regression model keeps the regression head of `both`
    back = with_head(both, "regression")
    assert torch.equal(back.state_dict()["head.weight"], kept["head.weight"])


# --- the loss -------------------------------------------------------------------------------


def _true_ab(n: int = 2, size: int = 16, seed: int = 3) -> torch.Tensor:
    """Blocky colour: constant on 4 x 4 blocks, as the loss sees it at stride 4."""
    gen = torch.Generator().manual_seed(seed)
    coarse = (torch.rand(n, 2, size // 4, size // 4, generator=gen) - 0.5) * 120
    return coarse.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)


def test_class_loss_is_least_for_the_right_logits() -> None:
    palette = ab_palette()
    ab = _true_ab()
    from filmcolor.model.palette import soft_encode

    idx, weight = soft_encode(F.avg_pool2d(ab, 4), palette)
    target = torch.zeros(2, Q, 4, 4).scatter_(1, idx, weight)
    right = target.clamp(min=1e-9).log()
    entropy = -(target * right).sum(dim=1).mean()
    best = class_loss(right, ab, palette, None)
    assert best.ndim == 0
    torch.testing.assert_close(best, entropy, rtol=1e-4, atol=1e-4)
    gen = torch.Generator().manual_seed(4)
    wrong = right[:, torch.randperm(Q, generator=gen)]
    flat = torch.zeros(2, Q, 4, 4)
    assert best < class_loss(flat, ab, palette, None) < class_loss(wrong, ab, palette, None)
    # logits given at full resolution are compared with full-resolution truth
    assert class_loss(right.repeat_interleave(4, 2).repeat_interleave(4, 3), ab, palette, None) == (
        pytest.approx(best.item(), rel=1e-5)
    )


def test_class_loss_counts_each_pixel_by_the_rarity_of_its_colour() -> None:
    palette = ab_palette()
    ab = _true_ab()
    logits = torch.randn(2, Q, 4, 4, generator=torch.Generator().manual_seed(5))
    plain = class_loss(logits, ab, palette, None)
    torch.testing.assert_close(class_loss(logits, ab, palette, torch.full((Q,), 2.0)), 2 * plain)
    # weight only the bins of the top-left block's colour: only those pixels count
    bins = palette_index(F.avg_pool2d(ab, 4))
    weights = torch.zeros(Q)
    weights[bins[0, 0, 0]] = 1.0
    picked = bins == bins[0, 0, 0]
    from filmcolor.model.palette import soft_encode

    idx, target = soft_encode(F.avg_pool2d(ab, 4), palette)
    ce = -(target * F.log_softmax(logits, dim=1).gather(1, idx)).sum(dim=1)
    want = (ce * picked).sum() / ce.numel()
    torch.testing.assert_close(class_loss(logits, ab, palette, weights), want)
    assert class_loss(logits, ab, palette, weights) != pytest.approx(plain.item())


def test_color_loss_takes_either_head_or_both() -> None:
    palette = ab_palette()
    ab = _true_ab(size=32)
    L = torch.full((2, 1, 32, 32), 50.0)
    rgb = torch.rand(2, 3, 32, 32)
    logits = torch.randn(2, Q, 8, 8, generator=torch.Generator().manual_seed(6))
    config = LossConfig(perceptual=0.0, classification=0.5, rebalance=0.0)
    loss = ColorLoss(config, ab, palette)
    total, parts = loss(None, logits, ab, L, rgb)
    assert set(parts) == {"classification"}
    torch.testing.assert_close(total, 0.5 * class_loss(logits, ab, palette, None))
    total_both, parts_both = loss(torch.zeros_like(ab), logits, ab, L, rgb)
    assert {"classification", "ab_l1"} <= set(parts_both) and total_both > total
    _, reg_parts = loss(torch.zeros_like(ab), None, ab, L, rgb)
    assert "classification" not in reg_parts
    with pytest.raises(ValueError, match="palette"):
        ColorLoss(config, ab)(None, logits, ab, L, rgb)
    # rarity rebalancing reaches the cross entropy: it changes the loss
    rebalanced = ColorLoss(dataclasses.replace(config, rebalance=0.5), ab, palette)
    assert rebalanced.class_rarity is not None and loss.class_rarity is None
    assert rebalanced(None, logits, ab, L, rgb)[0] != pytest.approx(total.item())


# --- the held-out splits --------------------------------------------------------------------


def test_a_tune_split_is_held_out_and_validation_is_never_read() -> None:
    def item(key: str, group: str, split: str | None) -> data.Item:
        return data.Item(key, Path(key), group=group, split=split)

    items = [
        item("t1", "a", "train"),
        item("t2", "b", "train"),
        item("t3", "b", "train"),
        item("u1", "c", "tune"),
        item("u2", "f", "tune"),
        item("v1", "d", "val"),
        item("w1", "e", "val2"),
    ]
    train, held = data.split_items(items, 0.25, seed=1)
    assert [i.key for i in train] == ["t1", "t2", "t3"]
    assert [i.key for i in held] == ["u1", "u2"]  # val and val2 are in neither
    # without a tune split, val is the held-out set, as before
    old = [i for i in items if i.split not in ("tune", "val2")]
    train, held = data.split_items(old, 0.25, seed=1)
    assert [i.key for i in held] == ["v1"] and [i.key for i in train] == ["t1", "t2", "t3"]


# --- a short training run -------------------------------------------------------------------


def _scene(rng: np.random.Generator, size: int = 96) -> np.ndarray:
    img = np.zeros((size, size, 3), np.uint8)
    horizon = int(rng.integers(size // 3, 2 * size // 3))
    img[:horizon] = (230, 160, 90)
    img[horizon:] = (60, 170, 70)
    x, y = (int(v) for v in rng.integers(0, size - 24, 2))
    img[y : y + 20, x : x + 20] = (40, 40, 220)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(0)
    for i in range(6):
        cv2.imwrite(str(root / f"scene{i:02d}.png"), _scene(rng))
    return root


@pytest.mark.slow
@pytest.mark.parametrize("head", ["classification", "both"])
def test_fit_switches_the_head_and_writes_weights_that_restore(
    frames: Path, tmp_path: Path, head: str
) -> None:
    init = tmp_path / "init.safetensors"
    save_weights(init, _model(SMALL), SMALL, half=False)
    out = tmp_path / "class.safetensors"
    config = TrainConfig(
        frames=str(frames),
        output=str(out),
        init=str(init),
        head=head,
        steps=3,
        batch_size=2,
        size=64,
        val_fraction=0.3,
        val_every=2,
        checkpoint_every=2,
        warmup_steps=1,
        encoder_lr_scale=0.0,
        device="cpu",
        workers=1,
        loss=LossConfig(perceptual=0.0),
        cache_side=96,
    )
    result = fit(config)
    assert result.stopped == "steps" and result.steps_done == 3
    assert "classification" in result.history[-1]
    assert ("ab_l1" in result.history[-1]) == (head == "both")
    assert {"psnr", "colorfulness_ratio"} <= set(result.best_val)
    model, model_config, _ = load_weights(out)
    assert model_config.head == head and torch.equal(model.ab_palette, ab_palette())
    # the encoder was frozen: it is the init model's
    start = load_file(str(init))
    for key, tensor in model.state_dict().items():
        if key.startswith("encoder.") and not key.endswith("num_batches_tracked"):
            assert torch.equal(tensor, start[key].half().float()), key  # stored as float16
    colorizer = Colorizer(out, ColorizeConfig(device="cpu", render_size=64))
    gray = torch.from_numpy(cv2.imread(str(next(frames.iterdir())), cv2.IMREAD_GRAYSCALE))
    _, ab = colorizer.predict(gray.float().div(2.55).view(1, 1, 96, 96))
    assert ab.shape == (1, 2, 96, 96) and torch.isfinite(ab).all()
