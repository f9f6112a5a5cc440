"""Find mosaic (pixelated) areas in an image that already has them, with no mask given.

A mosaic is block-constant on a grid: inside a cell every pixel has the same colour, and the
colour jumps on the grid lines, which lie `block` pixels apart. Natural photos have exactly
constant patches too (blown-out sky, black shadows, JPEG's flat 8x8 blocks), but there the
neighbouring patches are equal or the jumps do not sit on one straight, periodic grid. So:

1. along every row and column, measure the runs of (near-)equal pixels between two jumps; a
   mosaic gives many runs of exactly `block` pixels starting on one phase, which proposes
   (block, row phase, column phase) hypotheses;
2. for each hypothesis, call a cell *evidence* when it is flat and meets a flat neighbour of
   another colour in a sharp jump on the grid line; keep groups of evidence cells (holes
   filled) with at least `min_edges` such jumps, jumps on most of their inner cell edges, and
   three or more distinct grey levels. A flat sky cell beside an equal sky cell is never
   evidence, and JPEG-flattened shadows differ by rounding noise on half their edges, so
   neither fires;
3. cells cut by the mosaic's own border are flat only on the part inside it: add that part when
   it is a rectangle anchored on the side that touches the found cells, so the mask is exact
   to the pixel for any grid offset.

4. with a `model` (the shipped `mosaic-detect` segmenter), a small network's per-pixel mosaic
   probability finds what the grid misses (JPEG, video codecs, rescaled or soft-edged mosaics):
   the grid's exact mask is kept wherever it explains a region, the network's region elsewhere.

Works on luma (BT.601, in thousandths of a level so lossless inputs compare exactly). Several
regions, each with its own block size and grid, are found in one call; the first grid to claim
a region wins. Limits: a mosaic over a flat area (blown-out sky) is invisible there, as its
cells equal their neighbours; nearest-neighbour upscaled pixel art is a mosaic by this
definition; without a model, recompressed (JPEG) mosaics are found only with `tol` > 0, partly,
and with false alarms on JPEG photos (docs/benchmarks.md has the numbers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from retouch.degrade import Mosaic
from retouch.errors import RetouchError
from retouch.io import _quantize

_SCALE = 1000  # luma = 299 R + 587 G + 114 B: integer, so lossless cells are exactly flat
_MAX_GRIDS = 12  # grids tried per image, strongest run evidence first
DEFAULT_MODEL = "mosaic-detect"  # the shipped segmenter `retouch demosaic --detect` uses
# How far towards the cell colours a recompressed mosaic's restoration is projected (`keep_cells`): its
# cells are read robustly (medians) but still carry the codec's error (docs/notes/benchmarks-history.md, eval-region)
SOFT_WEIGHT = 0.75
_MIN_DENSITY = 0.75  # share of a region's inner cell edges that must jump: ~1 in a mosaic,
# ~0.5 for JPEG-flattened shadows and for a wrong grid laid over a real mosaic


@dataclass
class Detection:
    """Where the mosaic is: `mask` 1x1xHxW float (1 = mosaic), one (x, y, w, h) box and one block
    size per connected region (0 where a region's grid could not be read: rescaled or heavily
    compressed cells), and `block` the block size of the largest region (None if none)."""

    mask: torch.Tensor
    boxes: list[tuple[int, int, int, int]]
    blocks: list[int]

    @property
    def block(self) -> int | None:
        if not self.boxes:
            return None
        return self.blocks[int(np.argmax([w * h for _, _, w, h in self.boxes]))]


def _luma(image: torch.Tensor) -> np.ndarray:
    """HxW int64 luma x 1000 of the image as a saved 8-bit file would hold it."""
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4 or image.shape[:2] != (1, 3):
        raise RetouchError(f"detect_mosaic needs one RGB image (1x3xHxW), got shape {tuple(image.shape)}.")
    q = ((image[0].detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.int64).numpy()
    return 299 * q[0] + 587 * q[1] + 114 * q[2]


def _run_histogram(y: np.ndarray, tol: int, blocks: range) -> np.ndarray:
    """counts[b, p]: runs along rows of exactly b near-equal pixels starting at column p (mod b)."""
    w = y.shape[1]
    counts = np.zeros((blocks.stop, blocks.stop), np.int64)
    steps = np.flatnonzero(np.abs(np.diff(y, axis=1)) > tol)
    row, col = steps // (w - 1), steps % (w - 1)
    same = row[1:] == row[:-1]
    length, start = (col[1:] - col[:-1])[same], col[:-1][same] + 1
    keep = (length >= blocks.start) & (length < blocks.stop)
    np.add.at(counts, (length[keep], start[keep] % length[keep]), 1)
    return counts


def _hypotheses(y: np.ndarray, tol: int, blocks: range, min_runs: int) -> list[tuple[int, int, int]]:
    """(block, row phase, column phase) candidates, strongest first."""
    hx, hy = _run_histogram(y, tol, blocks), _run_histogram(y.T, tol, blocks)
    found = []
    for b in blocks:
        px = [p for p in np.argsort(hx[b, :b])[::-1][:3] if hx[b, p] >= min_runs]
        py = [p for p in np.argsort(hy[b, :b])[::-1][:3] if hy[b, p] >= min_runs]
        found += [(hx[b, i] + hy[b, j], b, int(j), int(i)) for i in px for j in py]
    return [h[1:] for h in sorted(found, reverse=True)[:_MAX_GRIDS]]


def _integral(a: np.ndarray) -> np.ndarray:
    """Summed-area table with a zero first row and column: box sums in four lookups."""
    s = np.zeros((a.shape[0] + 1, a.shape[1] + 1), np.int64)
    np.cumsum(np.cumsum(a, 0), 1, out=s[1:, 1:])
    return s


def _box(s: np.ndarray, r0: np.ndarray, r1: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """Sums over the boxes rows [r0, r1) x columns [c0, c1), for every pair (row band, column band)."""
    r0, r1 = r0[:, None], r1[:, None]
    return s[r1, c1] - s[r0, c1] - s[r1, c0] + s[r0, c0]


class _Grids:
    """Cell statistics of one image for any grid, each in O(cells) from summed-area tables."""

    def __init__(self, y: np.ndarray, tol: int):
        self.y, self.tol = y, tol
        self.dx = _integral(np.abs(np.diff(y, axis=1)))  # |step| between columns j and j+1
        self.dy = _integral(np.abs(np.diff(y, axis=0)))
        self.sum = _integral(y)

    def cells(self, b: int, py: int, px: int) -> tuple[np.ndarray, ...]:
        """For the grid with lines at rows py + k b and columns px + k b: which cells are flat,
        which neighbours (left-right, top-bottom) differ by a sharp jump on the grid line, each
        cell's mean, and the grid-line positions (cells cut by the image border are clipped)."""
        h, w = self.y.shape
        rows = np.unique(np.clip(np.arange(py % b - b, h + b, b), 0, h))
        cols = np.unique(np.clip(np.arange(px % b - b, w + b, b), 0, w))
        r0, r1, c0, c1 = rows[:-1], rows[1:], cols[:-1], cols[1:]
        hs, ws = (r1 - r0)[:, None], c1 - c0
        inner = _box(self.dx, r0, r1, c0, c1 - 1) + _box(self.dy, r0, r1 - 1, c0, c1)
        flat = inner <= self.tol / 2 * (hs * (ws - 1) + (hs - 1) * ws)
        mean = _box(self.sum, r0, r1, c0, c1) / (hs * ws)
        # a jump: the means differ by more than the noise, and the difference sits on the line
        step_x = np.abs(np.diff(mean, axis=1))
        line_x = _box(self.dx, r0, r1, c1[:-1] - 1, c1[:-1]) / hs
        step_y = np.abs(np.diff(mean, axis=0))
        line_y = _box(self.dy, r1[:-1] - 1, r1[:-1], c0, c1) / ws
        jump_x = flat[:, 1:] & flat[:, :-1] & (step_x > self.tol) & (line_x >= step_x / 2)
        jump_y = flat[1:] & flat[:-1] & (step_y > self.tol) & (line_y >= step_y / 2)
        return flat, jump_x, jump_y, mean, rows, cols


