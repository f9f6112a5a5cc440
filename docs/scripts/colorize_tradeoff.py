"""Issue 44's two colourisation bars on real photos, and whether one model can meet both.

The bars: PSNR at least 1 dB over the grey photo (MSE pooled over the set) and colourfulness
(Hasler-Süsstrunk) within 20% of the true photos'. A model that minimises a squared error predicts
the mean of the colours a region could have, which is greyer than any one of them; turning its
chroma up by a gain k (`retouch colorize --saturation k`) brings the colourfulness up and, past a
point, the error up too. This script measures that trade: k = 1 is the model as it is (the luma is
the photo's in every row), beside grey, per image the chroma error in CIELAB (mean sqrt(da^2 + db^2))
and colourfulness, pooled PSNR over the set.

    python docs/scripts/colorize_tradeoff.py [MODEL] [--data ../shared/data/sr-bench/Kodak24] [--json out.json]

Kodak24 is 24 real 768x512 photos (the "512 px" of the issue), never trained on.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import cv2
import numpy as np
import torch

from retouch.degrade import Greyscale
from retouch.evaluate.colorize import colourfulness
from retouch.io import list_images, read_image
from retouch.tasks.colorize import Colorizer, load_colorizer

GAINS = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5)


def lab_chroma_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean CIELAB chroma distance sqrt(da^2 + db^2) between two 1x3xHxW images in [-1, 1] (sRGB, D65)."""
    def ab(x: torch.Tensor) -> np.ndarray:
        rgb = ((x[0].permute(1, 2, 0).clamp(-1, 1) + 1) / 2).numpy().astype(np.float32)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[..., 1:]
    return float(np.sqrt(((ab(a) - ab(b)) ** 2).sum(-1)).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", default="colorize")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/sr-bench/Kodak24"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    colorizer = load_colorizer(args.model, device="cpu", precision="fp32")
    rows: dict[str, dict[str, list[float]]] = {name: {"se": [], "n": [], "lab": [], "colourfulness": []}
                                               for name in ["grey", *(f"k={k:g}" for k in GAINS)]}
    truth_colour = []
    for path in sorted(list_images(args.data)):
        x = read_image(path)
        grey = Greyscale()(x)
        truth_colour.append(colourfulness(x))
        outs = {"grey": grey, **{f"k={k:g}": Colorizer(colorizer.tr, saturation=k)(x) for k in GAINS}}
        for name, out in outs.items():
            r = rows[name]
            r["se"].append(float(((out - x) / 2).double().pow(2).sum()))
            r["n"].append(x.numel())
            r["lab"].append(lab_chroma_error(out, x))
            r["colourfulness"].append(colourfulness(out))
    truth = float(np.mean(truth_colour))
    report = {"model": args.model, "data": str(args.data), "images": len(truth_colour), "true_colourfulness": truth, "rows": {}}
    grey_psnr = None
    print(f"{len(truth_colour)} photos of {args.data}; true colourfulness {truth:.1f} (bar: >= {0.8 * truth:.1f})")
    for name, r in rows.items():
        p = 10 * math.log10(1 / (sum(r["se"]) / sum(r["n"])))
        grey_psnr = p if grey_psnr is None else grey_psnr
        row = {"psnr_pooled": p, "over_grey_db": p - grey_psnr, "lab_chroma_error": float(np.mean(r["lab"])),
               "colourfulness": float(np.mean(r["colourfulness"])), "colourfulness_share": float(np.mean(r["colourfulness"])) / truth}
        report["rows"][name] = row
        print(f"{name:7s} PSNR {p:.2f} ({row['over_grey_db']:+.2f} over grey)  Lab chroma error {row['lab_chroma_error']:.2f}  "
              f"colourfulness {row['colourfulness']:.1f} ({row['colourfulness_share']:.0%} of the photos')")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
