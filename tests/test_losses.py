"""GAN objectives: hand-computed values, the WGAN-GP penalty, and bf16 autocast."""

import math

import pytest
import torch
from torch import nn

from retouch.losses import GAN_MODES, GANObjective, gradient_penalty
from retouch.nets.patchgan import NLayerDiscriminator

REAL = torch.tensor([[2.0], [-1.0]])  # logits an identity "D" passes through unchanged
FAKE = torch.tensor([[0.5], [-3.0]])
IDENTITY = nn.Identity()


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def test_vanilla():
    gan = GANObjective("vanilla")
    # BCE(l, 1) = softplus(-l), BCE(l, 0) = softplus(l)
    d_real = (softplus(-2.0) + softplus(1.0)) / 2
    d_fake = (softplus(0.5) + softplus(-3.0)) / 2
    assert gan.d_loss(IDENTITY, REAL, FAKE).item() == pytest.approx(0.5 * (d_real + d_fake))
    assert gan.d_loss(IDENTITY, REAL, FAKE).item() == pytest.approx(0.6157135, abs=1e-6)
    assert gan.g_loss(IDENTITY, FAKE).item() == pytest.approx((softplus(-0.5) + softplus(3.0)) / 2)


def test_lsgan():
    gan = GANObjective("lsgan")
    # real: ((2-1)^2 + (-1-1)^2)/2 = 2.5; fake: (0.25 + 9)/2 = 4.625
    assert gan.d_loss(IDENTITY, REAL, FAKE).item() == pytest.approx(0.5 * (2.5 + 4.625))
    # ((0.5-1)^2 + (-3-1)^2)/2
    assert gan.g_loss(IDENTITY, FAKE).item() == pytest.approx(8.125)


def test_hinge():
    gan = GANObjective("hinge")
    # relu(1 - [2, -1]) = [0, 2] -> 1; relu(1 + [0.5, -3]) = [1.5, 0] -> 0.75
    assert gan.d_loss(IDENTITY, REAL, FAKE).item() == pytest.approx(1.75)
    assert gan.g_loss(IDENTITY, FAKE).item() == pytest.approx(1.25)
    satisfied = gan.d_loss(IDENTITY, torch.tensor([[1.0], [7.0]]), torch.tensor([[-1.0], [-2.5]]))
    assert satisfied.item() == 0.0


def test_wgangp_values_on_identity():
    gan = GANObjective("wgangp")
    # an identity critic on 1-value samples has gradient norm exactly 1: the penalty vanishes
    assert gan.d_loss(IDENTITY, REAL, FAKE).item() == pytest.approx(-1.25 - 0.5, abs=1e-5)
    assert gan.g_loss(IDENTITY, FAKE).item() == pytest.approx(1.25)


def test_wgan_is_the_plain_wasserstein_estimate():
    gan = GANObjective("wgan")
    # mean fake - mean real = -1.25 - 0.5; no penalty (clipping bounds the critic instead)
    assert gan.d_loss(IDENTITY, REAL, FAKE).item() == pytest.approx(-1.75)
    assert gan.g_loss(IDENTITY, FAKE).item() == pytest.approx(1.25)


def test_wgangp_is_wasserstein_plus_exactly_the_penalty():
    torch.manual_seed(0)
    d = NLayerDiscriminator(3, ndf=4, n_layers=1, norm="none")
    real, fake = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16)
    torch.manual_seed(1)
    loss = GANObjective("wgangp", gp_weight=10.0).d_loss(d, real, fake)
    torch.manual_seed(1)
    gp = gradient_penalty(d, real, fake, weight=10.0)
    with torch.no_grad():
        wasserstein = d(fake).mean() - d(real).mean()
    assert gp.item() > 1.0  # a freshly initialised conv critic is far from unit gradient norm
    assert loss.item() == pytest.approx((wasserstein + gp).item(), rel=1e-6)
    loss.backward()
    weights = [m.weight for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert all(w.grad.abs().sum() > 0 for w in weights)


def _linear_critic(scale: float) -> nn.Module:
    torch.manual_seed(0)
    d = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 1))
    with torch.no_grad():
        d[1].weight.mul_(scale / d[1].weight.norm())
    return d


def test_gradient_penalty_zero_for_unit_gradient_norm():
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    assert gradient_penalty(_linear_critic(1.0), real, fake).item() == pytest.approx(0.0, abs=1e-6)


def test_gradient_penalty_positive_and_trains_the_critic():
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    d = _linear_critic(3.0)
    gp = gradient_penalty(d, real, fake, weight=10.0)
    assert gp.item() == pytest.approx(10.0 * (3.0 - 1.0) ** 2, rel=1e-5)
    gp.backward()
    # d/dw 10 (|w| - 1)^2 = 20 (|w| - 1) w / |w|
    w = d[1].weight.detach()
    assert torch.allclose(d[1].weight.grad, 20 * 2.0 * w / 3.0, atol=1e-5)
    assert d[1].bias.grad is None  # the bias does not change the critic's gradient


@pytest.mark.parametrize("mode", GAN_MODES)
def test_modes_under_bf16_autocast(mode):
    torch.manual_seed(0)
    d = NLayerDiscriminator(6, ndf=8, n_layers=2, norm="none")
    real, fake = torch.randn(2, 6, 32, 32), torch.randn(2, 6, 32, 32)
    gan = GANObjective(mode)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert d(real).dtype == torch.bfloat16
        d_loss = gan.d_loss(d, real, fake)
        g_loss = gan.g_loss(d, fake)
    assert d_loss.dtype == g_loss.dtype == torch.float32
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    d_loss.backward()
    # (the last bias can get exactly zero: it shifts real and fake scores alike)
    weights = [m.weight for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert all(torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0 for w in weights)


def test_unknown_mode():
    with pytest.raises(ValueError, match="vanilla, lsgan, hinge, wgan, wgangp"):
        GANObjective("wgan-clip")
