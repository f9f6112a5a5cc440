"""Mosaics in compressed frames: cell edges that repeat at one period, around cells that are flat.

`retouch.locate.detect`'s grid fit needs runs of exactly equal pixels, which a video codec
never leaves (H.264's deblocking smears each cell edge over two or three pixels, its quantiser
adds noise inside the cells), and the learned segmenter, trained on photos, does not transfer to
animation (on a real 720p cartoon it gave a probability of ~0.53 over two thirds of the frame,
inside the mosaic and out: docs/notes/films.md). What survives the codec is the structure
itself: inside a mosaic, the jumps between neighbouring columns (rows) are large on lines `block`
pixels apart and small between them. This module looks for that, in two steps:

1. **Tiles.** The frame is cut into overlapping `TILE`-pixel tiles; in each, the column jumps are
   averaged down the tile (a profile across it) and likewise the row jumps. A tile whose two
   profiles both have the same period (6-24 px) whose lines stand out `CONTRAST` times above the
   steps between them, by at least `STRENGTH` levels, votes for a mosaic. The line and the step
   on either side count as the line, so a smeared edge counts whole. Vectorised over all tiles
   (a matrix product per period), a 720p frame costs tens of milliseconds. Neighbouring voting
   tiles form a group; the period most of them found is the cell side, and the grid's phase is
   read on the group's area with that period fixed (`line_period`).
2. **Cells.** Every cell of that grid around the group is judged on its own: a mosaic cell changes
   colour *across* its edges (net, from two pixels inside it to two inside its neighbour) by
   `JUMP` levels and `SHARP` times its mean step inside. A gradient, texture and thin bars (mortar,
   window frames) do not. The region is the rectangle of such cells (`_rectangle`: stray cells
   peeled off, the part over smooth content, where cells barely differ, grown back), snapped to
   the grid, so its border is exact to the pixel when the grid starts at the mosaic's corner, as
   editors draw them; groups that see parts of one mosaic on one grid are merged (`_merged`).

Square cells only, at least `MIN_CELLS`. On four real clips without a mosaic no region was found;
H.264's and MPEG-4's own block edges are faint and rarely both periodic and sharp
(docs/benchmarks.md, "Films"; what was tried: docs/notes/films.md).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from retouch.degrade import Mosaic
from retouch.geometry import Box
from retouch.locate.detect import line_period

TILE = 64  # tile side (px): at least 2.5 cells of the largest block
STRIDE = 16  # tile step (px)
BLOCKS = (6, 24)  # cell sides searched (px), inclusive
CONTRAST = 3.0  # the lines' mean jump over the mean step between them, both directions
STRENGTH = 2.0  # ... and above it by this many 8-bit levels
JUMP = 3.0  # a mosaic cell's mean net change of colour across its edges (8-bit levels) ...
SHARP = 6.0  # ... and over its mean step inside
FAINT = 1.0  # the net change that still makes a cell a possible mosaic cell (next to clear ones)
MIN_CELLS = 16  # mosaic cells a region needs (a 4x4 mosaic; a window of 3x4 panes has 12) ...
DENSE = 0.5  # ... and the share of its rectangle they fill


def luma(rgb: np.ndarray) -> np.ndarray:
    """HxW float32 luma (BT.601, 0-255) of an HxWx3 uint8 frame (OpenCV: a millisecond at 720p)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _grid(y: np.ndarray, blocks: tuple[int, int]) -> tuple[int, int, int] | None:
    """(cell side, row phase, column phase) of the square grid in luma `y`, or None: the
    period whose lines stand out in both the column and the row jump profiles (`line_period`)."""
    fits = [line_period(np.abs(np.diff(y, axis=axis)).mean(1 - axis), blocks, 2.0) for axis in (0, 1)]
    if None in fits or fits[0][0] != fits[1][0]:
        return None  # mosaics have square cells; bricks and window panes often do not
    (b, py), (_, px) = fits
    return b, py, px


