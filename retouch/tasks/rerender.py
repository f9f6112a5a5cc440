"""`retouch rerender`: an object photo rendered again with tags changed (TD-GAN, `retouch train tdgan`).

The model works at its training size (CIFAR-10's 32 px for the shipped recipe): a photo is
centre-cropped to a square and shrunk to it, and the re-render comes back at that size. Only the
tags asked for are swapped; the rest (identity and the other tags) is what the encoder read.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from retouch.errors import RetouchError
from retouch.io import Provenance, read_image, save_image
from retouch.models.load import load_model
from retouch.tagged import NAMES, parse_setting

TASK = "rerender"


def square(x: torch.Tensor, size: int) -> torch.Tensor:
    """The centred square of a 1x3xHxW image, resized to size x size (antialiased)."""
    h, w = x.shape[2:]
    s = min(h, w)
    crop = x[:, :, (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    return F.interpolate(crop, size=(size, size), mode="bicubic", antialias=True).clamp(-1, 1) if s != size else crop


@torch.inference_mode()
def rerender(x: torch.Tensor, model: str | Path, settings: list[str]) -> torch.Tensor:
    """x (1x3xHxW in [-1, 1]) re-rendered at the model's size with each 'tag=value' of `settings`."""
    if not settings:
        raise RetouchError(f"Say what to change with --set TAG=VALUE (tags: {', '.join(NAMES)}).")
    net, meta = load_model(model, task=TASK, hint="rerender takes a tdgan run")
    tags = torch.zeros(1, len(NAMES), dtype=torch.long)
    which = torch.zeros(1, len(NAMES), dtype=torch.bool)
    for text in settings:
        t, v = parse_setting(text)
        tags[0, t], which[0, t] = v, True
    return net.rerender(square(x, meta["size"]), tags, which)


def rerender_file(src: Path, dst: Path, model: str | Path, settings: list[str]) -> list[Path]:
    out = rerender(read_image(src), model, settings)
    save_image(out, dst, Provenance(model=str(model), task=f"rerender {' '.join(settings)} (TD-GAN; invented, not recovered)", regions=None))
    return [dst]
