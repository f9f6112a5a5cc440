"""Key local patches cut from real photos, with the ground truth of where they came from.

Lee et al. train holistic generation from patches proposed on real images; their proposals come
from a saliency or detection network. Here they are drawn at random positions (seeded per item),
so no network decides what matters and the ground-truth mask is exact: the union of the patches'
squares. The patches are shuffled, since the model must not learn anything from their order.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


def cut_patches(x: torch.Tensor, k: int, patch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """k patch x patch squares of a 3xHxW image at random positions (K x 3 x p x p) and the 1xHxW
    mask of where they were (1 inside any of them)."""
    _, h, w = x.shape
    mask = torch.zeros(1, h, w)
    out = []
    for _ in range(k):
        top = int(torch.randint(0, h - patch + 1, (), generator=gen))
        left = int(torch.randint(0, w - patch + 1, (), generator=gen))
        out.append(x[:, top : top + patch, left : left + patch])
        mask[:, top : top + patch, left : left + patch] = 1
    return torch.stack(out), mask


def centre_mask(k: int, patch: int, size: int) -> torch.Tensor:
    """The placement baseline: every patch put at the image's centre (1 x size x size)."""
    mask = torch.zeros(1, size, size)
    a = (size - patch) // 2
    mask[:, a : a + patch, a : a + patch] = 1
    return mask


class KeyPatchImages(Dataset):
    """Labelled photos (a CIFAR-10 zip or class folders) with key patches: `data.regions` of them
    (one fixed count), squares of side `data.region_size` (one fixed side). Items hold "patches"
    (K x 3 x p x p), "mask" (1 x H x W), "image", "label", "index"."""

    def __init__(self, data, train: bool = True):
        from dataclasses import replace

        from retouch.errors import RetouchError
        from retouch.methods.classifier import LabelledImages

        (k, k_hi), (patch, patch_hi) = data.regions, data.region_size
        if k != k_hi or patch != patch_hi or not 1 <= k or not 4 <= patch <= data.size:
            raise RetouchError(f"Key patches need one count and one side: data.regions [K, K] (K >= 1) and data.region_size "
                               f"[P, P] (4 <= P <= {data.size}); got {data.regions} and {data.region_size}.")
        self.photos = LabelledImages(replace(data, load_size=data.size), train=train)
        self.k, self.patch, self.train = k, patch, train

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, item: tuple[int, int] | int) -> dict:
        i, seed = item if isinstance(item, tuple) else (item, item)
        photo = self.photos[(i, seed)]
        patches, mask = cut_patches(photo["image"], self.k, self.patch, torch.Generator().manual_seed(seed + 1))
        return {"patches": patches, "mask": mask, "image": photo["image"], "label": photo["label"], "index": i}
