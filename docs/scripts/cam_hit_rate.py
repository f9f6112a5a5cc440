"""Does the CAM find a CIFAR-10 object pasted at a known place on a BSDS500 photo?

Each sample pastes one random CIFAR-10 *test* image, enlarged (bicubic) to `size` x `size` pixels,
at a random place on a random BSDS500 `val` photo (481x321 or 321x481), then runs the CAM at a
working short side (`--short-sides`, 0 = the photo's own resolution) for the true class and for
the class the model predicts on the whole photo. Reported per setting:

- hit: the CAM peak lies inside the pasted square (the issue's acceptance: >= 80%);
- box overlap: the box of the peak's region (threshold `--threshold`) intersects the square;
- IoU, and IoU >= 0.5 (the usual "correct localisation" bar);
- for the predicted class, how often the prediction is the pasted object's class.

Usage (the table in docs/benchmarks.md):
    python docs/scripts/cam_hit_rate.py --n 300 --sizes 64 96 128 --short-sides 0 160 128 96 64
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from retouch.data import DataConfig, _to_float
from retouch.io import list_images, read_image
from retouch.labelled import LabelledImages
from retouch.locate.cam import (
    SHORT_SIDE,
    THRESHOLD,
    box,
    heat_map,
    load_classifier,
    peak,
    region,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def feather_alpha(size: int, feather: int) -> torch.Tensor:
    """1x1xSxS weights of a pasted square: 1 inside, falling linearly to 0 over `feather` px at its edges."""
    if feather <= 0:
        return torch.ones(1, 1, size, size)
    i = torch.arange(size, dtype=torch.float32)
    ramp = (torch.minimum(i + 1, size - i) / (feather + 1)).clamp(max=1)
    return torch.minimum(ramp[:, None], ramp[None, :])[None, None]


def pasted(cifar: LabelledImages, photos: list[torch.Tensor], size: int, n: int, seed: int = 0, feather: int = 0):
    """n (photo with object, true label, object box (x, y, w, h)), the same for a given seed.

    `feather` blends the square into the photo over that many pixels, so a localiser that keys on
    the paste's sharp border rather than the object loses its cue."""
    gen = torch.Generator().manual_seed(seed)
    alpha = feather_alpha(size, feather)
    for _ in range(n):
        photo = photos[int(torch.randint(len(photos), (), generator=gen))].clone()
        i = int(torch.randint(len(cifar), (), generator=gen))
        obj = F.interpolate(_to_float(cifar.images[i])[None], size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)
        h, w = photo.shape[2:]
        y = int(torch.randint(h - size + 1, (), generator=gen))
        x = int(torch.randint(w - size + 1, (), generator=gen))
        photo[:, :, y : y + size, x : x + size] = alpha * obj + (1 - alpha) * photo[:, :, y : y + size, x : x + size]
        yield photo, int(cifar.labels[i]), (x, y, size, size)


@functools.lru_cache(maxsize=1)
def test_sets(data: Path) -> tuple[LabelledImages, list[torch.Tensor]]:
    """CIFAR-10 test images and the BSDS500 val photos, read once per process."""
    cifar = LabelledImages(DataConfig(root=str(data / "cifar10.zip"), split="test", size=32), train=False)
    return cifar, [read_image(p) for p in list_images(data / "bsds500" / "val")]


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def hit_rate(model: str = "cifar10-classifier", data: Path = DATA, n: int = 100, size: int = 96,
             short_side: int = SHORT_SIDE, threshold: float = THRESHOLD, seed: int = 0, feather: int = 0) -> dict:
    """The rates above for one object size and working short side (0 = no shrinking)."""
    cifar, photos = test_sets(data)
    _, classes = load_classifier(model)
    rows = {"true class": [], "predicted class": []}
    for photo, label, obj in pasted(cifar, photos, size, n, seed, feather):
        for row, cls in (("true class", label), ("predicted class", None)):
            heat, name = heat_map(photo, model, cls, short_side=short_side)
            px, py = peak(heat)
            found = box(region(heat, threshold))
            rows[row].append({"hit": obj[0] <= px < obj[0] + obj[2] and obj[1] <= py < obj[1] + obj[3],
                              "iou": iou(found, obj), "correct": name == classes[label]})
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    report = {"model": model, "n": n, "size": size, "short_side": short_side, "threshold": threshold, "seed": seed,
              "feather": feather}
    for row, r in rows.items():
        report[row] = {"hit": mean([x["hit"] for x in r]), "box_overlap": mean([x["iou"] > 0 for x in r]),
                       "iou": mean([x["iou"] for x in r]), "iou>=0.5": mean([x["iou"] >= 0.5 for x in r])}
    report["predicted class"]["class_correct"] = mean([x["correct"] for x in rows["predicted class"]])
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="cifar10-classifier")
    p.add_argument("--data", type=Path, default=DATA, help="folder holding cifar10.zip and bsds500/val")
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--sizes", type=int, nargs="+", default=[96])
    p.add_argument("--short-sides", type=int, nargs="+", default=[SHORT_SIDE])
    p.add_argument("--threshold", type=float, default=THRESHOLD)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--feather", type=int, default=0, help="blend each pasted square's border over this many px")
    p.add_argument("--json", type=Path, help="also write all reports here")
    a = p.parse_args()
    reports = []
    print("| object px | short side | true: hit | overlap | IoU | IoU>=0.5 | pred: hit | IoU>=0.5 | class right |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in a.sizes:
        for side in a.short_sides:
            r = hit_rate(a.model, a.data, a.n, size, side, a.threshold, a.seed, a.feather)
            reports.append(r)
            t, q = r["true class"], r["predicted class"]
            print(f"| {size} | {side or 'native'} | {t['hit']:.1%} | {t['box_overlap']:.1%} | {t['iou']:.2f} | {t['iou>=0.5']:.1%} "
                  f"| {q['hit']:.1%} | {q['iou>=0.5']:.1%} | {q['class_correct']:.1%} |", flush=True)
    if a.json:
        a.json.write_text(json.dumps(reports, indent=2) + "\n")


if __name__ == "__main__":
    main()
