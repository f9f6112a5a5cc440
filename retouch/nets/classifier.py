"""A small ResNet classifier that ends in global average pooling and one linear layer.

That ending is what class activation maps need (Zhou et al. 2016): the logit of class c is the
spatial mean of `fc.weight[c] . features(x)`, so the same weighted sum, left unpooled, shows where
the evidence for c lies. The net is fully convolutional, so it also runs on photos larger than
its training crops.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convs with batch norm and an identity (or 1x1 projection) shortcut, as in ResNet."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNetGAP(nn.Module):
    """Stem conv, stages of basic blocks (width doubles and resolution halves from stage 2 on), GAP, fc.

    With 3 stages the last feature map has stride 4 (8x8 on a 32x32 image): fine enough for a
    CAM to say where an object is, where a stride-8 map would be a 4x4 blur.
    """

    def __init__(self, num_classes: int = 10, width: int = 32, blocks: list[int] = (1, 1, 1), in_channels: int = 3):
        super().__init__()
        if not blocks or min(blocks) < 1:
            raise ValueError(f"blocks {list(blocks)} must list at least one stage with at least one block each")
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        layers, cin = [], width
        for i, n in enumerate(blocks):
            cout = width * 2**i
            for j in range(n):
                layers.append(BasicBlock(cin, cout, 2 if i > 0 and j == 0 else 1))
                cin = cout
        self.stages = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last conv feature map (N x C x H/2^(stages-1) x W/2^(stages-1)), before pooling."""
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))
