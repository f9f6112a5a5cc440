"""ESRGAN's RRDBNet (Wang et al. 2018), as BasicSR and Real-ESRGAN lay it out, so their weights load as they are.

The module names are those of XPixelGroup/BasicSR ``archs/rrdbnet_arch.py``: ``conv_first``,
``body.<i>.rdb1``..``rdb3`` (residual-in-residual dense blocks, each of three dense blocks of five
convs, ``conv1``..``conv5``), ``conv_body``, ``conv_up1``, ``conv_up2`` (each after a nearest x2
upsampling), ``conv_hr``, ``conv_last``; LeakyReLU 0.2 throughout, and both residuals scaled by 0.2.
No normalisation layers, no global skip from the input: the output is the network's alone.

Scales: the body always upsamples by ``2 ** upsamples`` (BasicSR: 2 stages, x4). Real-ESRGAN's
x2 and x1 models keep that body and fold the input first (pixel unshuffle by 2 or 4, so
``conv_first`` sees 12 or 48 channels, and the input's sides must divide by 2 or 4); the original
ESRGAN code's x2 and x8 models have one or three upsampling stages instead. ``scale`` is the
output side over the input side; the fold is ``2 ** upsamples / scale``.

ESRGAN trains on RGB in [0, 1]; every retouch net takes and returns [-1, 1]. With
``unit_range=True`` (their weights) the net maps its input to [0, 1] and its output back.
Reading the other key layouts of the same network (the ESRGAN repository's ``RRDB_trunk``,
the original ``model.N`` one) is `retouch.models.foreign.esrgan`'s business.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the input and every earlier conv's output; x + 0.2 * conv5."""

    def __init__(self, channels: int, growth: int) -> None:
        super().__init__()
        for i in range(4):
            setattr(self, f"conv{i + 1}", nn.Conv2d(channels + i * growth, growth, 3, padding=1))
        self.conv5 = nn.Conv2d(channels + 4 * growth, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
        return x + 0.2 * self.conv5(torch.cat(feats, 1))


class RRDB(nn.Module):
    """Three dense blocks in a row, and their result scaled by 0.2 and added to the input."""

    def __init__(self, channels: int, growth: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(channels, growth)
        self.rdb2 = ResidualDenseBlock(channels, growth)
        self.rdb3 = ResidualDenseBlock(channels, growth)

    def forward(self, x: Tensor) -> Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """x1 to x8 super-resolution (the defaults are ESRGAN's and Real-ESRGAN's x4: 64 features, 23
    blocks, growth 32, two x2 upsampling stages)."""

    def __init__(self, scale: int = 4, in_channels: int = 3, out_channels: int = 3, channels: int = 64, n_blocks: int = 23,
                 growth: int = 32, upsamples: int = 2, unit_range: bool = True) -> None:
        super().__init__()
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}.")
        if upsamples < 0 or scale < 1 or scale & (scale - 1) or scale > 2**upsamples:
            raise ValueError(f"An RRDBNet with {upsamples} x2 upsampling stages upscales by a power of two up to "
                             f"{2**max(upsamples, 0)}, not by {scale}.")
        self.scale, self.unit_range, self.fold = scale, unit_range, 2**upsamples // scale
        self.conv_first = nn.Conv2d(in_channels * self.fold**2, channels, 3, padding=1)
        self.body = nn.Sequential(*(RRDB(channels, growth) for _ in range(n_blocks)))
        self.conv_body = nn.Conv2d(channels, channels, 3, padding=1)
        self.upsamples = upsamples
        for i in range(upsamples):
            setattr(self, f"conv_up{i + 1}", nn.Conv2d(channels, channels, 3, padding=1))
        self.conv_hr = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_last = nn.Conv2d(channels, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        if self.unit_range:
            x = (x + 1) / 2
        if self.fold > 1:
            x = F.pixel_unshuffle(x, self.fold)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(self.upsamples):
            up = getattr(self, f"conv_up{i + 1}")
            feat = F.leaky_relu(up(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        out = self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))
        return out * 2 - 1 if self.unit_range else out
