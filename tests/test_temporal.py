"""Shot cuts and the flow-guided chroma smoother, on generated frames with known answers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from mediagen import SHOT_FRAMES, make_video, probe_streams

from filmcolor.cli import main
from filmcolor.config import RestoreConfig, TemporalConfig
from filmcolor.facade import restore
from filmcolor.report import RestoreReport
from filmcolor.temporal.cuts import CutDetector, find_cuts
from filmcolor.temporal.flow import FlowEstimator, valid_flow, warp
from filmcolor.temporal.smooth import ChromaSmoother

H, W = 72, 128


def texture(seed: int, h: int = H, w: int = W, blur: float = 2.5) -> np.ndarray:
    """A smooth random texture, float32 L in [10, 90], bigger than the frame for panning."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), blur)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return 10 + 80 * noise


def shot(seed: int, frames: int, speed: int = 2) -> list[np.ndarray]:
    """A panning view over one texture: ``frames`` frames of ``(H, W)`` L."""
    big = texture(seed, H + 8, W + speed * frames + 8)
    return [big[4 : 4 + H, 4 + speed * t : 4 + speed * t + W].copy() for t in range(frames)]


def test_cuts_found_exactly_even_through_flicker() -> None:
    frames = shot(1, 12) + shot(2, 15) + shot(3, 10, speed=-1 % 3) + shot(4, 9)
    rng = np.random.default_rng(9)
    flickered = [np.clip(f * rng.uniform(0.8, 1.2) + rng.uniform(-6, 6), 0, 100) for f in frames]
    assert find_cuts(frames) == [12, 27, 37]
    assert find_cuts(flickered) == [12, 27, 37]


def test_no_cut_in_fades_dissolves_or_flicker() -> None:
    base = shot(5, 40, speed=1)
    gains = np.linspace(1, 0, 40)
    assert find_cuts([f * g for f, g in zip(base, gains, strict=True)]) == []  # fade out to black
    assert (
        find_cuts([f * g for f, g in zip(base, gains[::-1], strict=True)]) == []
    )  # fade in from black
    dip = np.r_[np.linspace(1, 0.1, 20), np.linspace(0.1, 1, 20)]
    assert find_cuts([f * g for f, g in zip(base, dip, strict=True)]) == []  # down to 10 % and back
    other = shot(6, 40, speed=1)
    dissolve = [
        (1 - a) * f + a * g for f, g, a in zip(base, other, np.linspace(0, 1, 40), strict=True)
    ]
    assert find_cuts(dissolve) == []
    t = np.arange(40)
    flicker = [
        np.clip(f * (1 + 0.35 * np.sin(2.1 * k)) + 8 * np.cos(1.3 * k), 0, 100)
        for f, k in zip(base, t, strict=True)
    ]
    assert find_cuts(flicker) == []


def test_cut_detector_adapts_to_a_shaky_shot() -> None:
    # A hand-held shot jumps a few pixels every frame: high scores, but not cuts.
    big = texture(7, H + 40, W + 40)
    rng = np.random.default_rng(3)
    offsets = rng.integers(0, 10, size=(30, 2))
    shaky = [big[y : y + H, x : x + W] for y, x in offsets]
    detector = CutDetector()
    assert [i for i, f in enumerate(shaky + shot(8, 10)) if detector.update(f)] == [30]


def test_flow_and_warp_recover_a_known_shift() -> None:
    a = texture(11).astype(np.float32)
    b = np.roll(a, (3, 5), axis=(0, 1))  # b(x + (5, 3)) = a(x)
    to_b = FlowEstimator("medium")((a * 2.55).astype(np.uint8), (b * 2.55).astype(np.uint8))
    inner = (slice(10, -10), slice(10, -10))
    assert np.median(to_b[..., 0][inner]) == pytest.approx(5, abs=0.3)
    assert np.median(to_b[..., 1][inner]) == pytest.approx(3, abs=0.3)
    assert np.abs(warp(b, to_b) - a)[inner].mean() < 1.0
    back = FlowEstimator("medium")((b * 2.55).astype(np.uint8), (a * 2.55).astype(np.uint8))
    valid = valid_flow(to_b, back)
    assert valid[inner].mean() > 0.9
    assert not valid[:, -3:].any()  # these pixels move out of the picture


def noisy_prediction(truth: np.ndarray, rng: np.random.Generator, amp: float = 8) -> np.ndarray:
    """The model's flicker: the true ab plus a random offset per frame (and pixel noise)."""
    offset = rng.uniform(-amp, amp, size=(2, 1, 1))
    return (truth + offset + rng.normal(0, 1, truth.shape)).astype(np.float32)


def test_smoother_holds_colour_still_on_a_static_scene() -> None:
    L = texture(12)
    truth = np.stack([np.full((H, W), 30.0), np.full((H, W), -20.0)]).astype(np.float32)
    rng = np.random.default_rng(0)
    preds = [noisy_prediction(truth, rng) for _ in range(40)]
    smoother = ChromaSmoother()
    out = [smoother.apply(smoother.plan(L), p) for p in preds]
    raw_jitter = np.std([p.mean(axis=(1, 2)) for p in preds[10:]], axis=0)
    out_jitter = np.std([o.mean(axis=(1, 2)) for o in out[10:]], axis=0)
    assert (out_jitter < 0.4 * raw_jitter).all()  # flicker cut by more than 60 %
    mean = np.mean([o.mean(axis=(1, 2)) for o in out[10:]], axis=0)
    assert mean == pytest.approx([30, -20], abs=3)  # and the colour itself is kept
    assert smoother.cuts == []


