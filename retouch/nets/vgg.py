"""VGG-19's convolutional part, loaded from a torchvision-format state dict the user supplies.

Only for the optional VGG content loss of SRGAN: the weights are ImageNet-trained and not ours to
ship, so nothing is downloaded. The module layout is torchvision's (``features.0.weight`` ...), so
its ``vgg19`` files load as they are; the classifier part of such a file is ignored.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from retouch.errors import RetouchError

LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet statistics the weights expect


def _relu_names() -> dict[str, int]:
    """'relu{block}_{conv}' -> index of that ReLU in ``features`` (relu5_4 -> 35, SRGAN's VGG54)."""
    names, block, conv, i = {}, 1, 0, 0
    for v in LAYOUT:
        if v == "M":
            block, conv, i = block + 1, 0, i + 1
        else:
            conv += 1
            names[f"relu{block}_{conv}"] = i + 1
            i += 2
    return names


RELUS = _relu_names()


def _layers(upto: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    prev = 3
    for v in LAYOUT:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(prev, v, 3, padding=1), nn.ReLU(inplace=True)]
            prev = v
    return layers[: upto + 1]


class VGGFeatures(nn.Module):
    """VGG-19 up to one ReLU, frozen, taking images in [-1, 1] (it applies ImageNet normalisation)."""

    def __init__(self, layer: str = "relu5_4") -> None:
        super().__init__()
        if layer not in RELUS:
            raise RetouchError(f"Unknown VGG layer {layer!r}; use one of {', '.join(RELUS)}.")
        self.features = nn.Sequential(*_layers(RELUS[layer]))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.features(((x + 1) / 2 - self.mean) / self.std)
