"""`retouch anonymize`: hide every face (and number plate) of photos, folders and films, for good.

Faces are found by CenterFace (`retouch.locate.faces`), plates by OpenCV's cascade
(`retouch.locate.cascade`); in films faces are found on every frame and joined into tracks that
bridge missed frames and stop at scene cuts (`retouch.film.tracks.Faces`). Each region is then
concealed so that restoration cannot bring it back (docs/benchmarks.md, "Anonymisation"):

- `mosaic` (default): cells sized to the region, `cells` (3) across its longer side, so a face
  comes out a few cells across whatever its size (a fixed 8 px cell on a 100 px face left enough for
  `retouch demosaic` to put detail back);
- `blur`: a Gaussian whose sigma is a quarter of the region's longer side;
- `solid`: black.

Only the regions change; the rest of a PNG is written back bit for bit.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from retouch.defaults import FACE_CELLS as CELLS
from retouch.defaults import FACE_EVERY
from retouch.errors import RetouchError
from retouch.geometry import Box, boxes_mask, region_boxes
from retouch.io import Provenance, file_pairs, load_image, save_image, to_pil, to_tensor
from retouch.tasks.files import each_file
from retouch.tasks.hide import mosaic_region

WHAT = ("faces", "plates")
STYLES = ("mosaic", "blur", "solid")
BLUR = 0.25  # blur sigma as a share of the region's longer side
CONTEXT = 64  # pixels around a film's regions converted to float (cells past a region's edge stay in it)


def parse_what(what: str) -> tuple[str, ...]:
    """`faces`, `plates` or `faces,plates` as a tuple; anything else is a one-line error."""
    kinds = tuple(dict.fromkeys(k.strip() for k in what.split(",") if k.strip()))
    unknown = [k for k in kinds if k not in WHAT]
    if unknown or not kinds:
        raise RetouchError(f"Unknown --what {what!r}; use faces, plates or faces,plates.")
    return kinds


def check_style(style: str, cells: int) -> None:
    if style not in STYLES:
        raise RetouchError(f"Unknown --style {style!r}; use mosaic, blur or solid.")
    if cells < 1:
        raise RetouchError(f"--cells must be at least 1, not {cells}.")


def conceal(x: torch.Tensor, mask: torch.Tensor | None, style: str = "mosaic", cells: int = CELLS) -> torch.Tensor:
    """`x` (1x3xHxW in [-1, 1]) with each connected region of `mask` concealed in `style`; the pixels
    outside the mask are `x`'s own."""
    if mask is None or not bool((mask > 0.5).any()):
        return x
    out = x.clone()
    h, w = x.shape[2:]
    for left, top, bw, bh in region_boxes(mask):
        side = max(bw, bh)
        region = mask[:, :, top : top + bh, left : left + bw]
        crop = x[:, :, top : top + bh, left : left + bw]
        if style == "mosaic":
            block = max(2, math.ceil(side / cells))
            t1, l1 = min(h, top + math.ceil(bh / block) * block), min(w, left + math.ceil(bw / block) * block)
            whole = torch.zeros_like(mask[:, :, top:t1, left:l1])
            whole[:, :, :bh, :bw] = region
            covered = mosaic_region(x[:, :, top:t1, left:l1], whole, block)[:, :, :bh, :bw]
        elif style == "blur":
            sigma = max(1.0, BLUR * side)
            rgb = crop[0].permute(1, 2, 0).numpy()
            pad = int(3 * sigma)  # blurred with the surroundings reflected, not the face alone at the border
            blurred = cv2.GaussianBlur(cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REFLECT), (0, 0), sigma)
            covered = torch.from_numpy(blurred[pad:-pad, pad:-pad]).permute(2, 0, 1)[None]
        else:
            covered = torch.full_like(crop, -1.0)
        out[:, :, top : top + bh, left : left + bw] = torch.where(region > 0.5, covered, out[:, :, top : top + bh, left : left + bw])
    return out


