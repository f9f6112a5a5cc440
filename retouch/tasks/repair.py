"""`retouch repair`: one model for the damage old and shared photos carry.

Blur, sensor noise, JPEG blocking and downscaling, in any order and strength: the shipped
`repair` model (a U-Net, configs/repair.yaml) was trained on random chains of retouch's
degradation operators drawn that way. `scale` > 1 enlarges the photo by bicubic interpolation
first and repairs the result, which is how downscaling appeared in training (shrunk, then
enlarged back), so a small shared copy comes back at 2x or 4x with the blur of the enlargement
repaired too. What the model adds is its best guess at the lost detail, not the lost detail.
"""

from __future__ import annotations

from pathlib import Path

import torch

from retouch.defaults import BACKEND
from retouch.degrade import _resize
from retouch.errors import RetouchError
from retouch.io import Provenance
from retouch.models.runner import Translator, load_translator
from retouch.tasks.files import run_files

DEFAULT_MODEL = "repair"
SCALES = (1, 2, 4)


class Repairer:
    """A repair model called like a Translator: 1x3xHxW in, 1x3x(sH)x(sW) out."""

    def __init__(self, tr: Translator, scale: int = 1) -> None:
        if scale not in SCALES:
            raise RetouchError(f"--scale {scale}: repair enlarges by {', '.join(map(str, SCALES))}.")
        self.tr, self.scale, self.name = tr, scale, tr.name

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale > 1:
            h, w = x.shape[2:]
            x = _resize(x, h * self.scale, w * self.scale, "bicubic").clamp(-1, 1)
        return self.tr(x)


def load_repairer(model: str | Path = DEFAULT_MODEL, scale: int = 1, device: str = "auto", precision: str = "auto",
                  backend: str = BACKEND) -> Repairer:
    return Repairer(load_translator(str(model), device, precision, backend=backend), scale)


def repair_files(inputs: Path, output: Path, model: str | Path = DEFAULT_MODEL, scale: int = 1, device: str = "auto",
                 precision: str = "auto", codec: str | None = None, crf: int | None = None, show_progress: bool = True,
                 backend: str = BACKEND) -> list[Path]:
    """A file to a file, a folder to a folder (same names), or a film to a film (sound copied)."""
    repairer = load_repairer(model, scale, device, precision, backend)
    return run_files(repairer, inputs, output, Provenance(model=repairer.name, task=f"repair x{scale}", regions=None),
                     scale=scale, codec=codec, crf=crf, show_progress=show_progress)
