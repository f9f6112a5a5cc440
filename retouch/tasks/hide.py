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

import numpy as np
import torch
from PIL import Image

from retouch.degrade import Mosaic
from retouch.errors import RetouchError
from retouch.geometry import box_mask, boxes_mask, check_box, mask_for, region_boxes
from retouch.io import Provenance, file_pairs, load_image, save_image, to_pil, to_tensor
from retouch.tasks.files import each_file

log = logging.getLogger(__name__)
ALIGN = ("region", "image")
LOSSY = (".jpg", ".jpeg", ".webp")  # Pillow writes WebP lossy by default
CAM_MODEL = "cifar10-classifier"
STRIP = 256  # rows of the whole image mosaicked at a time (rounded to whole cells)


def located_region(x: torch.Tensor, locate: str) -> torch.Tensor:
    """What `--locate` points at in a 1x3xHxW image, as a 1x1xHxW mask: the box a CAM classifier
    finds for ``cam`` (its top class) or ``cam:CLASS``, every face CenterFace finds for ``faces``
    (`retouch.locate.faces`), or every face or number plate OpenCV's cascades find for
    ``haar-faces`` / ``plates`` (an empty mask when there is none)."""
    kind, _, cls = locate.partition(":")
    if kind == "faces" and not cls:
        from retouch.locate.faces import face_boxes
        from retouch.video import quantize

        return boxes_mask(*x.shape[2:], face_boxes(np.ascontiguousarray(quantize(x)[0].permute(1, 2, 0).numpy())))
    if kind in ("haar-faces", "plates") and not cls:
        from retouch.film.tracks import grey
        from retouch.locate.cascade import find

        return boxes_mask(*x.shape[2:], find(kind.removeprefix("haar-"), grey(x)))
    if kind != "cam":
        raise RetouchError(f"Unknown --locate {locate!r}; use cam, cam:CLASS, faces, haar-faces or plates.")
    from retouch.locate.cam import (
        locate_box,  # pulls in the classifier only when asked for
    )

    x0, y0, w, h = (int(v) for v in locate_box(x, model=CAM_MODEL, cls=cls or None))
    return box_mask(*x.shape[2:], (x0, y0, w, h))


def mosaic_region(x: torch.Tensor, region: torch.Tensor | None, block: int, align: str = "region") -> torch.Tensor:
    """`x` with the region (1x1xHxW, None = everything) mosaicked; each connected part's grid starts
    at its own corner (`region`) or all start at the image's (`image`). A block as large as a
    part leaves one flat cell. Only whole cells around each part are computed (a film's frame
    costs what its regions cost); a cell cut by the part's edge averages the pixels of the cell,
    inside the part or not, as a mosaic over the whole image would."""
    if align not in ALIGN:
        raise RetouchError(f"Unknown --align {align!r}; use region or image.")
    if region is None:
        return Mosaic(block)(x)
    out = x.clone()
    h, w = x.shape[2:]
    for left, top, bw, bh in region_boxes(region):
        mosaic = Mosaic.aligned_to(block, top, left) if align == "region" else Mosaic(block)
        oy, ox = mosaic.offset
        t0, l0 = max(0, top - (top - oy) % block), max(0, left - (left - ox) % block)  # the first cell's corner
        t1 = min(h, top + bh + (-(top + bh - oy)) % block)
        l1 = min(w, left + bw + (-(left + bw - ox)) % block)
        part = torch.zeros_like(region[:, :, t0:t1, l0:l1])
        part[:, :, top - t0 : top - t0 + bh, left - l0 : left - l0 + bw] = region[:, :, top : top + bh, left : left + bw]
        local = Mosaic(block, ((oy - t0) % block, (ox - l0) % block))
        out[:, :, t0:t1, l0:l1] = local(out[:, :, t0:t1, l0:l1], part)
    return out


def mosaic_image(img: Image.Image, region: list[tuple[int, int, int, int]] | torch.Tensor | None, block: int,
                 align: str = "region") -> tuple[Image.Image, list | None]:
    """`img` (8-bit RGB, changed in place) with the region mosaicked as `mosaic_region` would, and
    the boxes for provenance (None for the whole image).

    Only whole cells around each region are ever a float tensor (the whole image goes by strips of
    whole cells), so a 100 MP photo costs its 8-bit buffer, not float copies of itself; every cell
    lies inside one window, so the result is the same to the bit. `region` is a list of boxes, each
    mosaicked on its own grid, or a mask, each connected part of which is.
    """
    if align not in ALIGN:
        raise RetouchError(f"Unknown --align {align!r}; use region or image.")
    w, h = img.size
    if region is None:
        step = block * max(1, STRIP // block)
        for top in range(0, h, step):
            strip = (0, top, w, min(h, top + step))
            img.paste(to_pil(mosaic_region(to_tensor(img.crop(strip)), None, block, align)), strip[:2])
        return img, None
    given = isinstance(region, list)
    boxes = [check_box(h, w, b) for b in region] if given else region_boxes(region)
    for x0, y0, bw, bh in boxes:
        oy, ox = (y0, x0) if align == "region" else (0, 0)
        # from the grid line at or before the region to a block past it: whole cells only
        l0, t0 = x0 - (x0 - ox) % block, y0 - (y0 - oy) % block
        l1, t1 = min(w, x0 + bw + block), min(h, y0 + bh + block)
        m = torch.zeros(1, 1, t1 - t0, l1 - l0)  # this region alone, even where another is near
        m[:, :, y0 - t0 : y0 - t0 + bh, x0 - l0 : x0 - l0 + bw] = 1 if given else region[:, :, y0 : y0 + bh, x0 : x0 + bw]
        img.paste(to_pil(mosaic_region(to_tensor(img.crop((l0, t0, l1, t1))), m, block, align)), (l0, t0))
    return img, boxes


def mosaic_files(inputs: Path, output: Path, box: tuple[int, int, int, int] | None = None, mask: Path | None = None,
                 locate: str | None = None, block: int = 16, align: str = "region",
                 show_progress: bool = True) -> list[tuple[Path, list | None]]:
    """Mosaic a region of a file, or of every image in a folder (same names in `output`).

    At most one of `box`, `mask` (a file, or a folder of masks named like the inputs) and
    `locate` (``cam[:CLASS]``, ``faces``, ``plates``); none means the whole image. Returns (written file, boxes) per
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
            region = box if isinstance(box, list) else [box]
        elif mask is not None:
            region = mask_for(mask, src, h, w)
        elif locate is not None:
            region = located_region(to_tensor(img), locate)
        else:
            region = None
        img, boxes = mosaic_image(img, region, block, align)
        return save_image(img, dst, Provenance(task="mosaic", regions=boxes)), boxes

    return each_file(pairs, one, "mosaic", show_progress)


def mosaic_video(src: Path, dst: Path, regions, block: int = 16, align: str = "region", codec: str | None = None,
                 crf: int | None = None, regions_json: Path | None = None, show_progress: bool = True) -> list[list]:
    """Mosaic the regions (a `retouch.film.tracks` source; None = whole frames) of every frame
    of a film; sound and everything else kept (`retouch.video.process_video`)."""
    from retouch.video import DEFAULT_CRF, per_frame, process_video

    fn = per_frame(lambda x, m: mosaic_region(x, m, block, align))
    return process_video(src, dst, fn, Provenance(task="mosaic", regions=None), regions, codec,
                         DEFAULT_CRF if crf is None else crf, regions_json=regions_json,
                         context=block if align == "region" else None,  # an image-aligned grid needs the frame's origin
                         show_progress=show_progress)
