"""Tiles of 512 against one tile of 1024 for the norm-free shipped networks on a 1024 px image:
the demosaic U-Net restoring a region covering the whole image (`restore_region`), and
srresnet-x4 making 1024 px from 256 px (tiles of 128 against 256 input pixels). Both timed
alternately in one run (`retouch.timing.rates`), torch fp32; and how far the outputs differ.

    OMP_NUM_THREADS=2 python docs/scripts/tile_size.py
"""

from __future__ import annotations

import torch

from retouch.degrade import Mosaic
from retouch.geometry import box_mask
from retouch.models.runner import load_translator
from retouch.tasks.restore import restore_region
from retouch.timing import rates


def main() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 1024, 1024, generator=gen) * 2 - 1
    mask = box_mask(1024, 1024, (0, 0, 1024, 1024))
    hidden = Mosaic(8)(x, mask)
    small = torch.rand(1, 3, 256, 256, generator=gen) * 2 - 1
    cases = {
        "demosaic, 1024 px region": ("demosaic", "restore", (512, 1024), lambda tr: restore_region(tr, hidden, mask)),
        "srresnet-x4, 256 -> 1024 px": ("srresnet-x4", "upscale", (128, 256), lambda tr: tr(small)),
    }
    for name, (model, task, tiles, run) in cases.items():
        a, b = (load_translator(model, "cpu", "fp32", tile=t, task=task, backend="torch") for t in tiles)
        ra, rb = rates(lambda: run(a), 1, lambda: run(b), 1, 2)
        diff = (run(a) - run(b)).abs()
        print(f"{name}: tiles of {tiles[0]} {ra:.3f} img/s, one tile of {tiles[1]} {rb:.3f} img/s, {rb / ra:.2f}x; "
              f"outputs differ by {diff.mean():.5f} on average, {diff.max():.3f} at most ([-1, 1] scale)")


if __name__ == "__main__":
    main()
