"""`retouch eval-region`: restoration inside a hidden region of clean photos, beside the baselines.

Each photo gets a centred square mosaicked with a region-aligned grid; PSNR/SSIM and the detail
ratio (edge energy against the original's) are measured inside the square only (outside, every
method returns the input exactly). The rows are the
mosaic itself, bicubic interpolation of the block means (the non-learned answer) and each model.
With `jpeg` the mosaicked photo is saved as a JPEG of that quality first, as people meet it: the
block means are then read back as each decoded cell's median, and the consistency projection is
the soft one `retouch demosaic` uses for recompressed mosaics.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, ImageDraw
from rich.progress import track

from retouch.degrade import Jpeg, Mosaic
from retouch.errors import RetouchError
from retouch.geometry import box_mask
from retouch.io import list_images, read_image, to_pil
from retouch.locate.detect import SOFT_WEIGHT
from retouch.metrics import detail_ratio, image_metrics, mean_metrics
from retouch.tasks.restore import load_restorer, restore_region

BASELINES = ("mosaic", "bicubic", "consistent bicubic")


def evaluate_region(models: list[str], data: Path, blocks: list[int], box: int = 128, device: str = "auto",
                    limit: int | None = None, sheet: Path | None = None, sheet_images: int = 4,
                    consistent: bool = True, jpeg: int | None = None, show_progress: bool = True, ensemble: int | None = None) -> dict:
    """Mean PSNR/SSIM/detail inside the box per block size and method; optionally a crop sheet per block.

    `consistent` is passed to `restore_region` for the models; the "consistent bicubic" row is the
    same projection applied to the bicubic baseline, so the models' share of the gain is visible.
    `ensemble` None averages each model over the flipped views `retouch demosaic` gives it."""
    paths = list_images(data)[:limit]
    restorers = {m: load_restorer(m, device, ensemble=ensemble) for m in models}
    results: dict[str, dict[str, dict[str, float]]] = {}
    crops: dict[int, list[list[torch.Tensor]]] = {}
    for block in blocks:
        rows: dict[str, list[dict[str, float]]] = {name: [] for name in [*BASELINES, *models]}
        for i, path in enumerate(track(paths, description=f"block {block}", disable=not show_progress)):
            clean = read_image(path)
            h, w = clean.shape[2:]
            if h < box or w < box:
                raise RetouchError(f"{path} is {w}x{h}, smaller than the {box}x{box} square hidden in each photo; lower --box or remove it.")
            top, left = (h - box) // 2, (w - box) // 2
            mask = box_mask(h, w, (left, top, box, box))
            mosaic = Mosaic.aligned_to(block, top, left)
            hidden = mosaic(clean, mask)
            if jpeg is None:
                bicubic = mosaic.bicubic(clean, mask)
                consistent_bicubic = mosaic.project(bicubic, hidden, mask)
            else:
                hidden = Jpeg(jpeg)(hidden)
                cells = mosaic.cell_medians(hidden, mask)
                bicubic = mosaic.interpolate(torch.where(cells.isnan(), mosaic.cell_means(hidden), cells), hidden, mask)
                consistent_bicubic = mosaic.project(bicubic, hidden, mask, weight=SOFT_WEIGHT, robust=True)
            outputs = {"mosaic": hidden, "bicubic": bicubic, "consistent bicubic": consistent_bicubic}
            outputs.update({m: restore_region(tr, hidden, mask, consistent=consistent) for m, tr in restorers.items()})
            inside = lambda t: t[:, :, top : top + box, left : left + box]  # noqa: E731
            for name, out in outputs.items():
                rows[name].append({**image_metrics(inside(out), inside(clean)), "detail": detail_ratio(inside(out), inside(clean))})
            if i < sheet_images:
                crops.setdefault(block, []).append([inside(t) for t in [clean, *outputs.values()]])
        results[f"block {block}"] = {name: mean_metrics(r) for name, r in rows.items()}
    if sheet:
        _sheet(crops, ["original", *BASELINES, *models]).save(sheet)
    return {"data": str(data), "images": len(paths), "box": box, "align": "region", "consistent": consistent,
            "jpeg": jpeg,
            "views": {m: getattr(tr, "n", 1) for m, tr in restorers.items()}, "results": results}


def _sheet(crops: dict[int, list[list[torch.Tensor]]], labels: list[str]) -> Image.Image:
    """One row per (block, image): original | baselines | models, each crop at 2x."""
    rows = [(block, row) for block, images in crops.items() for row in images]
    side = rows[0][1][0].shape[-1] * 2
    head = 20
    sheet = Image.new("RGB", (side * len(labels), head + side * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, label in enumerate(labels):
        draw.text((j * side + 4, 4), label, fill="black")
    for i, (block, row) in enumerate(rows):
        for j, t in enumerate(row):
            sheet.paste(to_pil(t).resize((side, side), Image.NEAREST), (j * side, head + i * side))
        draw.text((4, head + i * side + 4), f"{block}px", fill="white")
    return sheet
