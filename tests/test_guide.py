"""References and hints: propagation by flow, style matching, and ``restore()`` with them.

Scenes are generated here: a textured square moving over a textured background, written as
a gray video (the colour version is the ground truth). The test network predicts the
constant ``CONST_AB`` everywhere, so any other colour in the output came from the guide.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import textwrap
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from conftest import CONST_AB

from filmcolor.color import lab_to_rgb, luma_to_L, rgb_to_lab
from filmcolor.config import ColorizeConfig, GuideConfig, RestoreConfig
from filmcolor.facade import restore
from filmcolor.guide.propagate import Layer, Propagator, carry, flow_trust, propagate_backward
from filmcolor.guide.sources import format_timecode
from filmcolor.media.frames import iter_rgb_frames
from filmcolor.report import RestoreReport
from filmcolor.temporal.flow import FlowEstimator

W, H = 160, 120
SIDE = 40
FRAMES = 20
STEP = (3, 1)  # pixels per frame the square moves (x, y)
RED = np.array([230, 90, 60], np.float32)
TEAL = np.array([40, 120, 130], np.float32)


def texture(h: int, w: int, seed: int, blur: float = 2.0) -> np.ndarray:
    """``(h, w)`` float32 smooth noise in [0, 1]."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((h, w), np.float32), (0, 0), blur)
    return (noise - noise.min()) / max(float(np.ptp(noise)), 1e-6)


def square_at(k: int) -> tuple[int, int]:
    """Top-left corner (x, y) of the square in frame ``k``."""
    return 20 + STEP[0] * k, 30 + STEP[1] * k


def scene(k: int) -> np.ndarray:
    """Frame ``k`` of the moving-square scene, ``(H, W, 3)`` uint8 sRGB."""
    bg = texture(H, W, 1, blur=3.0)[..., None] * 0.4 + 0.4
    img = bg * TEAL
    x, y = square_at(k)
    sq = texture(SIDE, SIDE, 2, blur=2.5)[..., None] * 0.3 + 0.7
    img[y : y + SIDE, x : x + SIDE] = sq * RED
    return np.clip(img, 0, 255).astype(np.uint8)


def bt601(rgb: np.ndarray) -> np.ndarray:
    """Full-range BT.601 luma of ``(H, W, 3)`` uint8 RGB → limited-range uint8 Y."""
    y = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(16 + y * 219 / 255 + 0.5, 0, 255).astype(np.uint8)


def write_gray(path: Path, frames: list[np.ndarray], rate: int = 24) -> None:
    """Gray yuv420p H.264 (lossless) of the RGB ``frames`` (all of one even size)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"qp": "0", "preset": "veryfast"}
        for i, rgb in enumerate(frames):
            yuv = np.full((h * 3 // 2, w), 128, np.uint8)
            yuv[:h] = bt601(rgb)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = i
            frame.time_base = Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def lab_of(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 sRGB → ``(3, H, W)`` float32 Lab."""
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255
    return rgb_to_lab(t).numpy()


