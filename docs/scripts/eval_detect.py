"""Measure `retouch.locate.detect.detect_mosaic` on synthetic mosaics over BSDS500 val.

For every photo one box (sides 48-160 px, random position) and one block size (6-16) are drawn
from a fixed seed; the box is mosaicked with the grid aligned to the box's corner and with a
random grid offset, saved as lossless 8-bit (PNG) and as JPEG quality 90. A two-box case (two
blocks) checks that several regions are found, and the untouched photos count false alarms.
Prints a markdown table: pixel precision / recall / IoU as the mean over images and pooled over
all pixels, block-size accuracy (the block of the largest found region), seconds per image.

    OMP_NUM_THREADS=1 python docs/scripts/eval_detect.py --data ../shared/data/bsds500/val
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from retouch.degrade import Mosaic
from retouch.io import list_images, read_image, to_pil, to_tensor
from retouch.locate.detect import detect_mosaic


def saved(x: torch.Tensor, jpeg: bool) -> torch.Tensor:
    """The image as a file would give it back: 8-bit, and JPEG q90 when asked."""
    if not jpeg:
        return to_tensor(to_pil(x))
    buf = io.BytesIO()
    to_pil(x).save(buf, "JPEG", quality=90)
    return to_tensor(Image.open(buf))


def draw_box(rng: np.random.Generator, h: int, w: int) -> tuple[int, int, int, int]:
    bh, bw = (int(v) for v in rng.integers(48, 161, 2))
    return int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1)), bh, bw


def mosaic(x: torch.Tensor, boxes: list[tuple[int, int, int, int]], ops: list[Mosaic]) -> tuple[torch.Tensor, torch.Tensor]:
    truth = torch.zeros(1, 1, *x.shape[2:])
    for (top, left, bh, bw), op in zip(boxes, ops):
        m = torch.zeros_like(truth)
        m[..., top : top + bh, left : left + bw] = 1
        x = op(x, m)
        truth = torch.maximum(truth, m)
    return x, truth


def cases(path: Path, seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor, int | None, bool]]:
    """name -> (image, true mask, true block of the largest box, jpeg?) for one photo."""
    rng = np.random.default_rng(seed)
    x = read_image(path)
    h, w = x.shape[2:]
    box, b = draw_box(rng, h, w), int(rng.integers(6, 17))
    offset = Mosaic(b, (int(rng.integers(0, b)), int(rng.integers(0, b))))
    aligned = Mosaic.aligned_to(b, box[0], box[1])
    out = {}
    for jpeg in (False, True):
        kind = "JPEG q90" if jpeg else "PNG"
        for name, op in (("aligned", aligned), ("offset", offset)):
            y, truth = mosaic(x, [box], [op])
            out[f"{kind}, grid {name}"] = (saved(y, jpeg), truth, b, jpeg)
    # two boxes, side by side so they never overlap, each with its own block and offset
    half = w // 2
    boxes = [draw_box(rng, h, half), draw_box(rng, h, w - half)]
    boxes[1] = (boxes[1][0], boxes[1][1] + half, boxes[1][2], boxes[1][3])
    ops = [Mosaic(int(v), (int(rng.integers(0, 16)), int(rng.integers(0, 16)))) for v in rng.integers(6, 17, 2)]
    y, truth = mosaic(x, boxes, ops)
    largest = max(range(2), key=lambda i: boxes[i][2] * boxes[i][3])
    out["PNG, two boxes"] = (saved(y, False), truth, ops[largest].block, False)
    out["clean photo"] = (x, torch.zeros(1, 1, h, w), None, True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/bsds500/val"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jpeg-tol", type=float, default=3.0, help="tol for a second run on the JPEG cases")
    ap.add_argument("--limit", type=int, default=None, help="first N photos only")
    args = ap.parse_args()
    torch.set_num_threads(1)
    stats: dict[str, list[tuple[int, int, int, bool, float, int]]] = {}  # tp, fp, fn, block ok, s, pixels
    for i, path in enumerate(list_images(args.data)[: args.limit]):
        for name, (y, truth, block, jpeg) in cases(path, args.seed * 100_003 + i).items():
            for tol in (0.0, args.jpeg_tol) if jpeg else (0.0,):
                t = time.perf_counter()
                d = detect_mosaic(y, tol=tol)
                sec = time.perf_counter() - t
                p, g = d.mask[0, 0] > 0.5, truth[0, 0] > 0.5
                row = (int((p & g).sum()), int((p & ~g).sum()), int((~p & g).sum()), d.block == block, sec, p.numel())
                stats.setdefault(f"{name}, tol {tol:g}", []).append(row)
    print("| case | images | found | precision mean / pooled | recall mean / pooled | IoU mean / pooled | block right | s/image mean (max) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rows in stats.items():
        a = np.array(rows, dtype=np.float64)
        tp, fp, fn, ok, sec, pixels = a.T
        found = (tp + fp) > 0
        sec_text = f"{sec.mean():.3f} ({sec.max():.3f})"
        if name.startswith("clean"):
            flagged = fp.sum() / pixels.sum()
            print(f"| {name} | {len(rows)} | **false alarm on {found.mean():.0%}** ({flagged:.4%} of pixels) | | | | | {sec_text} |")
            continue
        prec = np.where(found, tp / np.maximum(tp + fp, 1), np.nan)
        rec, iou = tp / (tp + fn), tp / (tp + fp + fn)
        pooled_p = tp.sum() / max((tp + fp).sum(), 1)
        mean_p = f"{np.nanmean(prec):.3f}" if found.any() else "-"
        print(
            f"| {name} | {len(rows)} | {found.mean():.0%} | {mean_p} / {pooled_p:.3f} | {rec.mean():.3f} / {tp.sum() / (tp + fn).sum():.3f} "
            f"| {iou.mean():.3f} / {tp.sum() / (tp + fp + fn).sum():.3f} | {ok.mean():.0%} | {sec_text} |"
        )


if __name__ == "__main__":
    main()
