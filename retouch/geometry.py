"""Boxes and masks: the geometry that hiding, restoring and tracking share.

A box is (x, y, w, h) in pixels; a mask is a float 1x1xHxW tensor, 1 where a verb acts (mask
files are white there, for every verb). Nothing here knows about models or films.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from retouch.errors import RetouchError
from retouch.io import load_image

Box = tuple[int, int, int, int]


def parse_box(text: str) -> Box:
    """'X,Y,W,H' to a box; a clear error for anything else."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise RetouchError(f"--box {text!r} must be four integers X,Y,W,H (pixels).") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise RetouchError(f"--box {text!r} needs X, Y >= 0 and W, H > 0.")
    return x, y, w, h


def check_box(h: int, w: int, box: Box) -> Box:
    """The box, when it lies inside an h x w image; else a clear error."""
    x, y, bw, bh = box
    if x + bw > w or y + bh > h:
        raise RetouchError(f"Box x={x}, y={y}, w={bw}, h={bh} does not fit in the {w}x{h} image.")
    return box


def box_mask(h: int, w: int, box: Box) -> torch.Tensor:
    """A 1x1xHxW mask that is 1 inside the box; a box that leaves the image is an error."""
    x, y, bw, bh = check_box(h, w, box)
    mask = torch.zeros(1, 1, h, w)
    mask[:, :, y : y + bh, x : x + bw] = 1
    return mask


def boxes_mask(h: int, w: int, boxes: list[Box]) -> torch.Tensor:
    """The union of boxes as a 1x1xHxW mask; a box that leaves the frame is an error. Each box costs
    its own area, not the frame's (a film's face tracks draw a dozen boxes a frame)."""
    mask = torch.zeros(1, 1, h, w)
    for box in boxes:
        x, y, bw, bh = check_box(h, w, box)
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


def region_boxes(mask: torch.Tensor) -> list[Box]:
    """One box (x, y, w, h) per connected region of the mask (8-connected), top to bottom: several
    regions in a frame are each processed on their own crop, not as one box around them all."""
    labels, _ = ndimage.label(mask[0, 0].numpy() > 0.5, structure=np.ones((3, 3)))
    return [(xs.start, ys.start, xs.stop - xs.start, ys.stop - ys.start) for ys, xs in ndimage.find_objects(labels)]


def carry(box: Box, m: np.ndarray) -> Box:
    """`box` moved by the similarity `m`: the bounding box of its moved corners, free to leave the frame."""
    x, y, bw, bh = box
    pts = np.array([[x, y, 1], [x + bw, y, 1], [x, y + bh, 1], [x + bw, y + bh, 1]], np.float64) @ m.T
    x0, y0 = np.floor(pts.min(0)).astype(int)
    x1, y1 = np.ceil(pts.max(0)).astype(int)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def clip_box(box: Box, w: int, h: int) -> Box | None:
    """The part of `box` inside a w x h frame, or None when none of it is."""
    x0, y0 = max(0, box[0]), max(0, box[1])
    x1, y1 = min(w, box[0] + box[2]), min(h, box[1] + box[3])
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter) if inter else 0.0


def grown(box, factor: float) -> np.ndarray:
    """`box` (x, y, w, h, floats allowed) scaled by `factor` about its centre, as floats, unclipped."""
    x, y, bw, bh = (float(v) for v in box[:4])
    return np.array([x - bw * (factor - 1) / 2, y - bh * (factor - 1) / 2, bw * factor, bh * factor])


def rounded(box) -> Box:
    """A float box as the smallest integer box that holds it (it may still leave the frame: `clip_box`)."""
    x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
    return x0, y0, int(np.ceil(box[0] + box[2])) - x0, int(np.ceil(box[1] + box[3])) - y0
