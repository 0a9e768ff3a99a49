"""The long-term colour memory (``filmcolor.guide.memory``): frames read colour from the
references themselves, other shots are left alone, keyframes stay bounded.

Matching needs features that tell textures apart, so these tests use the shipped weights'
encoder (as the style-reference test does); pictures are made here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from test_guide import lab_of, objects_picture, texture, write_gray

from filmcolor.config import ColorizeConfig, EncodeConfig, GuideConfig, RestoreConfig
from filmcolor.facade import restore
from filmcolor.guide import memory as mem
from filmcolor.media.frames import iter_rgb_frames
from filmcolor.model.colorizer import Colorizer
from filmcolor.report import RestoreReport

H, W = 128, 192
BG = np.array([120, 160, 90], np.float32)
DISC = (slice(52, 76), slice(45, 65))  # inside the disc of objects_picture((0, 0), ...)


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    return Colorizer(None, ColorizeConfig(device="cpu", render_size=H))


def keyed(colorizer: Colorizer, rgb: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """``(C, gh, gw)`` keys and ``(3, H, W)`` Lab of an ``(H, W, 3)`` uint8 picture."""
    lab = lab_of(rgb)
    return colorizer.keys(torch.from_numpy(lab[:1])[None])[0], lab


def memory_of(colorizer: Colorizer, rgb: np.ndarray, shot: int = 0) -> mem.ReferenceMemory:
    keys, lab = keyed(colorizer, rgb)
    memory = mem.ReferenceMemory(luma_sigma=10.0)
    ones = np.ones(lab.shape[1:], np.float32)
    memory.add_reference(mem.make_entry(keys, lab[1:], lab[0], ones, shot))
    return memory


def unrelated_picture() -> np.ndarray:
    """Diagonal stripes over a coarse blotchy texture in purple: nothing like the objects."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    stripes = 0.5 + 0.5 * (np.sin((xx + yy) / 5.0) > 0)
    img = (texture(H, W, 21, blur=8.0) * 0.5 + 0.3 * stripes)[..., None] * np.array(
        [170, 60, 200], np.float32
    )
    return np.clip(img, 0, 255).astype(np.uint8)


def test_a_static_frame_reads_the_references_own_colour(colorizer: Colorizer) -> None:
    ref = objects_picture((0, 0), 1.0, 3, BG)
    memory = memory_of(colorizer, ref)
    memory.start_shot(0)
    keys, lab = keyed(colorizer, ref)
    read = memory.read(keys, lab[0])
    assert read.colour is not None
    ab, conf = read.colour
    assert float(np.abs(ab - lab[1:]).mean()) < 1.0
    assert float(conf.mean()) > 0.9


def test_moved_objects_read_their_colour_where_they_are(colorizer: Colorizer) -> None:
    ref = objects_picture((0, 0), 1.0, 3, BG)
    memory = memory_of(colorizer, ref)
    memory.start_shot(0)
    dx, dy = 16, 8  # whole cells: a match is per 8×8 cell, refined by choosing among cells
    keys, lab = keyed(colorizer, objects_picture((dx, dy), 1.0, 3, BG))
    read = memory.read(keys, lab[0])
    assert read.colour is not None
    ab, conf = read.colour
    ys = slice(DISC[0].start + dy, DISC[0].stop + dy)
    xs = slice(DISC[1].start + dx, DISC[1].stop + dx)
    sure = conf[ys, xs] > 0.5
    assert float(sure.mean()) > 0.7
    want = lab_of(ref)[1:, DISC[0], DISC[1]].mean(axis=(1, 2))
    got = ab[:, ys, xs][:, sure].mean(axis=1)
    assert float(np.linalg.norm(got - want)) < 8.0, (got, want)