def _phase_scores(profiles: np.ndarray, blocks: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best (contrast, strength, period) over the periods in `blocks` for each profile (... x L):
    the phase whose lines, with a step on either side, stand out most from the steps that are
    neither (the phase itself is read later, on the whole group of tiles: `_grid`)."""
    length = profiles.shape[-1]
    best_c = np.zeros(profiles.shape[:-1], np.float32)
    best_s = np.zeros(profiles.shape[:-1], np.float32)
    best_b = np.zeros(profiles.shape[:-1], np.int64)
    pos = np.arange(length)
    for b in range(blocks[0], min(blocks[1], length // 2) + 1):
        onehot = np.zeros((length, b), np.float32)
        onehot[pos, pos % b] = 1
        sums = profiles @ onehot  # ... x b, by local phase
        counts = onehot.sum(0)
        means = sums / counts
        # a line smeared over neighbouring steps: the line's step plus the stronger neighbour
        on = means + np.maximum(np.roll(means, 1, -1), np.roll(means, -1, -1))
        p = on.argmax(-1)
        three = (p[..., None] + np.array([-1, 0, 1])) % b
        taken = np.take_along_axis(sums, three, -1).sum(-1)
        n_taken = counts[three].sum(-1)
        off = (sums.sum(-1) - taken) / np.maximum(length - n_taken, 1)
        line = np.take_along_axis(on, p[..., None], -1)[..., 0] / 2  # mean jump per step of the line's pair
        contrast = line / np.maximum(off, 0.5)
        strength = line - off
        better = contrast > best_c
        best_c = np.where(better, contrast, best_c)
        best_s = np.where(better, strength, best_s)
        best_b = np.where(better, b, best_b)
    return best_c, best_s, best_b


def candidates(y: np.ndarray, tile: int = TILE, stride: int = STRIDE, blocks: tuple[int, int] = BLOCKS,
               contrast: float = CONTRAST, strength: float = STRENGTH) -> list[tuple[int, tuple[slice, slice]]]:
    """(period, area) of each group of neighbouring tiles whose column and row jumps both repeat at
    one period: where a mosaic may lie, and its cell side (the period most of the group's tiles
    found: a tile over the mosaic's edge may prefer a multiple)."""
    h, w = y.shape
    if min(h, w) < tile:
        return []
    gx, gy = np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0))  # H x W-1, H-1 x W
    starts_r, starts_c = np.arange(0, h - tile + 1, stride), np.arange(0, w - tile + 1, stride)
    # column profile of each tile: jumps summed down its rows, over its columns
    rx = np.concatenate([np.zeros((1, w - 1), np.float32), np.cumsum(gx, 0, dtype=np.float32)])
    down = (rx[starts_r + tile] - rx[starts_r]) / tile  # nR x W-1
    px = np.lib.stride_tricks.sliding_window_view(down, tile - 1, axis=1)[:, starts_c]  # nR x nC x tile-1
    ry = np.concatenate([np.zeros((h - 1, 1), np.float32), np.cumsum(gy, 1, dtype=np.float32)], 1)
    across = (ry[:, starts_c + tile] - ry[:, starts_c]) / tile  # H-1 x nC
    py = np.lib.stride_tricks.sliding_window_view(across.T, tile - 1, axis=1)[:, starts_r].transpose(1, 0, 2)
    cx, sx, bx = _phase_scores(np.ascontiguousarray(px), blocks)
    cy, sy, by = _phase_scores(np.ascontiguousarray(py), blocks)
    vote = (cx >= contrast) & (cy >= contrast) & (sx >= strength) & (sy >= strength) & (bx == by)
    found = []
    labels, _ = ndimage.label(vote, np.ones((3, 3), bool))
    for k, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1):
        b = np.bincount(bx[rows, cols][labels[rows, cols] == k]).argmax()
        found.append((int(b), (slice(starts_r[rows.start], starts_r[rows.stop - 1] + tile),
                               slice(starts_c[cols.start], starts_c[cols.stop - 1] + tile))))
    return found