def on_film_luma(rgb: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """``(3, H, W)`` Lab of colour ``ab`` ``(2, H, W)`` shown at the film's own luma (that of
    the gray video made from ``rgb``): the best a colorizer can do, gamut clipping included."""
    y = torch.from_numpy(bt601(rgb).astype(np.int64))
    lab = torch.cat((luma_to_L(y, 8, False)[None], torch.from_numpy(np.array(ab, np.float32))))
    rgb_out = (lab_to_rgb(lab).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return lab_of(rgb_out)


def square_ab(lab: np.ndarray, k: int, inset: int = 8) -> np.ndarray:
    """Mean ab inside the square of frame ``k`` (away from its edges)."""
    x, y = square_at(k)
    return lab[1:, y + inset : y + SIDE - inset, x + inset : x + SIDE - inset].mean(axis=(1, 2))


def output_labs(path: Path) -> list[np.ndarray]:
    return [lab_of(f.rgb) for f in iter_rgb_frames(path)]


@pytest.fixture(scope="module")
def square_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The gray moving-square clip and the colour PNG of its frame 0, named by its time."""
    folder = tmp_path_factory.mktemp("guide")
    src = folder / "square.mp4"
    write_gray(src, [scene(k) for k in range(FRAMES)])
    ref = folder / "00-00-00.000.png"
    cv2.imwrite(str(ref), cv2.cvtColor(scene(0), cv2.COLOR_RGB2BGR))
    return src, ref


def run(src: Path, dst: Path, config: RestoreConfig, guide: GuideConfig) -> RestoreReport:
    """Restore at the clip's own height as render size: the 40-pixel square stays 40 pixels
    (at the fixtures' 64 it would be 21, and the measured inside 4 pixels from its edges)."""
    config = dataclasses.replace(
        config, guide=guide, colorize=dataclasses.replace(config.colorize, render_size=H)
    )
    report = restore(src, dst, config)
    assert isinstance(report, RestoreReport)
    return report


# ---------------------------------------------------------------- propagation units


def shifted(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    return np.roll(img, (dy, dx), axis=(-2, -1))


def test_known_shift_carries_colour_exactly() -> None:
    L0 = 30 + 40 * texture(64, 96, 5, blur=1.5)
    ab0 = np.stack([20 + 30 * texture(64, 96, 6), -10 + 25 * texture(64, 96, 7)]).astype(np.float32)
    L1 = shifted(L0, 3, 2)
    flow, trust = flow_trust(FlowEstimator("fast"), L1, L0, 8.0)
    moved = carry(Layer(ab0, L0, np.ones_like(L0)), flow, trust, decay=1.0)
    inner = (slice(None), slice(8, -8), slice(8, -8))
    err = np.abs(moved.ab - shifted(ab0, 3, 2))[inner]
    assert float(np.median(err)) < 0.5 and float(np.percentile(err, 95)) < 2.0
    conf = moved.confidence(L1, 10.0)[8:-8, 8:-8]
    assert float(np.median(conf)) > 0.9
    # what came in from outside the picture is not trusted
    assert float(moved.base[:, :2].mean()) < 0.3


def test_cut_stops_propagation_and_decay_fades() -> None:
    L0 = 30 + 40 * texture(64, 96, 5, blur=1.5)
    ab0 = np.full((2, 64, 96), 40.0, np.float32)
    prop = Propagator(decay=0.9, luma_sigma=10.0)
    prop.add(Layer(ab0, L0, np.ones_like(L0)))
    L1 = shifted(L0, 2, 0)
    flow, trust = flow_trust(FlowEstimator("fast"), L1, L0, 8.0)
    prop.step(L1, flow, trust)
    colour = prop.colour(L1)
    assert colour is not None and float(np.median(colour[1])) == 1.0
    ((layer, _),) = prop.layers
    assert 0.85 < float(np.median(layer.base)) <= 0.9 + 1e-6  # one frame of decay 0.9
    for _ in range(30):  # 0.9 ** 30 ≈ 0.04: the layer fades out and is dropped
        prop.step(L1, np.zeros_like(flow), np.ones_like(trust))
    assert prop.colour(L1) is None
    prop.add(Layer(ab0, L0, np.ones_like(L0)))
    prop.step(L1 * 0 + 50, None, None)  # a cut: no flow to the previous frame
    assert prop.colour(L1) is None


def test_backward_propagation_reaches_earlier_frames() -> None:
    Ls = [lab_of(scene(k))[0] for k in range(6)]
    truth = lab_of(scene(0))
    anchor = lab_of(scene(5))
    layer = Layer(anchor[1:].copy(), anchor[0].copy(), np.ones((H, W), np.float32))
    packed = propagate_backward(layer, Ls, FlowEstimator("fast"), 1.0, 10.0, 8.0)
    assert len(packed) == 5 and packed[0] is not None
    ab, conf = packed[0].unpack()
    x, y = square_at(0)
    inner = (slice(y + 8, y + SIDE - 8), slice(x + 8, x + SIDE - 8))
    assert float(np.median(conf[inner])) > 0.8
    # where the carried colour is wrong (the flow blurs the square's edge) it is not trusted
    err = np.abs(ab - truth[1:]).max(axis=0)
    assert float((err * conf).sum() / conf.sum()) < 3.0
    assert float(np.mean((err > 15) & (conf > 0.5))) < 0.03


# ---------------------------------------------------------------- restore() with a guide


@pytest.mark.slow
@pytest.mark.parametrize(
    ("anchor", "temporal"),
    [(0, True), (10, True), (0, False)],
    ids=["first-frame", "mid-shot-backward", "no-smoother"],
)
def test_reference_colour_stays_on_the_moving_object(
    tmp_path: Path,
    const_config: RestoreConfig,
    square_clip: tuple[Path, Path],
    anchor: int,
    temporal: bool,
) -> None:
    src, ref = square_clip
    if anchor:  # a colour version of frame 10, named by its time: carried back to frame 0 too
        ref = tmp_path / f"{format_timecode(Fraction(anchor, 24))}.png"
        cv2.imwrite(str(ref), cv2.cvtColor(scene(anchor), cv2.COLOR_RGB2BGR))
    config = dataclasses.replace(
        const_config, temporal=dataclasses.replace(const_config.temporal, enabled=temporal)
    )
    report = run(src, tmp_path / "ref.mp4", config, GuideConfig(references=(str(ref),)))
    assert report.guide is not None
    (info,) = report.guide["references"]
    assert info["kind"] == "frame" and info["frame"] == anchor
    assert info["backward_frames"] == anchor
    assert report.guide["frames_guided"] == FRAMES
    labs = output_labs(tmp_path / "ref.mp4")
    assert len(labs) == FRAMES
    first = scene(0)
    want = square_ab(on_film_luma(first, lab_of(first)[1:]), 0)
    const = np.array(CONST_AB, np.float32)
    assert float(np.linalg.norm(want - const)) > 40  # the test can tell the two apart
    for k in (0, FRAMES // 2, FRAMES - 1):
        got = square_ab(labs[k], k)
        assert float(np.linalg.norm(got - want)) < 6.0, (k, got, want)
    # the background keeps the reference's colour too, not the square's
    bg = labs[-1][1:, 100:115, 120:150].mean(axis=(1, 2))
    bg_want = on_film_luma(first, lab_of(first)[1:])[1:, 100:115, 120:150].mean(axis=(1, 2))
    assert float(np.linalg.norm(bg - bg_want)) < 8.0


@pytest.mark.slow
def test_unanchored_reference_finds_its_frame(
    tmp_path: Path, const_config: RestoreConfig, square_clip: tuple[Path, Path]
) -> None:
    """A reference without a timecode in its name lands on the frame it is a colour version
    of (found by luma correlation in the pre-pass) and colours the square from there."""
    src, _ = square_clip
    ref = tmp_path / "coloured-still.png"  # no timecode: its frame must be found
    cv2.imwrite(str(ref), cv2.cvtColor(scene(12), cv2.COLOR_RGB2BGR))
    report = run(src, tmp_path / "found.mp4", const_config, GuideConfig(references=(str(ref),)))
    assert report.guide is not None
    (info,) = report.guide["references"]
    assert info["kind"] == "frame" and info["frame"] == 12, info
    labs = output_labs(tmp_path / "found.mp4")
    want = square_ab(on_film_luma(scene(12), lab_of(scene(12))[1:]), 12)
    got = square_ab(labs[12], 12)
    assert float(np.linalg.norm(got - want)) < 6.0, (got, want)


@pytest.mark.slow
def test_guide_off_changes_nothing(
    tmp_path: Path, const_config: RestoreConfig, square_clip: tuple[Path, Path]
) -> None:
    src, _ = square_clip
    report = run(src, tmp_path / "auto.mp4", const_config, GuideConfig())
    assert report.guide is None
    labs = output_labs(tmp_path / "auto.mp4")
    got = square_ab(labs[FRAMES - 1], FRAMES - 1)
    assert float(np.linalg.norm(got - np.array(CONST_AB))) < 3.0


@pytest.mark.slow
def test_hint_colours_the_region_and_follows_it(
    tmp_path: Path, const_config: RestoreConfig, square_clip: tuple[Path, Path]
) -> None:
    src, _ = square_clip
    x, y = square_at(0)
    hints = tmp_path / "hints.json"
    box = [(x + 2) / W, (y + 2) / H, (x + SIDE - 2) / W, (y + SIDE - 2) / H]
    hints.write_text(json.dumps({"hints": [{"time": [0, None], "box": box, "color": "#20a040"}]}))
    report = run(src, tmp_path / "hint.mp4", const_config, GuideConfig(hints=str(hints)))
    assert report.guide is not None and report.guide["hints"][0]["frame"] == 0
    green = lab_of(np.array([[[0x20, 0xA0, 0x40]]], np.uint8))[1:, 0, 0]
    const = np.array(CONST_AB, np.float32)
    labs = output_labs(tmp_path / "hint.mp4")
    for k in (0, FRAMES // 2, FRAMES - 1):
        frame = scene(k)
        want = square_ab(on_film_luma(frame, np.broadcast_to(green[:, None, None], (2, H, W))), k)
        got = square_ab(labs[k], k)
        assert float(np.linalg.norm(want - const)) > 40
        # the hue asked for (the film keeps its own L, so the chroma is compared)
        assert float(np.linalg.norm(got - want)) < 6.0, (k, got, want)
    # where the square was at frame 0 but is no longer, the model's colour is back
    x_last, _ = square_at(FRAMES - 1)
    left = labs[-1][1:, y + 10 : y + SIDE - 10, x + 2 : x + 12].mean(axis=(1, 2))
    assert x + 12 < x_last  # that strip is background in the last frame
    assert float(np.linalg.norm(left - const)) < 10.0, left


def objects_picture(
    shift: tuple[int, int], scale: float, background_seed: int, bg_rgb: np.ndarray
) -> np.ndarray:
    """Two textured objects (a striped red disc, a blotchy blue-green square) on a background."""
    h, w = 128, 192
    img = (texture(h, w, background_seed, blur=6.0)[..., None] * 0.3 + 0.5) * bg_rgb
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = 55 + shift[0], 64 + shift[1]
    r = 26 * scale
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    stripes = 0.6 + 0.4 * (np.sin((xx - cx) / (2.0 * scale)) > 0)
    img[disc] = stripes[disc][:, None] * np.array([220, 50, 40], np.float32)
    sx, sy, side = 120 + shift[0], 40 + shift[1], int(44 * scale)
    blot = 0.55 + 0.45 * texture(h, w, 9, blur=1.0)
    box = (slice(sy, sy + side), slice(sx, sx + side))
    img[box] = blot[box][..., None] * np.array([40, 150, 220], np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.slow
def test_style_reference_steers_towards_its_colours(tmp_path: Path) -> None:
    """Feature matching needs features that tell textures apart: the shipped weights' encoder
    (ImageNet-pretrained, then trained to colorize); the constant-output test network's
    random encoder does not (its stripes and blotches look alike)."""
    config = RestoreConfig(colorize=ColorizeConfig(device="cpu", render_size=64))
    target = objects_picture((0, 0), 1.0, 3, np.array([120, 120, 120], np.float32))
    gray = tmp_path / "objects.png"
    cv2.imwrite(str(gray), cv2.cvtColor(target, cv2.COLOR_RGB2GRAY))
    other = objects_picture((10, 8), 1.2, 4, np.array([150, 140, 90], np.float32))
    ref = tmp_path / "other.png"
    cv2.imwrite(str(ref), cv2.cvtColor(other, cv2.COLOR_RGB2BGR))
    restore(gray, tmp_path / "auto.png", config)
    styled_cfg = dataclasses.replace(config, guide=GuideConfig(references=(str(ref),)))
    report = restore(gray, tmp_path / "styled.png", styled_cfg)
    assert isinstance(report, RestoreReport)
    assert report.guide is not None and report.guide["references"][0]["kind"] == "style"
    truth = lab_of(target)
    regions = {"disc": (slice(50, 78), slice(45, 65)), "square": (slice(48, 78), slice(128, 158))}
    for name, (ys, xs) in regions.items():
        want = truth[1:, ys, xs].mean(axis=(1, 2))
        auto = lab_of(cv2.cvtColor(cv2.imread(str(tmp_path / "auto.png")), cv2.COLOR_BGR2RGB))
        styled = lab_of(cv2.cvtColor(cv2.imread(str(tmp_path / "styled.png")), cv2.COLOR_BGR2RGB))
        d_auto = float(np.linalg.norm(auto[1:, ys, xs].mean(axis=(1, 2)) - want))
        d_styled = float(np.linalg.norm(styled[1:, ys, xs].mean(axis=(1, 2)) - want))
        assert d_styled < 0.75 * d_auto, (name, d_styled, d_auto)


@pytest.mark.slow
def test_reference_and_hint_on_a_still_image(tmp_path: Path, const_config: RestoreConfig) -> None:
    picture = scene(0)
    gray = tmp_path / "still.png"
    cv2.imwrite(str(gray), cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY))
    ref = tmp_path / "coloured.png"  # no timecode: a still has one frame, matched by luma
    cv2.imwrite(str(ref), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    report = run(gray, tmp_path / "out.png", const_config, GuideConfig(references=(str(ref),)))
    assert report.guide is not None and report.guide["references"][0]["kind"] == "frame"
    out = lab_of(cv2.cvtColor(cv2.imread(str(tmp_path / "out.png")), cv2.COLOR_BGR2RGB))
    want = square_ab(lab_of(picture), 0)
    assert float(np.linalg.norm(square_ab(out, 0) - want)) < 6.0
    hints = tmp_path / "hints.json"
    hint = {"time": 0, "point": [0.8, 0.8], "radius": 0.1, "color": "#2050d0"}
    hints.write_text(json.dumps({"hints": [hint]}))
    run(gray, tmp_path / "hint.png", const_config, GuideConfig(hints=str(hints)))
    out = lab_of(cv2.cvtColor(cv2.imread(str(tmp_path / "hint.png")), cv2.COLOR_BGR2RGB))
    blue = lab_of(np.array([[[0x20, 0x50, 0xD0]]], np.uint8))[1:, 0, 0]
    inside = out[1:, 92:100, 124:132].mean(axis=(1, 2))
    outside = out[1:, 10:20, 10:20].mean(axis=(1, 2))
    assert float(np.linalg.norm(inside - blue)) < float(np.linalg.norm(outside - blue)) - 30
    assert float(np.linalg.norm(outside - np.array(CONST_AB))) < 5.0


def test_luma_correlation_is_pearson_without_blas(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference's luma correlation is Pearson's r, computed without a BLAS call (one
    leaves OpenBLAS's threads spinning, taking a core from the model right after it)."""
    from filmcolor.guide import engine

    rng = np.random.default_rng(3)
    a = rng.random((40, 56)).astype(np.float32) * 100
    b = 0.6 * a + rng.random((40, 56)).astype(np.float32) * 40
    want = float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    def no_blas(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a BLAS call")

    for name in ("dot", "matmul", "inner", "vdot", "einsum", "tensordot"):
        monkeypatch.setattr(np, name, no_blas)
    monkeypatch.setattr(np.linalg, "norm", no_blas)
    assert engine.luma_correlation(a, b) == pytest.approx(want, abs=1e-9)
    assert engine.luma_correlation(a, np.full_like(a, 7.0)) == 0.0
    # nor the ``@`` operator, which no patch reaches
    tree = ast.parse(textwrap.dedent(inspect.getsource(engine.luma_correlation)))
    assert not any(isinstance(node, ast.MatMult) for node in ast.walk(tree))
