"""Chroma upsampling, render size and device choice of the colorizer."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from filmcolor.errors import UsageError, WeightsError
from filmcolor.model.colorizer import (
    Colorizer,
    guided_upsample,
    render_shape,
    resize_L,
    resolve_device,
)


def _bleed(row: torch.Tensor, edge: int, left: float, right: float) -> int:
    """Pixels on each side of ``edge`` more than 10 % of the step away from their side's value."""
    tol = 0.1 * abs(left - right)
    return int(((row[:edge] - left).abs() > tol).sum() + ((row[edge:] - right).abs() > tol).sum())


@pytest.mark.parametrize("edge", [64, 66, 67])  # on and off the 4-pixel grid
def test_step_edge_at_4x_bleeds_at_most_2px_where_bilinear_bleeds_4(edge: int) -> None:
    H, W = 32, 128
    L = torch.full((1, 1, H, W), 30.0)
    L[..., edge:] = 70.0
    L_low = resize_L(L, (H // 4, W // 4))
    # The model's chroma follows its (low-resolution) input: +40 on dark, -40 on bright.
    a_low = 40.0 - (L_low - 30.0) * 2.0
    ab_low = torch.cat((a_low, -a_low), dim=1)
    ours = guided_upsample(L_low / 100, ab_low, L / 100, radius=2, eps=1e-3)
    plain = F.interpolate(ab_low, size=(H, W), mode="bilinear", align_corners=False)
    for ch, (left, right) in enumerate(((40.0, -40.0), (-40.0, 40.0))):
        row_ours, row_plain = ours[0, ch, H // 2], plain[0, ch, H // 2]
        assert _bleed(row_ours, edge, left, right) <= 2
        assert _bleed(row_plain, edge, left, right) >= 4


def test_guided_upsample_keeps_flat_chroma_exactly() -> None:
    L = torch.rand(2, 1, 40, 60) * 100
    L_low = resize_L(L, (10, 15))
    ab = torch.tensor([12.0, -7.0]).view(1, 2, 1, 1).expand(2, 2, 10, 15)
    out = guided_upsample(L_low / 100, ab, L / 100, 2, 1e-3)
    assert out.shape == (2, 2, 40, 60)
    assert torch.allclose(
        out, torch.tensor([12.0, -7.0]).view(1, 2, 1, 1).expand_as(out), atol=1e-4
    )


@pytest.mark.parametrize(
    ("hw", "size", "expected"),
    [((1080, 1920), 256, (256, 455)), ((241, 321), 256, (256, 341)), ((720, 405), 256, (455, 256))],
)
def test_render_shape_keeps_aspect(hw: tuple[int, int], size: int, expected: tuple) -> None:
    assert render_shape(*hw, size) == expected


def test_devices() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(UsageError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA GPU"):
            resolve_device("cuda:0")


@pytest.mark.slow
def test_colorizer_pads_odd_render_sizes_and_returns_full_size(const_weights) -> None:
    from filmcolor.config import ColorizeConfig

    col = Colorizer(const_weights, ColorizeConfig(device="cpu", render_size=70))
    L = torch.rand(3, 1, 99, 131) * 100
    L_out, ab = col.predict(L)
    assert L_out.shape == (3, 1, 99, 131)
    assert ab.shape == (3, 2, 99, 131) and ab.dtype == torch.float32
    assert torch.allclose(ab[:, 0], torch.full_like(ab[:, 0], 20.0), atol=0.01)
    L_half, ab_half = col.predict(L, (50, 66))
    assert L_half.shape == (3, 1, 50, 66) and ab_half.shape == (3, 2, 50, 66)


def test_missing_default_weights_says_how_to_get_them(monkeypatch, tmp_path) -> None:
    import filmcolor.model.colorizer as colorizer

    monkeypatch.setattr(colorizer, "default_weights_path", lambda: tmp_path / "x.safetensors")
    with pytest.raises(WeightsError, match="filmcolor train"):
        Colorizer(None)
