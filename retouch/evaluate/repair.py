"""`retouch eval-repair`: the repair model against OpenCV's non-local means on fixed damage.

Four chains, each fixed (the operators of `retouch.degrade`, applied in this order to every photo,
cropped to sides divisible by 4; noise seeded by the photo's index):

- noise: Gaussian noise sigma 15, then JPEG q40 (same size): a shared copy of a noisy photo, the
  damage issue 44 measured, where OpenCV's non-local means is the answer people already have;
- light: Gaussian blur sigma 1.0, noise sigma 5, JPEG q85 (same size);
- medium: blur sigma 1.5, bicubic downscale x2, noise sigma 10, JPEG q50 (half size);
- heavy: blur sigma 2.0, bicubic downscale x4, noise sigma 15, JPEG q40 (quarter size).

Rows per chain, scored against the clean photo at full size: the damaged input (enlarged by
bicubic where downscaled, so it can be scored), OpenCV's `fastNlMeansDenoisingColored` at three
strengths h = 2/3, 1 and 1.5 times the chain's noise sigma (10, 15 and 22.5 on the noise chain; all
three are reported and the model is compared with the best on the set, generous to the baseline;
then bicubic where downscaled), and the model (`retouch repair --scale`). PSNR and SSIM
on RGB, and the detail ratio (edge energy over the clean photo's).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from retouch.degrade import (
    Compose,
    Downsample,
    GaussianBlur,
    GaussianNoise,
    Jpeg,
    _resize,
)
from retouch.io import (
    Provenance,
    list_images,
    read_image,
    save_image,
    to_pil,
    to_tensor,
)
from retouch.metrics import detail_ratio, mean_metrics, psnr, ssim
from retouch.tasks.repair import load_repairer

CHAINS = {  # name -> (scale, blur sigma, noise sigma, JPEG quality); blur 0: none
    "noise": (1, 0.0, 15.0, 40),
    "light": (1, 1.0, 5.0, 85),
    "medium": (2, 1.5, 10.0, 50),
    "heavy": (4, 2.0, 15.0, 40),
}


NLM_STRENGTHS = (2 / 3, 1.0, 1.5)  # OpenCV's h as multiples of the chain's noise sigma


def damage(x: torch.Tensor, chain: str, seed: int) -> torch.Tensor:
    """`x` (1x3xHxW, sides divisible by the chain's scale) through the named chain."""
    scale, blur, noise, quality = CHAINS[chain]
    ops = ([GaussianBlur(blur)] if blur else []) + ([Downsample(scale)] if scale > 1 else []) + [GaussianNoise(noise, seed), Jpeg(quality)]
    return Compose(tuple(ops))(x)


def opencv_nlm(x: torch.Tensor, h: float) -> torch.Tensor:
    """OpenCV's colour non-local means (template 7, search 21, the documented defaults) with strength `h`."""
    rgb = np.asarray(to_pil(x))
    return to_tensor(Image.fromarray(cv2.fastNlMeansDenoisingColored(rgb, None, h, h, 7, 21)))


def _scores(out: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
    return {"psnr": psnr(out, clean), "ssim": ssim(out, clean), "detail": detail_ratio(out, clean)}


def evaluate_repair(model: str, data: Path, limit: int = 0, device: str = "cpu", sheet: Path | None = None,
                    log: Callable[[str], None] = print) -> dict:
    """The table's numbers as a dict: chain -> row -> mean scores, and chain -> the best OpenCV row
    (`best_opencv`). `sheet`: the first 4 photos of the medium chain, each a row of damaged
    (enlarged) | OpenCV (the best h) | repair | clean."""
    photos = sorted(list_images(data))[: limit or None]
    shown: list[tuple] = []
    best_h = 0.0
    report: dict = {"model": str(model), "images": len(photos), "chains": {k: dict(zip(("scale", "blur", "noise", "jpeg"), v))
                                                                          for k, v in CHAINS.items()}, "rows": {}, "best_opencv": {}}
    for chain, (scale, _, noise, _) in CHAINS.items():
        repairer = load_repairer(model, scale, device)
        strengths = tuple(round(f * noise, 2) for f in NLM_STRENGTHS)
        rows: dict[str, list] = {"damaged": [], **{f"opencv h={h:g}": [] for h in strengths}, "repair": []}
        for i, path in enumerate(photos):
            clean = read_image(path)
            h, w = clean.shape[2] // 4 * 4, clean.shape[3] // 4 * 4
            clean = clean[:, :, :h, :w]
            hurt = damage(clean, chain, seed=i)
            up = (lambda t: _resize(t, h, w, "bicubic").clamp(-1, 1)) if scale > 1 else (lambda t: t)
            rows["damaged"].append(_scores(up(hurt), clean))
            denoised = {strength: up(opencv_nlm(hurt, strength)) for strength in strengths}
            for strength, out in denoised.items():
                rows[f"opencv h={strength:g}"].append(_scores(out, clean))
            repaired = repairer(hurt)
            rows["repair"].append(_scores(repaired, clean))
            if chain == "medium" and i < 4:
                shown.append((up(hurt), denoised, repaired, clean))
        means = {name: mean_metrics(r) for name, r in rows.items()}
        report["rows"][chain] = means
        best = max(strengths, key=lambda strength: means[f"opencv h={strength:g}"]["psnr"])
        report["best_opencv"][chain] = f"opencv h={best:g}"
        if chain == "medium":
            best_h = best
        log(f"{chain}: " + ", ".join(f"{k} {v['psnr']:.2f} dB" for k, v in means.items())
            + f"; repair - best OpenCV {means['repair']['psnr'] - means[report['best_opencv'][chain]]['psnr']:+.2f} dB")
    if sheet is not None and shown:
        h = min(row[0].shape[2] for row in shown)
        w = min(row[0].shape[3] for row in shown)
        grid = torch.cat([torch.cat([t[:, :, :h, :w] for t in (d, cv[best_h], r, c)], 3) for d, cv, r, c in shown], 2)
        save_image(grid, sheet, Provenance(model=str(model), task="eval-repair sheet (medium): damaged | OpenCV NLM | repair | clean",
                                           regions=None))
    return report
