"""`retouch mosaic`: hide regions of photos behind a mosaic, the anonymising direction.

A region is a box, a mask image, the box a class activation map points at, or the whole image.
Only the region changes: every other pixel is written back bit for bit (in a lossless format),
so the file can replace the original. A mosaic keeps each cell's mean colour, and restoration
models (ours included) turn small-block mosaics back into plausible faces and plates; use a
block that leaves only a few cells across what must stay hidden.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from PIL import Image

from retouch.degrade import Mosaic
from retouch.errors import RetouchError
from retouch.io import Provenance, file_pairs, load_image, save_image, to_pil, to_tensor
from retouch.tasks.apply import each_file
from retouch.tasks.restore import box_mask, check_box, mask_boxes, mask_for

log = logging.getLogger(__name__)
ALIGN = ("region", "image")
LOSSY = (".jpg", ".jpeg", ".webp")  # Pillow writes WebP lossy by default
CAM_MODEL = "cifar10-classifier"
STRIP = 256  # rows of the whole image mosaicked at a time (rounded to whole cells)


def cam_region(x: torch.Tensor, locate: str) -> torch.Tensor:
    """The box a CAM classifier finds for ``cam`` (its top class) or ``cam:CLASS``, as a 1x1xHxW mask."""
    kind, _, cls = locate.partition(":")
    if kind != "cam":
        raise RetouchError(f"Unknown --locate {locate!r}; use cam or cam:CLASS.")
    from retouch.locate.cam import locate_box  # pulls in the classifier only when asked for

    x0, y0, w, h = (int(v) for v in locate_box(x, model=CAM_MODEL, cls=cls or None))
    return box_mask(*x.shape[2:], (x0, y0, w, h))


def mosaic_region(x: torch.Tensor, region: torch.Tensor | None, block: int, align: str = "region") -> torch.Tensor:
    """`x` with the region (1x1xHxW, None = everything) mosaicked; its grid starts at the region's
    corner (`region`) or the image's (`image`). A block as large as the region leaves one flat cell."""
    if align not in ALIGN:
        raise RetouchError(f"Unknown --align {align!r}; use region or image.")
    left = top = 0
    if region is not None:
        boxes = mask_boxes(region)
        if not boxes:
            return x.clone()
        left, top = boxes[0][:2]
    mosaic = Mosaic.aligned_to(block, top, left) if align == "region" else Mosaic(block)
    return mosaic(x, region)


def mosaic_image(img: Image.Image, region: tuple[int, int, int, int] | torch.Tensor | None, block: int,
                 align: str = "region") -> tuple[Image.Image, list | None]:
    """`img` (8-bit RGB, changed in place) with the region mosaicked as `mosaic_region` would, and
    the boxes for provenance (None for the whole image).

    Only whole cells around the region are ever a float tensor (the whole image goes by strips of
    whole cells), so a 100 MP photo costs its 8-bit buffer, not float copies of itself; every cell
    lies inside one window, so the result is the same to the bit. `region` is a box or a mask.
    """
    if align not in ALIGN:
        raise RetouchError(f"Unknown --align {align!r}; use region or image.")
    w, h = img.size
    if region is None:
        step = block * max(1, STRIP // block)
        windows, boxes = [(0, top, w, min(h, top + step)) for top in range(0, h, step)], None
    else:
        boxes = [check_box(h, w, region)] if isinstance(region, tuple) else mask_boxes(region)
        if not boxes:
            return img, []
        x0, y0, bw, bh = boxes[0]
        oy, ox = (y0, x0) if align == "region" else (0, 0)
        # from the grid line at or before the region to a block past it: whole cells only
        windows = [(x0 - (x0 - ox) % block, y0 - (y0 - oy) % block, min(w, x0 + bw + block), min(h, y0 + bh + block))]
    for l0, t0, l1, t1 in windows:
        x = to_tensor(img.crop((l0, t0, l1, t1)))
        if region is None:
            m = None
        elif isinstance(region, tuple):
            m = box_mask(t1 - t0, l1 - l0, (region[0] - l0, region[1] - t0, region[2], region[3]))
        else:
            m = region[:, :, t0:t1, l0:l1]
        img.paste(to_pil(mosaic_region(x, m, block, align)), (l0, t0))
    return img, boxes


def mosaic_files(inputs: Path, output: Path, box: tuple[int, int, int, int] | None = None, mask: Path | None = None,
                 locate: str | None = None, block: int = 16, align: str = "region",
                 show_progress: bool = True) -> list[tuple[Path, list | None]]:
    """Mosaic a region of a file, or of every image in a folder (same names in `output`).

    At most one of `box`, `mask` (a file, or a folder of masks named like the inputs) and
    `locate` (``cam[:CLASS]``); none means the whole image. Returns (written file, boxes) per
    input, boxes None for the whole image; each file's provenance records the same.
    """
    if sum(v is not None for v in (box, mask, locate)) > 1:
        raise RetouchError("Give at most one of --box, --mask and --locate (none hides the whole image).")
    pairs = file_pairs(inputs, output)
    lossy = sorted({dst.suffix for _, dst in pairs if dst.suffix.lower() in LOSSY})
    if lossy:
        log.warning("Writing %s, a lossy format: pixels outside the region will not be exact; write .png to keep them.", "/".join(lossy))

    def one(src: Path, dst: Path) -> tuple[Path, list | None]:
        img = load_image(src)
        w, h = img.size
        if box is not None:
            region = box
        elif mask is not None:
            region = mask_for(mask, src, h, w)
        elif locate is not None:
            region = cam_region(to_tensor(img), locate)
        else:
            region = None
        img, boxes = mosaic_image(img, region, block, align)
        return save_image(img, dst, Provenance(task="mosaic", regions=boxes)), boxes

    return each_file(pairs, one, "mosaic", show_progress)
