"""The networks of holistic generation from key local patches (Lee et al. 2018): a Siamese patch
encoder whose codes are summed (so the patches' order does not matter and no position is given),
a mask network that says where the patches belong, and an image generator that draws the whole
object around them.

The paper's mask and image networks are U-Nets over a spatial code; at CIFAR-10's 32 px both are
DCGAN decoders of the summed code (with noise), the image one also reading the predicted mask at
every scale, so the image is drawn knowing where its patches go.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from retouch.nets.dcgan import levels, up


class KeyPatchNet(nn.Module):
    """Patches (any number and side >= 4, N x K x 3 x p x p) to a `size` px image and a placement
    mask (logits). `z_dim` noise makes completions of the same patches differ."""

    def __init__(self, size: int = 32, ngf: int = 64, code: int = 128, z_dim: int = 32) -> None:
        super().__init__()
        self.size, self.z_dim = size, z_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(3, ngf, 3, 1, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ngf, 2 * ngf, 4, 2, 1), nn.BatchNorm2d(2 * ngf), nn.LeakyReLU(0.2, True),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(8 * ngf, code))
        self.levels = levels(size)
        self.top = ngf * 2 ** (self.levels - 1)
        self.project_mask = nn.Linear(code + z_dim, self.top * 16)
        self.project_image = nn.Linear(code + z_dim, self.top * 16)
        chans = [self.top // 2**k for k in range(self.levels)] + [3]
        self.mask_ups = nn.ModuleList(self._up(chans[k], chans[k + 1] if k < self.levels - 1 else 1, last=k == self.levels - 1)
                                      for k in range(self.levels))
        # the image decoder reads the mask (one more channel) at every scale
        self.image_ups = nn.ModuleList(self._up(chans[k] + 1, chans[k + 1], last=k == self.levels - 1) for k in range(self.levels))

    @staticmethod
    def _up(c_in: int, c_out: int, last: bool) -> nn.Sequential:
        return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)) if last else nn.Sequential(*up(c_in, c_out))

    def encode(self, patches: Tensor) -> Tensor:
        """One code for a set of patches: the sum of each patch's (Siamese: one encoder for all)."""
        n, k = patches.shape[:2]
        return self.encoder(patches.flatten(0, 1)).view(n, k, -1).sum(1)

    def forward(self, patches: Tensor, z: Tensor | None = None, detach_mask: bool = False) -> tuple[Tensor, Tensor]:
        """(image in [-1, 1], mask logits N x 1 x size x size). `detach_mask`: the image decoder reads
        the mask without moving it, so only the spatial loss trains placement."""
        code = self.encode(patches)
        z = torch.zeros(code.size(0), self.z_dim, device=code.device, dtype=code.dtype) if z is None else z
        h = torch.cat([code, z], 1)
        m = self.project_mask(h).view(-1, self.top, 4, 4).relu()
        for block in self.mask_ups:
            m = block(m)
        g = self.project_image(h).view(-1, self.top, 4, 4).relu()
        probs = torch.sigmoid(m.detach() if detach_mask else m)
        for block in self.image_ups:
            g = block(torch.cat([g, F.interpolate(probs, size=g.shape[2:], mode="area")], 1))
        return torch.tanh(g), m