def moving_square(frames: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A bright square moving 3 px a frame over a static texture; truth ab: red square."""
    bg = texture(13) * 0.6
    Ls, abs_ = [], []
    for t in range(frames):
        L = bg.copy()
        ab = np.zeros((2, H, W), np.float32)
        x = 10 + 3 * t
        L[24:48, x : x + 24] = 85 + 5 * texture(14, 24, 24, blur=1.5) / 90
        ab[0, 24:48, x : x + 24] = 50
        Ls.append(L.astype(np.float32))
        abs_.append(ab)
    return Ls, abs_


def test_smoother_follows_a_moving_pattern_without_trails() -> None:
    Ls, truths = moving_square(25)
    rng = np.random.default_rng(1)
    smoother = ChromaSmoother()
    out = [
        smoother.apply(smoother.plan(L), noisy_prediction(a, rng, 4))
        for L, a in zip(Ls, truths, strict=True)
    ]
    for t in (12, 18, 24):
        x = 10 + 3 * t
        assert out[t][0, 28:44, x + 4 : x + 20].mean() > 40  # the square stays red
        # where the square was a few frames ago, the background is not painted red
        assert abs(out[t][0, 28:44, x - 12 : x - 4].mean()) < 8


def test_smoother_resets_at_a_cut() -> None:
    a, b = shot(15, 10), shot(16, 10)
    red = np.stack([np.full((H, W), 40.0), np.zeros((H, W))]).astype(np.float32)
    blue = np.stack([np.zeros((H, W)), np.full((H, W), -40.0)]).astype(np.float32)
    smoother = ChromaSmoother()
    out = [smoother.apply(smoother.plan(L), red) for L in a]
    plan = smoother.plan(b[0])
    assert plan.cut and plan.run_model and plan.flow is None
    first = smoother.apply(plan, blue)
    np.testing.assert_array_equal(first, blue)  # nothing carried over the cut
    assert smoother.cuts == [10]
    assert out[-1][0].mean() == pytest.approx(40, abs=0.5)


def test_keyframes_run_the_model_every_k_frames_and_carry_colour_between() -> None:
    frames = shot(17, 21, speed=1)
    smoother = ChromaSmoother(TemporalConfig(keyframe_interval=4))
    truth = np.stack([np.full((H, W), 25.0), np.full((H, W), 15.0)]).astype(np.float32)
    runs, out = [], []
    for L in frames:
        plan = smoother.plan(L)
        runs.append(plan.run_model)
        out.append(smoother.apply(plan, truth if plan.run_model else None))
    assert [i for i, r in enumerate(runs) if r] == [0, 4, 8, 12, 16, 20]
    assert smoother.model_frames == 6
    for o in out:
        assert o[:, 8:-8, 8:-8].mean(axis=(1, 2)) == pytest.approx([25, 15], abs=1)
    with pytest.raises(ValueError, match="needs the model"):
        smoother.apply(smoother.plan(frames[0]), None)


def test_keyframes_refresh_when_too_little_can_be_carried() -> None:
    # Content that changes completely each frame (but no cut: a dissolve of noise) cannot be
    # carried: the model is asked for every frame.
    frames = [0.5 * texture(30) + 0.5 * texture(31 + t, blur=0.8) for t in range(8)]
    smoother = ChromaSmoother(TemporalConfig(keyframe_interval=4, cut_threshold=1.0))
    runs = [smoother.plan(L).run_model for L in frames]
    assert sum(runs) > 4


# --- through restore ---------------------------------------------------------------------------


@pytest.mark.slow
def test_restore_reports_cuts_and_keeps_every_frame_with_keyframes(
    tmp_path: Path, const_config: RestoreConfig
) -> None:
    src = tmp_path / "shots.mkv"
    pts = make_video(src, width=160, height=96, frames=30, content="shots", vfr=True)
    expected = [pts[SHOT_FRAMES], pts[2 * SHOT_FRAMES]]
    for name, temporal in {
        "on": TemporalConfig(keyframe_interval=1),
        "keyframes": TemporalConfig(keyframe_interval=4),
        "off": TemporalConfig(enabled=False),
    }.items():
        dst = tmp_path / f"{name}.mkv"
        report = restore(src, dst, dataclasses.replace(const_config, temporal=temporal))
        assert isinstance(report, RestoreReport)
        assert probe_streams(dst)["video"][0]["pts"] == pts
        assert report.frames_out == 30
        if name == "off":
            assert report.cuts == [] and report.frames_model == 30
        else:
            assert [c["pts"] for c in report.cuts] == expected
            assert report.settings["temporal"]["keyframe_interval"] == temporal.keyframe_interval
    # keyframes: frames 0, 4, 8, 12, 16, 24, 28 and the shots' first (10, 20), plus refreshes
    assert 9 <= report_frames_model(tmp_path, src, const_config) < 30


def report_frames_model(tmp_path: Path, src: Path, config: RestoreConfig) -> int:
    argv = ["restore", str(src), "-o", str(tmp_path / "cli.mkv"), "--keyframe-interval", "4"]
    argv += ["--weights", str(config.weights), "--render-size", "64", "--device", "cpu", "-q"]
    argv += ["--report", str(tmp_path / "report.json")]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert len(report["cuts"]) == 2
    return int(report["frames_model"])
