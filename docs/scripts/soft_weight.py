"""How far to project a JPEG mosaic's restoration towards its cells' medians (SOFT_WEIGHT).

BSD100, a centred 128x128 square mosaicked with 8 px blocks (grid aligned to it), the photo saved
as JPEG at each quality; the model (`--model`, the shipped `demosaic` by default, averaged over
`--ensemble` flipped views) restores the square without projection once, then
the soft projection (cell medians, `estimate_grid`'s grid) is applied at each weight. Prints mean
PSNR (RGB) inside the square per quality and weight, and how often `estimate_grid` found the true grid.

    OMP_NUM_THREADS=1 python docs/scripts/soft_weight.py --data ../shared/data/bsds500/val
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from retouch.degrade import Jpeg, Mosaic
from retouch.geometry import box_mask
from retouch.io import list_images, read_image
from retouch.locate.detect import estimate_grid
from retouch.metrics import image_metrics
from retouch.tasks.restore import load_restorer, restore_region

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/bsds500/val"))
    ap.add_argument("--qualities", default="90,75,50")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--model", default="demosaic")
    ap.add_argument("--ensemble", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tr = load_restorer(args.model, "cpu", ensemble=args.ensemble)
    qualities = [int(q) for q in args.qualities.split(",")]
    psnr = {q: {w: [] for w in WEIGHTS} for q in qualities}
    right = {q: 0 for q in qualities}
    paths = list_images(args.data)[: args.limit]
    for path in paths:
        clean = read_image(path)
        h, w = clean.shape[2:]
        top, left = (h - 128) // 2, (w - 128) // 2
        mask = box_mask(h, w, (left, top, 128, 128))
        op = Mosaic.aligned_to(8, top, left)
        inside = lambda t: t[:, :, top : top + 128, left : left + 128]  # noqa: E731
        for q in qualities:
            hidden = Jpeg(q)(op(clean, mask))
            raw = restore_region(tr, hidden, mask, consistent=False)
            grid = estimate_grid(hidden, mask)
            right[q] += grid == op
            for wt in WEIGHTS:
                out = grid.project(raw, hidden, mask, weight=wt, robust=True) if grid and wt > 0 else raw
                psnr[q][wt].append(image_metrics(inside(out), inside(clean))["psnr_rgb"])
    print(f"{len(paths)} photos; grid found: " + ", ".join(f"q{q} {right[q]}/{len(paths)}" for q in qualities))
    print("| JPEG quality | " + " | ".join(f"weight {w:g}" for w in WEIGHTS) + " |")
    print("|---|" + "---|" * len(WEIGHTS))
    for q in qualities:
        print(f"| {q} | " + " | ".join(f"{np.mean(psnr[q][w]):.2f}" for w in WEIGHTS) + " |")


if __name__ == "__main__":
    main()