def _partial(p: np.ndarray, tol: int) -> tuple[int, int] | None:
    """(rows, cols) of the flat rectangle in cell `p` anchored at its bottom-right corner, when it
    is a strict part of the cell (a mosaic cell cut by the region's border); else None."""
    same = np.abs(p - p[-1, -1]) <= tol
    rows = int(np.argmin(same[::-1, -1])) if not same[:, -1].all() else p.shape[0]
    cols = int(np.argmin(same[-1, ::-1])) if not same[-1].all() else p.shape[1]
    if rows * cols == p.size or not same[-rows:, -cols:].all():
        return None
    return rows, cols


def _refine(mask: np.ndarray, cells: np.ndarray, y: np.ndarray, rows: np.ndarray, cols: np.ndarray, tol: int) -> None:
    """Add, in place, the parts of border cells that continue the mosaic (see module docstring)."""
    ring = ndimage.binary_dilation(cells, np.ones((3, 3), bool)) & ~cells
    padded = np.pad(cells, 1)
    sides: dict[tuple[int, int], tuple[int, int]] = {}
    corners = []
    for i, j in zip(*np.nonzero(ring)):
        nb = padded[i : i + 3, j : j + 3]  # found cells around this one; this one at (1, 1)
        touching = [d for d in [(0, 1), (2, 1), (1, 0), (1, 2)] if nb[d]]
        diagonal = [d for d in [(0, 0), (0, 2), (2, 0), (2, 2)] if nb[d]]
        if len(touching) > 1 or (not touching and len(diagonal) > 1):
            continue  # a concave corner of the region: no single rectangle to look for
        dy, dx = touching[0] if touching else diagonal[0]
        r0, r1, c0, c1 = rows[i], rows[i + 1], cols[j], cols[j + 1]
        # flip so the found cells lie below / right, where the rectangle is anchored
        part = _partial(y[r0:r1, c0:c1][:: -1 if dy == 0 else 1, :: -1 if dx == 0 else 1], tol)
        if part is None:
            continue
        if not touching:
            corners.append((i, j, dy, dx, part))
            continue
        if (dy == 1 and part[0] != r1 - r0) or (dx == 1 and part[1] != c1 - c0):
            continue  # a side piece spans the whole cell along the shared edge
        sides[(i, j)] = part
        _paint(mask, r0, r1, c0, c1, dy, dx, part)
    for i, j, dy, dx, part in corners:
        # a corner piece must line up with the side pieces beside it (same height, same width)
        beside_row, beside_col = sides.get((i, j + dx - 1)), sides.get((i + dy - 1, j))
        if beside_row and beside_col and beside_row[0] == part[0] and beside_col[1] == part[1]:
            _paint(mask, rows[i], rows[i + 1], cols[j], cols[j + 1], dy, dx, part)


