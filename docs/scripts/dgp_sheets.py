"""The jitter, morph and transfer sheets of docs/img/ (the DGP manipulations), from CIFAR-10 test images.

Run: python docs/scripts/dgp_sheets.py  (about two minutes on a 2-core CPU). Each row starts with
the input and its reconstruction (task defaults, the class left to the latent search), then:
jitter: 7 draws of z* + 0.3 N(0, I); morph: 8 frames between two reconstructions (latent, weights
and class row interpolated); transfer: the ten classes, latent and fine-tuned weights kept.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from retouch.device import pick_precision
from retouch.evaluate.dgp import cifar_test
from retouch.io import Provenance, save_image
from retouch.prior.engine import DGP, load_prior
from retouch.prior.tasks import jitter, morph, restore, transfer

OUT = Path(__file__).resolve().parents[1] / "img"


def sheet(rows: list[torch.Tensor], name: str, task: str) -> None:
    """Rows of (k, 3, 32, 32) images, enlarged 3x (nearest), into docs/img/NAME."""
    grid = torch.cat([torch.cat(list(r), dim=2) for r in rows], dim=1)
    save_image(F.interpolate(grid[None], scale_factor=3, mode="nearest"), OUT / name,
               Provenance(model="cifar10-prior", task=f"deep generative prior: {task}"))
    print(OUT / name)


def main() -> None:
    torch.manual_seed(0)
    x, _ = cifar_test(Path("../shared/data/cifar10.zip"), 1)  # one test image per class
    G, D, _ = load_prior("cifar10-prior")
    dgp = DGP(G, D, dtype=pick_precision("auto", torch.device("cpu")))
    picks = x[[0, 1, 7, 8, 9, 3]]  # airplane, automobile, horse, ship, truck, cat
    _, fit = restore(dgp, "reconstruct", picks)
    sheet([torch.cat([picks[i:i + 1], fit.image[i:i + 1], v]) for i, v in enumerate(jitter(dgp, fit))], "dgp-jitter.png", "jitter")
    sheet([torch.cat([picks[i:i + 1], fit.image[i:i + 1], v]) for i, v in enumerate(transfer(dgp, fit))], "dgp-transfer.png", "transfer")
    pairs = [(0, 3), (1, 4), (2, 5)]
    sheet([torch.cat([picks[a:a + 1], morph(dgp, fit, a, b), picks[b:b + 1]]) for a, b in pairs], "dgp-morph.png", "morph")


if __name__ == "__main__":
    main()
