"""`retouch colorize`: colour for greyscale photos and films, with their lightness kept exactly.

The model (task "colorize": a pix2pix U-Net trained with `chroma: true`, configs/colorize.yaml;
none ships yet, the first one scored below plain grey) predicts only chrominance; its output takes the input's BT.601 luma
(`retouch.nets.unet.with_chroma`), so lightness, edges and texture are the photo's own and only
the colours are the model's guess. A colour input is made grey first: the model sees what it was
trained on, and the result never mixes the model's colours with leftovers of the old ones.
Colours are invented, plausible at best: a red car may come back blue.
"""

from __future__ import annotations

from pathlib import Path

import torch

from retouch.degrade import Greyscale
from retouch.errors import RetouchError
from retouch.io import Provenance
from retouch.tasks.apply import Translator, load_translator, map_files

DEFAULT_MODEL = "colorize"


class Colorizer:
    """A colourisation model called like a Translator: any 1x3xHxW image in, colour out."""

    def __init__(self, tr: Translator) -> None:
        self.tr, self.name = tr, tr.name

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.tr(Greyscale()(x))


def load_colorizer(model: str | Path = DEFAULT_MODEL, device: str = "auto", precision: str = "auto") -> Colorizer:
    """A shipped name, weights file or run folder whose task is "colorize"."""
    from retouch.zoo import ZOO

    if str(model) == DEFAULT_MODEL and DEFAULT_MODEL not in ZOO and not Path(model).exists():
        raise RetouchError("No colourisation model ships yet: the first one scored below plain grey (docs/benchmarks.md). "
                           "Train configs/colorize.yaml and pass --model RUN.")
    return Colorizer(load_translator(str(model), device, precision, task="colorize"))


def colorize_files(inputs: Path, output: Path, model: str | Path = DEFAULT_MODEL, device: str = "auto", precision: str = "auto",
                   codec: str | None = None, crf: int | None = None, show_progress: bool = True) -> list[Path]:
    """A file to a file, a folder to a folder (same names), or a film to a film (sound copied)."""
    from retouch.video import DEFAULT_CRF, is_film, per_frame, process_video

    colorizer = load_colorizer(model, device, precision)
    provenance = Provenance(model=colorizer.name, task="colorize", regions=None)
    if is_film(inputs, output):
        process_video(inputs, output, per_frame(lambda x, _: colorizer(x)), provenance, codec=codec,
                      crf=DEFAULT_CRF if crf is None else crf, show_progress=show_progress)
        return [output]
    return map_files(colorizer, inputs, output, provenance, show_progress)