def test_another_shot_reads_a_reference_only_if_it_matches_its_scene(
    colorizer: Colorizer,
) -> None:
    memory = memory_of(colorizer, objects_picture((0, 0), 1.0, 3, BG), shot=0)
    memory.start_shot(40)
    keys, lab = keyed(colorizer, unrelated_picture())
    read = memory.read(keys, lab[0])
    assert read.colour is None and not memory.matched()
    assert read.scene[0] < mem.SCENE_MIN
    memory.start_shot(90)  # the first scene again, a little moved
    keys, lab = keyed(colorizer, objects_picture((6, 3), 1.0, 3, BG))
    read = memory.read(keys, lab[0])
    assert read.scene[0] >= mem.SCENE_MIN and memory.matched()
    assert read.colour is not None and float(read.colour[1].mean()) > 0.5


def test_keyframes_stay_bounded_and_go_with_their_shot(colorizer: Colorizer) -> None:
    ref = objects_picture((0, 0), 1.0, 3, BG)
    memory = memory_of(colorizer, ref)
    memory.start_shot(0)
    keys, lab = keyed(colorizer, ref)
    conf = np.ones(lab.shape[1:], np.float32)
    added = sum(
        memory.offer_keyframe(k, keys, lab[0], lab[1:], conf)
        for k in range(mem.KEYFRAME_EVERY * (mem.MAX_KEYFRAMES + 3))
    )
    assert added == mem.MAX_KEYFRAMES + 3
    assert len(memory.keyframes) == mem.MAX_KEYFRAMES
    assert len(memory) == 1 + mem.MAX_KEYFRAMES
    memory.start_shot(500)
    assert not memory.keyframes and len(memory) == 1
    # a shot no reference steers keeps no keyframes
    other, other_lab = keyed(colorizer, unrelated_picture())
    memory.read(other, other_lab[0])
    for k in range(500, 500 + mem.KEYFRAME_EVERY * 2):
        assert not memory.offer_keyframe(k, other, other_lab[0], other_lab[1:], conf)


