"""Networks of the shared-latent family: UNIT's coupled VAE-GAN generators, CoGAN's coupled GAN pair,
and the conditional route's domain-conditioned generator with its noise encoder.

The family's one idea is a latent space both domains share. It is built in by tying weights: the
layers that carry high-level meaning (the last of the encoders, the first of the generators; the
last of CoGAN's discriminators) exist once and serve both domains, and only the layers that
render or read pixels are per domain. Translation is then encode in one domain, decode in the other.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from retouch.nets.dcgan import down, levels, up
from retouch.nets.layers import conv_bias, norm_layer
from retouch.nets.resnet import ResnetBlock

DOMAINS = ("A", "B")


def _res(dim: int, n: int, norm: str) -> nn.Sequential:
    return nn.Sequential(*[ResnetBlock(dim, "reflect", norm, False) for _ in range(n)])


def _encoder(ngf: int, n_down: int, n_res: int, norm: str) -> nn.Sequential:
    """7x7 stem, `n_down` stride-2 convolutions (channels double each), `n_res` residual blocks."""
    bias = conv_bias(norm)
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, bias=bias), norm_layer(norm, ngf), nn.ReLU(True)]
    for k in range(n_down):
        c = ngf * 2**k
        layers += [nn.Conv2d(c, 2 * c, 4, stride=2, padding=1, bias=bias), norm_layer(norm, 2 * c), nn.ReLU(True)]
    return nn.Sequential(*layers, *_res(ngf * 2**n_down, n_res, norm))


def _decoder(ngf: int, n_down: int, n_res: int, norm: str) -> nn.Sequential:
    """The encoder's mirror: residual blocks, `n_down` upsamplings (nearest + 5x5 conv: no
    checkerboard), a 7x7 conv to RGB and tanh."""
    bias = conv_bias(norm)
    layers: list[nn.Module] = list(_res(ngf * 2**n_down, n_res, norm))
    for k in range(n_down, 0, -1):
        c = ngf * 2**k
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c // 2, 5, padding=2, bias=bias),
                   norm_layer(norm, c // 2), nn.ReLU(True)]
    return nn.Sequential(*layers, nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh())


class UNITGenerator(nn.Module):
    """UNIT's two VAE encoders and two generators (Liu, Breuel and Kautz 2017): per-domain
    `enc_A`/`enc_B` and `dec_A`/`dec_B`, with `n_shared` residual blocks at the end of the encoders
    (`enc_shared`) and at the start of the generators (`dec_shared`) tied across domains.

    The latent is spatial (4x smaller than the image at the default two downsamplings), and, as in
    the authors' code, a Gaussian of unit variance around the encoder's mean: the KL term is then
    just the mean's squared norm, and translation uses the mean.
    """

    def __init__(self, ngf: int = 64, n_down: int = 2, n_res: int = 4, n_shared: int = 1, norm: str = "instance") -> None:
        super().__init__()
        if not 0 < n_shared <= n_res:
            raise ValueError(f"n_shared must be within 1 and n_res ({n_res}), got {n_shared}.")
        own, dim = n_res - n_shared, ngf * 2**n_down
        self.enc_A, self.enc_B = _encoder(ngf, n_down, own, norm), _encoder(ngf, n_down, own, norm)
        self.enc_shared, self.dec_shared = _res(dim, n_shared, norm), _res(dim, n_shared, norm)
        self.dec_A, self.dec_B = _decoder(ngf, n_down, own, norm), _decoder(ngf, n_down, own, norm)
        self.multiple = 2**n_down

    def encode(self, x: Tensor, domain: str) -> Tensor:
        """The latent mean of an image of `domain`."""
        return self.enc_shared(getattr(self, f"enc_{domain}")(x))

    def decode(self, z: Tensor, domain: str) -> Tensor:
        return getattr(self, f"dec_{domain}")(self.dec_shared(z))

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x, "A"), "B")


class LatentPath(nn.Module):
    """One direction of a trained UNIT as a plain image-to-image network, for export and inference:
    the source domain's encoder, the shared layers, the target domain's generator (the latent mean,
    no noise). Built from the same arguments as `UNITGenerator` and filled by `take`."""

    def __init__(self, ngf: int = 64, n_down: int = 2, n_res: int = 4, n_shared: int = 1, norm: str = "instance") -> None:
        super().__init__()
        own = n_res - n_shared
        self.enc, self.dec = _encoder(ngf, n_down, own, norm), _decoder(ngf, n_down, own, norm)
        self.enc_shared, self.dec_shared = _res(ngf * 2**n_down, n_shared, norm), _res(ngf * 2**n_down, n_shared, norm)

    def take(self, G: UNITGenerator, source: str, target: str) -> LatentPath:
        for mine, theirs in ((self.enc, f"enc_{source}"), (self.dec, f"dec_{target}"), (self.enc_shared, "enc_shared"),
                             (self.dec_shared, "dec_shared")):
            mine.load_state_dict(getattr(G, theirs).state_dict())
        return self

    def forward(self, x: Tensor) -> Tensor:
        return self.dec(self.dec_shared(self.enc_shared(self.enc(x))))


class CoupledGenerator(nn.Module):
    """CoGAN's generators (Liu and Tuzel 2016), DCGAN-style: one noise vector goes through layers
    both domains share (the projection to 4x4 and all upsamplings but the last `own`), then through
    each domain's own last layers. Sharing the layers that decide *what* is drawn, not *how*, is
    what makes one draw a corresponding pair."""

    def __init__(self, z_dim: int = 100, ngf: int = 64, size: int = 32, own: int = 1) -> None:
        super().__init__()
        n = levels(size)
        if not 1 <= own <= n:
            raise ValueError(f"own (per-domain upsamplings) must be within 1 and {n}, got {own}.")
        self.z_dim = z_dim
        chans = [ngf * 2 ** (n - 1 - k) for k in range(n)] + [ngf // 2]  # 4x4 width, halved per level
        self.project = nn.Sequential(nn.ConvTranspose2d(z_dim, chans[0], 4, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU(True))
        shared = n - own
        self.shared = nn.Sequential(*[m for k in range(shared) for m in up(chans[k], chans[k + 1])])

        def head() -> nn.Sequential:
            layers = [m for k in range(shared, n - 1) for m in up(chans[k], chans[k + 1])]
            return nn.Sequential(*layers, nn.ConvTranspose2d(chans[n - 1], 3, 4, stride=2, padding=1), nn.Tanh())

        self.head_A, self.head_B = head(), head()

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        h = self.shared(self.project(z.view(z.size(0), -1, 1, 1)))
        return self.head_A(h), self.head_B(h)


class CoupledDiscriminator(nn.Module):
    """CoGAN's discriminators: each domain's own first `own` layers, then shared last layers to one
    logit per image, so both judge with the same high-level features."""

    def __init__(self, ndf: int = 64, size: int = 32, own: int = 1) -> None:
        super().__init__()
        n = levels(size)
        if not 1 <= own <= n:
            raise ValueError(f"own (per-domain layers) must be within 1 and {n}, got {own}.")
        chans = [3] + [ndf * 2**k for k in range(n)]

        def stem() -> nn.Sequential:
            return nn.Sequential(*[m for k in range(own) for m in down(chans[k], chans[k + 1], norm=k > 0)])

        self.stem_A, self.stem_B = stem(), stem()
        self.shared = nn.Sequential(*[m for k in range(own, n) for m in down(chans[k], chans[k + 1])],
                                    nn.Conv2d(chans[n], 1, 4))

    def forward(self, x: Tensor, domain: str) -> Tensor:
        return self.shared(getattr(self, f"stem_{domain}")(x)).flatten()


class ConditionalGenerator(nn.Module):
    """The conditional route's generator (Dong et al. 2017): noise z and a one-hot domain label in,
    an image of that domain out. z is the representation both domains share; the label alone
    decides the domain."""

    def __init__(self, z_dim: int = 128, ngf: int = 64, size: int = 64, domains: int = 2) -> None:
        super().__init__()
        n = levels(size)
        self.z_dim, self.domains = z_dim, domains
        chans = [ngf * 2 ** (n - 1 - k) for k in range(n)]
        self.project = nn.Sequential(nn.ConvTranspose2d(z_dim + domains, chans[0], 4, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU(True))
        self.body = nn.Sequential(*[m for k in range(n - 1) for m in up(chans[k], chans[k + 1])],
                                  nn.ConvTranspose2d(chans[n - 1], 3, 4, stride=2, padding=1), nn.Tanh())

    def forward(self, z: Tensor, domain: Tensor) -> Tensor:
        label = nn.functional.one_hot(domain, self.domains).to(z)
        return self.body(self.project(torch.cat([z, label], 1)[:, :, None, None]))


def with_label(x: Tensor, domain: Tensor, domains: int = 2) -> Tensor:
    """An image batch with its domain labels as constant one-hot planes beside it (the pix2pix way of
    conditioning a discriminator): what `ConditionalDiscriminator` reads."""
    planes = nn.functional.one_hot(domain, domains).to(x)[:, :, None, None].expand(-1, -1, *x.shape[2:])
    return torch.cat([x, planes], 1)


class ConditionalDiscriminator(nn.Module):
    """Real or fake, given the domain: reads `with_label(image, domain)`, one logit per image. With
    `domains=0` it reads the image alone: a plain DCGAN discriminator (TD-GAN's, key patches')."""

    def __init__(self, ndf: int = 64, size: int = 64, domains: int = 2) -> None:
        super().__init__()
        n = levels(size)
        chans = [3 + domains] + [ndf * 2**k for k in range(n)]
        self.model = nn.Sequential(*[m for k in range(n) for m in down(chans[k], chans[k + 1], norm=k > 0)], nn.Conv2d(chans[n], 1, 4))

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x).flatten()


class NoiseEncoder(nn.Module):
    """The conditional route's encoder: an image back to the noise that would have drawn it."""

    def __init__(self, z_dim: int = 128, ndf: int = 64, size: int = 64) -> None:
        super().__init__()
        n = levels(size)
        chans = [3] + [ndf * 2**k for k in range(n)]
        self.model = nn.Sequential(*[m for k in range(n) for m in down(chans[k], chans[k + 1], norm=k > 0)], nn.Conv2d(chans[n], z_dim, 4))

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x).flatten(1)


class ConditionalTranslator(nn.Module):
    """One direction of the conditional route as an image-to-image network: encode to noise, draw
    with the target domain's label. Its input size is fixed (the training size): the encoder ends
    in a fully connected layer, as the paper's does."""

    def __init__(self, z_dim: int = 128, ngf: int = 64, ndf: int = 64, size: int = 64) -> None:
        super().__init__()
        self.E, self.G = NoiseEncoder(z_dim, ndf, size), ConditionalGenerator(z_dim, ngf, size)
        self.size = size
        # the target domain is a weight, not an argument, so both directions share one spec (a `twoway` file)
        self.register_buffer("target", torch.ones(1))

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[2:]
        small = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        out = self.G(self.E(small), self.target.round().long().expand(x.size(0)))
        return nn.functional.interpolate(out, size=(h, w), mode="bilinear", align_corners=False) if (h, w) != out.shape[2:] else out
