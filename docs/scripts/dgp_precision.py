"""Latent search and fit time of the DGP inpainting task, bf16 autocast against fp32, in one run.

Run: OMP_NUM_THREADS=2 python docs/scripts/dgp_precision.py  (under a minute on a 2-core CPU).
Eight CIFAR-10 test images (one per class from airplane to ship), the shipped prior, the
inpainting defaults (500 draws, 5 x 12 steps), a central 12x12 hole.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from retouch.evaluate.dgp import centre_hole, cifar_test
from retouch.prior import tasks as T
from retouch.prior.engine import DGP, load_prior


def main() -> None:
    x, _ = cifar_test(Path("../shared/data/cifar10.zip"), 1)
    x = x[:8]
    G, D, _ = load_prior("cifar10-prior")
    obs = T.observation_for("inpaint", mask=centre_hole(32, 12))
    observed = T.observe_input(x, obs, 32)
    for dtype in (torch.bfloat16, torch.float32):
        dgp = DGP(G, D, dtype=dtype)
        t0 = time.perf_counter()
        start = dgp.search(observed, obs, T.SETTINGS["inpaint"], None, torch.Generator().manual_seed(0))
        t1 = time.perf_counter()
        dgp.fit(observed, obs, T.SETTINGS["inpaint"], start=start)
        t2 = time.perf_counter()
        print(f"{dtype}: search {t1 - t0:.1f} s, fit {t2 - t1:.1f} s (8 images, {T.SETTINGS['inpaint'].steps} steps)")


if __name__ == "__main__":
    main()
