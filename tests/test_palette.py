"""The quantised ab palette of the colour-class head: its bins, soft targets, priors, decoding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from filmcolor.model.palette import (
    MIN_TEMPERATURE,
    PALETTE_STEP,
    ab_palette,
    annealed_mean,
    in_gamut_cells,
    palette_index,
    palette_prior,
    soft_encode,
    temperature,
)


def _srgb_ab() -> torch.Tensor:
    """``(P, 2)`` Lab ab (OpenCV's conversion, not filmcolor's) of every 8-bit colour on the
    surface of the RGB cube, where the ab extremes lie, and of a coarse grid inside it."""
    v = np.arange(256, dtype=np.float32) / 255
    a, b = np.meshgrid(v, v, indexing="ij")
    parts = []
    for axis in range(3):
        for value in (0.0, 1.0):
            chans = [a, b]
            chans.insert(axis, np.full_like(a, value))
            parts.append(np.stack(chans, axis=-1).reshape(-1, 3))
    c = np.arange(0, 256, 8, dtype=np.float32) / 255
    parts.append(np.stack(np.meshgrid(c, c, c, indexing="ij"), axis=-1).reshape(-1, 3))
    rgb = np.concatenate(parts)[None]  # (1, P, 3)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[0]
    return torch.from_numpy(lab[:, 1:].copy())


def _lab_of(rgb: tuple[float, float, float]) -> tuple[float, float]:
    lab = cv2.cvtColor(np.array([[rgb]], np.float32), cv2.COLOR_RGB2Lab)[0, 0]
    return float(lab[1]), float(lab[2])


def _ab_image(points: list[tuple[float, float]]) -> torch.Tensor:
    """``(1, 2, 1, P)`` ab of ``points``."""
    return torch.tensor(points, dtype=torch.float32).T.reshape(1, 2, 1, -1)


def test_palette_bins_are_distinct_grid_cells_inside_the_srgb_gamut() -> None:
    palette = ab_palette()
    assert palette.shape == (262, 2) and palette.dtype == torch.float32
    assert len({tuple(row) for row in palette.tolist()}) == len(palette)  # no duplicate bin
    assert torch.equal(palette, (palette / PALETTE_STEP).round() * PALETTE_STEP)
    assert palette.abs().max() <= 110
    # ordered by a, then b
    keys = (palette[:, 0] * 1000 + palette[:, 1]).tolist()
    assert keys == sorted(keys)
    # a copy each time: changing one does not change the next
    palette[0] = 999.0
    assert ab_palette()[0, 0] != 999.0

    srgb = _srgb_ab()
    # every bin's cell holds (to half a Lab unit) the ab of some sRGB colour...
    gap = torch.cdist(ab_palette(), srgb, p=float("inf")).amin(dim=1)
    assert gap.max() <= PALETTE_STEP / 2 + 0.5
    # ...and every sRGB colour falls in the cell of a bin
    cells = {tuple(row) for row in ((srgb / PALETTE_STEP).round() * PALETTE_STEP).tolist()}
    assert cells <= {tuple(row) for row in ab_palette().tolist()}


@pytest.mark.slow
def test_the_written_out_palette_is_the_in_gamut_cells() -> None:
    assert torch.equal(ab_palette(), in_gamut_cells())


@pytest.mark.parametrize(
    ("rgb", "cell"),
    [
        ((1.0, 0.0, 0.0), (80.0, 70.0)),  # red: Lab (53.2, 80.1, 67.2)
        ((0.0, 1.0, 0.0), (-90.0, 80.0)),  # green: Lab (87.7, -86.2, 83.2)
        ((0.0, 0.0, 1.0), (80.0, -110.0)),  # blue: Lab (32.3, 79.2, -107.9)
        ((0.5, 0.5, 0.5), (0.0, 0.0)),
    ],
)
def test_saturated_colours_have_their_own_bin(
    rgb: tuple[float, float, float], cell: tuple[float, float]
) -> None:
    palette = ab_palette()
    index = palette_index(_ab_image([_lab_of(rgb)]))
    assert index.shape == (1, 1, 1) and index.dtype == torch.long
    assert tuple(palette[index.item()].tolist()) == cell


def test_palette_index_is_the_own_cell_or_the_nearest_bin_to_it() -> None:
    palette = ab_palette()
    gen = torch.Generator().manual_seed(0)
    ab = (torch.rand(2, 2, 16, 16, generator=gen) - 0.5) * 260  # also far outside the gamut
    index = palette_index(ab)
    assert index.shape == (2, 16, 16)
    cell = ((ab / PALETTE_STEP).round() * PALETTE_STEP).clamp(-110, 110)
    cell = cell.permute(0, 2, 3, 1).reshape(-1, 2)
    nearest = torch.cdist(cell, palette).argmin(dim=1)
    assert torch.equal(index.flatten(), nearest)
    # every bin centre maps to itself
    assert torch.equal(palette_index(palette.T.reshape(1, 2, 1, -1)).flatten(), torch.arange(262))


def test_soft_encode_weights_sum_to_one_and_favour_the_nearest_bin() -> None:
    palette = ab_palette()
    gen = torch.Generator().manual_seed(1)
    ab = (torch.rand(2, 2, 8, 8, generator=gen) - 0.5) * 160
    idx, weight = soft_encode(ab, palette)
    assert idx.shape == weight.shape == (2, 5, 8, 8)
    assert idx.dtype == torch.long and weight.dtype == torch.float32
    torch.testing.assert_close(weight.sum(dim=1), torch.ones(2, 8, 8))
    assert (weight > 0).all()
    # the bin given the most weight is the nearest one
    pixels = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    nearest = torch.cdist(pixels, palette).argmin(dim=1).view(2, 8, 8)
    top = idx.gather(1, weight.argmax(dim=1, keepdim=True)).squeeze(1)
    assert torch.equal(top, nearest)
    # five distinct bins per pixel; the dense target is a distribution
    assert (idx.sort(dim=1).values.diff(dim=1) > 0).all()
    dense = torch.zeros(2, len(palette), 8, 8).scatter_(1, idx, weight)
    torch.testing.assert_close(dense.sum(dim=1), torch.ones(2, 8, 8))


def test_soft_encode_of_a_bin_centre_is_a_gaussian_of_sigma_5() -> None:
    """At the centre of an inner bin, the four grid neighbours lie 10 units away: the weight
    is 1 / (1 + 4 exp(-100 / 50)) on the bin itself and exp(-2) times that on each of them."""
    palette = ab_palette()
    _, weight = soft_encode(_ab_image([(0.0, 0.0)]), palette)
    w = weight.flatten()
    centre = 1 / (1 + 4 * np.exp(-2.0))
    assert w[0].item() == pytest.approx(centre, rel=1e-5)
    assert w[1:].tolist() == pytest.approx([centre * np.exp(-2.0)] * 4, rel=1e-5)


def test_palette_prior_is_a_smoothed_histogram() -> None:
    palette = ab_palette()
    red = _lab_of((1.0, 0.0, 0.0))
    ab = _ab_image([red] * 30 + [(0.0, 0.0)] * 10)
    prior = palette_prior(ab)
    assert prior.shape == (262,) and prior.dtype == torch.float32
    assert prior.sum().item() == pytest.approx(1.0, rel=1e-5)
    assert (prior >= 0).all()
    red_bin = palette_index(_ab_image([red])).item()
    gray_bin = palette_index(_ab_image([(0.0, 0.0)])).item()
    assert prior.argmax().item() == red_bin
    assert prior[red_bin] / prior[gray_bin] == pytest.approx(3.0, rel=0.05)
    # smoothed: a bin next to the gray one gets some, a far one next to nothing
    neighbour = int(torch.cdist(torch.tensor([[10.0, 0.0]]), palette).argmin())
    far = int(torch.cdist(torch.tensor([[-80.0, -60.0]]), palette).argmin())
    assert prior[neighbour] > 0.01 * prior[gray_bin]
    assert prior[far] < 1e-6


def test_temperature_of_vividness() -> None:
    assert temperature(0.0) == 1.0
    assert temperature(0.25) == 0.75
    assert temperature(1.0) == MIN_TEMPERATURE == 0.05
    assert temperature(0.99) == MIN_TEMPERATURE
    values = [temperature(v / 10) for v in range(11)]
    assert values == sorted(values, reverse=True)


def _reference(logits: torch.Tensor, palette: torch.Tensor, T: float) -> torch.Tensor:
    return torch.einsum(
        "nqhw,qc->nchw", torch.softmax(logits.double() / T, dim=1), palette.double()
    )


@pytest.mark.parametrize("T", [1.0, 0.5, 0.2, 0.05])
def test_annealed_mean_is_the_mean_of_the_sharpened_softmax(T: float) -> None:
    palette = ab_palette()
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(2, len(palette), 5, 7, generator=gen) * 3
    ab = annealed_mean(logits, palette, T)
    assert ab.shape == (2, 2, 5, 7) and ab.dtype == torch.float32
    torch.testing.assert_close(ab.double(), _reference(logits, palette, T), rtol=1e-4, atol=1e-3)
    # the input is not changed in place
    assert torch.equal(logits, torch.randn(2, len(palette), 5, 7, generator=gen.manual_seed(2)) * 3)


def test_annealed_mean_goes_from_the_mean_to_the_mode() -> None:
    palette = ab_palette()
    red = palette_index(_ab_image([_lab_of((1.0, 0.0, 0.0))])).item()
    blue = palette_index(_ab_image([_lab_of((0.0, 0.0, 1.0))])).item()
    probs = torch.full((len(palette),), 0.2 / (len(palette) - 2))
    probs[red], probs[blue] = 0.5, 0.3
    logits = probs.log().view(1, -1, 1, 1)
    mean = annealed_mean(logits, palette, 1.0).flatten()
    torch.testing.assert_close(mean, probs @ palette, rtol=1e-4, atol=1e-3)
    mode = annealed_mean(logits, palette, 0.01).flatten()
    torch.testing.assert_close(mode, palette[red], rtol=0, atol=0.01)
    # lower T: steadily closer to the likeliest colour, and more chroma
    chroma = [annealed_mean(logits, palette, T).norm(dim=1).item() for T in (1.0, 0.6, 0.3, 0.05)]
    assert chroma == sorted(chroma) and chroma[-1] > 1.5 * chroma[0]
    # equal logits: the plain mean of the palette at any T
    flat = torch.zeros(1, len(palette), 1, 1)
    torch.testing.assert_close(annealed_mean(flat, palette, 0.05).flatten(), palette.mean(dim=0))


def test_annealed_mean_is_stable_for_large_and_half_logits() -> None:
    palette = ab_palette()
    logits = torch.zeros(1, len(palette), 2, 2)
    logits[:, 7] = 1e4  # would overflow exp() without the max subtracted
    ab = annealed_mean(logits, palette, MIN_TEMPERATURE)
    assert torch.isfinite(ab).all()
    torch.testing.assert_close(ab[0, :, 0, 0], palette[7])
    half = annealed_mean(logits.half(), palette, 1.0)
    assert half.dtype == torch.float32 and torch.isfinite(half).all()
