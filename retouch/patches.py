"""Key local patches cut from real photos, with the ground truth of where they came from.

Lee et al. train holistic generation from patches proposed on real images; their proposals come
from a saliency or detection network. Two proposals here: `random` positions (seeded per item), or
`cam`, the squares where the classifier's activation map for the photo's class is strongest,
taken greedily without overlap: the parts that make the object what it is, so where a patch goes
follows from what it shows (random squares carry little of that: a model trained on them learnt
no placement, docs/notes/benchmarks-history.md). Either way the ground-truth mask is exact, the union of the
patches' squares, and the patches are shuffled: the model must learn nothing from their order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from retouch.errors import RetouchError

PROPOSALS = ("random", "cam")


Cut = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""Key patches (K x 3 x p x p), the 1xHxW mask of where they were (1 inside any of them), and each
patch's top-left corner (K x 2, top and left: the placement a model is trained to predict)."""


def cut_patches(x: torch.Tensor, k: int, patch: int, gen: torch.Generator) -> Cut:
    """k patch x patch squares of a 3xHxW image at random positions."""
    _, h, w = x.shape
    mask = torch.zeros(1, h, w)
    out, corners = [], []
    for _ in range(k):
        top = int(torch.randint(0, h - patch + 1, (), generator=gen))
        left = int(torch.randint(0, w - patch + 1, (), generator=gen))
        out.append(x[:, top : top + patch, left : left + patch])
        corners.append((top, left))
        mask[:, top : top + patch, left : left + patch] = 1
    return torch.stack(out), mask, torch.tensor(corners)


def strongest_patches(x: torch.Tensor, heat: torch.Tensor, k: int, patch: int,
                      gen: torch.Generator) -> Cut:
    """k patch x patch squares of a 3xHxW image where the HxW `heat` sums highest, taken greedily,
    each overlapping none taken before (non-maximum suppression), given in a shuffled order."""
    _, h, w = x.shape
    scores = F.avg_pool2d(heat[None, None].float(), patch, stride=1)[0, 0]  # window means, (H-p+1) x (W-p+1)
    mask = torch.zeros(1, h, w)
    out, corners = [], []
    for _ in range(k):
        best = int(scores.flatten().argmax())
        top, left = divmod(best, scores.shape[1])
        out.append(x[:, top : top + patch, left : left + patch])
        corners.append((top, left))
        mask[:, top : top + patch, left : left + patch] = 1
        scores[max(0, top - patch + 1) : top + patch, max(0, left - patch + 1) : left + patch] = float("-inf")
    order = torch.randperm(k, generator=gen)
    return torch.stack(out)[order], mask, torch.tensor(corners)[order]


def check_proposal(proposal: str) -> str:
    """`proposal` if it is one of `PROPOSALS`; a one-line error otherwise (before any photo is read)."""
    if proposal not in PROPOSALS:
        raise RetouchError(f"Unknown key-patch proposal {proposal!r} (data.proposal, --proposal); use one of {', '.join(PROPOSALS)}.")
    return proposal


def propose(x: torch.Tensor, label: int, k: int, patch: int, proposal: str, gen: torch.Generator) -> Cut:
    """Key patches of a 3xHxW photo of class `label` (-1: unknown, for "cam" the class the classifier
    predicts), their mask and corners, by `proposal` (checked by `check_proposal`: "random" or "cam")."""
    if proposal == "random":
        return cut_patches(x, k, patch, gen)
    from retouch.locate.cam import cam, load_classifier

    net, _ = load_classifier()
    heat, _ = cam(net, x[None], cls=label if label >= 0 else None)
    return strongest_patches(x, heat, k, patch, gen)


def centre_mask(k: int, patch: int, size: int) -> torch.Tensor:
    """The placement baseline: every patch put at the image's centre (1 x size x size)."""
    mask = torch.zeros(1, size, size)
    a = (size - patch) // 2
    mask[:, a : a + patch, a : a + patch] = 1
    return mask


class KeyPatchImages(Dataset):
    """Photos (a CIFAR-10 zip, class folders, or a plain folder of photos: the patches need no
    labels) with key patches: `data.regions` of them (one fixed count), squares of side
    `data.region_size` (one fixed side). Items hold "patches" (K x 3 x p x p), "mask" (1 x H x W),
    "positions" (K x 2 corners), "image", "label" (-1 in a plain folder), "index"."""

    def __init__(self, data, train: bool = True):
        from dataclasses import replace

        from retouch.labelled import LabelledImages

        (k, k_hi), (patch, patch_hi) = data.regions, data.region_size
        if k != k_hi or patch != patch_hi or not 1 <= k or not 4 <= patch <= data.size:
            raise RetouchError(f"Key patches need one count and one side: data.regions [K, K] (K >= 1) and data.region_size "
                               f"[P, P] (4 <= P <= {data.size}); got {data.regions} and {data.region_size}.")
        self.proposal = check_proposal(data.proposal)
        self.photos = LabelledImages(replace(data, load_size=data.size), train=train, unlabelled=True)
        self.k, self.patch, self.train = k, patch, train

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, item: tuple[int, int] | int) -> dict:
        i, seed = item if isinstance(item, tuple) else (item, item)
        photo = self.photos[(i, seed)]
        patches, mask, positions = propose(photo["image"], int(photo["label"]), self.k, self.patch, self.proposal,
                                torch.Generator().manual_seed(seed + 1))
        return {"patches": patches, "mask": mask, "positions": positions, "image": photo["image"], "label": photo["label"], "index": i}
