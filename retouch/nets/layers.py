"""Building blocks shared by the networks: normalisation choice, the pix2pix weight init, and the
hidden features a discriminator exposes to feature-matching losses."""

from torch import Tensor, nn

NORMS = ("batch", "instance", "none")
INITS = ("normal", "xavier", "kaiming", "orthogonal")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """The normalisation after a conv, as pix2pix builds it.

    Instance norm has no affine parameters and no running statistics (as in the reference), so it
    adds nothing to the state dict; ``none`` is an Identity so module indices (and so state-dict
    keys) stay the same whatever the norm.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"Unknown norm {kind!r}; use one of {', '.join(NORMS)}.")


def conv_bias(norm: str, bias: bool = True) -> bool:
    """Whether a conv followed by ``norm`` has a bias: not before batch norm, whose shift makes it
    redundant, and none where ``bias`` is False. That is the reference's ``--norm none``: its test
    for a bias is "is the norm InstanceNorm2d", which the Identity of ``none`` is not, so reference
    weights without norm have no conv biases, while ours keep them."""
    return bias and norm != "batch"


def init_weights(net: nn.Module, kind: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise ``net`` in place like pix2pix (its GANs are tuned for N(0, 0.02) weights).

    Conv and Linear weights follow ``kind`` (``kaiming`` ignores ``gain``, as in the reference),
    their biases start at 0; BatchNorm scales start at N(1, gain) and shifts at 0. Returns ``net``.
    """
    if kind not in INITS:
        raise ValueError(f"Unknown init {kind!r}; use one of {', '.join(INITS)}.")

    def init_module(m: nn.Module) -> None:
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            if kind == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            elif kind == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif kind == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)

    net.apply(init_module)
    return net


def block_outputs(seq: nn.Sequential, x: Tensor) -> list[Tensor]:
    """The output of every LeakyReLU in ``seq``, where each block of our discriminators ends.

    Runs ``seq`` only as far as its last LeakyReLU (the final logits conv is not needed). This is
    what perceptual adversarial losses compare; the module layout, so the state dict, is untouched.
    """
    ends = [i for i, m in enumerate(seq) if isinstance(m, nn.LeakyReLU)]
    out = []
    for i, m in enumerate(seq[: ends[-1] + 1] if ends else []):
        x = m(x)
        if i in ends:
            out.append(x)
    return out