def _cells(y: np.ndarray, grid: Mosaic) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Per cell of a square `grid` wholly inside `y`: whether it is clearly a mosaic cell, whether it
    may be one (the same test with `FAINT` levels on its edges but the one of largest change: a
    mosaic over smooth content; a cell of the picture beside a mosaic changes sharply only towards
    it), and the pixel
    position of the first whole cell (top, left).

    A mosaic cell is flat inside and changes colour *across its edges*: the net change from two
    pixels inside it to two pixels inside its neighbour (spanning the line the codec smeared) is
    at least `JUMP` levels and `SHARP` times the mean step inside the cell (lines excluded). A
    smooth gradient changes by three inner steps across a line (ratio 3), texture by about as much
    as inside, a flat area not at all, and a thin bar (mortar between bricks, a window's frame) goes
    up and back down, a net change near nothing: none of them passes.
    """
    b = grid.block
    top, left = grid.offset[0] % b, grid.offset[1] % b
    h, w = y.shape
    nr, nc = (h - top) // b, (w - left) // b
    if nr < 2 or nc < 2 or b < 5:
        return np.zeros((0, 0), bool), np.zeros((0, 0), bool), (top, left)
    c = y[top : top + nr * b, left : left + nc * b].reshape(nr, b, nc, b)
    inner = (np.abs(np.diff(c, axis=3))[:, 1:-1, :, 1:-1].mean((1, 3)) + np.abs(np.diff(c, axis=1))[:, 1:-1, :, 1:-1].mean((1, 3))) / 2
    across_x = np.abs(c[:, 1:-1, 1:, 1] - c[:, 1:-1, :-1, b - 2]).mean(1)  # nr x nc-1: between cells j and j+1
    across_y = np.abs(c[1:, 1, :, 1:-1] - c[:-1, b - 2, :, 1:-1]).mean(2)  # nr-1 x nc
    jump = np.zeros((nr, nc), np.float32)
    edges = np.zeros((nr, nc), np.float32)
    most = np.zeros((nr, nc), np.float32)  # the largest change across one edge
    for d, lo, hi in ((across_x, np.s_[:, :-1], np.s_[:, 1:]), (across_y, np.s_[:-1, :], np.s_[1:, :])):
        for side in (lo, hi):
            jump[side] += d
            edges[side] += 1
            most[side] = np.maximum(most[side], d)
    rest = (jump - most) / np.maximum(edges - 1, 1)  # the mean change across the other edges
    jump /= np.maximum(edges, 1)
    sharp = jump >= SHARP * inner
    return sharp & (jump >= JUMP), (rest >= FAINT) & (rest >= SHARP * inner), (top, left)


def _rectangle(seed: np.ndarray, ok: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) cell rows and columns of the rectangle a group of clear mosaic
    cells (`seed`) lies in, judged by the cells that may be mosaic (`ok`): the seed's bounding box
    with border lines that are less than half `ok` peeled off one at a time (stray cells beside a
    mosaic stretch its box), then grown by lines that are mostly `ok` (the part of a mosaic over
    smooth content, whose cells barely differ). A mosaic is a rectangle."""
    rows, cols = np.nonzero(seed)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    nr, nc = ok.shape
    share = {"top": lambda: ok[r0, c0:c1].mean(), "bottom": lambda: ok[r1 - 1, c0:c1].mean(),
             "left": lambda: ok[r0:r1, c0].mean(), "right": lambda: ok[r0:r1, c1 - 1].mean()}
    while r1 - r0 > 1 and c1 - c0 > 1:
        side = min(share, key=lambda k: share[k]())
        if share[side]() >= 0.5:
            break
        r0, r1, c0, c1 = r0 + (side == "top"), r1 - (side == "bottom"), c0 + (side == "left"), c1 - (side == "right")
    grown = True
    while grown:
        grown = False
        if r0 > 0 and ok[r0 - 1, c0:c1].mean() >= 0.6:
            r0, grown = r0 - 1, True
        if r1 < nr and ok[r1, c0:c1].mean() >= 0.6:
            r1, grown = r1 + 1, True
        if c0 > 0 and ok[r0:r1, c0 - 1].mean() >= 0.6:
            c0, grown = c0 - 1, True
        if c1 < nc and ok[r0:r1, c1].mean() >= 0.6:
            c1, grown = c1 + 1, True
    return r0, r1, c0, c1


def _inside(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Whether one of two cell rectangles contains the other (their clear cells are then counted once)."""
    return (a[0] <= b[0] and b[1] <= a[1] and a[2] <= b[2] and b[3] <= a[3]) or (b[0] <= a[0] and a[1] <= b[1] and b[2] <= a[2] and a[3] <= b[3])


def _merged(rects: list[tuple[int, int, int, int, int]], gap: int = 1) -> list[tuple[int, int, int, int, int]]:
    """Rectangles (top, bottom, left, right in cells of one grid, and their count of clear cells)
    that overlap or lie within `gap` cells of each other joined into their bounding rectangle, until
    none do: one mosaic whose middle lies over flat content shows as two groups of clear cells, and
    two groups of tiles may each see part of it."""
    rects = list(rects)
    joined = True
    while joined:
        joined = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                if a[0] <= b[1] + gap and b[0] <= a[1] + gap and a[2] <= b[3] + gap and b[2] <= a[3] + gap:
                    rects[i] = (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]), max(a[4], b[4]) if _inside(a, b) else a[4] + b[4])
                    del rects[j]
                    joined = True
                    break
            if joined:
                break
    return rects


def find_mosaics(y: np.ndarray, blocks: tuple[int, int] = BLOCKS) -> list[Box]:
    """The rectangles (x, y, w, h) of the mosaics in a (compressed) frame, given as its `luma`."""
    h, w = y.shape
    grids: dict[tuple[int, int, int], list[tuple[int, int, int, int]]] = {}  # (cell, row, column phase): rectangles in cells
    for b, voted in candidates(y, blocks=blocks):
        grid = _grid(y[voted], (b, b))  # the phase, read where the tiles voted: the mosaic dominates there
        if grid is None:
            continue
        _, py, px = grid
        # tiles half over the mosaic may not vote: look half a tile further for its edge cells
        t0, l0 = max(0, voted[0].start - TILE // 2), max(0, voted[1].start - TILE // 2)
        t1, l1 = min(h, voted[0].stop + TILE // 2), min(w, voted[1].stop + TILE // 2)
        phase = ((voted[0].start + py - t0) % b, (voted[1].start + px - l0) % b)
        clear, maybe, (top, left) = _cells(y[t0:t1, l0:l1], Mosaic(b, phase))
        part, n = ndimage.label(ndimage.binary_closing(clear, np.ones((3, 3), bool)) | clear)
        row, col = (t0 + top) // b, (l0 + left) // b  # the crop's first whole cell, in cells of the frame's grid
        for k in range(1, n + 1):
            own = (part == k) & clear
            if own.sum() < MIN_CELLS // 2:
                continue
            r0, r1, c0, c1 = _rectangle(own, maybe)
            if maybe[r0:r1, c0:c1].mean() >= DENSE:
                grids.setdefault((b, (t0 + top) % b, (l0 + left) % b), []).append(
                    (row + r0, row + r1, col + c0, col + c1, int(clear[r0:r1, c0:c1].sum())))
    boxes: list[Box] = []
    for (b, oy, ox), rects in grids.items():
        for r0, r1, c0, c1, n in _merged(rects):
            if n >= MIN_CELLS:
                boxes.append((int(ox + c0 * b), int(oy + r0 * b), int((c1 - c0) * b), int((r1 - r0) * b)))
    return boxes
