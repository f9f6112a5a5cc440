"""pytorch-CycleGAN-and-pix2pix's generators (models/networks.py) as that code builds them, written
from its definitions and independent of `retouch.nets`, so parity tests compare our reading of a
saved `latest_net_G.pth` against the network that saved it rather than against itself.

What matters for parity, and differs from a first guess:

- `get_norm_layer`: batch is BatchNorm2d(affine, running statistics); instance is InstanceNorm2d
  without affine parameters or running statistics; none is a function returning an Identity.
- `use_bias` is true only for instance norm: the test `norm_layer == nn.InstanceNorm2d` is false
  for the plain function of `none`, so a `--norm none` generator's convs have no biases (the
  outermost U-Net up-conv and the ResNet's last conv always have one).
- Dropout(0.5) sits after the up-norm of the `num_downs - 5` U-Net levels above the innermost, and
  between the two convs of each ResNet block; it has no weights, so a U-Net's keys do not show it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

NETG = {"unet_128": ("unet", 7), "unet_256": ("unet", 8), "resnet_6blocks": ("resnet", 6), "resnet_9blocks": ("resnet", 9)}
TRAINING_SIZE = {"unet_128": 128, "unet_256": 256, "resnet_6blocks": 256, "resnet_9blocks": 256}


def norm_and_bias(norm: str) -> tuple[Callable[[int], nn.Module], bool]:
    """The reference's norm layer factory and its `use_bias` for `--norm`."""
    if norm == "batch":
        return (lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=True)), False
    if norm == "instance":
        return (lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)), True
    if norm == "none":
        return (lambda c: nn.Identity()), False
    raise ValueError(norm)


class SkipConnectionBlock(nn.Module):
    """UnetSkipConnectionBlock: its layers in `model`, the inner block inside; all but the outermost
    concatenate their input to their output."""

    def __init__(self, outer: int, inner: int, norm: str, in_nc: int | None = None, sub: nn.Module | None = None,
                 outermost: bool = False, dropout: bool = False) -> None:
        super().__init__()
        self.outermost = outermost
        make_norm, bias = norm_and_bias(norm)
        down = nn.Conv2d(in_nc or outer, inner, 4, 2, 1, bias=bias)
        if outermost:
            layers = [down, sub, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif sub is None:  # innermost: no norm on the way down, and nothing below to concatenate
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias),
                      make_norm(outer)]
        else:
            layers = [nn.LeakyReLU(0.2, True), down, make_norm(inner), sub, nn.ReLU(True),
                      nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias), make_norm(outer)]
            layers += [nn.Dropout(0.5)] if dropout else []
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """`unet_128` (num_downs 7) or `unet_256` (8): built from the innermost block outwards."""

    def __init__(self, in_nc: int, out_nc: int, num_downs: int, ngf: int, norm: str, dropout: bool) -> None:
        super().__init__()
        block = SkipConnectionBlock(ngf * 8, ngf * 8, norm)
        for _ in range(num_downs - 5):
            block = SkipConnectionBlock(ngf * 8, ngf * 8, norm, sub=block, dropout=dropout)
        for mult in (4, 2, 1):
            block = SkipConnectionBlock(ngf * mult, ngf * mult * 2, norm, sub=block)
        self.model = SkipConnectionBlock(out_nc, ngf, norm, in_nc=in_nc, sub=block, outermost=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ResnetBlock(nn.Module):
    """x + conv_block(x), reflect padding (the reference's default `padding_type`)."""

    def __init__(self, dim: int, norm: str, dropout: bool) -> None:
        super().__init__()
        make_norm, bias = norm_and_bias(norm)
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(dim), nn.ReLU(True)]
        layers += [nn.Dropout(0.5)] if dropout else []
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """`resnet_6blocks` / `resnet_9blocks`: 7x7 stem, two stride-2 convs, the blocks, two
    transposed convs, 7x7 conv and Tanh, in one Sequential."""

    def __init__(self, in_nc: int, out_nc: int, n_blocks: int, ngf: int, norm: str, dropout: bool) -> None:
        super().__init__()
        make_norm, bias = norm_and_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_nc, ngf, 7, bias=bias), make_norm(ngf), nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=bias), make_norm(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1, bias=bias),
                       make_norm(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def define_g(netg: str, ngf: int = 8, norm: str = "batch", dropout: bool = False) -> nn.Module:
    """`networks.define_G` for one of the four `--netG` names, RGB to RGB."""
    kind, depth = NETG[netg]
    return (UnetGenerator if kind == "unet" else ResnetGenerator)(3, 3, depth, ngf, norm, dropout)


def trained_like(net: nn.Module, size: int, seed: int = 0, steps: int = 4) -> nn.Module:
    """`net` with weights far from the reference's N(0, 0.02) start, batch-norm statistics gathered
    as training gathers them (train mode, batches of `size` crops), and its last conv scaled so the
    Tanh works mostly in its linear range; in eval mode.

    Why: at the start weights the output is nearly constant and any reading matches it; random
    statistics unrelated to the activations, or a saturated Tanh, would hide differences too.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.weight[:, 0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + torch.randn(m.weight.shape, generator=g) * 0.2)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.momentum = None  # a cumulative average over the batches below
        net.train()
        for _ in range(steps):
            net(torch.rand(2, 3, size, size, generator=g) * 2 - 1)
        net.eval()
        last = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]  # the one before the Tanh
        spread = []
        hook = last.register_forward_hook(lambda _m, _i, out: spread.append(out.std()))
        net(torch.rand(2, 3, size, size, generator=g) * 2 - 1)
        hook.remove()
        last.weight.mul_(0.8 / spread[0])
        last.bias.mul_(0.8 / spread[0])
    return net
