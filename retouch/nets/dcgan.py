"""DCGAN building blocks (Radford et al. 2016), shared by the small generators and discriminators
of the shared-latent family, TD-GAN and key patches: stride-2 4x4 (transposed) convolutions with
batch norm, ReLU up and LeakyReLU 0.2 down, between 4x4 and a power-of-two image side.
"""

from __future__ import annotations

from torch import nn


def up(c_in: int, c_out: int) -> list[nn.Module]:
    """Twice the side: transposed 4x4 convolution, batch norm, ReLU."""
    return [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]


def down(c_in: int, c_out: int, norm: bool = True) -> list[nn.Module]:
    """Half the side: 4x4 convolution, batch norm (not on the first layer, as DCGAN), LeakyReLU 0.2."""
    return [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=not norm), *([nn.BatchNorm2d(c_out)] if norm else []),
            nn.LeakyReLU(0.2, True)]


def levels(size: int) -> int:
    """Stride-2 steps between 4x4 and a `size` square (a power of two >= 8)."""
    if size < 8 or size & (size - 1):
        raise ValueError(f"size must be a power of two >= 8, got {size}.")
    return size.bit_length() - 3
