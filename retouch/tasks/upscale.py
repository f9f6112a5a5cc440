"""Super-resolution at any size: `retouch upscale` and `retouch.tasks.upscale`.

A model (task "upscale", e.g. an srgan run) is tiled like any image-to-image model, with tiles
placed at `scale` times their offsets (`apply.Translator`). `bicubic` is the non-learned
baseline at any integer scale: the same antialiased kernel that makes the training inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from retouch.defaults import BACKEND
from retouch.degrade import _resize
from retouch.errors import RetouchError
from retouch.io import Provenance, read_image, to_pil, to_tensor
from retouch.models.runner import Translator, load_translator
from retouch.tasks.files import run_files

BICUBIC = "bicubic"
DEFAULT_MODEL = "srresnet-x4"  # the shipped model with the best PSNR
DEFAULT_SCALE = 4  # bicubic's, when no --scale is given


@dataclass(frozen=True)
class Bicubic:
    """Bicubic interpolation by `scale`, called like a Translator."""

    scale: int = DEFAULT_SCALE

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        return _resize(x, h * self.scale, w * self.scale, "bicubic")


def load_upscaler(model: str | Path, scale: int | None = None, device: str = "auto", precision: str = "auto",
                  arch: str | None = None, backend: str = BACKEND) -> Translator | Bicubic:
    """`bicubic`, or a super-resolution model (name, weights file, run folder or BasicSR .pth, whose
    architecture `arch` may give); `scale`, when given, must be the model's own."""
    if scale is not None and scale < 2:
        raise RetouchError(f"--scale must be at least 2, got {scale}.")
    if str(model) == BICUBIC:
        return Bicubic(scale or DEFAULT_SCALE)
    tr = load_translator(str(model), device, precision, task="upscale", arch=arch, backend=backend)
    if scale is not None and scale != tr.scale:
        raise RetouchError(f"Model {model} upscales x{tr.scale}, not x{scale}: drop --scale or choose a x{scale} model.")
    return tr


def upscale(image: Image.Image | str | Path, model: str | Path = DEFAULT_MODEL, scale: int | None = None, device: str = "auto",
            precision: str = "auto") -> Image.Image:
    """One image (PIL image or path) at `scale` times its size.

    >>> big = retouch.upscale("small.png")  # srresnet-x4, as the CLI  # doctest: +SKIP
    """
    up = load_upscaler(model, scale, device, precision)
    x = to_tensor(image) if isinstance(image, Image.Image) else read_image(Path(image))
    return to_pil(up(x))


def upscale_files(inputs: Path, output: Path, model: str | Path = DEFAULT_MODEL, scale: int | None = None, device: str = "auto",
                  precision: str = "auto", show_progress: bool = True, codec: str | None = None, crf: int | None = None,
                  arch: str | None = None, backend: str = BACKEND) -> list[Path]:
    """A file to a file, a folder to a folder with the same file names, or a film to a film (every
    frame `scale` times its size, the sound copied); provenance in each."""
    up = load_upscaler(model, scale, device, precision, arch, backend)
    return run_files(up, inputs, output, Provenance(model=str(model), task=f"upscale x{up.scale}", regions=None), scale=up.scale,
                     codec=codec, crf=crf, show_progress=show_progress)