def zoomed_view() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A reference's L ``(H, W)``, a frame of the same scene seen turned by 2° and zoomed
    out by 8 %, and the true homography from the frame's pixels to the reference's."""
    rng = np.random.default_rng(7)
    ref = cv2.GaussianBlur(rng.random((H, W)).astype(np.float32) * 100, (0, 0), 1.5)
    truth = np.vstack([cv2.getRotationMatrix2D((W / 2 + 3, H / 2), 2.0, 1 / 0.92), [0, 0, 1]])
    frame = cv2.warpPerspective(ref, truth, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    return ref, frame, truth


def whole_cell_matches(truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's match as key matching gives it (``cells``, ``sim`` of ``_fit_motion``):
    the true displacement rounded to whole 8-pixel steps, similarity 1 where it lands on
    the reference."""
    gh, gw = -(-H // 8), -(-W // 8)
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    centres = np.stack([xs * 8 + 3.5, ys * 8 + 3.5], axis=-1)
    moved = cv2.perspectiveTransform(centres.reshape(1, -1, 2).astype(np.float64), truth)
    steps = np.round((moved[0].reshape(gh, gw, 2) - centres) / 8) * 8
    inside = (moved[0, :, 0] >= 0) & (moved[0, :, 0] < W) & (moved[0, :, 1] >= 0)
    inside &= moved[0, :, 1] < H
    cells = np.dstack([steps, np.zeros((gh, gw))]).astype(np.float32)
    return cells, inside.reshape(gh, gw).astype(np.float32)


def test_global_motion_follows_a_turning_zooming_camera_below_a_pixel() -> None:
    """Whole-cell matches are up to 4 pixels off; the fitted motion, refined on the luma, is
    within a tenth of a pixel of the truth, whether it starts afresh or from a previous
    fit (and a previous fit that no longer agrees with the cells is dropped)."""
    ref, frame, truth = zoomed_view()
    cells, sim = whole_cell_matches(truth)
    gx, gy = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    tx, ty = mem.homography_map(truth, gx, gy)
    inner = (tx > 4) & (tx < W - 5) & (ty > 4) & (ty < H - 5)

    def error(hom: np.ndarray) -> float:
        mx, my = mem.homography_map(hom, gx, gy)
        return float(np.median(np.hypot(mx - tx, my - ty)[inner]))

    src = np.stack([gx, gy], axis=-1)[3::8, 3::8].reshape(-1, 2) + 0.5
    coarse, _ = cv2.findHomography(src, src + cells[..., :2].reshape(-1, 2), 0)
    assert error(coarse) > 0.3  # the whole-cell matches alone
    last: dict[int, np.ndarray] = {}
    fits = mem._fit_motion(cells, sim, 1, frame, ref, last)
    assert error(fits[0]) < 0.1 and last[0] is fits[0]
    again = mem._fit_motion(cells, sim, 1, frame, ref, last)
    assert error(again[0]) < 0.1
    stale = {0: np.array([[1, 0, 40.0], [0, 1, -30.0], [0, 0, 1]])}
    assert error(mem._fit_motion(cells, sim, 1, frame, ref, stale)[0]) < 0.1
    # too few cells matching a reference: no global candidate for it
    few = np.zeros_like(sim)
    few[:2, :3] = 1
    assert mem._fit_motion(cells, few, 1, frame, ref, {}) == {}


# ---------------------------------------------------------------- through restore

PAN = 48  # frames of the first shot: the objects drift right, half a pixel a frame
OTHER = 16  # frames of the second shot


def wide_scene() -> np.ndarray:
    """A picture wider than the frame, panned over by the first shot."""
    base = objects_picture((0, 0), 1.0, 3, BG)
    return np.concatenate([base, base[:, ::-1]], axis=1)


def film_frames() -> list[np.ndarray]:
    """Shot 1: a slow sub-pixel pan over ``wide_scene`` (each frame a resampling, as a real
    camera gives); shot 2: an unrelated picture drifting down."""
    wide = wide_scene().astype(np.float32)
    out = []
    for k in range(PAN):
        m = np.float32([[1, 0, -0.5 * k], [0, 1, 0]])
        out.append(cv2.warpAffine(wide, m, (W, H), flags=cv2.INTER_LINEAR).astype(np.uint8))
    other = unrelated_picture().astype(np.float32)
    for k in range(OTHER):
        m = np.float32([[1, 0, 0], [0, 1, 0.7 * k]])
        warped = cv2.warpAffine(other, m, (W, H), borderMode=cv2.BORDER_REFLECT)
        out.append(warped.astype(np.uint8))
    return out


@pytest.mark.slow
def test_a_reference_holds_through_its_shot_and_leaves_the_next_alone(tmp_path: Path) -> None:
    frames = film_frames()
    gray = tmp_path / "film.mp4"
    write_gray(gray, frames)
    ref = tmp_path / "00-00-00.000.png"
    cv2.imwrite(str(ref), cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR))
    # lossless output: a lossy encoder's choices for one frame depend on the frames around it,
    # so the first shot's new colours would reach the second shot's pictures through it
    config = RestoreConfig(
        colorize=ColorizeConfig(device="cpu", render_size=H, batch_size=4),
        encode=EncodeConfig(codec="ffv1"),
    )
    restore(gray, tmp_path / "auto.mkv", config)
    guided_cfg = dataclasses.replace(config, guide=GuideConfig(references=(str(ref),)))
    report = restore(gray, tmp_path / "guided.mkv", guided_cfg)
    assert isinstance(report, RestoreReport) and report.guide is not None
    assert report.guide["keyframes"] >= 1 and report.guide["shots_matched"] == 0
    auto = [lab_of(f.rgb) for f in iter_rgb_frames(tmp_path / "auto.mkv")]
    guided = [lab_of(f.rgb) for f in iter_rgb_frames(tmp_path / "guided.mkv")]
    assert len(guided) == len(auto) == PAN + OTHER
    truth = [lab_of(f) for f in frames]
    # away from the picture's left and right edges, where the pan brings new content
    inner = (slice(8, H - 8), slice(24, W - 24))

    def error(k: int) -> float:
        diff = guided[k][1:, inner[0], inner[1]] - truth[k][1:, inner[0], inner[1]]
        return float(np.abs(diff).mean())

    first = np.mean([error(k) for k in range(1, 11)])
    last = np.mean([error(k) for k in range(PAN - 10, PAN)])
    auto_err = np.mean(
        [float(np.abs(auto[k][1:] - truth[k][1:]).mean()) for k in range(PAN - 10, PAN)]
    )
    assert last < 0.5 * auto_err, (last, auto_err)  # the reference's colour, not the model's
    assert last - first < 1.0, (first, last)  # and it does not fade
    # the second shot is the model's, exactly as without a reference
    for k in range(PAN, PAN + OTHER):
        assert float(np.abs(guided[k][1:] - auto[k][1:]).max()) < 1e-3, k


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["matching", "all"])
def test_a_picture_of_another_scene_restyles_only_when_asked(tmp_path: Path, scope: str) -> None:
    """A style reference unlike the picture leaves it alone by default (``matching``) and
    restyles it with ``--style-scope all``."""
    config = RestoreConfig(colorize=ColorizeConfig(device="cpu", render_size=H))
    target = objects_picture((0, 0), 1.0, 3, BG)
    gray = tmp_path / "objects.png"
    cv2.imwrite(str(gray), cv2.cvtColor(target, cv2.COLOR_RGB2GRAY))
    ref = tmp_path / "purple.png"
    cv2.imwrite(str(ref), cv2.cvtColor(unrelated_picture(), cv2.COLOR_RGB2BGR))
    restore(gray, tmp_path / "auto.png", config)
    guide = GuideConfig(references=(str(ref),), style_scope=scope)
    report = restore(gray, tmp_path / "styled.png", dataclasses.replace(config, guide=guide))
    assert isinstance(report, RestoreReport) and report.guide is not None
    (info,) = report.guide["references"]
    assert info["kind"] == "style" and info["applied"] == (scope == "all")
    auto = cv2.imread(str(tmp_path / "auto.png")).astype(np.float32)
    styled = cv2.imread(str(tmp_path / "styled.png")).astype(np.float32)
    change = float(np.abs(styled - auto).mean())
    if scope == "all":
        assert change > 5.0, change
    else:
        assert change == 0.0, change


