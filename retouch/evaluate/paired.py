"""`retouch eval`: a model against a paired test set, beside the do-nothing baseline.

The identity row (input returned unchanged) is always printed: a number means little until it
is compared with what doing nothing scores.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from rich.progress import track

from retouch.data import DataConfig, PairedDataset
from retouch.io import Provenance, save_image
from retouch.metrics import image_metrics, mean_metrics
from retouch.models.load import read_meta, resolve
from retouch.models.runner import load_translator


def evaluate(model: str, data: Path, split: str = "test", device: str = "auto", precision: str = "auto",
             limit: int | None = None, holdout: int = 0, sheet: Path | None = None, sheet_rows: int = 6,
             show_progress: bool = True) -> dict:
    """Mean PSNR/SSIM (RGB and Y) of the model and of the identity baseline over whole test pairs.

    With `sheet`, also writes a PNG whose rows are input | output | target for the first pairs.
    A classifier (task "classify") is scored by `evaluate_classifier` instead.
    """
    if read_meta(resolve(model)).get("task") == "classify":
        from retouch.evaluate.classifier import evaluate_classifier

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
