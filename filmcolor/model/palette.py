"""Quantised colour: the ab palette of the colour-class head, its targets and its decoding.

Colour as classification (Zhang, Isola & Efros 2016): the ab plane is cut into 10 × 10 Lab
unit cells centred on multiples of 10, and the cells that hold an sRGB colour at some
lightness form the palette (:func:`ab_palette`, 262 bins). The network predicts a
distribution over the palette per pixel; :func:`annealed_mean` turns it into one colour.

* The plain mean of the distribution (temperature 1) is what a regression head learns: where
  several colours are plausible it lands between them, on brown-gray.
* Its mode (temperature → 0) commits to the likeliest colour but flips between bins from
  pixel to pixel.
* The annealed mean, the mean of ``softmax(logits / T)``, lies in between; lower ``T`` gives
  more vivid colour. ``RestoreConfig.colorize.vividness`` sets ``T = 1 − vividness``.

Training targets are soft (:func:`soft_encode`): each pixel's colour spreads over its five
nearest bins with a Gaussian of σ = 5 Lab units, so that neighbouring bins are not treated
as unrelated classes.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from ..color import lab_to_rgb, rgb_to_lab

__all__ = [
    "PALETTE_STEP",
    "ab_palette",
    "annealed_mean",
    "in_gamut_cells",
    "palette_index",
    "palette_prior",
    "soft_encode",
    "temperature",
]

#: Side of a palette cell in Lab units; cell centres are the multiples of this in [-110, 110].
PALETTE_STEP = 10.0
_CELLS = 23  # centres -110, -100, ..., 110 per axis
_SOFT_NEIGHBOURS = 5
_SOFT_SIGMA = 5.0
#: Lowest annealing temperature: below it the decode is the mode in all but name.
MIN_TEMPERATURE = 0.05


#: The palette as rows (a, lowest b, highest b), Lab units, every 10: the cells of the 10-unit
#: ab grid holding an sRGB colour at some lightness. Written out because finding them
#: (:func:`in_gamut_cells`) takes seconds; a test checks the table against it.
_ROWS: tuple[tuple[int, int, int], ...] = (
    (-90, 80, 80), (-80, 40, 80), (-70, 20, 90), (-60, 0, 90), (-50, -20, 90),
    (-40, -30, 90), (-30, -40, 90), (-20, -40, 90), (-10, -50, 90), (0, -60, 90),
    (10, -70, 80), (20, -80, 80), (30, -80, 80), (40, -90, 80), (50, -90, 70),
    (60, -100, 70), (70, -110, 70), (80, -110, 70), (90, -90, 0), (100, -70, -50),
)  # fmt: skip


def in_gamut_cells() -> torch.Tensor:
    """The palette found from scratch: ``(Q, 2)`` float32 centres of the 10 × 10 ab cells in
    which some of 100 sample points (a 10 × 10 grid inside the cell), at some whole lightness
    from 0 to 100, is an sRGB colour (it survives Lab → sRGB → Lab within 0.5). Seconds of
    CPU: :func:`ab_palette` uses the same set written out."""
    step = PALETTE_STEP
    centres = (torch.arange(_CELLS, dtype=torch.float32, device="cpu") - _CELLS // 2) * step
    offsets = (torch.arange(10, dtype=torch.float32, device="cpu") + 0.5) / 10 * step - step / 2
    axis = (centres.view(-1, 1) + offsets.view(1, -1)).flatten()  # (230,)
    a, b = torch.meshgrid(axis, axis, indexing="ij")
    inside = torch.zeros(a.shape, dtype=torch.bool, device="cpu")
    for lightness in range(101):
        lab = torch.stack((torch.full_like(a, float(lightness)), a, b))
        back = rgb_to_lab(lab_to_rgb(lab))  # lab_to_rgb clips: a colour outside sRGB moves
        inside |= (back - lab).abs().amax(dim=0) < 0.5
    cells = inside.view(_CELLS, 10, _CELLS, 10).any(dim=3).any(dim=1)  # (23, 23)
    ia, ib = torch.nonzero(cells, as_tuple=True)
    return torch.stack((centres[ia], centres[ib]), dim=1).contiguous()


@lru_cache(maxsize=1)
def _palette_cpu() -> torch.Tensor:
    pairs = [(a, b) for a, lo, hi in _ROWS for b in range(lo, hi + 1, int(PALETTE_STEP))]
    return torch.tensor(pairs, dtype=torch.float32, device="cpu")


def ab_palette() -> torch.Tensor:
    """The palette's bin centres: ``(Q, 2)`` float32 Lab (a, b) on the CPU, ``Q`` = 262,
    ordered by a then b. The same on every machine (computed, not learned)."""
    return _palette_cpu().clone()


@lru_cache(maxsize=1)
def _nearest_lut() -> torch.Tensor:
    """``(23 * 23,)`` long: for every grid cell, the index of the nearest palette bin."""
    palette = _palette_cpu()
    centres = (torch.arange(_CELLS, dtype=torch.float32, device="cpu") - _CELLS // 2) * 10
    a, b = torch.meshgrid(centres, centres, indexing="ij")
    grid = torch.stack((a.flatten(), b.flatten()), dim=1)
    return torch.cdist(grid, palette).argmin(dim=1)


def palette_index(ab: torch.Tensor) -> torch.Tensor:
    """``(N, 2, H, W)`` Lab ab → ``(N, H, W)`` long: the palette bin of each pixel (the
    nearest cell centre, or the nearest palette bin to it when that cell is out of gamut)."""
    q = (ab / PALETTE_STEP).round().long().clamp(-(_CELLS // 2), _CELLS // 2) + _CELLS // 2
    lut = _nearest_lut().to(ab.device)
    return lut[q[:, 0] * _CELLS + q[:, 1]]


def palette_prior(ab: torch.Tensor) -> torch.Tensor:
    """The empirical distribution ``(Q,)`` (sums to 1) of the palette bins of ab pixels
    ``(N, 2, H, W)``, smoothed with a Gaussian of σ = 5 Lab units over the bin centres."""
    palette = _palette_cpu().to(ab.device)
    counts = torch.bincount(palette_index(ab).flatten(), minlength=palette.shape[0]).float()
    kernel = torch.exp(-torch.cdist(palette, palette).square() / (2 * _SOFT_SIGMA**2))
    smooth = kernel @ counts
    return smooth / smooth.sum()


def soft_encode(ab: torch.Tensor, palette: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft targets for ab pixels ``(N, 2, H, W)`` over ``palette`` ``(Q, 2)``.

    Returns ``(idx, weight)``: ``(N, 5, H, W)`` long indices of each pixel's five nearest bins
    and their ``(N, 5, H, W)`` float32 weights (a Gaussian of σ = 5 on the distance, summing
    to 1 per pixel). The dense target would be ``zeros(N, Q, H, W).scatter_(1, idx, weight)``.
    """
    n, _, h, w = ab.shape
    pixels = ab.permute(0, 2, 3, 1).reshape(-1, 2).float()
    dist = torch.cdist(pixels, palette.to(pixels))  # (P, Q)
    d, idx = dist.topk(_SOFT_NEIGHBOURS, dim=1, largest=False)
    weight = torch.softmax(-d.square() / (2 * _SOFT_SIGMA**2), dim=1)
    shape = (n, h, w, _SOFT_NEIGHBOURS)
    return (
        idx.view(shape).permute(0, 3, 1, 2).contiguous(),
        weight.view(shape).permute(0, 3, 1, 2).contiguous(),
    )


def temperature(vividness: float) -> float:
    """The annealing temperature of a vividness in [0, 1]: ``max(1 − vividness, 0.05)``."""
    return max(1.0 - float(vividness), MIN_TEMPERATURE)


def annealed_mean(logits: torch.Tensor, palette: torch.Tensor, T: float) -> torch.Tensor:
    """``(N, Q, H, W)`` logits over ``palette`` ``(Q, 2)`` → ``(N, 2, H, W)`` float32 Lab ab:
    the mean of ``softmax(logits / T)``. ``T = 1`` is the plain mean; lower is more vivid."""
    logits = logits.float()
    # softmax and weighted sum in one pass: exp, then a 1x1 conv giving Σp·a, Σp·b and Σp
    # (1.5x faster on the CPU than softmax followed by einsum)
    e = (logits - logits.amax(dim=1, keepdim=True)).mul_(1.0 / T).exp_()
    pal = palette.to(e)
    weight = torch.cat((pal.t(), torch.ones_like(pal[:, :1]).t())).view(3, -1, 1, 1)
    sums = F.conv2d(e, weight)
    return sums[:, :2] / sums[:, 2:]
