"""The ResNet generator of CycleGAN/pix2pix (Johnson et al.), with the reference's state-dict keys.

7x7 stem, two stride-2 downsamplings, ``n_blocks`` residual blocks at 4*ngf channels, two
transposed-conv upsamplings, 7x7 conv and Tanh, all in one ``model`` Sequential as in the reference.
Sides divisible by 4 come back at the same size.
"""

from torch import Tensor, nn

from retouch.nets.layers import conv_bias, norm_layer

PADDINGS = ("reflect", "replicate", "zero")


def _padding(kind: str) -> tuple[list[nn.Module], int]:
    """The explicit pad layer and the conv's own padding for a 3x3 conv under ``kind`` padding."""
    if kind == "reflect":
        return [nn.ReflectionPad2d(1)], 0
    if kind == "replicate":
        return [nn.ReplicationPad2d(1)], 0
    if kind == "zero":
        return [], 1
    raise ValueError(f"Unknown padding {kind!r}; use one of {', '.join(PADDINGS)}.")


class ResnetBlock(nn.Module):
    """x + (pad, conv3x3, norm, ReLU, [dropout], pad, conv3x3, norm)(x)."""

    def __init__(self, dim: int, padding: str, norm: str, dropout: bool, bias: bool = True) -> None:
        super().__init__()
        pad, p = _padding(padding)
        bias = conv_bias(norm, bias)
        layers = [
            *pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), norm_layer(norm, dim), nn.ReLU(True)
        ]
        if dropout:
            layers.append(nn.Dropout(0.5))
        pad, p = _padding(padding)
        layers += [*pad, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's ``resnet_9blocks`` (``n_blocks=9``) or ``resnet_6blocks`` generator.

    ``bias=False`` leaves the convs before norms without biases whatever the norm: the reference's
    ``--norm none`` nets (`retouch.nets.layers.conv_bias`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ngf: int = 64,
        norm: str = "batch",
        dropout: bool = False,
        n_blocks: int = 9,
        padding: str = "reflect",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {n_blocks}.")
        _padding(padding)  # fail on a bad padding even when there are no blocks to use it
        with_bias = conv_bias(norm, bias)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=with_bias),
            norm_layer(norm, ngf),
            nn.ReLU(True),
        ]
        for mult in (1, 2):
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=with_bias),
                norm_layer(norm, ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4, padding, norm, dropout, bias) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=with_bias
                ),
                norm_layer(norm, ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
