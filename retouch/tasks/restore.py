"""Region restoration (demosaicking): change only the pixels inside a region, at any image size.

A masked model (pix2pix with `masked: true`) sees the image and the region mask. It runs on each
region's bounding box plus a margin of real context, not on the whole photo, so a 128 px box in a
24 Mpx photo costs the same as in a thumbnail, and two regions in opposite corners cost two boxes;
every pixel outside the regions is returned as it came in, bit for bit.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from retouch.defaults import BACKEND
from retouch.errors import RetouchError
from retouch.geometry import check_box, mask_for, region_boxes
from retouch.io import (
    Provenance,
    file_pairs,
    load_image,
    save_image,
    to_pil,
    to_rgb,
    to_tensor,
)
from retouch.locate.detect import SOFT_WEIGHT, keep_cells
from retouch.models.runner import SelfEnsemble, Translator, load_translator
from retouch.tasks.files import each_file

DEFAULT_MODEL = "demosaic"
CONTEXT = 32  # pixels of real image around the region that the model sees
WINDOW = CONTEXT + 64  # pixels around the region converted to float (see restore_image)
# Flipped views an image region of an L1-trained model is averaged over (`load_restorer`); films
# take one unless asked, for speed
ENSEMBLE = 8
DETECTOR = "mosaic-detect"  # the segmenter `--detect` adds to the grid fit (retouch.locate.detect)


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
    result = x.clone()
    h, w = x.shape[2:]
    labels = ndimage.label((mask[0, 0] > 0.5).numpy(), structure=np.ones((3, 3)))[0]
    for k, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
        region = torch.from_numpy(labels == k).float()[None, None]  # this region alone
        t0, t1 = max(0, ys.start - context), min(h, ys.stop + context)
        l0, l1 = max(0, xs.start - context), min(w, xs.stop + context)
        crop_mask = region[:, :, t0:t1, l0:l1]
        out = tr(result[:, :, t0:t1, l0:l1], crop_mask)
        result[:, :, t0:t1, l0:l1] = torch.where(crop_mask > 0.5, out, result[:, :, t0:t1, l0:l1])
        if consistent:
            result = keep_cells(result, x, region, soft_weight)
    return result


def restore_image(tr: Translator, img: Image.Image, region: list[tuple[int, int, int, int]] | torch.Tensor,
                  consistent: bool = True) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """`img` (8-bit RGB, changed in place) with each region restored, and the restored boxes.

    Only a region's neighbourhood is ever a float tensor: a box in a 100 MP photo costs the
    photo's 8-bit buffer plus what the same box costs in a thumbnail. The neighbourhood is the box
    plus `WINDOW` pixels, wider than the model's context so that the cell-colour projection sees
    whole cells of blocks up to 64 px, as it would on the whole image: results are the same.
    `region` is a list of boxes (x, y, w, h), each restored on its own, or a 1x1xHxW mask, whose
    connected regions are.
    """
    w, h = img.size
    given = isinstance(region, list)
    boxes = [check_box(h, w, b) for b in region] if given else region_boxes(region)
    for x0, y0, bw, bh in boxes:
        t0, t1 = max(0, y0 - WINDOW), min(h, y0 + bh + WINDOW)
        l0, l1 = max(0, x0 - WINDOW), min(w, x0 + bw + WINDOW)
        mask = torch.zeros(1, 1, t1 - t0, l1 - l0)  # this region alone, even where another is near
        inside = (slice(None), slice(None), slice(y0 - t0, y0 - t0 + bh), slice(x0 - l0, x0 - l0 + bw))
        mask[inside] = 1 if given else region[:, :, y0 : y0 + bh, x0 : x0 + bw]
        x = to_tensor(img.crop((l0, t0, l1, t1)))
        img.paste(to_pil(restore_region(tr, x, mask, consistent=consistent)), (l0, t0))
    return img, boxes


def load_restorer(model: str | Path = DEFAULT_MODEL, device: str = "auto", precision: str = "auto",
                  ensemble: int | None = 1, backend: str = BACKEND) -> Translator | SelfEnsemble:
    """The restoration model, averaged over `ensemble` flipped views (`SelfEnsemble`) when more than 1.

    None picks by how the model was trained. One fitted by L1 alone (`demosaic-l1`) predicts the
    mean of what the region could have been, and the average over views estimates that mean
    better; a GAN's output (`demosaic`) is one sharp guess, and an average of guesses is a blur of
    them, so it gets one view (docs/notes/benchmarks-history.md, "Restoring JPEG-compressed mosaics").
    """
    tr = load_translator(str(model), device, precision, task="restore", backend=backend)
    if ensemble is None:
        ensemble = ENSEMBLE if tr.meta.get("method_config", {}).get("gan_weight", 1) == 0 else 1
    return tr if ensemble == 1 else SelfEnsemble(tr, ensemble)


def _views(tr: Translator | SelfEnsemble) -> str:
    """What the provenance adds when the model was averaged over views: the output depends on it."""
    return f" ({tr.n} views)" if isinstance(tr, SelfEnsemble) else ""


def _region(img: Image.Image, box: tuple[int, int, int, int] | None, mask: torch.Tensor | None, detect: bool,
            detector: str | Path | None = DETECTOR) -> list[tuple[int, int, int, int]] | torch.Tensor:
    """Exactly one way of saying where: boxes, a mask, or detection of existing mosaics (every
    region the grid fit and the `detector` segmenter find; the grid alone with None)."""
    given = sum(v is not None for v in (box, mask)) + int(detect)
    if given != 1:
        raise RetouchError("Say where to restore with exactly one of --box, --mask or --detect.")
    w, h = img.size
    if box is not None:
        return [check_box(h, w, b) for b in (box if isinstance(box, list) else [box])]
    if mask is not None:
        if mask.shape[2:] != (h, w):
            raise RetouchError(f"The mask is {mask.shape[3]}x{mask.shape[2]} but the image is {w}x{h}.")
        return (mask > 0.5).float()
    from retouch.locate.detect import detect_mosaic

    return (detect_mosaic(to_tensor(img), model=detector).mask > 0.5).float().reshape(1, 1, h, w)


def demosaic(image: Image.Image | str | Path, box: tuple[int, int, int, int] | None = None, mask: torch.Tensor | None = None,
             detect: bool = False, model: str | Path = DEFAULT_MODEL, device: str = "auto", precision: str = "auto",
             consistent: bool = True, detector: str | Path | None = DETECTOR, ensemble: int | None = None) -> Image.Image:
    """Restore the mosaicked regions of one image (PIL image or path); the rest is untouched.

    >>> out = retouch.demosaic("photo.png", box=(40, 60, 128, 128))  # doctest: +SKIP
    """
    img = to_rgb(image) if isinstance(image, Image.Image) else load_image(Path(image))  # a copy we may change
    return restore_image(load_restorer(model, device, precision, ensemble), img, _region(img, box, mask, detect, detector), consistent)[0]


def demosaic_files(inputs: Path, output: Path, box: tuple[int, int, int, int] | None = None, mask: Path | None = None,
                   detect: bool = False, model: str | Path = DEFAULT_MODEL, device: str = "auto", precision: str = "auto",
                   consistent: bool = True, show_progress: bool = True,
                   detector: str | Path | None = DETECTOR, ensemble: int | None = None, backend: str = BACKEND) -> list[tuple[Path, list]]:
    """Files or folders; `mask` is one mask image for all inputs, or a folder of masks with the inputs' names.

    Returns (written file, restored boxes: one per region) per input; provenance in each file
    names the boxes. An image where nothing is to be restored (detection found no mosaic) is
    written unchanged, with an empty list of boxes.
    """
    tr = load_restorer(model, device, precision, ensemble, backend)

    def one(src: Path, dst: Path) -> tuple[Path, list]:
        img = load_image(src)
        region = _region(img, box, None if mask is None else mask_for(mask, src, img.size[1], img.size[0]), detect, detector)
        img, boxes = restore_image(tr, img, region, consistent)
        return save_image(img, dst, Provenance(model=str(model), task=f"demosaic{_views(tr)}", regions=boxes)), boxes

    return each_file(file_pairs(inputs, output), one, "demosaic", show_progress)


def demosaic_video(src: Path, dst: Path, regions, model: str | Path = DEFAULT_MODEL, device: str = "auto",
                   precision: str = "auto", consistent: bool = True, temporal: bool = True, codec: str | None = None,
                   crf: int | None = None, regions_json: Path | None = None, show_progress: bool = True,
                   ensemble: int = 1, backend: str = BACKEND) -> list[list]:
    """Restore the regions (a `retouch.film.tracks` source) of every frame of a film; the
    sound and everything outside the regions is kept (`retouch.video.process_video`).

    `temporal` blends each restored region with the previous one, aligned by the camera's
    motion (`retouch.film.temporal`), so invented detail does not shimmer from frame to frame.
    """
    from retouch.video import DEFAULT_CRF, per_frame, process_video

    if regions is None:
        raise RetouchError("Say where to restore in the film with --box, --mask, --mask-video, --track or --detect.")
    tr = load_restorer(model, device, precision, ensemble, backend)
    if temporal:
        from retouch.film.cuts import Shots, Watched
        from retouch.film.temporal import TemporalRestorer

        shots = Shots()
        regions = Watched(regions, shots)
        fn = TemporalRestorer(functools.partial(restore_region, tr, consistent=False), consistent, shots=shots)
    else:
        fn = per_frame(lambda x, m: restore_region(tr, x, m, consistent=consistent))
    name = f"demosaic{' (temporal)' if temporal else ''}{_views(tr)}"
    return process_video(src, dst, fn, Provenance(model=str(model), task=name, regions=None), regions, codec,
                         DEFAULT_CRF if crf is None else crf, regions_json=regions_json, show_progress=show_progress)
