"""Issue 7's equal-quality check: the reference setting and our fast setting train the same pix2pix
(U-Net 256 + 70x70 PatchGAN, instance norm, GAN + 100 L1) on the same on-the-fly pairs (BSDS500
train+test, 256 crops mosaicked all over with 8 px blocks) for the same number of images, then
both are scored by L1 on held-out BSD100 (centre 256 crops, the same mosaic). Wall times are
printed too, but `retouch bench` is where speed is measured (this machine may be busy).
Usage: OMP_NUM_THREADS=2 python docs/scripts/equal_quality.py --images 960 --out runs/equal [--json R.json]
"""

import argparse
import json
import time
from pathlib import Path

import torch

from retouch.data import DataConfig, DegradedDataset
from retouch.models.load import load_model
from retouch.train import RunConfig, train

DATA = Path("../shared/data/bsds500")
PAIRS = {"degrade": "mosaic:block=8", "region": "full", "size": 256}


def run_config(images: int, batch: int, precision: str, compile: bool, lr: float) -> RunConfig:
    return RunConfig(
        method="pix2pix",
        model={"ngf": 64, "ndf": 64, "norm": "instance", "dropout": True, "lr": lr},
        data={"root": [str(DATA / "train"), str(DATA / "test")], **PAIRS},
        train={"steps": images // batch, "batch_size": batch, "precision": precision, "compile": compile, "device": "cpu",
               "log_every": max(1, 40 // batch), "sample_every": 10**9, "ckpt_every": 10**9},
    )


@torch.inference_mode()
def held_out_l1(weights: Path, n: int) -> float:
    net, _ = load_model(weights)
    ds = DegradedDataset(DataConfig(root=str(DATA / "val"), **PAIRS), train=False)
    total = 0.0
    for i in range(min(n, len(ds))):
        item = ds[(i, i)]
        total += float((net(item["input"][None]).clamp(-1, 1) - item["target"][None]).abs().mean())
    return total / min(n, len(ds))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=960)
    ap.add_argument("--held-out", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("runs/equal"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    settings = {
        "reference (fp32, batch 1, lr 2e-4)": (1, "fp32", False, 2e-4),
        "ours (auto precision, batch 8, compiled, lr 2e-4)": (8, "auto", True, 2e-4),
        "ours (auto precision, batch 8, compiled, lr 2e-4 x sqrt 8)": (8, "auto", True, 2e-4 * 8**0.5),
    }
    rows = {}
    for i, (name, (batch, precision, compile, lr)) in enumerate(settings.items()):
        t = time.perf_counter()
        weights = train(run_config(args.images, batch, precision, compile, lr), args.out / f"run{i}", show_progress=False)
        wall = time.perf_counter() - t
        rows[name] = {"held_out_l1": held_out_l1(weights, args.held_out), "train_wall_s": wall, "images": args.images}
        print(f"{name}: held-out L1 {rows[name]['held_out_l1']:.4f}, {wall:.0f} s", flush=True)
    ref = rows[next(iter(rows))]["held_out_l1"]
    for name, r in rows.items():
        print(f"| {name} | {r['held_out_l1']:.4f} | {r['held_out_l1'] / ref - 1:+.1%} | {r['train_wall_s']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
