"""`retouch data pairs`: an aligned paired dataset written from clean photos and a degradation spec.

For each photo `SRC/<stem>.*` it writes `DST/A/<stem>.png` (degraded), `DST/B/<stem>.png` (the
clean photo, re-encoded losslessly) and `DST/mask/<stem>.png` (white = the operator's footprint:
the region it acted on, or just the holes for hole specs). `PairedDataset` reads the layout and
passes the mask on. Files on disk, unlike `DataConfig.degrade` on the fly, fix one degradation
per photo: for sharing a benchmark, or for operators too slow to run per step.
"""

from __future__ import annotations

from pathlib import Path

import torch
from rich.progress import track

from retouch.degrade import parse
from retouch.errors import RetouchError
from retouch.geometry import box_mask
from retouch.io import list_images, read_image, save_image
from retouch.tasks.hide import located_region

LOCATE = ("random", "full", "cam")


def random_box(gen: torch.Generator, h: int, w: int, lo: int, hi: int) -> tuple[int, int, int, int]:
    """A box (x, y, w, h) with sides in [lo, hi] (capped by the image), placed uniformly."""
    bh, bw = (int(torch.randint(min(lo, side), min(hi, side) + 1, (), generator=gen)) for side in (h, w))
    top, left = (int(torch.randint(0, side - b + 1, (), generator=gen)) for side, b in ((h, bh), (w, bw)))
    return left, top, bw, bh


def build_pairs(src: Path, dst: Path, spec: str, locate: str = "random", size_range: tuple[int, int] = (32, 128),
                seed: int = 0, show_progress: bool = True) -> list[Path]:
    """Write the A/B/mask folders for every image in `src`; returns the A files.

    Photo i is degraded with generator seed `seed * 1_000_003 + i` (name order), which draws the
    region first and then the operator, so the same arguments write the same files. `locate`:
    a random box with sides in `size_range`, the full image (size-changing specs such as
    ``downsample:scale=4`` need it), or ``cam[:CLASS]``.
    """
    family = parse(spec)
    kind = locate.partition(":")[0]
    if kind not in LOCATE:
        raise RetouchError(f"Unknown --locate {locate!r}; use random, full or cam[:CLASS].")
    paths = list_images(src)
    names = [p.stem + ".png" for p in paths]
    if len(set(names)) < len(names):
        clash = next(n for n in names if names.count(n) > 1)
        raise RetouchError(f"Two images in {src} would both be written as {clash}; rename one.")
    written = []
    for i, (path, name) in enumerate(track(list(zip(paths, names)), description="pairs", disable=not show_progress)):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + i)
        x = read_image(path)
        h, w = x.shape[2:]
        if kind == "random":
            region = box_mask(h, w, random_box(gen, h, w, *size_range))
        else:
            region = located_region(x, locate) if kind == "cam" else None
        op = family.sample(gen)
        footprint = op.footprint(x, region)
        written.append(save_image(op(x, region), dst / "A" / name))
        save_image(x, dst / "B" / name)
        save_image(footprint.expand(-1, 3, -1, -1) * 2 - 1, dst / "mask" / name)
    return written
