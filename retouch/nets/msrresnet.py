"""BasicSR's MSRResNet ("modified SRResNet", Wang et al. 2018), laid out so BasicSR's weights load as they are.

The module names are those of XPixelGroup/BasicSR ``archs/srresnet_arch.py``: ``conv_first``,
``body.<i>.conv1``/``conv2`` (residual blocks without batch norm, ReLU inside), ``upconv1``
(and ``upconv2`` at x4, two x2 pixel-shuffle stages), ``conv_hr``, ``conv_last``; LeakyReLU 0.1
between stages, and the bilinearly upsampled input added to the output, so the network only
learns the residual detail.

BasicSR trains on images in [0, 1]; every retouch net takes and returns [-1, 1]. With
``unit_range=True`` (BasicSR's weights) the net maps its input to [0, 1] and its output back,
so callers (tiling, ONNX export) see the project's convention.
"""

import torch.nn.functional as F
from torch import Tensor, nn

MSR_SCALES = (2, 3, 4)


class ResidualBlockNoBN(nn.Module):
    """x + conv2(ReLU(conv1(x))): EDSR's block without batch norm."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    """x2, x3 or x4 super-resolution of any h x w input (BasicSR's default: 64 features, 16 blocks)."""

    def __init__(self, scale: int = 4, in_channels: int = 3, out_channels: int = 3, channels: int = 64,
                 n_blocks: int = 16, unit_range: bool = True) -> None:
        super().__init__()
        if scale not in MSR_SCALES:
            raise ValueError(f"MSRResNet scale must be one of {', '.join(map(str, MSR_SCALES))}, got {scale}.")
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}.")
        self.scale, self.unit_range = scale, unit_range
        self.conv_first = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.body = nn.Sequential(*(ResidualBlockNoBN(channels) for _ in range(n_blocks)))
        step = 2 if scale == 4 else scale
        self.upconv1 = nn.Conv2d(channels, channels * step * step, 3, padding=1)
        self.upconv2 = nn.Conv2d(channels, channels * 4, 3, padding=1) if scale == 4 else None
        self.pixel_shuffle = nn.PixelShuffle(step)
        self.conv_hr = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_last = nn.Conv2d(channels, out_channels, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.1)

    def forward(self, x: Tensor) -> Tensor:
        if self.unit_range:
            x = (x + 1) / 2
        out = self.body(self.lrelu(self.conv_first(x)))
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.upconv2 is not None:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        out = out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return out * 2 - 1 if self.unit_range else out
