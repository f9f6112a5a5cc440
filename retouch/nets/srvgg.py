"""Real-ESRGAN's SRVGGNetCompact (realesr-general-x4v3, realesr-animevideov3), laid out so its weights load as they are.

The module names are those of xinntao/Real-ESRGAN ``archs/srvgg_arch.py``: one list ``body`` of a
3x3 conv (input to ``channels``), an activation, then ``n_convs`` times a conv and an activation,
and a last conv to ``out_channels * scale ** 2``; pixel shuffle by ``scale``, and the input,
nearest-upsampled, added, so the network learns the residual only. All convs work at the input's
resolution: the upsampling is the last step. The activation is a PReLU with one slope per channel
(``body.<odd i>.weight``), or ReLU / LeakyReLU 0.1, which keep no weights.

Real-ESRGAN works on RGB in [0, 1]; every retouch net takes and returns [-1, 1]. With
``unit_range=True`` (its weights) the net maps its input to [0, 1] and its output back.
"""

import torch.nn.functional as F
from torch import Tensor, nn

ACTS = ("prelu", "relu", "leakyrelu")


def _act(kind: str, channels: int) -> nn.Module:
    if kind == "prelu":
        return nn.PReLU(channels)
    return nn.ReLU() if kind == "relu" else nn.LeakyReLU(0.1)


class SRVGGNetCompact(nn.Module):
    """x`scale` super-resolution by a plain stack of convs (Real-ESRGAN's defaults: 64 features, 16
    convs, PReLU; realesr-general-x4v3 has 32 convs, realesr-animevideov3 16)."""

    def __init__(self, scale: int = 4, in_channels: int = 3, out_channels: int = 3, channels: int = 64, n_convs: int = 16,
                 act: str = "prelu", unit_range: bool = True) -> None:
        super().__init__()
        if act not in ACTS:
            raise ValueError(f"act must be one of {', '.join(ACTS)}, got {act!r}.")
        if scale < 1 or n_convs < 0:
            raise ValueError(f"scale must be >= 1 and n_convs >= 0, got {scale} and {n_convs}.")
        self.scale, self.unit_range = scale, unit_range
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1), _act(act, channels)]
        for _ in range(n_convs):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), _act(act, channels)]
        layers.append(nn.Conv2d(channels, out_channels * scale * scale, 3, padding=1))
        self.body = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.unit_range:
            x = (x + 1) / 2
        out = x
        for layer in self.body:
            out = layer(out)
        out = F.pixel_shuffle(out, self.scale) + F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return out * 2 - 1 if self.unit_range else out
