"""`retouch eval-prior`: does a class-conditional prior draw the class it is asked for?

For each class, `per_class` samples from fixed latents (seed 0) are shown to a classifier trained
on the real images (the shipped `cifar10-classifier` for the CIFAR-10 prior); the score is the
share it assigns to the conditioning class. It needs no Inception weights, unlike FID/IS, and
says nothing about diversity: read it beside the sample sheet.
"""

from __future__ import annotations

from pathlib import Path

import torch

from retouch.errors import RetouchError
from retouch.evaluate import predict_classes
from retouch.io import Provenance, save_image
from retouch.models.load import load_model


@torch.inference_mode()
def evaluate_prior(model: str, classifier: str, per_class: int = 100, device: str = "cpu", sheet: Path | None = None,
                   sheet_columns: int = 10) -> dict:
    """Per-class and overall share of samples the classifier calls the conditioning class."""
    G, meta = load_model(model, device, task="generate", hint="eval-prior scores a generative prior")
    judge, judge_meta = load_model(classifier, device)
    classes = meta["classes"]
    if judge_meta.get("classes") != classes:
        raise RetouchError(f"The classifier knows {judge_meta.get('classes')}, the prior draws {classes}: they must match.")
    gen = torch.Generator().manual_seed(0)
    shares, rows = {}, []
    for c, name in enumerate(classes):
        z = torch.randn(per_class, G.dim_z, generator=gen).to(device)
        images = G(z, torch.full((per_class,), c, device=device))
        shares[name] = float((predict_classes(judge, images, judge_meta["size"]) == c).float().mean())
        rows.append(torch.cat(list(images[:sheet_columns].cpu()), dim=2))
    if sheet is not None:
        save_image(torch.cat(rows, dim=1)[None], sheet, Provenance(model=str(model), task="prior samples: one row per class"))
    return {"model": str(model), "classifier": str(classifier), "per_class": per_class, "per_class_share": shares,
            "share": sum(shares.values()) / len(shares)}
