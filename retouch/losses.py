"""GAN objectives. The discriminator loss runs D itself, so WGAN-GP's penalty cannot be skipped.

Also the perceptual adversarial loss (PAN: distances between D's hidden features of real and
generated images) and the optional VGG-19 content loss. Reconstruction terms are plain
``torch.nn.functional.l1_loss``. Predictions are cast to fp32 before any loss, so the objectives
are safe under bf16 autocast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from retouch.errors import RetouchError

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


@dataclass(frozen=True)
class PerceptualAdversarial:
    """PAN's perceptual adversarial loss (Wang et al. 2018) on a discriminator with ``features(x)``.

    With ``P = sum_j weights[j] * mean|H_j(real) - H_j(fake)|`` over the hidden layers ``layers``
    (indices into ``D.features``; empty = all, weighted 1/count each so ``P`` is their mean), the
    generator minimises ``P`` beside its GAN loss and the discriminator minimises
    ``max(0, margin - P)`` beside its own: D keeps finding features in which generated images
    still differ from their targets, until they differ by the margin, and G keeps closing those gaps.

    Real and fake pass through D as one batch, so batch norm normalises both with the same
    statistics and a global colour or brightness shift stays visible in the features. The mean
    (not the sum) over each layer's values keeps ``P`` independent of image size and width.
    """

    layers: tuple[int, ...] = ()
    weights: tuple[float, ...] = ()
    margin: float = 0.3

    def __post_init__(self) -> None:
        if self.weights and self.layers and len(self.weights) != len(self.layers):
            raise RetouchError(f"pan_weights has {len(self.weights)} values for {len(self.layers)} pan_layers; give one per layer.")
        if self.margin < 0 or any(w < 0 for w in self.weights):
            raise RetouchError("pan_margin and pan_weights must not be negative.")

    def distance(self, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        """``P``: the weighted mean absolute difference of D's chosen hidden features."""
        if not hasattr(D, "features"):
            raise RetouchError(f"The PAN loss needs a discriminator with hidden features; {type(D).__name__} has none.")
        feats = D.features(torch.cat([real, fake]))
        layers = self.layers or tuple(range(len(feats)))
        if any(not -len(feats) <= j < len(feats) for j in layers):
            raise RetouchError(f"pan_layers {list(layers)} out of range: this discriminator has {len(feats)} hidden layers.")
        weights = self.weights or (1.0 / len(layers),) * len(layers)
        if len(weights) != len(layers):
            raise RetouchError(f"pan_weights has {len(weights)} values but D has {len(layers)} hidden layers; give one per layer.")
        terms = [F.l1_loss(*feats[j].float().chunk(2)) for j in layers]
        return sum(w * t for w, t in zip(weights, terms))

    def g_loss(self, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        """What the generator adds to its loss: ``P`` (gradients reach G through ``fake``)."""
        return self.distance(D, real, fake)

    def d_loss(self, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        """What the discriminator adds to its loss: ``max(0, m - P)``; ``fake`` is detached here."""
        return F.relu(self.margin - self.distance(D, real, fake.detach()))


@dataclass
class PANOptions:
    """The PAN settings every paired method's config carries (flat keys, so YAML stays flat).

    Defaults: every hidden layer of D (PatchGAN: 4, SRGAN's: 8), weighted equally (1/count), and
    margin 0.3. Measured with freshly initialised batch-norm discriminators on BSD100 crops, ``P``
    is about 0.15-0.22 between a bicubic x4 upscale and its target and 0.5-0.57 between two
    unrelated photos; 0.3 asks D to keep generated images clearly apart from their targets, short
    of calling them different photos, and stops D inflating its features without limit. The logs
    show ``D_pan`` (0 while D holds the margin) and ``G_pan``/``G_content`` (``P``).
    """

    pan_layers: list[int] = field(default_factory=list)  # indices into D.features(x); [] = all
    pan_weights: list[float] = field(default_factory=list)  # lambda_j, one per layer; [] = 1/count each
    pan_margin: float = 0.3  # m

    def pan(self) -> PerceptualAdversarial:
        return PerceptualAdversarial(tuple(self.pan_layers), tuple(float(w) for w in self.pan_weights), float(self.pan_margin))


class VGGContent(nn.Module):
    """SRGAN's content loss: MSE between VGG-19 features (default relu5_4, "VGG54") of output and target.

    The weights come from a torchvision ``vgg19`` state dict at ``path`` (see ``nets.vgg``).
    SRGAN rescales features by 1/12.75, i.e. a weight of about 0.006 on this loss.
    """

    def __init__(self, path: str | Path, layer: str = "relu5_4") -> None:
        super().__init__()
        from retouch.models.foreign.vgg import load_vgg19

        self.vgg = load_vgg19(path, layer)

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        return F.mse_loss(self.vgg(fake).float(), self.vgg(real).float())


class RebalancedBins:
    """Cross-entropy over chroma bins with class rebalancing (Zhang et al. 2016, "Colorful Image
    Colorization"): each pixel's loss is weighted by 1 / ((1 - `mix`) p(bin) + `mix` / bins), the
    prior p of its true bin smoothed by a Gaussian of one bin, normalised to a mean weight of one.

    Why: natural chroma is mostly near grey, so an unweighted loss learns that desaturated colours
    are always a safe answer (our L1 colouriser's failure: the classifier scored its colours below
    grey). The prior is the soft histogram of every target seen so far in training, kept in the
    checkpoint (`state`), so a resumed run weighs its next batch exactly as an unbroken one.
    """

    def __init__(self, n: int, mix: float = 0.5, device: torch.device | None = None):
        self.n, self.mix = n, mix
        self.counts = torch.zeros(n * n, dtype=torch.float64, device=device)

    def weights(self) -> Tensor:
        """Per-bin weights (bins²,) from the counts so far."""
        p = (self.counts / self.counts.sum().clamp(min=1)).float().view(1, 1, self.n, self.n)
        g = torch.exp(-torch.arange(-2, 3, device=p.device, dtype=p.dtype) ** 2 / 2)
        p = F.conv2d(p, (g[:, None] * g[None, :] / g.sum() ** 2)[None, None], padding=2).flatten()
        w = 1 / ((1 - self.mix) * p / p.sum().clamp(min=1e-12) + self.mix / p.numel())
        return w / (w * p / p.sum().clamp(min=1e-12)).sum()

    def __call__(self, logits: Tensor, target: Tensor) -> Tensor:
        """Mean weighted cross-entropy of logits (N x bins² x H x W) against soft targets (same shape)."""
        self.counts += target.detach().sum((0, 2, 3)).double()
        w = self.weights()[target.argmax(1)]  # the weight of each pixel's nearest bin
        return (-(target * F.log_softmax(logits.float(), 1)).sum(1) * w).mean()

    def state(self) -> dict:
        return {"counts": self.counts.clone()}

    def load(self, state: dict) -> None:
        self.counts.copy_(state["counts"])
