"""PatchGAN discriminators of pix2pix: they judge overlapping patches, not whole images.

Both return raw logits (no sigmoid) so the GAN objective can pick BCE-with-logits, least squares,
hinge or Wasserstein. Keys match the reference (``model.*`` for NLayer, ``net.*`` for Pixel).
`features(x)` returns the hidden block outputs, which the perceptual adversarial loss (PAN) compares.
"""

from torch import Tensor, nn

from retouch.nets.layers import block_outputs, conv_bias, norm_layer

KERNEL = 4


def _strides(n_layers: int) -> list[int]:
    """Strides of the NLayer convs: ``n_layers`` halvings, then two stride-1 convs."""
    return [2] * n_layers + [1, 1]


def receptive_field(n_layers: int) -> int:
    """Side in input pixels seen by one NLayerDiscriminator output (1 -> 16, 2 -> 34, 3 -> 70)."""
    rf = 1
    for stride in reversed(_strides(n_layers)):
        rf = (rf - 1) * stride + KERNEL
    return rf


class NLayerDiscriminator(nn.Module):
    """The ``n_layers`` PatchGAN (70x70 patches for the default 3; 256 input gives 30x30 logits).

    The first conv has no norm and the last has neither norm nor activation; both keep their bias.
    """

    def __init__(
        self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch"
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}.")
        channels = [in_channels] + [ndf * min(2**i, 8) for i in range(n_layers + 1)] + [1]
        strides = _strides(n_layers)
        last = len(strides) - 1
        layers: list[nn.Module] = []
        for i, stride in enumerate(strides):
            inner = 0 < i < last
            conv = nn.Conv2d(
                channels[i], channels[i + 1], KERNEL, stride=stride, padding=1,
                bias=conv_bias(norm) if inner else True,
            )
            layers.append(conv)
            if inner:
                layers.append(norm_layer(norm, channels[i + 1]))
            if i < last:
                layers.append(nn.LeakyReLU(0.2, True))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def features(self, x: Tensor) -> list[Tensor]:
        """The ``n_layers + 1`` hidden block outputs (conv, norm, LeakyReLU), shallow to deep."""
        return block_outputs(self.model, x)


class PixelDiscriminator(nn.Module):
    """The 1x1 PatchGAN: judges each pixel alone, so it only pushes colour statistics.

    Its last conv has a bias only without batch norm, a quirk of the reference kept for its keys.
    """

    def __init__(self, in_channels: int, ndf: int = 64, norm: str = "batch") -> None:
        super().__init__()
        bias = conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            norm_layer(norm, ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def features(self, x: Tensor) -> list[Tensor]:
        """The two hidden 1x1 block outputs."""
        return block_outputs(self.net, x)
