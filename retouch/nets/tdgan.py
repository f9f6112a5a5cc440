"""TD-GAN's networks (Wang et al. 2017, tag-disentangled GAN): an encoder that splits an image into
a free code (identity: what no tag names) and one code per tag, a table of codes for every tag
value, and a generator that renders any mix of them.

Re-rendering with a tag changed swaps that tag's code for the table's code of the new value and
renders again; everything else stays the image's own. The tag losses (each code must be nearest
to its true value's table entry) are what make the codes mean their tags.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from retouch.nets.dcgan import down, levels, up


class TDGAN(nn.Module):
    """Encoder, tag-value tables and generator for `size` px images (a power of two >= 8).

    `tags` lists each tag's number of values (default: `retouch.tagged.TAGS`'s 2, 4, 3, 3)."""

    def __init__(self, size: int = 32, ngf: int = 64, z_dim: int = 64, tag_dim: int = 8, tags: tuple[int, ...] = (2, 4, 3, 3)) -> None:
        super().__init__()
        n = levels(size)
        self.z_dim, self.tag_dim, self.tags = z_dim, tag_dim, tuple(tags)
        code = z_dim + tag_dim * len(tags)
        chans = [3] + [ngf * 2**k for k in range(n)]
        self.encoder = nn.Sequential(*[m for k in range(n) for m in down(chans[k], chans[k + 1], norm=k > 0)],
                                     nn.Flatten(), nn.Linear(chans[n] * 16, code))
        self.embed = nn.ModuleList(nn.Embedding(v, tag_dim) for v in tags)
        self.top = chans[n]
        self.project = nn.Sequential(nn.Linear(code, self.top * 16), nn.ReLU(True))
        self.decoder = nn.Sequential(nn.BatchNorm2d(self.top), *[m for k in range(n, 1, -1) for m in up(chans[k], chans[k - 1])],
                                     nn.ConvTranspose2d(chans[1], 3, 4, 2, 1), nn.Tanh())

    def encode(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The free code (N x z_dim) and one code per tag (each N x tag_dim)."""
        h = self.encoder(x)
        return h[:, : self.z_dim], list(h[:, self.z_dim :].split(self.tag_dim, 1))

    def decode(self, z: Tensor, codes: list[Tensor]) -> Tensor:
        h = self.project(torch.cat([z, *codes], 1)).view(z.size(0), self.top, 4, 4)
        return self.decoder(h)

    def tag_logits(self, codes: list[Tensor]) -> list[Tensor]:
        """Per tag, N x values logits: minus the squared distance from each code to each value's entry."""
        return [-torch.cdist(c, e.weight.to(c)) ** 2 for c, e in zip(codes, self.embed)]

    def rerender(self, x: Tensor, tags: Tensor, which: Tensor) -> Tensor:
        """x rendered again with tag t set to `tags[:, t]` where `which[:, t]` (both N x T); other tags
        and the free code stay the image's own."""
        z, codes = self.encode(x)
        swapped = [torch.where(which[:, t : t + 1], self.embed[t](tags[:, t]).to(c), c) for t, c in enumerate(codes)]
        return self.decode(z, swapped)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(*self.encode(x))
