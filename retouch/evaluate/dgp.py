"""`retouch eval-dgp`: the deep generative prior's table on CIFAR-10 test images.

The first `per_class` test images of each class (20: 200 images), restored in batches of `batch`
with the task defaults of `prior/tasks.py`, the class chosen by the latent search (no label is
given to any row). Rows, each beside its baseline:
- reconstruct: PSNR / SSIM of the fit to the clean image;
- inpaint (a central hole of `hole` px): PSNR inside the hole for OpenCV's Telea inpainting, GAN
  inversion with G fixed (the latent alone, same stages), and DGP;
- upscale x4 (8 px in): PSNR of bicubic and of DGP;
- colorize: the classifier's accuracy on the originals, the grey images and DGP's colourisations;
- defend: the classifier's accuracy on clean images, under PGD (L∞ 8/255, 10 steps of 2/255), on
  DGP's reconstructions of the attacked images, and on its reconstructions of the clean ones;
- ablation (inpainting, the first `ablation_per_class` images of each class): the default (D features
  + MSE, progressive), MSE only, D features only, and all of G at once for the same steps.
Seconds per image are wall time at the given batch on the machine that runs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from retouch.data import DataConfig
from retouch.degrade import Greyscale, _resize
from retouch.errors import RetouchError
from retouch.evaluate import predict_classes
from retouch.io import Provenance, save_image
from retouch.metrics import psnr, ssim
from retouch.models.load import load_model
from retouch.prior.engine import DGP, Settings, load_prior
from retouch.prior.tasks import SETTINGS, observation_for, observe_input, restore


def cifar_test(root: Path, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `per_class` test images of each class, class by class: (N, 3, 32, 32) in [-1, 1], labels."""
    from retouch.labelled import LabelledImages

    ds = LabelledImages(DataConfig(root=str(root), split="test", size=32), train=False)
    idx = [int(i) for c in range(len(ds.classes)) for i in (ds.labels == c).nonzero()[:per_class, 0]]
    return torch.stack([ds[i]["image"] for i in idx]), ds.labels[idx]


def centre_hole(size: int, hole: int) -> torch.Tensor:
    """(1, 1, size, size): 1 where pixels are known, 0 in the central hole x hole square."""
    mask = torch.ones(1, 1, size, size)
    a = (size - hole) // 2
    mask[..., a:a + hole, a:a + hole] = 0
    return mask


def psnr_inside(out: torch.Tensor, ref: torch.Tensor, region: torch.Tensor) -> list[float]:
    """Per-image PSNR (peak 1 on [0, 1] images) over the pixels where `region` is 1."""
    err = (((out - ref) / 2) ** 2 * region).sum((1, 2, 3)) / (region.expand_as(out[:, :1]).sum((1, 2, 3)) * out.size(1))
    return (10 * torch.log10(1 / err.clamp_min(1e-10))).tolist()


