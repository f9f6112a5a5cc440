"""A small fully convolutional segmenter: one logit per pixel (here: "this pixel is a mosaic").

A mosaic is recognised by flat cells whose edges line up on a grid a few to a few dozen pixels
apart, so the net needs a receptive field of several cells but little capacity: a stem down to quarter
resolution, a dilated trunk at 1/16 (receptive field about 300 px), and a fusion of both at quarter
resolution, upsampled bilinearly (a mosaic's border is found to a pixel or two, then sharpened
by the grid fit where the grid holds). About 80k parameters at width 20; any input size works.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation), nn.ReLU(inplace=True)]


class Segmenter(nn.Module):
    """RGB in [-1, 1] (N x 3 x H x W) to logits (N x 1 x H x W)."""

    def __init__(self, width: int = 20, in_channels: int = 3):
        super().__init__()
        c = width
        self.stem = nn.Sequential(*_conv(in_channels, c, stride=2), *_conv(c, c, stride=2))
        self.trunk = nn.Sequential(*_conv(c, 2 * c, stride=2), *_conv(2 * c, 2 * c, dilation=2), *_conv(2 * c, 2 * c, stride=2),
                                   *_conv(2 * c, 2 * c, dilation=2), *_conv(2 * c, 2 * c, dilation=4))
        self.head = nn.Sequential(*_conv(3 * c, c), nn.Conv2d(c, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        fine = self.stem(x)
        coarse = F.interpolate(self.trunk(fine), size=fine.shape[2:], mode="bilinear", align_corners=False)
        return F.interpolate(self.head(torch.cat([fine, coarse], 1)), size=x.shape[2:], mode="bilinear", align_corners=False)