def _paint(mask: np.ndarray, r0: int, r1: int, c0: int, c1: int, dy: int, dx: int, part: tuple[int, int]) -> None:
    """Mark the rows x cols piece of cell [r0, r1) x [c0, c1) on the side facing (dy, dx)."""
    rows, cols = part
    ys = slice(r0, r0 + rows) if dy == 0 else slice(r1 - rows, r1)
    xs = slice(c0, c0 + cols) if dx == 0 else slice(c1 - cols, c1)
    mask[ys, xs] = True


def _add_regions(grids: _Grids, b: int, py: int, px: int, min_edges: int, found: np.ndarray) -> None:
    """Mark in `found` (0 = nothing yet, else a block size) the mosaic regions this grid explains
    that an earlier, stronger grid has not already claimed."""
    flat, jump_x, jump_y, mean, rows, cols = grids.cells(b, py, px)
    edges = np.zeros(flat.shape, np.int64)
    edges[:, 1:] += jump_x
    edges[:, :-1] += jump_x
    edges[1:] += jump_y
    edges[:-1] += jump_y
    seeds = edges > 0
    cells = seeds | (ndimage.binary_fill_holes(seeds) & flat)
    labels, n = ndimage.label(cells)
    if n == 0:
        return
    index = np.arange(1, n + 1)
    jumps = ndimage.sum_labels(edges, labels, index) / 2  # each edge was counted from both cells
    inner = np.zeros(flat.shape, np.int64)  # cell edges inside one region, counted likewise
    inner[:, 1:] += labels[:, 1:] == labels[:, :-1]
    inner[:, :-1] += labels[:, 1:] == labels[:, :-1]
    inner[1:] += labels[1:] == labels[:-1]
    inner[:-1] += labels[1:] == labels[:-1]
    density = jumps / np.maximum(ndimage.sum_labels(inner, labels, index) / 2, 1)
    level = np.round(mean / _SCALE).astype(np.int64)
    keep = (jumps >= min_edges) & (density >= _MIN_DENSITY)
    for k, (si, sj) in zip(index[keep], [s for s, ok in zip(ndimage.find_objects(labels), keep) if ok]):
        # work on the region's cells plus a ring of one cell, where its cut border cells lie
        i0, i1 = max(si.start - 1, 0), min(si.stop + 1, flat.shape[0])
        j0, j1 = max(sj.start - 1, 0), min(sj.stop + 1, flat.shape[1])
        own = labels[i0:i1, j0:j1] == k
        if len(np.unique(level[i0:i1, j0:j1][own])) < 3:
            continue  # a dark or blown-out patch whose "cells" differ by rounding noise
        r, c = rows[i0 : i1 + 1], cols[j0 : j1 + 1]
        mask = own.repeat(np.diff(r), 0).repeat(np.diff(c), 1)
        claimed = found[r[0] : r[-1], c[0] : c[-1]]  # a view: writing it writes `found`
        if (mask & (claimed > 0)).sum() > mask.sum() / 2:
            continue  # already explained by a stronger grid
        _refine(mask, own, grids.y[r[0] : r[-1], c[0] : c[-1]], r - r[0], c - c[0], grids.tol)
        claimed[mask & (claimed == 0)] = b


