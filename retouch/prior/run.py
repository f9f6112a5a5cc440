"""`retouch prior`: DGP tasks on image files, in batches, with a progress bar over the fit's steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from retouch.device import pick_device, pick_precision
from retouch.errors import RetouchError
from retouch.io import Provenance, file_pairs, load_image, save_image, to_tensor
from retouch.locate.cam import class_index
from retouch.prior.engine import DGP, Fit, load_prior
from retouch.prior.tasks import (
    MANIPULATE,
    SETTINGS,
    TASKS,
    jitter,
    morph,
    restore,
    transfer,
)
from retouch.tasks.files import FilesFailed, each_file


def _read(path: Path, side: int, fit: bool, size: tuple[int, int] | None = None) -> torch.Tensor:
    """One image as a 1x3xHxW tensor of `side` px; with `fit`, any image is centre-cropped square
    and resized (antialiased), otherwise another size is an error. `size`: the (width, height) the
    image must have, the mask's when one is given (one rule with every other verb)."""
    im = load_image(path)
    if size is not None and im.size != size:
        raise RetouchError(f"The mask is {size[0]}x{size[1]} but {path} is {im.size[0]}x{im.size[1]}; give a mask of the image's size.")
    return to_tensor(_side(im, side, fit, path, Image.BICUBIC))


def _side(im: Image.Image, side: int, fit: bool, path: Path, resample: int) -> Image.Image:
    if im.size == (side, side):
        return im
    if not fit:
        raise RetouchError(f"{path} is {im.size[0]}x{im.size[1]}, but this prior needs {side}x{side} here; "
                           "pass --fit to centre-crop and resize it.")
    return ImageOps.fit(im, (side, side), resample)


def _read_known(path: Path, side: int, fit: bool) -> tuple[torch.Tensor, tuple[int, int]]:
    """The mask file (white = fill, as for every verb) as the prior's 1x1xSxS map of known pixels
    (1 = keep), cropped and resized like the images; and the size the images must have."""
    im = load_image(path).convert("L")
    region = np.asarray(_side(im, side, fit, path, Image.NEAREST)) > 127
    return torch.from_numpy(~region).float()[None, None], im.size


def save_gif(frames: list[torch.Tensor], path: Path, scale: int = 4) -> Path:
    """The fit's frames as an animated GIF, enlarged `scale` times (nearest) so 32 px stays visible."""
    if not frames:
        raise RetouchError("No frames to write: the fit ran fewer steps than one frame's interval.")
    images = [Image.fromarray(((f.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()) for f in frames]
    images = [im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in images]
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=80, loop=0)
    return path


def run_prior(task: str, inputs: Path, output: Path, second: Path | None = None, mask: Path | None = None,
              class_name: str | None = None, model: str = "cifar10-prior", grey: bool = False, scale: int = 4,
              fit_size: bool = False, steps_gif: bool = False, seed: int = 0, batch: int = 8, device: str = "auto",
              precision: str = "auto", show_progress: bool = True) -> list[Path]:
    """Run a DGP task on a file or folder; returns the written paths."""
    if task not in TASKS:
        raise RetouchError(f"Unknown task {task!r}; use one of {', '.join(TASKS)}.")
    if task == "morph" and second is None:
        raise RetouchError("morph needs two images: retouch prior morph A.png B.png -o OUT.png")
    if task != "morph" and second is not None:
        raise RetouchError(f"{task} takes one input (a file or folder); only morph takes two.")
    dev = pick_device(device)
    G, D, meta = load_prior(model, dev)
    dgp = DGP(G, D, dev, pick_precision(precision, dev))
    cls = class_index(class_name, meta["classes"])
    side = dgp.size // scale if task == "upscale" else dgp.size
    pairs = [(inputs, output)] if task == "morph" else file_pairs(inputs, output)
    mask_t, size = (None, None) if mask is None else _read_known(mask, dgp.size, fit_size)
    # every input read first, through the folder loop of every verb: a bad file is listed at the
    # end and the good ones are still fitted, in batches (morph reads its two inputs as one item)
    def read(src: Path, dst: Path) -> tuple[Path, torch.Tensor]:
        return dst, torch.cat([_read(p, side, fit_size, size) for p in ([src, second] if task == "morph" else [src])])

    try:
        loaded, failed = each_file(pairs, read, "read", show_progress=False), None
    except FilesFailed as e:
        loaded, failed = e.results, e
    restore_task = "reconstruct" if task in MANIPULATE else task
    steps = SETTINGS[restore_task].steps
    written: list[Path] = []
    columns = [TextColumn(f"[bold]{task}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"), TimeRemainingColumn()]
    with Progress(*columns, disable=not show_progress) as progress:
        for start in range(0, len(loaded), batch):
            chunk = loaded[start:start + batch]
            images = torch.cat([x for _, x in chunk])
            y = None if cls is None else torch.full((len(images),), cls, dtype=torch.long)
            bar = progress.add_task(task, total=steps)
            out, fit = restore(dgp, restore_task, images, mask=mask_t, y=y, scale=scale, grey=grey, seed=seed,
                               frame_every=2 if steps_gif else 0, on_step=lambda k, s: progress.update(bar, completed=s))
            progress.remove_task(bar)
            results = _manipulate(task, dgp, fit, out)
            for i, (dst, _) in enumerate(chunk):
                prov = Provenance(model=str(model), task=f"deep generative prior: {task}", regions=None)
                written.append(save_image(results[i], dst, prov))
                if steps_gif:
                    written.append(save_gif([f[i] for f in fit.frames], dst.with_suffix(".gif")))
    if failed is not None:
        raise FilesFailed(written, failed.failed, len(pairs))
    return written


def _manipulate(task: str, dgp: DGP, fit: Fit, restored: torch.Tensor) -> torch.Tensor:
    """Per input, the image to save: the restoration, or a sheet of the manipulation (columns)."""
    def row(images: torch.Tensor) -> torch.Tensor:  # (k, 3, H, W) -> (3, H, k*W)
        return torch.cat(list(images), dim=2)

    if task == "jitter":  # reconstruction, then its variations
        return torch.stack([row(torch.cat([fit.image[i:i + 1], v])) for i, v in enumerate(jitter(dgp, fit))])
    if task == "morph":
        return row(morph(dgp, fit))[None]
    if task == "transfer":  # reconstruction, then one column per class
        return torch.stack([row(torch.cat([fit.image[i:i + 1], v])) for i, v in enumerate(transfer(dgp, fit))])
    return restored

