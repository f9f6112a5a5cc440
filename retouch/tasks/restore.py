"""Region restoration (demosaicking): change only the pixels inside a region, at any image size.

A masked model (pix2pix with `masked: true`) sees the image and the region mask. It runs on each
region's bounding box plus a margin of real context, not on the whole photo, so a 128 px box in a
24 Mpx photo costs the same as in a thumbnail, and two regions in opposite corners cost two boxes;
every pixel outside the regions is returned as it came in, bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.progress import track
from scipy import ndimage

from retouch.tasks.apply import Translator, load_translator
from retouch.errors import RetouchError
from retouch.io import Provenance, file_pairs, load_image, read_image, save_image, to_pil, to_tensor

DEFAULT_MODEL = "demosaic"
CONTEXT = 32  # pixels of real image around the region that the model sees
# How far towards the cell colours a recompressed mosaic's restoration is projected: its cells
# are read robustly (medians) but still carry the codec's error (docs/benchmarks.md, eval-region)
SOFT_WEIGHT = 0.75
DETECTOR = "mosaic-detect"  # the segmenter `--detect` adds to the grid fit (retouch.locate.detect)


def parse_box(text: str) -> tuple[int, int, int, int]:
    """'X,Y,W,H' to a box; a clear error for anything else."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise RetouchError(f"--box {text!r} must be four integers X,Y,W,H (pixels).") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise RetouchError(f"--box {text!r} needs X, Y >= 0 and W, H > 0.")
    return x, y, w, h


def box_mask(h: int, w: int, box: tuple[int, int, int, int]) -> torch.Tensor:
    """A 1x1xHxW mask that is 1 inside the box; a box that leaves the image is an error."""
    x, y, bw, bh = box
    if x + bw > w or y + bh > h:
        raise RetouchError(f"Box x={x}, y={y}, w={bw}, h={bh} does not fit in the {w}x{h} image.")
    mask = torch.zeros(1, 1, h, w)
    mask[:, :, y : y + bh, x : x + bw] = 1
    return mask


def read_mask(path: Path, h: int, w: int) -> torch.Tensor:
    """A mask image (non-zero = region, alpha ignored) as 1x1xHxW; it must match the image's size."""
    m = np.asarray(load_image(path).convert("L"))
    if m.shape != (h, w):
        raise RetouchError(f"Mask {path} is {m.shape[1]}x{m.shape[0]} but the image is {w}x{h}.")
    return torch.from_numpy(m > 127).float()[None, None]


def mask_for(mask: Path, src: Path, h: int, w: int) -> torch.Tensor:
    """One mask file for all inputs, or the file named like `src` in a folder of masks."""
    path = mask / src.name if mask.is_dir() else mask
    if not path.exists():
        raise RetouchError(f"No mask for {src.name}: {path} does not exist.")
    return read_mask(path, h, w)


def mask_boxes(mask: torch.Tensor, each: bool = False) -> list[tuple[int, int, int, int]]:
    """The bounding box of the mask (x, y, w, h), or with `each` one box per connected region
    (in reading order); none when it is empty (for provenance)."""
    m = (mask[0, 0] > 0.5).numpy()
    if not m.any():
        return []
    labels = ndimage.label(m)[0] if each else m.astype(np.int32)
    return [(xs.start, ys.start, xs.stop - xs.start, ys.stop - ys.start) for ys, xs in ndimage.find_objects(labels)]