def find_regions(rgb: np.ndarray, what: tuple[str, ...], threshold: float) -> list[Box]:
    """Boxes of the faces (CenterFace, grown) and plates (cascade) in an HxWx3 uint8 image."""
    boxes: list[Box] = []
    if "faces" in what:
        from retouch.locate.faces import face_boxes

        boxes += face_boxes(rgb, threshold)
    if "plates" in what:
        from retouch.locate.cascade import find

        boxes += find("plates", cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    return boxes


def _task(what: tuple[str, ...], style: str, cells: int) -> str:
    return f"anonymize ({'+'.join(what)}; {style}" + (f", {cells} cells across" if style == "mosaic" else "") + ")"


def anonymize_image(img: Image.Image, what: tuple[str, ...] = ("faces",), style: str = "mosaic", cells: int = CELLS,
                    threshold: float = 0.2) -> tuple[Image.Image, list[Box]]:
    """`img` (8-bit RGB, changed in place) with every face (and plate) concealed, and the boxes."""
    check_style(style, cells)
    rgb = np.asarray(img)
    boxes = find_regions(rgb, what, threshold)
    if not boxes:
        return img, []
    h, w = rgb.shape[:2]
    mask = boxes_mask(h, w, boxes)
    regions = region_boxes(mask)
    for left, top, bw, bh in regions:  # only each region's neighbourhood becomes float
        t0, t1, l0, l1 = max(0, top - CONTEXT), min(h, top + bh + CONTEXT), max(0, left - CONTEXT), min(w, left + bw + CONTEXT)
        part = torch.zeros(1, 1, t1 - t0, l1 - l0)
        part[:, :, top - t0 : top - t0 + bh, left - l0 : left - l0 + bw] = mask[:, :, top : top + bh, left : left + bw]
        img.paste(to_pil(conceal(to_tensor(img.crop((l0, t0, l1, t1))), part, style, cells)), (l0, t0))
    return img, regions


def anonymize_files(inputs: Path, output: Path, what: tuple[str, ...] = ("faces",), style: str = "mosaic", cells: int = CELLS,
                    threshold: float = 0.2, show_progress: bool = True) -> list[tuple[Path, list[Box]]]:
    """A photo or a folder of photos (same names in `output`); (written file, boxes) per input, and
    the boxes in each file's provenance."""
    check_style(style, cells)

    def one(src: Path, dst: Path) -> tuple[Path, list[Box]]:
        img, boxes = anonymize_image(load_image(src), what, style, cells, threshold)
        return save_image(img, dst, Provenance(task=_task(what, style, cells), regions=boxes)), boxes

    return each_file(file_pairs(inputs, output), one, "anonymize", show_progress)


def film_regions(what: tuple[str, ...], threshold: float = 0.2, boxes_json: Path | None = None, every: int = FACE_EVERY):
    """The region source of a film: the boxes a person reviewed (`boxes_json`, as --regions-json wrote
    them), or faces (found on every `every`-th frame) tracked through the film, and plates found every
    few frames."""
    from retouch.film.tracks import Faces, Found, Listed, Union

    if boxes_json is not None:
        return Listed.from_json(boxes_json)
    sources = [Faces(threshold=threshold, every=every) if kind == "faces" else Found(kind) for kind in what]
    return sources[0] if len(sources) == 1 else Union(sources)


def anonymize_video(src: Path, dst: Path, what: tuple[str, ...] = ("faces",), style: str = "mosaic", cells: int = CELLS,
                    threshold: float = 0.2, boxes_json: Path | None = None, regions_json: Path | None = None,
                    codec: str | None = None, crf: int | None = None, every: int = FACE_EVERY, show_progress: bool = True) -> list[list[Box]]:
    """Every face (and plate) of every frame of a film concealed; sound, timing and frame count kept
    (`retouch.video.process_video`). Returns each frame's boxes, which `regions_json` also receives
    for a person to check, edit and give back as `boxes_json`."""
    from retouch.video import DEFAULT_CRF, per_frame, process_video

    check_style(style, cells)
    return process_video(src, dst, per_frame(lambda x, m: conceal(x, m, style, cells)),
                         Provenance(task=_task(what, style, cells), regions=None), film_regions(what, threshold, boxes_json, every),
                         codec, DEFAULT_CRF if crf is None else crf, regions_json=regions_json, context=CONTEXT,
                         show_progress=show_progress)
