"""DGP inpainting on the eval-dgp images with each image's true class given (as DGP's ImageNet
runs take the label), beside the search-chosen class of the main table.

Run: python docs/scripts/dgp_class_given.py  (about five minutes on a 2-core CPU). Prints how
often the latent search alone picks the true class, and the hole PSNR with the class given.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from retouch.evaluate.dgp import centre_hole, cifar_test, psnr_inside
from retouch.prior.engine import DGP, load_prior
from retouch.prior.tasks import SETTINGS, finish, observation_for, observe_input


def main(per_class: int = 20, batch: int = 8) -> None:
    x, labels = cifar_test(Path("../shared/data/cifar10.zip"), per_class)
    G, D, _ = load_prior("cifar10-prior")
    dgp = DGP(G, D)  # fp32, as eval-dgp --precision fp32
    mask = centre_hole(32, 12)
    obs = observation_for("inpaint", mask=mask)
    observed = observe_input(x * mask, obs, dgp.size)
    settings = SETTINGS["inpaint"]
    searched = dgp.search(observed, obs, settings, None, torch.Generator().manual_seed(0))
    report = {"search_picks_true_class": float((searched[1] == labels).float().mean())}
    start = dgp.search(observed, obs, settings, labels, torch.Generator().manual_seed(0))
    out = torch.cat([finish(dgp.fit(observed[i:i + batch], obs, settings, start=(start[0][i:i + batch], start[1][i:i + batch])),
                            observed[i:i + batch], obs) for i in range(0, x.size(0), batch)])
    report["true_class_hole_psnr"] = float(torch.tensor(psnr_inside(out, x, 1 - mask)).mean())
    print(json.dumps(report))


if __name__ == "__main__":
    main()
