"""`retouch eval-colorize`: a colourisation model against the grey input, two ways.

- CIFAR-10 test images (the first `per_class` of each class): the shipped classifier's accuracy on
  the originals, on their grey versions and on the model's colourisations. Colour is evidence for
  a classifier trained on colour photos (grey frogs and grey trucks look alike), so plausible
  colours win back part of what grey lost; that is the colourisation test of the pix2pix line of
  work, with a classifier standing in for the human judges.
- BSD100 (BSDS500 `val`, never trained on): PSNR and SSIM against the colour originals for the grey
  image and the colourisation (a plausible colour that is not the original's is penalised, so
  these reward caution), and colourfulness (Hasler and Süsstrunk 2003) of grey (0), the
  colourisations and the originals, with a sheet of 16 photos (grey | colorize | original).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from retouch.degrade import Greyscale
from retouch.evaluate import predict_classes
from retouch.evaluate.dgp import cifar_test
from retouch.io import Provenance, list_images, read_image, save_image
from retouch.metrics import mean_metrics, psnr, ssim
from retouch.models.load import load_model
from retouch.tasks.colorize import load_colorizer


def colourfulness(x: torch.Tensor) -> float:
    """Hasler and Süsstrunk's colourfulness M of a 1x3xHxW (or 3xHxW) image in [-1, 1], on the 0..255
    scale: sqrt(var rg + var yb) + 0.3 sqrt(mean rg^2 + mean yb^2), rg = R - G, yb = (R + G) / 2 - B.
    0 for grey; about 33 is "moderately", 59 "quite", 82 "highly" colourful in their scale."""
    r, g, b = ((x.reshape(-1, *x.shape[-2:]) + 1) * 127.5).double().unbind(0)
    rg, yb = r - g, (r + g) / 2 - b
    return float(torch.sqrt(rg.var(unbiased=False) + yb.var(unbiased=False)) + 0.3 * torch.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def paired_test(a: torch.Tensor, b: torch.Tensor) -> dict:
    """McNemar's exact test of two classifications of the same images (bool tensors, True = right):
    the images only `a` gets right, only `b` gets right, and the two-sided p-value of that split.
    Why: accuracies 0.6 points apart on 1,000 images are noise unless the disagreements lean one
    way; the images both get right or both get wrong say nothing about which is better."""
    from scipy.stats import binomtest

    only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
    p = binomtest(only_b, only_a + only_b).pvalue if only_a + only_b else 1.0
    return {"only_first_right": only_a, "only_second_right": only_b, "p_value": float(p)}


def evaluate_colorize(model: str, classifier: str, cifar: Path, bsd: Path, per_class: int = 100, device: str = "cpu",
                      sheet: Path | None = None, log: Callable[[str], None] = print) -> dict:
    """The tables' numbers as a dict."""
    colorizer = load_colorizer(model, device)
    grey = Greyscale()
    judge, judge_meta = load_model(classifier)
    x, labels = cifar_test(cifar, per_class)
    coloured = torch.cat([colorizer(x[i : i + 1]) for i in range(len(x))])

    right = {name: predict_classes(judge, images, judge_meta["size"]) == labels
             for name, images in (("originals", x), ("grey", grey(x)), ("colorize", coloured))}
    report: dict = {"model": str(model), "classifier": str(classifier), "cifar_images": len(x),
                    "cifar_accuracy": {name: float(r.float().mean()) for name, r in right.items()},
                    "cifar_grey_vs_colorize": paired_test(right["grey"], right["colorize"])}
    log(f"CIFAR-10 accuracy: {report['cifar_accuracy']}; grey against colorize: {report['cifar_grey_vs_colorize']}")
    rows: dict[str, list[dict[str, float]]] = {"grey": [], "colorize": [], "originals": []}
    shown = []
    for i, path in enumerate(sorted(list_images(bsd))):
        original = read_image(path)
        g = grey(original)
        out = colorizer(original)
        for name, img in (("grey", g), ("colorize", out)):
            rows[name].append({"psnr": psnr(img, original), "ssim": ssim(img, original), "colourfulness": colourfulness(img)})
        rows["originals"].append({"colourfulness": colourfulness(original)})
        if i < 16:  # a centred 320x320 of each (BSDS photos are 481x321 or 321x481), so portraits and landscapes tile
            crop = lambda t: t[:, :, (t.shape[2] - 320) // 2 :][:, :, :320, (t.shape[3] - 320) // 2 :][:, :, :, :320]  # noqa: E731
            shown.append(torch.cat([crop(g), crop(out), crop(original)], 3))
    report["bsd100"] = {name: mean_metrics(r) for name, r in rows.items()}
    report["bsd100_images"] = len(rows["grey"])
    log(f"BSD100: {report['bsd100']}")
    if sheet is not None and shown:
        grid = torch.cat([torch.cat(shown[k : k + 2], 3) for k in range(0, len(shown) - 1, 2)], 2)
        save_image(grid, sheet, Provenance(model=str(model), task="eval-colorize sheet: grey | colorize | original", regions=None))
    return report