def test_a_cell_reads_a_keyframe_only_where_no_reference_matches_well() -> None:
    """Cells that match the reference well read the reference, even when a keyframe matches
    them better still; the others read the keyframe that matches them."""
    gh, gw, c = 2, 6, 3
    h, w = gh * 8, gw * 8
    e1, e2 = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    near_e1 = torch.nn.functional.normalize(e1 + 0.1 * e2, dim=0)

    def grid(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        keys = torch.empty(c, gh, gw)
        keys[:, :, : gw // 2] = left[:, None, None]
        keys[:, :, gw // 2 :] = right[:, None, None]
        return keys

    L = np.full((h, w), 50.0, np.float32)
    ones = np.ones((h, w), np.float32)
    ab_ref = np.stack([np.full((h, w), 20.0), np.zeros((h, w))]).astype(np.float32)
    ab_key = np.stack([np.full((h, w), -20.0), np.full((h, w), 30.0)]).astype(np.float32)
    memory = mem.ReferenceMemory(luma_sigma=10.0)
    memory.add_reference(mem.make_entry(grid(e1, e1), ab_ref, L, ones, 0, frame=0))
    memory.start_shot(0)
    assert memory.offer_keyframe(1, grid(near_e1, e2), L, ab_key, ones)
    # left: the reference matches at 0.995 (the keyframe at 1.0); right: only the keyframe
    read = memory.read(grid(near_e1, e2), L)
    assert read.colour is not None
    ab, conf = read.colour
    left, right = ab[:, :, : w // 2 - 4], ab[:, :, w // 2 + 4 :]
    np.testing.assert_allclose(left.reshape(2, -1).mean(axis=1), [20.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(right.reshape(2, -1).mean(axis=1), [-20.0, 30.0], atol=1e-3)
    assert float(conf.min()) > 0.9
