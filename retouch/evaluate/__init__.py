"""Benchmarks, one a module (paired, classifier, region, sr, translation, prior, dgp), and what they share:
how a classifier's classes are read off images, and how a report is written."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F


@torch.inference_mode()
def predict_classes(net: torch.nn.Module, x: torch.Tensor, size: int) -> torch.Tensor:
    """A classifier's classes (N,) for N x 3 x H x W images in [-1, 1], shown at its training size
    (antialiased bicubic when the images are another size), on the classifier's device."""
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp(-1, 1)
    return net(x.to(next(net.parameters()).device)).argmax(1)


def write_report(report: dict, path: Path | None) -> None:
    """Write `report` as JSON to `path` (a `--json` option), or nothing when it was not given."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
