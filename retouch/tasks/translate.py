"""`retouch translate`: an image-to-image model over an image, a folder or a film."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from retouch.defaults import BACKEND
from retouch.io import Provenance, read_image, to_pil, to_tensor
from retouch.models.runner import load_translator
from retouch.tasks.files import run_files


def translate(image: Image.Image | str | Path, model: str | Path, device: str = "auto", precision: str = "auto",
              direction: str = "AtoB", arch: str | None = None) -> Image.Image:
    """Translate one image (PIL image or path) with a model name, weights file or run folder.

    >>> out = retouch.translate("horse.jpg", model="horse2zebra", direction="AtoB")  # doctest: +SKIP
    """
    tr = load_translator(str(model), device, precision, direction=direction, arch=arch)
    x = to_tensor(image.convert("RGB")) if isinstance(image, Image.Image) else read_image(Path(image))
    return to_pil(tr(x))


def translate_files(inputs: Path, output: Path, model: str | Path, device: str = "auto", precision: str = "auto",
                    show_progress: bool = True, direction: str = "AtoB", codec: str | None = None, crf: int | None = None,
                    arch: str | None = None, backend: str = BACKEND) -> list[Path]:
    """A file to a file, a folder to a folder with the same file names, or a film to a film
    (`codec`, `crf` for its video stream; the sound copied); provenance in each."""
    tr = load_translator(str(model), device, precision, direction=direction, arch=arch, backend=backend)
    return run_files(tr, inputs, output, Provenance(model=tr.name, task="translate", regions=None), codec=codec, crf=crf,
                     show_progress=show_progress)
