"""GAN objectives. The discriminator loss runs D itself, so WGAN-GP's penalty cannot be skipped.

Reconstruction terms are plain ``torch.nn.functional.l1_loss``. Predictions are cast to fp32 before
any loss, so the objectives are safe under bf16 autocast.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GAN_MODES = ("vanilla", "lsgan", "hinge", "wgan", "wgangp")


def gradient_penalty(D: nn.Module, real: Tensor, fake: Tensor, weight: float = 10.0) -> Tensor:
    """WGAN-GP's ``weight * E[(||grad_x D(x)||_2 - 1)^2]`` on random interpolates of real and fake.

    The norm is taken per sample over all of its input values; the graph is kept so the penalty
    trains D. D should not use batch norm (it mixes samples and breaks the per-sample gradient).
    """
    shape = (real.size(0),) + (1,) * (real.dim() - 1)  # one mixing weight per sample
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype)
    x = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).float().sum(), x, create_graph=True)
    # the small epsilon keeps the norm differentiable where a gradient is exactly zero
    norm = grad.float().flatten(1).pow(2).sum(1).add(1e-12).sqrt()
    return weight * (norm - 1).pow(2).mean()


@dataclass(frozen=True)
class GANObjective:
    """The adversarial losses of one GAN ``mode``; ``gp_weight`` is WGAN-GP's lambda.

    Callers pass ``fake`` already detached to ``d_loss`` and, for conditional GANs, real and fake
    already concatenated with their condition.
    """

    mode: str = "vanilla"
    gp_weight: float = 10.0

    def __post_init__(self) -> None:
        if self.mode not in GAN_MODES:
            raise ValueError(f"Unknown GAN mode {self.mode!r}; use one of {', '.join(GAN_MODES)}.")

    def d_loss(self, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        """The discriminator's loss (vanilla and lsgan halve the sum of terms, as pix2pix does)."""
        pred_real, pred_fake = D(real).float(), D(fake).float()
        if self.mode == "vanilla":
            return 0.5 * (_bce(pred_real, 1.0) + _bce(pred_fake, 0.0))
        if self.mode == "lsgan":
            return 0.5 * (_mse(pred_real, 1.0) + _mse(pred_fake, 0.0))
        if self.mode == "hinge":
            return F.relu(1 - pred_real).mean() + F.relu(1 + pred_fake).mean()
        wasserstein = pred_fake.mean() - pred_real.mean()
        if self.mode == "wgan":  # the critic's Lipschitz bound comes from weight clipping, done by the method
            return wasserstein
        return wasserstein + gradient_penalty(D, real, fake, self.gp_weight)

    def g_loss(self, D: nn.Module, fake: Tensor) -> Tensor:
        """The generator's adversarial loss: make D call ``fake`` real."""
        pred = D(fake).float()
        if self.mode == "vanilla":
            return _bce(pred, 1.0)
        if self.mode == "lsgan":
            return _mse(pred, 1.0)
        return -pred.mean()


def _bce(logits: Tensor, target: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _mse(pred: Tensor, target: float) -> Tensor:
    return F.mse_loss(pred, torch.full_like(pred, target))
