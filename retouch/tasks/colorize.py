"""`retouch colorize`: colour for greyscale photos and films, with their lightness kept exactly.

The model (task "colorize": a pix2pix U-Net trained with `chroma: true`; the shipped `colorize`
from configs/colorize_classes.yaml) predicts only chrominance; its output takes the input's BT.601 luma
(`retouch.nets.unet.with_chroma`), so lightness, edges and texture are the photo's own and only
the colours are the model's guess. A colour input is made grey first: the model sees what it was
trained on, and the result never mixes the model's colours with leftovers of the old ones.
Colours are invented, plausible at best: a red car may come back blue.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from retouch.defaults import BACKEND
from retouch.degrade import Greyscale, shrink
from retouch.errors import RetouchError
from retouch.io import Provenance
from retouch.models.runner import Translator, load_translator
from retouch.nets.unet import chroma_of, with_chroma
from retouch.tasks.files import run_files

DEFAULT_MODEL = "colorize"


class Colorizer:
    """A colourisation model called like a Translator: any 1x3xHxW image in, colour out.

    A model trained on small views (`chroma_side`, e.g. CIFAR-10 objects and photos shrunk to 48 px)
    sees a photo at that scale too: its colours are computed on a shrunk copy and brought up to the
    full-size luma. Chroma is low-frequency (JPEG and TV halve it), so little is lost, the model
    sees whole objects rather than texture, and it costs a fraction of a full-size pass.

    `saturation` multiplies the predicted chrominance. A model trained on a squared error predicts
    the mean of the colours a region could have, which is greyer than any of them: 1 (the default)
    is the closest to the true colours on average; above 1 is more colourful and further from them
    (docs/notes/restoration.md measures the trade on Kodak24).
    """

    def __init__(self, tr: Translator, saturation: float = 1.0) -> None:
        if not 0 <= saturation <= 4:
            raise RetouchError(f"--saturation {saturation:g}: use 0 (grey) to 4; 1 is the model's own colours.")
        self.tr, self.name, self.saturation = tr, tr.name, saturation
        self.side = int(tr.meta.get("method_config", {}).get("chroma_side", 0))

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        grey = Greyscale()(x)
        h, w = grey.shape[2:]
        small = grey if not self.side or min(h, w) <= self.side else shrink(grey, self.side)
        cbcr = chroma_of(self.tr(small))
        if cbcr.shape[2:] != (h, w):
            cbcr = F.interpolate(cbcr, size=(h, w), mode="bilinear", align_corners=False)
        return with_chroma(grey, cbcr * self.saturation)


def load_colorizer(model: str | Path = DEFAULT_MODEL, device: str = "auto", precision: str = "auto", backend: str = BACKEND,
                   saturation: float = 1.0) -> Colorizer:
    """A shipped name, weights file or run folder whose task is "colorize"."""
    return Colorizer(load_translator(str(model), device, precision, task="colorize", backend=backend), saturation)


def colorize_files(inputs: Path, output: Path, model: str | Path = DEFAULT_MODEL, device: str = "auto", precision: str = "auto",
                   codec: str | None = None, crf: int | None = None, show_progress: bool = True, backend: str = BACKEND,
                   saturation: float = 1.0) -> list[Path]:
    """A file to a file, a folder to a folder (same names), or a film to a film (sound copied)."""
    colorizer = load_colorizer(model, device, precision, backend, saturation)
    task = "colorize" if saturation == 1 else f"colorize, saturation x{saturation:g}"
    return run_files(colorizer, inputs, output, Provenance(model=colorizer.name, task=task, regions=None), codec=codec,
                     crf=crf, show_progress=show_progress)
