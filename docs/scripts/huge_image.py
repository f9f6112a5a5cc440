"""Peak memory of the image verbs on a 100-megapixel photo (issue 23), for docs/benchmarks.md.

Makes a 12000x8400 photo by tiling BSDS500 validation photos (mirrored, so no two neighbours
repeat), a 3000x2100 one for x4 upscaling (a 100 MP output), and two tiny untrained models that
take the tiled path at this size without hours of CPU (a pix2pix U-Net with 4 base channels, an
SRResNet with 8 channels and one block: memory is set by the image buffers, not the weights).
Each command runs under /usr/bin/time -v; every tree given is measured in the same run, so the
before / after ratios share one machine state.

    python docs/scripts/huge_image.py --trees /tmp/base,. [--work /tmp/huge]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

W, H = 12000, 8400


def make_photo(src: Path, w: int, h: int, out: Path) -> None:
    """Tile the photos of `src` (mirrored in a checkerboard) into a w x h JPEG."""
    photos = [Image.open(p).convert("RGB") for p in sorted(src.glob("*.jpg"))[:40]]
    canvas = Image.new("RGB", (w, h))
    i = 0
    for top in range(0, h, 320):
        for left in range(0, w, 480):
            tile = photos[i % len(photos)].crop((0, 0, 480, 320))
            if (top // 320 + left // 480) % 2:
                tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            canvas.paste(tile, (left, top))
            i += 1
    canvas.save(out, quality=92)


def tiny_model(work: Path, method: str, yaml: str) -> Path:
    """Train a tiny model for 2 steps (weights do not matter for memory); its run folder."""
    run = work / f"tiny-{method}"
    if (run / "model.safetensors").exists():
        return run
    cfg = work / f"tiny-{method}.yaml"
    cfg.write_text(yaml)
    subprocess.run([sys.executable, "-m", "retouch", "train", method, "--config", str(cfg), "--out", str(run)],
                   check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL)
    return run


def measure(tree: Path, argv: list[str]) -> tuple[float, float, int]:
    """(peak RSS in GiB, wall seconds, exit status) of `retouch ARGV` run from `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree.resolve()), "OMP_NUM_THREADS": "2"}
    # run from outside any tree: `python -m` puts the working directory first on sys.path
    p = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "retouch", *argv], env=env, capture_output=True, text=True,
                       cwd=tempfile.gettempdir())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", p.stderr).group(1)
    seconds = sum(float(x) * 60**i for i, x in enumerate(reversed(wall.split(":"))))
    if p.returncode:
        print(p.stderr[-2000:], file=sys.stderr)
    return rss / 2**20, seconds, p.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trees", default=".", help="comma-separated source trees to compare (e.g. a checkout of main, and .)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/retouch-huge"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data/bsds500/val"))
    ap.add_argument("--only", default="", help="comma-separated case names")
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    big, small = work / "photo-100mp.jpg", work / "photo-6mp.jpg"
    if not big.exists():
        make_photo(args.data, W, H, big)
    if not small.exists():
        make_photo(args.data, W // 4, H // 4, small)
    pairs = work / "pairs" / "train"
    if not pairs.exists():
        pairs.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for i in range(4):
            a = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(np.concatenate([a, 255 - a], 1)).save(pairs / f"{i}.png")
    unet = tiny_model(work, "pix2pix", f"method: pix2pix\nmodel:\n  netG: unet\n  ngf: 4\n  unet_downs: 5\n  norm: none\n"
                      f"  dropout: false\n  gan_weight: 0.0\ndata:\n  root: {work / 'pairs'}\n  size: 64\n  preprocess: crop\n"
                      "train:\n  steps: 2\n  batch_size: 1\n  device: cpu\n")
    sr = tiny_model(work, "srgan", f"method: srgan\nmodel:\n  scale: 4\n  channels: 8\n  n_blocks: 1\n  norm: none\n  loss: mse\n"
                    f"  adv_weight: 0.0\ndata:\n  root: {pairs}\n  degrade: downsample:scale=4\n  region: full\n  size: 64\n"
                    "train:\n  steps: 2\n  batch_size: 1\n  device: cpu\n")
    out = work / "out"
    out.mkdir(exist_ok=True)
    cases = {
        "demosaic --box 256x256": ["demosaic", str(big), "-o", str(out / "demosaic.tif"), "--box", "6000,4000,256,256", "--device", "cpu"],
        "mosaic --box 512x512": ["mosaic", str(big), "-o", str(out / "mosaic-box.tif"), "--box", "6000,4000,512,512"],
        "translate (tiled U-Net)": ["translate", str(big), "-o", str(out / "translate.tif"), "--model", str(unet), "--device", "cpu"],
        "upscale x4, 6.3 MP in (tiled SRResNet)": ["upscale", str(small), "-o", str(out / "upscale.tif"), "--model", str(sr), "--device", "cpu"],
        "mosaic (whole image)": ["mosaic", str(big), "-o", str(out / "mosaic.tif")],
        "upscale x4, 6.3 MP in (bicubic)": ["upscale", str(small), "-o", str(out / "bicubic.tif"), "--model", "bicubic"],
    }
    only = [c for c in args.only.split(",") if c]
    trees = [Path(t) for t in args.trees.split(",")]
    print("| case | " + " | ".join(f"peak RSS, {t} (GiB) | seconds" for t in trees) + " |")
    print("|---|" + "---:|---:|" * len(trees))
    for name, argv in cases.items():
        if only and not any(o in name for o in only):
            continue
        cells = []
        for tree in trees:
            rss, seconds, rc = measure(tree, argv)
            cells.append(f"{rss:.2f}{'' if rc == 0 else f' (exit {rc})'} | {seconds:.0f}")
            for f in out.iterdir():
                f.unlink()
            time.sleep(1)
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