@torch.inference_mode()
def restore_region(tr: Translator, x: torch.Tensor, mask: torch.Tensor, context: int = CONTEXT,
                   consistent: bool = True, soft_weight: float = SOFT_WEIGHT) -> torch.Tensor:
    """`x` with the masked pixels replaced by the model's; the rest is `x` itself, exactly.

    Each connected region is restored on its own box plus `context`. With `consistent`, the
    result is projected so that mosaicking it again gives the cell colours `x` shows: exactly when
    the region is a lossless mosaic whose grid can be read off it (`fit_grid`); softly, `soft_weight`
    of the way towards each cell's median, when only an approximate grid can (`estimate_grid`:
    JPEG, video codecs); not at all when no grid can (rescaled mosaics). The model may invent
    detail, but not contradict the cell colours it was shown.
    """
    from retouch.locate.detect import estimate_grid, fit_grid

    result = x.clone()
    h, w = x.shape[2:]
    labels = ndimage.label((mask[0, 0] > 0.5).numpy())[0]
    for k, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
        region = torch.from_numpy(labels == k).float()[None, None]
        t0, t1 = max(0, ys.start - context), min(h, ys.stop + context)
        l0, l1 = max(0, xs.start - context), min(w, xs.stop + context)
        crop_mask = region[:, :, t0:t1, l0:l1]
        out = tr(x[:, :, t0:t1, l0:l1], crop_mask)
        result[:, :, t0:t1, l0:l1] = torch.where(crop_mask > 0.5, out, result[:, :, t0:t1, l0:l1])
        if not consistent:
            continue
        grid = fit_grid(x, region)
        if grid is not None:
            result = grid.project(result, x, region)
        elif (grid := estimate_grid(x, region)) is not None:
            result = grid.project(result, x, region, weight=soft_weight, robust=True)
    return result


def load_restorer(model: str | Path = DEFAULT_MODEL, device: str = "auto", precision: str = "auto") -> Translator:
    return load_translator(str(model), device, precision, task="restore")


def _region(x: torch.Tensor, box: tuple[int, int, int, int] | None, mask: torch.Tensor | None, detect: bool,
            detector: str | Path | None = DETECTOR) -> torch.Tensor:
    """Exactly one way of saying where: a box, a mask, or detection of existing mosaics (every
    region the grid fit and the `detector` segmenter find; the grid alone with None)."""
    given = sum(v is not None for v in (box, mask)) + int(detect)
    if given != 1:
        raise RetouchError("Say where to restore with exactly one of --box, --mask or --detect.")
    h, w = x.shape[2:]
    if box is not None:
        return box_mask(h, w, box)
    if mask is not None:
        if mask.shape[2:] != (h, w):
            raise RetouchError(f"The mask is {mask.shape[3]}x{mask.shape[2]} but the image is {w}x{h}.")
        return (mask > 0.5).float()
    from retouch.locate.detect import detect_mosaic

    return (detect_mosaic(x, model=detector).mask > 0.5).float().reshape(1, 1, h, w)


def demosaic(image: Image.Image | str | Path, box: tuple[int, int, int, int] | None = None, mask: torch.Tensor | None = None,
             detect: bool = False, model: str | Path = DEFAULT_MODEL, device: str = "auto", precision: str = "auto",
             consistent: bool = True, detector: str | Path | None = DETECTOR) -> Image.Image:
    """Restore the mosaicked regions of one image (PIL image or path); the rest is untouched.

    >>> out = retouch.demosaic("photo.png", box=(40, 60, 128, 128))  # doctest: +SKIP
    """
    x = to_tensor(image) if isinstance(image, Image.Image) else read_image(Path(image))
    region = _region(x, box, mask, detect, detector)
    return to_pil(restore_region(load_restorer(model, device, precision), x, region, consistent=consistent))


def demosaic_files(inputs: Path, output: Path, box: tuple[int, int, int, int] | None = None, mask: Path | None = None,
                   detect: bool = False, model: str | Path = DEFAULT_MODEL, device: str = "auto", precision: str = "auto",
                   consistent: bool = True, show_progress: bool = True,
                   detector: str | Path | None = DETECTOR) -> list[tuple[Path, list]]:
    """Files or folders; `mask` is one mask image for all inputs, or a folder of masks with the inputs' names.

    Returns (written file, restored boxes: one per region) per input; provenance in each file
    names the boxes. An image where nothing is to be restored (detection found no mosaic) is
    written unchanged, with an empty list of boxes.
    """
    tr = load_restorer(model, device, precision)
    written = []
    for src, dst in track(file_pairs(inputs, output), description="demosaic", disable=not show_progress):
        x = read_image(src)
        region = _region(x, box, None if mask is None else mask_for(mask, src, *x.shape[2:]), detect, detector)
        boxes = mask_boxes(region, each=True)
        provenance = Provenance(model=str(model), task="demosaic", regions=boxes)
        written.append((save_image(restore_region(tr, x, region, consistent=consistent), dst, provenance), boxes))
    return written
