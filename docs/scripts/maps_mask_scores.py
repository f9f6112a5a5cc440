"""Extra references for the pix2pix-maps card, where targets are ~99% white masks.

PSNR/SSIM reward an all-white answer there, so this prints (a) the all-white constant baseline's
PSNR/SSIM and (b) the IoU of the dark region (grey < 128) of each model's output with the
target's, over the held-out frames. Usage:
    python docs/scripts/maps_mask_scores.py ../shared/data/maps 48 runs/pix2pix-maps runs/pix2pix-maps-l1
"""

import json
import sys
from pathlib import Path

import torch

from retouch.tasks.apply import load_translator
from retouch.data import DataConfig, PairedDataset
from retouch.metrics import image_metrics, mean_metrics


def dark(t: torch.Tensor) -> torch.Tensor:
    return t.mean(dim=-3) < 0.0  # grey below 128 of 255


def main(data: str, holdout: int, models: list[str]) -> dict:
    ds = PairedDataset(DataConfig(root=data, holdout=holdout), train=False, held_out=True)
    pairs = [ds.pair(i) for i in range(len(ds))]
    report = {"images": len(pairs), "target dark share": sum(float(dark(y).float().mean()) for _, y in pairs) / len(pairs),
              "all-white": mean_metrics([image_metrics(torch.ones_like(y), y) for _, y in pairs])}
    for model in models:
        tr = load_translator(model, "cpu", "fp32")
        inter = union = 0
        for x, y in pairs:
            o, t = dark(tr(x[None])[0]), dark(y)
            inter, union = inter + int((o & t).sum()), union + int((o | t).sum())
        report[model] = {"dark IoU": inter / union if union else float("nan")}
    return report


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), sys.argv[3:]), indent=2))
