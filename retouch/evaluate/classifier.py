"""`retouch eval` of a classifier: top-1 accuracy on labelled images."""

from __future__ import annotations

from pathlib import Path

import torch
from rich.progress import track

from retouch.data import DataConfig, _to_float
from retouch.device import pick_device
from retouch.errors import RetouchError
from retouch.models.load import load_model


def evaluate_classifier(model: str, data: Path, split: str = "test", device: str = "auto", limit: int | None = None,
                        batch_size: int = 500, show_progress: bool = True) -> dict:
    """Top-1 accuracy, overall and per class, on labelled images (the CIFAR-10 zip or class folders).

    `limit` scores a fixed random subset (seed 0), so a quick check still covers every class.
    """
    from retouch.labelled import LabelledImages

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
