"""`retouch eval`: a model against a paired test set, beside the do-nothing baseline; a classifier's accuracy.

The identity row (input returned unchanged) is always printed: a number means little until it
is compared with what doing nothing scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.progress import track

from retouch.apply import load_translator
from retouch.data import DataConfig, PairedDataset, _to_float
from retouch.device import pick_device
from retouch.errors import RetouchError
from retouch.io import Provenance, save_image
from retouch.metrics import image_metrics, mean_metrics
from retouch.zoo import load_model, read_meta, resolve


def evaluate(model: str, data: Path, split: str = "test", device: str = "auto", precision: str = "auto",
             limit: int | None = None, holdout: int = 0, sheet: Path | None = None, sheet_rows: int = 6,
             show_progress: bool = True) -> dict:
    """Mean PSNR/SSIM (RGB and Y) of the model and of the identity baseline over whole test pairs.

    With `sheet`, also writes a PNG whose rows are input | output | target for the first pairs.
    A classifier (task "classify") is scored by `evaluate_classifier` instead.
    """
    if read_meta(resolve(model)).get("task") == "classify":
        return evaluate_classifier(model, data, split, device, limit=limit, show_progress=show_progress)
    tr = load_translator(str(model), device, precision)
    cfg = DataConfig(root=str(data), split=split, direction=tr.meta.get("direction", "AtoB"), holdout=holdout)
    ds = PairedDataset(cfg, train=False, held_out=holdout > 0)
    n = len(ds) if limit is None else min(limit, len(ds))
    rows_model, rows_identity, previews = [], [], []
    for i in track(range(n), description="eval", disable=not show_progress):
        x, y = ds.pair(i)
        out = tr(x[None])
        rows_model.append(image_metrics(out, y[None]))
        rows_identity.append(image_metrics(x[None], y[None]))
        if sheet is not None and len(previews) < sheet_rows:
            previews.append(torch.cat([x[None], out, y[None]], dim=3))
    if sheet is not None:
        size = previews[0].shape[2:]
        save_image(torch.cat([F.interpolate(p, size=size, mode="bilinear") for p in previews], dim=2), sheet,
                   Provenance(model=str(model), task="evaluation sheet: input | output | target"))
    return {"model": str(model), "data": str(data), "split": split, "holdout": holdout, "images": n,
            "results": {"model": mean_metrics(rows_model), "identity": mean_metrics(rows_identity)}}


def evaluate_classifier(model: str, data: Path, split: str = "test", device: str = "auto", limit: int | None = None,
                        batch_size: int = 500, show_progress: bool = True) -> dict:
    """Top-1 accuracy, overall and per class, on labelled images (the CIFAR-10 zip or class folders).

    `limit` scores a fixed random subset (seed 0), so a quick check still covers every class.
    """
    from retouch.methods.classifier import LabelledImages

    dev = pick_device(device)
    net, meta = load_model(model, dev)
    classes = meta["classes"]
    ds = LabelledImages(DataConfig(root=str(data), split=split, size=meta["size"]), train=False)
    if ds.classes != classes:
        raise RetouchError(f"{data} [{split}] has classes {', '.join(ds.classes)}; the model knows {', '.join(classes)}.")
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:limit] if limit else torch.arange(len(ds))
    correct, total = torch.zeros(len(classes), dtype=torch.long), torch.zeros(len(classes), dtype=torch.long)
    with torch.no_grad():
        for idx in track(order.split(batch_size), description="eval", disable=not show_progress):
            y = ds.labels[idx]
            hit = net(_to_float(ds.images[idx]).to(dev)).argmax(1).cpu() == y
            total += torch.bincount(y, minlength=len(classes))
            correct += torch.bincount(y[hit], minlength=len(classes))
    per_class = {c: {"top1": correct[i].item() / max(1, total[i].item()), "images": total[i].item()} for i, c in enumerate(classes)}
    return {"model": str(model), "task": "classify", "data": str(data), "split": split, "images": len(order),
            "results": {"top1": correct.sum().item() / len(order), "per_class": per_class}}


@torch.inference_mode()
def predict_classes(net: torch.nn.Module, x: torch.Tensor, size: int) -> torch.Tensor:
    """A classifier's classes (N,) for N x 3 x H x W images in [-1, 1], shown at its training size
    (antialiased bicubic when the images are another size), on the classifier's device."""
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp(-1, 1)
    return net(x.to(next(net.parameters()).device)).argmax(1)


def write_report(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