def opencv_inpaint(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """OpenCV's Telea inpainting (radius 3) of the holes, per image, on 8-bit RGB."""
    try:
        import cv2
    except ImportError:
        raise RetouchError("The OpenCV baseline needs opencv-python-headless: pip install -e '.[bench]'.") from None
    hole = ((mask[0, 0] < 0.5).numpy() * 255).astype(np.uint8)
    out = []
    for im in ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy():
        out.append(torch.from_numpy(cv2.inpaint(np.ascontiguousarray(im), hole, 3, cv2.INPAINT_TELEA)))
    return torch.stack(out).permute(0, 3, 1, 2).float() / 127.5 - 1


def pgd(net: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float = 8 / 255, step: float = 2 / 255,
        iters: int = 10, seed: int = 0) -> torch.Tensor:
    """Untargeted L∞ PGD (Madry et al.) with a random start; eps and step on the [0, 1] scale."""
    eps, step = 2 * eps, 2 * step  # images are in [-1, 1]
    gen = torch.Generator().manual_seed(seed)
    adv = (x + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps).clamp(-1, 1)
    for _ in range(iters):
        adv.requires_grad_(True)
        loss = F.cross_entropy(net(adv), labels)
        (grad,) = torch.autograd.grad(loss, adv)
        adv = (x + (adv.detach() + step * grad.sign() - x).clamp(-eps, eps)).clamp(-1, 1)
    return adv.detach()


def _batched(fn: Callable[[torch.Tensor, slice], torch.Tensor], n: int, batch: int) -> tuple[torch.Tensor, float]:
    """fn over slices of `batch` images; the outputs joined, and wall seconds per image."""
    start = time.perf_counter()
    out = torch.cat([fn(sl) for sl in (slice(i, min(i + batch, n)) for i in range(0, n, batch))])
    return out, (time.perf_counter() - start) / n


def _mean(values: list[float]) -> float:
    return float(np.mean(values))


ROWS = ("reconstruct", "inpaint", "upscale", "colorize", "defend")  # inpaint includes its ablation


def evaluate_dgp(model: str, classifier: str, data: Path, per_class: int = 20, batch: int = 8, hole: int = 12,
                 ablation_per_class: int = 4, dtype: torch.dtype = torch.float32, seed: int = 0,
                 sheet: Path | None = None, log: Callable[[str], None] = print, rows: tuple[str, ...] = ROWS) -> dict:
    """The table's numbers as a dict (rows of metrics and seconds per image); `rows` picks some of
    them (e.g. colorize on 1,000 images, the colourisation table's DGP column), all by default."""
    unknown = set(rows) - set(ROWS)
    if unknown or not rows:
        raise RetouchError(f"Unknown rows {', '.join(sorted(unknown)) or '(none)'}; pick from {', '.join(ROWS)}.")
    if sheet is not None and set(rows) != set(ROWS):
        raise RetouchError("--sheet draws every row; leave --rows out to write it.")
    G, D, _ = load_prior(model)
    dgp = DGP(G, D, dtype=dtype)
    judge, judge_meta = load_model(classifier)
    for p in judge.parameters():
        p.requires_grad_(False)
    x, labels = cifar_test(data, per_class)
    n, size = x.size(0), dgp.size
    mask = centre_hole(size, hole)
    report: dict = {"model": str(model), "classifier": str(classifier), "images": n, "batch": batch, "hole": hole,
                    "settings": {k: [vars(s) for s in v.stages] for k, v in SETTINGS.items()}, "rows": {}}

    def dgp_rows(task: str, inputs: torch.Tensor, settings: Settings | None = None, mask: torch.Tensor | None = None,
                 timed: bool = True) -> tuple[torch.Tensor, float]:
        """A task on all `inputs`: one latent search for all (per image, so the same starts as
        batch by batch), then fits of `batch` images; seconds per image timed separately, on the
        first batch run the way `retouch prior` runs it (search included)."""
        settings = settings or SETTINGS[task]
        secs = _batched(lambda sl: restore(dgp, task, inputs[sl], mask=mask, settings=settings, seed=seed)[0], batch, batch)[1] if timed else float("nan")
        obs = observation_for(task, mask=mask)
        observed = observe_input(inputs, obs, size)
        start = dgp.search(observed, obs, settings, None, torch.Generator().manual_seed(seed))
        out, _ = _batched(lambda sl: restore(dgp, task, inputs[sl], mask=mask, settings=settings, start=(start[0][sl], start[1][sl]))[0],
                          inputs.size(0), batch)
        if timed:
            log(f"{task}: {secs:.2f} s/image at batch {batch}")
        return out, secs

    def accuracy(images: torch.Tensor) -> float:
        return float((predict_classes(judge, images, judge_meta["size"]) == labels).float().mean())

    wanted, rows = rows, report["rows"]
    if "reconstruct" in wanted:
        recon, secs = dgp_rows("reconstruct", x)
        rows["reconstruct"] = {"dgp": {"psnr": _mean([psnr(a, b) for a, b in zip(recon, x)]),
                                   "ssim": _mean([ssim(a, b) for a, b in zip(recon, x)]), "s_per_image": secs}}

    if "inpaint" in wanted:
        holes = 1 - mask
        cv, cv_secs = _batched(lambda sl: opencv_inpaint(x[sl], mask), n, batch)
        fixed = Settings(tuple(replace(s, parts=0) for s in SETTINGS["inpaint"].stages))
        inverted, inv_secs = dgp_rows("inpaint", x * mask, fixed, mask=mask)
        filled, fill_secs = dgp_rows("inpaint", x * mask, mask=mask)
        hole_psnr = {name: psnr_inside(out, x, holes) for name, out in (("opencv", cv), ("g_fixed", inverted), ("dgp", filled))}
        rows["inpaint"] = {name: {"hole_psnr": _mean(v), "s_per_image": s}
                           for (name, v), s in zip(hole_psnr.items(), (cv_secs, inv_secs, fill_secs))}

    if "upscale" in wanted:
        small = _resize(x, size // 4, size // 4, "bicubic")
        bicubic = _resize(small, size, size, "bicubic")
        upscaled, up_secs = dgp_rows("upscale", small)
        rows["upscale_x4"] = {"bicubic": {"psnr": _mean([psnr(a, b) for a, b in zip(bicubic, x)])},
                              "dgp": {"psnr": _mean([psnr(a, b) for a, b in zip(upscaled, x)]), "s_per_image": up_secs}}

    if "colorize" in wanted:
        grey = Greyscale()(x)
        coloured, col_secs = dgp_rows("colorize", grey)
        rows["colorize"] = {"original": {"accuracy": accuracy(x)}, "grey": {"accuracy": accuracy(grey)},
                            "dgp": {"accuracy": accuracy(coloured), "s_per_image": col_secs}}

    if "defend" in wanted:
        attacked = torch.cat([pgd(judge, x[i:i + batch], labels[i:i + batch], seed=seed + i) for i in range(0, n, batch)])
        defended, def_secs = dgp_rows("defend", attacked)
        clean_fit, _ = dgp_rows("defend", x, timed=False)  # what the defence costs an image that was not attacked
        rows["defend"] = {"clean": {"accuracy": accuracy(x)}, "pgd": {"accuracy": accuracy(attacked)},
                          "pgd_then_dgp": {"accuracy": accuracy(defended), "s_per_image": def_secs},
                          "clean_then_dgp": {"accuracy": accuracy(clean_fit)}}

    if "inpaint" in wanted:  # the ablation reuses the default fit's hole scores
        keep = torch.cat([torch.arange(c * per_class, c * per_class + ablation_per_class) for c in range(n // per_class)])
        base = SETTINGS["inpaint"]
        variants = {
            "mse_only": replace(base, stages=tuple(replace(s, w_D=0.0) for s in base.stages)),
            "d_only": replace(base, stages=tuple(replace(s, w_mse=0.0) for s in base.stages)),
            "all_at_once": replace(base, stages=(replace(base.stages[-1], steps=base.steps),)),
        }
        ablation = {"default": {"hole_psnr": _mean([hole_psnr["dgp"][i] for i in keep.tolist()])}}
        for name, settings in variants.items():
            out, _ = dgp_rows("inpaint", x[keep] * mask, settings, mask=mask, timed=False)
            ablation[name] = {"hole_psnr": _mean(psnr_inside(out, x[keep], holes))}
            log(f"ablation {name}: {ablation[name]['hole_psnr']:.2f} dB")
        rows["ablation_inpaint"] = {"images": keep.numel(), **ablation}

    if sheet is not None:
        pick = torch.arange(0, n, per_class)  # one image per class
        columns = [x, recon, x * mask, cv, inverted, filled, bicubic, upscaled, grey, coloured, attacked, defended]
        grid = torch.cat([torch.cat(list(c[pick]), dim=1) for c in columns], dim=2)
        save_image(F.interpolate(grid[None], scale_factor=3, mode="nearest"), sheet,
                   Provenance(model=str(model), task="DGP on CIFAR-10 test images: one row per class"))
    return report
