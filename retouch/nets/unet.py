"""pix2pix's U-Net generator, built so that reference ``latest_net_G.pth`` weights load as they are.

The network is nested exactly like junyanz/pytorch-CycleGAN-and-pix2pix: ``self.model`` is the
outermost skip block and every block keeps its layers in ``model`` with the inner block at index 1
(outermost) or 3 (the others), hence keys such as ``model.model.1.model.3.model.1.weight``.

Each block halves the resolution, so a ``num_downs`` net needs sides divisible by ``2**num_downs``
(256 for the 8-level ``unet_256``). It is trained on crops of exactly that size; inference at other
sizes pads the image up to a multiple of ``2**num_downs`` and crops the result back.
"""

import math

import torch
from torch import Tensor, nn

from retouch.degrade import LUMA
from retouch.nets.layers import conv_bias, norm_layer


class UnetSkipBlock(nn.Module):
    """One level of the U-Net: down, the inner levels, up, then concatenate the skip.

    ``submodule=None`` makes the innermost (bottleneck) level; ``in_channels`` only differs from
    ``outer`` at the outermost level, which takes the image and ends in Tanh instead of a skip.

    The down path starts with an in-place LeakyReLU, as in the reference, so the skip carries
    LeakyReLU(x) rather than x; keeping it in place makes reference weights give reference
    outputs.
    """

    def __init__(
        self,
        outer: int,
        inner: int,
        *,
        in_channels: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        norm: str = "batch",
        dropout: bool = False,
        skips: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.outermost, self.skips = outermost, skips
        bias = conv_bias(norm, bias)
        down = nn.Conv2d(in_channels or outer, inner, 4, stride=2, padding=1, bias=bias)
        below = inner * 2 if skips else inner  # channels the inner level hands up
        if outermost:
            up = nn.ConvTranspose2d(below, outer, 4, stride=2, padding=1)
            layers = [down, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif submodule is None:
            up = nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, norm_layer(norm, outer)]
        else:
            up = nn.ConvTranspose2d(below, outer, 4, stride=2, padding=1, bias=bias)
            layers = [
                nn.LeakyReLU(0.2, True), down, norm_layer(norm, inner),
                submodule,
                nn.ReLU(True), up, norm_layer(norm, outer),
            ]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.outermost or not self.skips:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """U-Net with ``num_downs`` stride-2 levels (pix2pix's ``unet_256`` is ``num_downs=8``).

    Channels grow ngf, 2ngf, 4ngf, 8ngf and stay at 8ngf below; the ``num_downs - 5`` levels just
    above the bottleneck use dropout 0.5, pix2pix's only source of noise. ``skips=False`` drops the
    skip connections: the plain encoder-decoder of DiscoGAN, which must pass everything through
    the bottleneck. ``bias=False`` leaves the convs before norms without biases whatever the norm:
    the reference's ``--norm none`` nets (`retouch.nets.layers.conv_bias`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_downs: int,
        ngf: int = 64,
        norm: str = "batch",
        dropout: bool = True,
        skips: bool = True,
        bias: bool = True,
        chroma: bool = False,
        chroma_bins: int = 0,
        temperature: float = 0.38,
    ) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"A U-Net needs num_downs >= 5, got {num_downs}.")
        if chroma and out_channels != 3:
            raise ValueError(f"A chroma U-Net outputs RGB (out_channels=3), got {out_channels}.")
        if chroma_bins and not chroma:
            raise ValueError("chroma_bins classifies chrominance: it needs chroma=True.")
        self.num_downs = num_downs
        self.chroma = chroma
        self.chroma_bins, self.temperature = chroma_bins, temperature
        block = UnetSkipBlock(ngf * 8, ngf * 8, norm=norm, skips=skips, bias=bias)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=dropout, skips=skips, bias=bias)
        for mult in (4, 2, 1):
            block = UnetSkipBlock(ngf * mult, ngf * mult * 2, submodule=block, norm=norm, skips=skips, bias=bias)
        self.model = UnetSkipBlock(
            chroma_bins**2 if chroma_bins else 2 if chroma else out_channels, ngf, in_channels=in_channels, submodule=block,
            outermost=True, norm=norm, skips=skips, bias=bias
        )

    def logits(self, x: Tensor) -> Tensor:
        """The raw output: per-pixel chroma-bin logits (N x bins² x H x W) of a `chroma_bins` net."""
        return self.model(x)

    def forward(self, x: Tensor) -> Tensor:
        multiple = 2**self.num_downs
        if x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(
                f"U-Net with num_downs={self.num_downs} needs sides divisible by {multiple}, "
                f"got {tuple(x.shape[-2:])}; pad the input first."
            )
        if self.chroma_bins:
            return with_chroma(x[:, :3], decode_bins(self.model(x), self.chroma_bins, self.temperature))
        if self.chroma:
            return with_chroma(x[:, :3], self.model(x))
        return self.model(x)


class BottleneckClassHead(nn.Module):
    """A linear classifier on a U-Net's bottleneck activations, read through a forward hook.

    Why: a colouriser that must also name the object learns global features that pick its hues
    (Iizuka, Simo-Serra and Ishikawa 2016, "Let there be Color!", whose class loss is the same
    idea); L1 alone averages a red and a blue car into a brown one. The head only trains: it is a
    separate network, so G's weights, export and inference stay as they are.
    """

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, classes)
        self.features: Tensor | None = None

    def watch(self, unet: "UnetGenerator") -> None:
        """Keep the output of `unet`'s innermost ReLU (its bottleneck, after the last downsampling)
        at every forward pass."""
        innermost = next(m for m in unet.modules() if isinstance(m, UnetSkipBlock)
                         and not any(isinstance(c, UnetSkipBlock) for c in m.model))
        innermost.model[2].register_forward_hook(lambda _m, _i, out: setattr(self, "features", out))

    def forward(self) -> Tensor:
        """Class logits (N x classes) of the last batch `unet` ran, its bottleneck averaged over space."""
        if self.features is None:
            raise RuntimeError("BottleneckClassHead: run the watched U-Net first.")
        return self.fc(self.features.float().mean((2, 3)))


def bin_centres(n: int, device: torch.device | None = None) -> Tensor:
    """(bins², 2) Cb, Cr of the centres of an n x n grid over [-1, 1]² (bin index = i_cb * n + i_cr)."""
    c = (torch.arange(n, device=device, dtype=torch.float32) + 0.5) * (2 / n) - 1
    return torch.stack(torch.meshgrid(c, c, indexing="ij"), -1).reshape(-1, 2)


def decode_bins(logits: Tensor, n: int, temperature: float) -> Tensor:
    """Cb, Cr (N x 2 x H x W) from chroma-bin logits: the annealed mean of Zhang et al. (2016), the
    mean of the distribution sharpened by `temperature`. Why not the mean itself: it is what L1
    regression gives, the average of plausible hues, which is grey-brown; the mode is vivid but
    flips between neighbouring pixels; T = 0.38 is the paper's compromise."""
    p = torch.softmax(logits.float() / temperature, 1)
    return torch.einsum("nkhw,kc->nchw", p, bin_centres(n, logits.device))


def soft_bins(cbcr: Tensor, n: int) -> Tensor:
    """The target distribution over bins (N x bins² x H x W) of true Cb, Cr: bilinear weights on the
    four nearest bin centres, so a colour between two bins teaches both (the paper's soft encoding)."""
    u = ((cbcr.float().clamp(-1, 1) + 1) * (n / 2) - 0.5).clamp(0, n - 1)  # continuous bin coordinates
    lo = u.floor().clamp(max=n - 2).long()
    frac = u - lo
    q = torch.zeros(cbcr.shape[0], n * n, *cbcr.shape[2:], device=cbcr.device)
    for di in (0, 1):
        for dj in (0, 1):
            w = (frac[:, 0] if di else 1 - frac[:, 0]) * (frac[:, 1] if dj else 1 - frac[:, 1])
            q.scatter_add_(1, ((lo[:, 0] + di) * n + lo[:, 1] + dj).unsqueeze(1), w.unsqueeze(1))
    return q


def with_chroma(x: Tensor, cbcr: Tensor) -> Tensor:
    """RGB in [-1, 1] with the BT.601 luma of `x` (Nx3xHxW in [-1, 1]) and the chrominance `cbcr`
    (Nx2xHxW, Cb and Cr scaled to [-1, 1]).

    Why: colourisation must not change the lightness it was given (pix2pix's colourisation
    predicts only chrominance). Luma is affine in the [-1, 1] scaling with weights summing to one,
    so the input's luma comes back exactly wherever no channel clips at the ends of the range.
    """
    y = (x * x.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    cb, cr = cbcr[:, :1], cbcr[:, 1:2]
    rgb = torch.cat([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], 1)
    return rgb.clamp(-1, 1)


def chroma_of(rgb: Tensor) -> Tensor:
    """Cb and Cr (Nx2xHxW, scaled as `with_chroma` takes them) of an RGB image in [-1, 1]: its inverse,
    so a colourisation made at a low resolution can lend its colours to the full-size luma."""
    y = (rgb * rgb.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return torch.cat([(rgb[:, 2:3] - y) / 1.772, (rgb[:, :1] - y) / 1.402], 1)


def unet_depth(size: int) -> int:
    """The ``num_downs`` that takes a ``size`` training crop down to 1x1 (256 -> 8, 128 -> 7).

    Inference at other sizes pads to a multiple of ``2**num_downs``.
    """
    if size < 32 or size & (size - 1):
        raise ValueError(f"U-Net crop size must be a power of two >= 32, got {size}.")
    return int(math.log2(size))
