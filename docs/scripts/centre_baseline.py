"""Issue 25's second restoration baseline: bicubic interpolation of each decoded cell's *centre*
pixel (a JPEG q75 mosaic, block 8, a centred 128 px square of each BSD100 photo, grid aligned to
it), beside the cell median `retouch eval-region --jpeg` uses, PSNR RGB inside the square.

    OMP_NUM_THREADS=1 python docs/scripts/centre_baseline.py --data ../shared/data/bsds500/val
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from retouch.degrade import Jpeg, Mosaic
from retouch.geometry import box_mask
from retouch.io import list_images, read_image
from retouch.metrics import image_metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--block", type=int, default=8)
    ap.add_argument("--quality", type=int, default=75)
    ap.add_argument("--box", type=int, default=128)
    args = ap.parse_args()
    b, box = args.block, args.box
    scores: dict[str, list[float]] = {"centre": [], "median": []}
    for path in list_images(args.data):
        clean = read_image(path)
        h, w = clean.shape[2:]
        top, left = (h - box) // 2, (w - box) // 2
        mask = box_mask(h, w, (left, top, box, box))
        mosaic = Mosaic.aligned_to(b, top, left)
        hidden = Jpeg(args.quality)(mosaic(clean, mask))
        centres = F.pad(hidden, mosaic._pads(h, w))[:, :, b // 2 :: b, b // 2 :: b]  # the pixel just past each cell's middle
        medians = mosaic.cell_medians(hidden, mask)
        medians = torch.where(medians.isnan(), mosaic.cell_means(hidden), medians)
        inside = lambda t: t[:, :, top : top + box, left : left + box]  # noqa: E731
        for name, cells in (("centre", centres), ("median", medians)):
            scores[name].append(image_metrics(inside(mosaic.interpolate(cells, hidden, mask)), inside(clean))["psnr_rgb"])
    for name, v in scores.items():
        print(f"bicubic of decoded cell {name}s: PSNR RGB {sum(v) / len(v):.3f} dB over {len(v)} photos")


if __name__ == "__main__":
    main()