def detect_mosaic(
    image: torch.Tensor,
    *,
    tol: float = 0.0,
    blocks: tuple[int, int] = (4, 32),
    min_edges: int = 4,
    min_runs: int = 6,
    model: str | Path | torch.nn.Module | None = None,
    threshold: float = 0.5,
    min_area: int = 512,
    min_confidence: float = 0.75,
    min_periodicity: float = 0.0,
) -> Detection:
    """Find every mosaicked region in `image` (1x3xHxW in [-1, 1]) and their block sizes.

    `tol` is the luma difference (8-bit levels) still counted as equal: 0 for lossless images;
    raise it for compressed ones, at the cost of more false alarms. `blocks` is the range of
    block sizes searched (inclusive). A region needs `min_edges` cell edges where two flat cells
    of different colour meet, and a grid needs `min_runs` runs of exactly one block on one phase
    in each direction to be tried at all: both keep smooth or blown-out areas from firing.

    With `model` (a segmenter: shipped name such as `DEFAULT_MODEL`, weights file, run folder, or
    the network itself) its regions of probability above `threshold` and at least `min_area`
    pixels, with a mean probability of `min_confidence` or more and edges that repeat at least
    `min_periodicity` (see `periodicity`), are added where
    the grid found nothing (see `combine`; the defaults were chosen on Kodak24 and horse2zebra
    photos, docs/scripts/tune_detect.py).
    """
    y = _luma(image)
    lo, hi = blocks
    if not 2 <= lo <= hi:
        raise RetouchError(f"blocks={blocks} must be a range (lo, hi) with 2 <= lo <= hi.")
    found = np.zeros(y.shape, np.int64)  # block size of the grid that claimed each pixel
    if min(y.shape) >= 2:
        t = int(round(tol * _SCALE))
        grids = _Grids(y, t)
        for b, py, px in _hypotheses(y, t, range(lo, hi + 1), min_runs):
            _add_regions(grids, b, py, px, min_edges, found)
    if model is not None:
        found = combine(found, mosaic_probability(image, model), threshold, min_area, image, min_confidence=min_confidence,
                        min_periodicity=min_periodicity)
    labels, _ = ndimage.label(found != 0)
    boxes, sizes = [], []
    for k, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
        boxes.append((xs.start, ys.start, xs.stop - xs.start, ys.stop - ys.start))
        sizes.append(int(np.bincount(np.maximum(found[ys, xs][labels[ys, xs] == k], 0)).argmax()))
    return Detection(torch.from_numpy(found != 0).float()[None, None], boxes, sizes)


