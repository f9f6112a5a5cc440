"""`retouch eval-detect`: mosaic detection per condition, on synthetic mosaics over clean photos.

For every photo one or two boxes (sides 48-160 px) are mosaicked with 8-16 px blocks at a random
grid offset (all drawn from the seed and the photo's index), and the file is then saved the way
people meet such images: lossless (PNG), JPEG at quality 90, 75 or 50, shrunk to 0.75x or
enlarged to 1.5x (bicubic, then 8-bit), two boxes in one photo, and "mixed" (one or two boxes,
rescaled by a factor in 0.5-1.5, then JPEG at a quality in 50-95: the acceptance condition of
issue 25). The untouched photo counts false regions.

Per image: pixel IoU of the found mask against the true one (0 when nothing is found), and for
each true box whether it was *found*, i.e. the found regions that touch it cover it with IoU >= 0.5.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import track
from scipy import ndimage

from retouch.degrade import Jpeg, Mosaic, Rescale
from retouch.io import list_images, read_image, to_pil, to_tensor
from retouch.locate.detect import Detection

CONDITIONS = ("PNG", "JPEG q90", "JPEG q75", "JPEG q50", "rescaled 0.75x", "rescaled 1.5x", "two regions", "mixed", "clean photo")


def _boxes(rng: np.random.Generator, h: int, w: int, n: int) -> list[tuple[int, int, int, int]]:
    """n boxes (top, left, height, width), side by side when two, so they never overlap."""
    out = []
    for k in range(n):
        x0, x1 = k * w // n, (k + 1) * w // n
        bh, bw = int(rng.integers(48, min(161, h + 1))), int(rng.integers(48, min(161, x1 - x0 + 1)))
        out.append((int(rng.integers(0, h - bh + 1)), x0 + int(rng.integers(0, x1 - x0 - bw + 1)), bh, bw))
    return out


def make_case(clean: torch.Tensor, condition: str, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(the degraded 8-bit image, its true N1HW mask) for one condition."""
    h, w = clean.shape[2:]
    n = 2 if condition == "two regions" or (condition == "mixed" and rng.random() < 0.5) else (0 if condition == "clean photo" else 1)
    x, truth = clean, torch.zeros(1, 1, h, w)
    for top, left, bh, bw in _boxes(rng, h, w, n):
        b = int(rng.integers(8, 17))
        box = torch.zeros_like(truth)
        box[..., top : top + bh, left : left + bw] = 1
        x, truth = Mosaic(b, (int(rng.integers(0, b)), int(rng.integers(0, b))))(x, box), truth + box
    factor = {"rescaled 0.75x": 0.75, "rescaled 1.5x": 1.5}.get(condition)
    quality = int(condition.split("q")[1]) if condition.startswith("JPEG") else None
    if condition == "mixed":
        factor, quality = float(rng.uniform(0.5, 1.5)), int(rng.integers(50, 96))
    if factor:
        op = Rescale(factor)
        x = op(x)
        truth = F.interpolate(truth, size=x.shape[2:], mode="nearest-exact")
    x = to_tensor(to_pil(x))  # an 8-bit file
    if quality:
        x = Jpeg(quality)(x)
    return x, truth


def score(found: torch.Tensor, truth: torch.Tensor) -> tuple[float, int, int]:
    """(pixel IoU, true regions found with IoU >= 0.5, true regions)."""
    p, g = found[0, 0].numpy() > 0.5, truth[0, 0].numpy() > 0.5
    iou = float((p & g).sum() / max((p | g).sum(), 1))
    labels_g, n_g = ndimage.label(g)
    labels_p, _ = ndimage.label(p)
    hits = 0
    for k in range(1, n_g + 1):
        region = labels_g == k
        touching = np.setdiff1d(np.unique(labels_p[region]), [0])
        mine = np.isin(labels_p, touching)
        hits += int((mine & region).sum() / max((mine | region).sum(), 1) >= 0.5)
    return iou, hits, n_g


def evaluate_detect(detectors: dict[str, Callable[[torch.Tensor], Detection]], data: Path, conditions: tuple[str, ...] = CONDITIONS,
                    seed: int = 0, limit: int | None = None, show_progress: bool = True) -> dict:
    """Per detector and condition: mean IoU, share of regions found, share of photos with a region
    (on clean photos: the false-region rate), seconds per image."""
    paths = list_images(data)[:limit]
    rows: dict[str, dict[str, list]] = {d: {c: [] for c in conditions} for d in detectors}
    for i, path in enumerate(track(paths, description="eval-detect", disable=not show_progress)):
        clean = read_image(path)
        for condition in conditions:  # each condition its own draw, the same in any subset of conditions
            x, truth = make_case(clean, condition, np.random.default_rng([seed, i, CONDITIONS.index(condition)]))
            for name, detect in detectors.items():
                t = time.perf_counter()
                d = detect(x)
                sec = time.perf_counter() - t
                rows[name][condition].append((*score(d.mask, truth), len(d.boxes) > 0, sec))
    results = {}
    for name, by_condition in rows.items():
        results[name] = {}
        for condition, r in by_condition.items():
            iou, hits, n, any_found, sec = (np.array(v, dtype=np.float64) for v in zip(*r))
            entry = {"images": len(r), "photos with a region": float(any_found.mean()), "s/image": float(sec.mean())}
            if n.sum():
                entry.update({"mean IoU": float(iou.mean()), "regions found": float(hits.sum() / n.sum()), "regions": int(n.sum())})
            results[name][condition] = entry
    return {"data": str(data), "images": len(paths), "seed": seed, "results": results}
