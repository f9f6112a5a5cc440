"""Super-resolution networks of SRGAN (Ledig et al. 2017): the SRResNet generator and its discriminator.

The generator works at the low resolution throughout (9x9 stem, residual blocks, a long skip)
and only its last stages upsample, by sub-pixel convolution (conv to r^2 x channels, then
PixelShuffle(r)), so its cost grows with the input, not the output. Two departures from the
paper, both EDSR's (Lim et al. 2017): normalisation is optional and off by default (batch norm
in SR blurs and shifts colours, and without it tiles are independent of batch statistics), and
the output is linear rather than tanh (clamped at inference), which trains faster.
"""

from torch import Tensor, nn

from retouch.nets.layers import block_outputs, conv_bias, norm_layer

SCALES = (2, 3, 4, 8)


def _upsample_factors(scale: int) -> list[int]:
    """Sub-pixel stages: x2 steps for powers of two, one x3 stage for 3."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(map(str, SCALES))}, got {scale}.")
    return [3] if scale == 3 else [2] * (scale.bit_length() - 1)


class ResidualBlock(nn.Module):
    """x + (conv3x3, norm, PReLU, conv3x3, norm)(x)."""

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        bias = conv_bias(norm)
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias), norm_layer(norm, channels), nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias), norm_layer(norm, channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """SRResNet: an h x w input gives a (scale*h) x (scale*w) output, for any h and w.

    64 channels and 16 blocks (the paper's) at x4 is 1.55M parameters, 3.1 MB in fp16.
    """

    def __init__(self, scale: int = 4, in_channels: int = 3, out_channels: int = 3, channels: int = 64,
                 n_blocks: int = 16, norm: str = "none") -> None:
        super().__init__()
        factors = _upsample_factors(scale)
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}.")
        self.head = nn.Sequential(nn.Conv2d(in_channels, channels, 9, padding=4), nn.PReLU(channels))
        self.body = nn.Sequential(
            *(ResidualBlock(channels, norm) for _ in range(n_blocks)),
            nn.Conv2d(channels, channels, 3, padding=1, bias=conv_bias(norm)), norm_layer(norm, channels),
        )
        up: list[nn.Module] = []
        for r in factors:
            up += [nn.Conv2d(channels, channels * r * r, 3, padding=1), nn.PixelShuffle(r), nn.PReLU(channels)]
        self.upsample = nn.Sequential(*up)
        self.tail = nn.Conv2d(channels, out_channels, 9, padding=4)

    def forward(self, x: Tensor) -> Tensor:
        h = self.head(x)
        return self.tail(self.upsample(h + self.body(h)))


class SRGANDiscriminator(nn.Module):
    """SRGAN's discriminator: 3x3 convs, stride 1 then 2 per stage, channels doubling from ``ndf``
    (capped at 8x), LeakyReLU 0.2; then global average pooling and two 1x1 convs (the paper's
    dense layers) to one logit per image, so it accepts any input size.

    ``features(x)`` returns the 2 * ``n_stages`` hidden block outputs for the PAN loss.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_stages: int = 4, norm: str = "batch") -> None:
        super().__init__()
        if n_stages < 1:
            raise ValueError(f"n_stages must be >= 1, got {n_stages}.")
        layers: list[nn.Module] = []
        prev = in_channels
        for i in range(n_stages):
            ch = ndf * min(2**i, 8)
            for stride in (1, 2):
                first = i == 0 and stride == 1  # the stem has no norm, as in the paper
                layers.append(nn.Conv2d(prev, ch, 3, stride=stride, padding=1, bias=first or conv_bias(norm)))
                if not first:
                    layers.append(norm_layer(norm, ch))
                layers.append(nn.LeakyReLU(0.2, True))
                prev = ch
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(prev, prev * 2, 1), nn.LeakyReLU(0.2, True),
                                  nn.Conv2d(prev * 2, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))

    def features(self, x: Tensor) -> list[Tensor]:
        return block_outputs(self.body, x)
