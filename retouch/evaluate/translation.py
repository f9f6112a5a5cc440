"""`retouch eval-translation`: how well an unpaired model translates, measured offline.

Unpaired test images have no target to compare with, so two measures stand in: a domain
classifier trained on the real training images of both domains (configs/classifier_<set>.yaml)
says which share of the translated images looks like the target domain, next to the share of
the untranslated inputs it already calls so (the floor); and translating back gives a
cycle-reconstruction PSNR (how much of the input the round trip keeps). The literature's FID
needs Inception weights, which cannot be downloaded here; these measures need none.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from rich.progress import track

from retouch.degrade import shrink
from retouch.errors import RetouchError
from retouch.evaluate import predict_classes
from retouch.io import Provenance, list_images, read_image, save_image
from retouch.metrics import image_metrics, mean_metrics
from retouch.models.load import load_model
from retouch.models.runner import load_translator

OTHER = {"AtoB": "BtoA", "BtoA": "AtoB"}


def evaluate_translation(model: str, data: Path, classifier: str, direction: str = "AtoB", target: str | None = None,
                         device: str = "auto", precision: str = "auto", limit: int | None = None,
                         sheet: Path | None = None, sheet_rows: int = 16, show_progress: bool = True, size: int | None = None) -> dict:
    """Target-domain share of inputs and outputs, and cycle PSNR/SSIM, over the images in `data`.

    `size` shrinks each test image to that short side first: a model trained on small crops (the
    CPU budget's 64 px) is judged at the scale it learnt, and its inputs are judged the same way.

    `target` names the classifier's class for the output domain; by default its second class for
    AtoB and its first for BtoA (a domain classifier lists domain A first). With `sheet`, writes
    rows of input | translation | reconstruction for the first `sheet_rows` images.
    """
    if direction not in OTHER:
        raise RetouchError(f"Unknown direction {direction!r}; use AtoB or BtoA.")
    forward = load_translator(str(model), device, precision, direction=direction)
    backward = load_translator(str(model), device, precision, direction=OTHER[direction])
    judge, meta = load_model(classifier, forward.device)
    classes = meta.get("classes")
    if meta.get("task") != "classify" or not classes:
        raise RetouchError(f"{classifier} is not a classifier; train a domain classifier (configs/classifier_horse2zebra.yaml).")
    target = target or classes[1 if direction == "AtoB" else 0]
    if target not in classes:
        raise RetouchError(f"The classifier knows {', '.join(classes)}, not {target!r}; choose --target among them.")
    paths = list_images(data)
    if not paths:
        raise RetouchError(f"No images in {data}.")
    paths = paths[:limit] if limit else paths
    size = meta.get("size", 128)
    calls_in, calls_out, cycle, rows = [], [], [], []
    for path in track(paths, description="eval-translation", disable=not show_progress):
        x = read_image(path)
        if size:
            x = shrink(x, size)
        y = forward(x)
        back = backward(y)
        calls_in.append(int(predict_classes(judge, x, size)))
        calls_out.append(int(predict_classes(judge, y, size)))
        cycle.append(image_metrics(back, x))
        if sheet is not None and len(rows) < sheet_rows:
            rows.append(torch.cat([F.interpolate(t, size=(256, 256), mode="bilinear", antialias=True) for t in (x, y, back)], dim=3))
    k = classes.index(target)
    if sheet is not None:
        save_image(torch.cat(rows, dim=2), sheet, Provenance(model=str(model), task=f"translation sheet {direction}: input | output | reconstruction"))
    cyc = mean_metrics(cycle)
    return {"model": str(model), "data": str(data), "direction": direction, "classifier": str(classifier), "target": target,
            "images": len(paths), "target_share_inputs": sum(c == k for c in calls_in) / len(paths),
            "target_share_outputs": sum(c == k for c in calls_out) / len(paths),
            "cycle_psnr": cyc["psnr_rgb"], "cycle_ssim": cyc["ssim_rgb"], "size": size}