@lru_cache(maxsize=4)
def _segmenter(model: str) -> torch.nn.Module:
    """A segmenter loaded once per process (video calls the detector frame after frame)."""
    from retouch.models.load import load_model

    return load_model(model, "cpu", task="segment", hint=f"use a mosaic segmenter such as {DEFAULT_MODEL}")[0]


_PAD_TO = 16  # the segmenter's coarsest stride: sides are reflected out to a multiple of it


@torch.inference_mode()
def mosaic_probability(image: torch.Tensor, model: str | Path | torch.nn.Module = DEFAULT_MODEL) -> np.ndarray:
    """HxW probability that each pixel belongs to a mosaic, from a segmenter network.

    The image is reflected out to sides that are a multiple of the network's coarsest stride and
    the answer cropped back: at other sizes (BSDS500's 481x321) the strided layers' rounding shifted
    the upsampled probabilities and lit a confident strip along the bottom and right borders,
    which training on 160 px crops never showed (half of the BSDS500 photos got a false region)."""
    net = model if isinstance(model, torch.nn.Module) else _segmenter(str(model))
    x = image if image.dim() == 4 else image[None]
    h, w = x.shape[2:]
    pad_h, pad_w = -h % _PAD_TO, -w % _PAD_TO
    x = F.pad(x[:1].float(), (0, pad_w, 0, pad_h), mode="reflect" if min(h, w) > max(pad_h, pad_w) else "replicate")
    device = next(net.parameters()).device
    return torch.sigmoid(net(x.to(device))).cpu().numpy()[0, 0, :h, :w]


