"""`retouch eval-keypatch`: completions from key patches of CIFAR-10 test photos (never trained on).

Per photo, `patches` squares of side `patch` are cut by the model's proposal (`random`: seeded
random positions; `cam`: where the classifier's activation map is strongest; as trained) and given
to the model shuffled. Reported: mean IoU against where the patches really were of the squares
where the model pasted them (`decode_places`: the most likely corners, none overlapping) and of
its placement mask (probability > 0.5), beside the centre-placement baseline (all patches at the
centre); the mask and the baseline also read area-matched (the top pixels, as many as the true
mask has: the model's most likely places against the pixels nearest the centre), which does not
depend on calibration; appearance PSNR inside the true patch squares (the completion against the
photo there); and the classifier's accuracy on the completions (is it still the object the
patches came from), beside its accuracy on completions with the patches pasted where they really
were (the inpainting alone, placement out of the way) and on the photos.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from retouch.evaluate import predict_classes
from retouch.evaluate.dgp import cifar_test
from retouch.io import Provenance, save_image
from retouch.methods.keypatch import lit
from retouch.models.load import load_model
from retouch.nets.keypatch import decode_places, one_hot_places, paste
from retouch.patches import centre_mask, check_proposal, propose
from retouch.tasks.complete import TASK


def top_area(scores: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per image, the binary mask of the highest-scoring pixels, as many as `like` has: a placement
    read without trusting the model's calibration (an under-confident mask never passes 0.5)."""
    out = torch.zeros_like(scores)
    for o, sc, m in zip(out, scores, like):
        o.view(-1)[sc.flatten().topk(int(m.sum())).indices] = 1
    return out


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image IoU of two N x 1 x H x W binary masks."""
    inter = (a * b).flatten(1).sum(1)
    union = ((a + b) > 0).float().flatten(1).sum(1)
    return inter / union.clamp(min=1)


@torch.inference_mode()
def evaluate_keypatch(model: str, data: Path, per_class: int = 100, patches: int = 3, patch: int = 8,
                      classifier: str = "cifar10-classifier", seed: int = 0, sheet: Path | None = None,
                      proposal: str = "random") -> dict:
    """The table's numbers; `sheet` also draws one photo of each class: the photo lit where its patches
    were cut | the completion lit where the model placed them | the completion."""
    check_proposal(proposal)
    net, meta = load_model(model, task=TASK)
    x, labels = cifar_test(data, per_class)
    gen = torch.Generator().manual_seed(seed)
    cut = [propose(im, int(label), patches, patch, proposal, gen) for im, label in zip(x, labels)]
    stacks, masks = torch.stack([c[0] for c in cut]), torch.stack([c[1] for c in cut])
    z = torch.randn(len(x), net.z_dim, generator=gen)
    outs = [net(stacks[i : i + 256], z[i : i + 256]) for i in range(0, len(x), 256)]
    images, probs, logits = (torch.cat([o[j] for o in outs]) for j in range(3))
    true_corners = torch.stack([c[2] for c in cut])  # the inpainting alone: patches pasted where they were
    at_truth = torch.cat([net(stacks[i : i + 256], z[i : i + 256], true_corners[i : i + 256])[0] for i in range(0, len(x), 256)])
    corners = decode_places(logits, patch)
    pasted = paste(one_hot_places(corners, logits.shape[-1]), torch.ones(*corners.shape[:2], 1, patch, patch)).amax(1)
    centre = centre_mask(patches, patch, x.shape[-1]).expand_as(masks)
    side = x.shape[-1]
    axis = torch.arange(side, dtype=torch.float32) - (side - 1) / 2
    nearness = -(axis[:, None] ** 2 + axis[None, :] ** 2).expand_as(masks)  # the centre first
    err = (((images - x) * 127.5) ** 2 * masks).flatten(1).sum(1) / (3 * masks.flatten(1).sum(1))
    judge, judge_meta = load_model(classifier)
    if sheet is not None:
        pick = torch.arange(0, len(x), per_class)
        rows = torch.cat([lit(x[pick], masks[pick]), lit(images[pick], probs[pick]), images[pick]], 3)
        save_image(torch.cat(list(rows), 1)[None], sheet,
                   Provenance(model=str(model), task="keypatch sheet: patches' places | predicted placement | completion", regions=None))

    def accuracy(im: torch.Tensor) -> float:
        return float((predict_classes(judge, im, judge_meta["size"]) == labels).float().mean())

    return {"model": str(model), "images": len(x), "patches": patches, "patch": patch, "proposal": proposal, "seed": seed,
            "pasted_iou": float(iou(pasted, masks).mean()), "mask_iou": float(iou((probs > 0.5).float(), masks).mean()), "mask_iou_centre": float(iou(centre, masks).mean()),
            "mask_iou_area_matched": float(iou(top_area(probs, masks), masks).mean()),
            "mask_iou_centre_area_matched": float(iou(top_area(nearness, masks), masks).mean()),
            "appearance_psnr": float(sum(10 * math.log10(255**2 / max(float(e), 1e-10)) for e in err) / len(x)),
            "class_accuracy": accuracy(images), "class_accuracy_true_places": accuracy(at_truth),
            "class_accuracy_photos": accuracy(x)}
