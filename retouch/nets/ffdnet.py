"""A blind FFDNet-style denoiser: a plain stack of convs at half resolution, learning the residual.

FFDNet (Zhang, Zuo and Zhang 2018) folds each 2x2 block of pixels into channels (pixel unshuffle),
runs a plain conv + ReLU stack there, and unfolds the result: a quarter of the pixels to compute
on, a receptive field twice as wide, and denoising at least as good as DnCNN, which works at full
resolution. Ours differs in two ways, both for blind restoration: no noise-level map enters (the
damage of a shared photo is unknown: noise, JPEG, blur), and the stack predicts the residual that
is added to the input (DnCNN's residual learning), which trains faster than predicting the clean
image. Why not the pix2pix U-Net: its full-resolution level is one strided conv and one transposed
conv, so fine detail reaches the output only through one skip concatenation; trained on the same
chains for as long it denoised half as well as OpenCV's non-local means (docs/notes/restoration.md).
"""

import torch.nn.functional as F
from torch import Tensor, nn


class FFDNet(nn.Module):
    """`in_channels` -> `out_channels` (equal: the residual is added), `ngf` features, `n_convs` body convs."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_convs: int = 12, norm: str = "none") -> None:
        super().__init__()
        if in_channels != out_channels:
            raise ValueError(f"ffdnet adds its output to its input: in_channels ({in_channels}) must equal out_channels ({out_channels}).")
        if norm != "none":
            raise ValueError(f"ffdnet has no normalisation layers (norm: none), got {norm!r}.")
        if n_convs < 0:
            raise ValueError(f"n_convs must be >= 0, got {n_convs}.")
        layers: list[nn.Module] = [nn.Conv2d(4 * in_channels, ngf, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(n_convs):
            layers += [nn.Conv2d(ngf, ngf, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(ngf, 4 * out_channels, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """`x` with even sides (`nets.input_multiple` says so, and inference pads to it)."""
        return x + F.pixel_shuffle(self.body(F.pixel_unshuffle(x, 2)), 2)