def periodicity(image: torch.Tensor, mask: torch.Tensor, lags: tuple[int, int] = (3, 48)) -> float:
    """How periodic a region's cell edges are, 0-1: the jumps between neighbouring columns
    (rows), averaged down the region, autocorrelated; the best normalised peak at a lag in
    `lags` above the correlation at half that lag, the weaker of the two directions. A mosaic's edges repeat every cell, also when
    compression blurs them or rescaling puts them between pixels (a lag within a pixel of the
    cell); a photo's edges mostly do not."""
    ys, xs = torch.nonzero(mask[0, 0] > 0.5, as_tuple=True)
    if ys.numel() == 0:
        return 0.0
    t0, t1, l0, l1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    y = _luma(image[:1, :, t0:t1, l0:l1]).astype(np.float64)
    m = (mask[0, 0, t0:t1, l0:l1] > 0.5).numpy()
    scores = []
    for axis in (0, 1):
        d = np.abs(np.diff(y, axis=axis)) * (m[1:] & m[:-1] if axis == 0 else m[:, 1:] & m[:, :-1])
        p = d.sum(1 - axis)
        p = p - p.mean()
        hi = min(lags[1], p.size // 2)
        if hi < lags[0] or not (p**2).sum():
            return 0.0
        r = np.array([1.0] + [(p[:-lag] * p[lag:]).mean() for lag in range(1, hi + 1)]) / (p**2).mean()
        # a peak at the period over the trough half a period away: smooth (photo) profiles decay
        # monotonically, so their correlation at a lag never beats the one at half of it
        scores.append(float(max(r[lag] - r[lag // 2] for lag in range(lags[0], hi + 1))))
    return min(scores)


def combine(found: np.ndarray, prob: np.ndarray, threshold: float, min_area: int, image: torch.Tensor, snap: float = 0.8,
            min_confidence: float = 0.0, min_periodicity: float = 0.0, margin: int = 9) -> np.ndarray:
    """The grid's regions (`found`: block size per pixel, 0 elsewhere) and the network's (its
    per-pixel probability `prob` above `threshold`), one region each: the grid where it holds, the
    network where it does not.

    The grid's regions, grown by `margin` // 2 px (the network's soft rim around them), are taken
    out of the network's, and thin leftovers near them (what an opening with a `margin` x `margin`
    square removes) too, so the rim does not come back as a ring. The remaining regions of at
    least `min_area` pixels are added, holes filled, and snapped to their bounding box when they fill `snap` of it (mosaics are
    drawn as rectangles, the network's border is a pixel or two soft). A region whose mean
    probability is below `min_confidence`, or whose edges are less periodic than `min_periodicity`
    (see `periodicity`), is dropped: the network is sure across a whole mosaic, and unsure over the
    textures it mistakes for one (on photos kept from training, a mean of 0.8 kept 92% of true
    regions and 5% of false ones, where periodicity kept 87% and 29%). Their block size is read
    with `estimate_grid`, -1 when it cannot be.
    """
    out = found.copy()
    claimed, square = found != 0, np.ones((margin, margin), bool)
    rest = prob > threshold
    if claimed.any():
        rest &= ~ndimage.binary_dilation(claimed, square)
        rim = ndimage.binary_dilation(claimed, np.ones((3 * margin, 3 * margin), bool))
        rest &= ~(rim & ~ndimage.binary_opening(rest, square))  # thin leftovers beside a grid region
    labels, _ = ndimage.label(rest)
    for k, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
        own = labels[ys, xs] == k
        region = ndimage.binary_fill_holes(own)
        area = int(region.sum())
        if area < min_area or prob[ys, xs][own].mean() < min_confidence:
            continue
        if area >= snap * region.size:
            region[:] = True
        mask = torch.zeros(1, 1, *found.shape)
        mask[0, 0, ys, xs] = torch.from_numpy(region).float()
        if min_periodicity > 0 and periodicity(image, mask) < min_periodicity:
            continue
        grid = estimate_grid(image, mask)
        view = out[ys, xs]  # writes through to `out`
        view[region & (view == 0)] = grid.block if grid else -1  # -1: a region of unknown block
    return out


def estimate_grid(image: torch.Tensor, mask: torch.Tensor, blocks: tuple[int, int] = (4, 32), min_contrast: float = 2.0) -> Mosaic | None:
    """The mosaic grid of a region known to be mosaicked but not exactly flat (JPEG, a video
    codec), or None: the jumps between neighbouring columns (rows), averaged down the region,
    peak on the grid lines; the block and phase whose lines stand out most from the steps between
    them win.
    Rescaled mosaics have no integer grid, and give None unless the lines still stand out
    `min_contrast` times above the rest."""
    ys, xs = torch.nonzero(mask[0, 0] > 0.5, as_tuple=True)
    if ys.numel() == 0:
        return None
    t0, t1, l0, l1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    y = _luma(image[:1, :, t0:t1, l0:l1]).astype(np.float64)
    m = (mask[0, 0, t0:t1, l0:l1] > 0.5).numpy()
    fits = []
    for axis in (0, 1):  # 0: jumps between rows, 1: between columns
        d = np.abs(np.diff(y, axis=axis)) * (m[1:] & m[:-1] if axis == 0 else m[:, 1:] & m[:, :-1])
        profile = d.sum(1 - axis) / max(1, d.shape[1 - axis])
        fit = line_period(profile, blocks, min_contrast)
        if fit is None:
            return None
        fits.append(fit)
    (bh, py), (bw, px) = fits
    if max(bh, bw) > 2 * min(bh, bw):
        return None
    return Mosaic(bh, ((t0 + py) % bh, (l0 + px) % bw), 0 if bw == bh else bw)


def line_period(profile: np.ndarray, blocks: tuple[int, int], min_contrast: float) -> tuple[int, int] | None:
    """(period, phase) of the lines in a 1-D jump profile (position i is the step from i to i + 1,
    so a line before pixel p sits at p - 1), or None when no period stands out.

    Each candidate scores the mean jump on its lines over the mean off them: a multiple of the
    true period leaves true lines off its own, half of it puts flat steps on, so both score lower.
    """
    if profile.size < 2 * blocks[0]:
        return None
    scores = {}
    for b in range(blocks[0], min(blocks[1], profile.size // 2) + 1):
        sums = np.bincount(np.arange(profile.size) % b, profile, minlength=b)
        counts = np.bincount(np.arange(profile.size) % b, minlength=b)
        p = int(np.argmax(sums / counts))
        off = (profile.sum() - sums[p]) / max(1, profile.size - counts[p])
        scores[b] = (sums[p] / counts[p] / max(off, 1e-9), (p + 1) % b)
    best = max(scores, key=lambda b: scores[b][0])
    if scores[best][0] < min_contrast:
        return None
    # a multiple wins when every other line is weaker by chance: take its smallest divisor whose
    # lines (same phase) still stand out nearly as well
    period = min(d for d in scores if best % d == 0 and scores[d][1] == scores[best][1] % d and scores[d][0] >= 0.6 * scores[best][0])
    return period, scores[period][1]


def fit_grid(image: torch.Tensor, mask: torch.Tensor) -> Mosaic | None:
    """The mosaic grid (block size and offset) of a region known to be mosaicked, or None.

    Inside the mask, colour jumps between neighbouring pixels fall only on grid lines: the
    common step of their positions is the block, their remainder the offset. The grid is returned
    only when every cell is exactly flat inside the mask (a lossless mosaic, compared as the 8-bit
    file holds it); a recompressed or unmosaicked region, or one too small to show two jumps in a
    direction, gives None, so callers never enforce a grid that is not there.
    """
    ys, xs = torch.nonzero(mask[0, 0] > 0.5, as_tuple=True)
    if ys.numel() == 0:
        return None
    t0, t1, l0, l1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    q = _quantize(image[:1, :, t0:t1, l0:l1]).to(torch.int16)
    m = mask[0, 0, t0:t1, l0:l1] > 0.5
    rows = torch.nonzero(((q[:, 1:] != q[:, :-1]).any(0) & m[1:] & m[:-1]).any(1)).flatten() + 1
    cols = torch.nonzero(((q[:, :, 1:] != q[:, :, :-1]).any(0) & m[:, 1:] & m[:, :-1]).any(0)).flatten() + 1
    steps = torch.cat([rows.diff(), cols.diff()])
    if steps.numel() == 0:
        return None
    block = math.gcd(*steps.tolist())
    if block < 2:
        return None
    oy = int(rows[0]) if rows.numel() else 0
    ox = int(cols[0]) if cols.numel() else 0
    local = Mosaic(block, (oy % block, ox % block))  # on the crop
    pads, qf = local._pads(*q.shape[1:]), q.float()[None]
    top = F.max_pool2d(F.pad(torch.where(m, qf, -math.inf), pads, value=-math.inf), block)
    bottom = -F.max_pool2d(F.pad(torch.where(m, -qf, -math.inf), pads, value=-math.inf), block)
    seen = torch.isfinite(top)
    if not bool((top[seen] == bottom[seen]).all()):
        return None
    return Mosaic(block, ((t0 + oy) % block, (l0 + ox) % block))


def region_grid(image: torch.Tensor, region: torch.Tensor) -> tuple[Mosaic, bool] | None:
    """The grid a region known to be mosaicked shows, and whether it is exact: `fit_grid` when every
    cell is flat (a lossless mosaic), else `estimate_grid` (JPEG, video codecs); None when no grid
    can be read (a rescaled mosaic, or no mosaic)."""
    if (grid := fit_grid(image, region)) is not None:
        return grid, True
    if (grid := estimate_grid(image, region)) is not None:
        return grid, False
    return None


def keep_cells(result: torch.Tensor, image: torch.Tensor, region: torch.Tensor, soft_weight: float = SOFT_WEIGHT) -> torch.Tensor:
    """`result` (a restoration of one mosaicked `region` of `image`) projected so that mosaicking it
    again gives the cell colours `image` shows: exactly for a lossless mosaic, `soft_weight` of the
    way towards each cell's median for a recompressed one, not at all where no grid can be read.
    A restoration may invent detail, but not contradict the cell colours it was shown; the still
    and film paths both end here, so they agree on what a frame shows."""
    found = region_grid(image, region)
    if found is None:
        return result
    grid, exact = found
    return grid.project(result, image, region) if exact else grid.project(result, image, region, weight=soft_weight, robust=True)
