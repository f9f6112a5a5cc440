"""`retouch eval-rerender`: do TD-GAN's re-renders show the tag asked for, and only that?

For each CIFAR-10 test photo (never trained on), tags are drawn at random and the photo rendered
under them (`retouch.tagged.render`); then, for every tag, the model re-renders it with that tag
set to another random value. Each re-render's tags are *measured* (`tagged.measure`: the value
whose rendering of the source lies nearest), so per tag we report

- success: the share of re-renders whose measured tag is the value asked for;
- moved: the share of the *other* tags whose measured value changed (disentanglement: 0 is ideal);
- PSNR against the true re-render, and the classifier's accuracy on the re-renders (identity kept),

next to the same for each model given (e.g. the autoencoder trained without the tag losses).
"""

from __future__ import annotations

from pathlib import Path

import torch

from retouch.evaluate import predict_classes
from retouch.evaluate.dgp import cifar_test
from retouch.io import Provenance, save_image
from retouch.metrics import psnr
from retouch.models.load import load_model
from retouch.tagged import NAMES, TAGS, draw_tags, measure, render
from retouch.tasks.rerender import TASK


@torch.inference_mode()
def evaluate_rerender(models: list[str], data: Path, per_class: int = 100, classifier: str = "cifar10-classifier", seed: int = 0,
                      sheet: Path | None = None) -> dict:
    """The table's numbers; `sheet` also draws, for one photo of each class and the first model,
    the tagged input, then per tag its re-render beside the true one."""
    x, labels = cifar_test(data, per_class)
    gen = torch.Generator().manual_seed(seed)
    tags = draw_tags(len(x), gen)
    shown = render(x, tags)
    judge, judge_meta = load_model(classifier)
    report: dict = {"images": len(x), "seed": seed, "classifier": classifier, "models": {}}
    for model in models:
        net, meta = load_model(model, task=TASK)
        rows, columns = {}, [shown]
        for t, name in enumerate(NAMES):
            asked = tags.clone()
            asked[:, t] = (tags[:, t] + 1 + torch.randint(len(TAGS[name]) - 1, (len(x),), generator=gen)) % len(TAGS[name])
            which = torch.zeros_like(tags, dtype=torch.bool)
            which[:, t] = True
            out = torch.cat([net.rerender(shown[i : i + 256], asked[i : i + 256], which[i : i + 256]) for i in range(0, len(x), 256)])
            measured = measure(out, x, asked)
            others = [s for s in range(len(NAMES)) if s != t]
            truth = render(x, asked)
            columns += [out, truth]
            rows[name] = {
                "success": float((measured[:, t] == asked[:, t]).float().mean()),
                "moved": float((measured[:, others] != asked[:, others]).float().mean()),
                "psnr": sum(psnr(a, b) for a, b in zip(out, truth)) / len(x),
                "class_accuracy": float((predict_classes(judge, out, judge_meta["size"]) == labels).float().mean()),
            }
        recon = torch.cat([net(shown[i : i + 256]) for i in range(0, len(x), 256)])
        rows["reconstruction_psnr"] = sum(psnr(a, b) for a, b in zip(recon, shown)) / len(x)
        report["models"][str(model)] = rows
        if sheet is not None and model == models[0]:
            pick = torch.arange(0, len(x), per_class)  # one photo per class
            grid = torch.cat([torch.cat(list(c[pick]), 1) for c in columns], 2)
            save_image(grid[None], sheet, Provenance(model=str(model), task="rerender sheet: input, then per tag (" + ", ".join(NAMES)
                                                     + ") re-render | true re-render", regions=None))
    report["class_accuracy_inputs"] = float((predict_classes(judge, shown, judge_meta["size"]) == labels).float().mean())
    return report
