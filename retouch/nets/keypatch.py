"""The networks of holistic generation from key local patches (Lee et al. 2018): a Siamese patch
encoder whose codes are summed (so the patches' order does not matter and no position is given),
a placement network that says where each patch belongs, and an image generator that draws the
whole object around them.

The paper's image generator is a U-Net whose skip connections carry the patches' features, so
their pixels reach the output. Ours makes that explicit: each patch is pasted where the placement
network puts it, and a U-Net inpaints the rest from that canvas. (Our first version drew the image
from the 128-number summed code alone; its completions were textures the CIFAR-10 classifier
could not name, 14% against 10% chance: docs/notes/benchmarks-history.md, key local patches.)

Placement is a distribution over each patch's top-left corner, read from the patch's own code and
the set's summed code (what else is in the set says where this one goes). The placement mask the
paper predicts is the union of the patches' squares under those distributions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from retouch.nets.dcgan import levels
from retouch.nets.unet import UnetGenerator


def paste(heat: Tensor, kernels: Tensor) -> Tensor:
    """Each patch laid down at its placement weights: N x K x g x g weights (over top-left corners)
    and N x K x C x p x p patches to N x K x C x S x S, S = g + p - 1. One-hot weights paste the patch
    exactly there; soft ones blend it over the places they weigh (a grouped transposed convolution
    with each patch as its own kernel)."""
    n, k, g, _ = heat.shape
    c, p = kernels.shape[2], kernels.shape[-1]
    out = F.conv_transpose2d(heat.reshape(1, n * k, g, g), kernels.reshape(n * k, c, p, p).to(heat.dtype), groups=n * k)
    return out.view(n, k, c, g + p - 1, g + p - 1)


def one_hot_places(positions: Tensor, grid: int) -> Tensor:
    """N x K x 2 (top, left) corners to N x K x grid x grid one-hot placement weights."""
    flat = F.one_hot(positions[..., 0] * grid + positions[..., 1], grid * grid).float()
    return flat.view(*positions.shape[:2], grid, grid)


def decode_places(logits: Tensor, patch: int) -> Tensor:
    """Each patch's corner (N x K x 2) from N x K x g x g placement logits, none overlapping another:
    the most confident (patch, corner) first, then the next among the corners that keep clear of
    those placed (each patch alone at its argmax would stack look-alike patches on one spot; key
    patches are distinct parts of the object, and the proposals cut them without overlap)."""
    n, k, g, _ = logits.shape
    free = torch.ones(n, 1, g, g, dtype=torch.bool, device=logits.device)
    left = torch.ones(n, k, 1, 1, dtype=torch.bool, device=logits.device)
    corners = torch.zeros(n, k, 2, dtype=torch.long, device=logits.device)
    rows = torch.arange(n, device=logits.device)
    shape = torch.ones(1, 1, 2 * patch - 1, 2 * patch - 1, device=logits.device)
    scores = logits.float().flatten(2).log_softmax(2).view_as(logits)
    for _ in range(k):
        allowed = free & left
        # a patch with no clear corner left (a crowded image) may still take any corner
        stuck = left & ~allowed.flatten(2).any(2)[..., None, None]
        allowed = allowed | stuck
        best = scores.masked_fill(~allowed, float("-inf")).flatten(1).argmax(1)
        which, corner = best // (g * g), best % (g * g)
        top, lft = corner // g, corner % g
        corners[rows, which] = torch.stack([top, lft], 1)
        left[rows, which] = False
        spot = F.one_hot(corner, g * g).view(n, 1, g, g).float()
        free &= F.conv2d(spot, shape, padding=patch - 1) == 0  # corners whose square would overlap it
    return corners


class KeyPatchNet(nn.Module):
    """Patches (any number, all of one side p, N x K x 3 x p x p) to a `size` px image, the placement
    mask (probability of each pixel lying under some patch, N x 1 x size x size) and each patch's
    placement logits over its top-left corner (N x K x g x g, g = size - p + 1). `z_dim` noise makes
    completions of the same patches differ."""

    def __init__(self, size: int = 32, ngf: int = 64, code: int = 128, z_dim: int = 32) -> None:
        super().__init__()
        self.size, self.z_dim = size, z_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(3, ngf, 3, 1, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ngf, 2 * ngf, 4, 2, 1), nn.BatchNorm2d(2 * ngf), nn.LeakyReLU(0.2, True),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(8 * ngf, code))
        # logits over every pixel of the image as a corner; a side-p patch uses the g x g that fit
        self.place = nn.Sequential(nn.Linear(2 * code, 4 * code), nn.ReLU(True), nn.Linear(4 * code, size * size))
        # noise as a 4 x 4 map brought up smoothly: a full-resolution map goes straight through the
        # U-Net's outer skip and came out as speckle over the whole completion
        self.noise = nn.Linear(z_dim, 16)
        # canvas (3) + how much patch covers each pixel (1) + noise (1); down to 1 x 1
        self.inpaint = UnetGenerator(5, 3, num_downs=levels(size) + 2, ngf=ngf, norm="batch", dropout=False)

    def placement_logits(self, patches: Tensor) -> Tensor:
        """N x K x g x g logits of each patch's top-left corner."""
        n, k, _, p, _ = patches.shape
        codes = self.encoder(patches.flatten(0, 1)).view(n, k, -1)
        context = codes.sum(1, keepdim=True).expand_as(codes)  # the Siamese sum: the set, unordered
        g = self.size - p + 1
        return self.place(torch.cat([codes, context], 2)).view(n, k, self.size, self.size)[..., :g, :g]

    def forward(self, patches: Tensor, z: Tensor | None = None, positions: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(image in [-1, 1], placement mask, placement logits). The patches are pasted at
        `positions` (N x K x 2 corners) where given, as in training, where the true places are
        known; otherwise each at its most likely corner."""
        logits = self.placement_logits(patches)
        n, k, g, _ = logits.shape
        weights = logits.flatten(2).softmax(2).view_as(logits)
        p = patches.shape[-1]
        mask = 1 - (1 - paste(weights, patches.new_ones(n, k, 1, p, p))).prod(1)
        if positions is None:
            positions = decode_places(logits, p)
        hard = one_hot_places(positions, g).to(patches.dtype)
        cover = paste(hard, patches.new_ones(n, k, 1, p, p)).sum(1)
        canvas = paste(hard, patches).sum(1) / cover.clamp(min=1)  # overlaps: the patches' mean
        z = torch.zeros(n, self.z_dim, device=patches.device, dtype=patches.dtype) if z is None else z
        noise = F.interpolate(self.noise(z).view(n, 1, 4, 4), size=(self.size, self.size), mode="bilinear", align_corners=False)
        image = self.inpaint(torch.cat([canvas, cover.clamp(max=1), noise.to(canvas.dtype)], 1))
        return image, mask, logits
