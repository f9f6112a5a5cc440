"""Temporal restoration of films: less shimmer than restoring every frame on its own, never worse.

A per-frame model invents the hidden detail afresh in every frame, and as the camera moves the
mosaic's cells fall on different content, so the invention changes from frame to frame: it
flickers. `TemporalRestorer` keeps what it restored in the previous frame, moves it with the
camera (a similarity transform fitted by RANSAC to feature points tracked by pyramidal
Lucas-Kanade flow *outside* the region, where the pixels are real), and blends it into the new
frame's restoration inside the region, an exponential moving average along the motion (the
simplest of the schemes DeepMosaics' video model and recurrent restorers refine).

The camera's motion does not explain everything in a region: a character walks, a door opens, a
mosaic fixed to the screen slides over a panning background. Blending there pasted the previous
frame's content where it no longer is (on a real 720p animated film, a static box over a moving
character: 0.7 dB under the still path in our run, 6.8 dB in issue 47's; docs/notes/films.md). So the blend is checked against what the frame
itself shows, cell by cell: the moved previous result is mosaicked on the current frame's grid,
and a cell takes the previous result only as far as its colour agrees with the cell colour the
frame shows (within `AGREE` levels, fading to nothing at that difference). Where the motion model
explains the pixels the two restorations average; where it does not, the frame keeps its own
restoration. A region whose grid cannot be read is restored per frame. Last, the region is
projected onto its cell colours exactly as the still path does (`keep_cells`), and nothing
carries over a scene cut (`retouch.film.cuts.Shots`).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch

from retouch.film.cuts import Shots
from retouch.film.tracks import camera_motion, grey
from retouch.geometry import region_boxes
from retouch.locate.detect import keep_cells, region_grid

Restore = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (1x3xHxW frame, 1x1xHxW mask) -> frame

MARGIN = 48  # pixels around a region whose motion moves it
AGREE = 8.0  # 8-bit levels of cell-colour difference at which the previous result's weight reaches 0


class TemporalRestorer:
    """A FrameFn (frames, masks) -> frames for `retouch.video.process_video` that restores each
    region and blends it with the previous frame's result moved by the camera's motion, where
    the current frame's cell colours confirm it.

    `restore` is the still path's region restoration without its cell-colour projection (the
    projection is applied here, after the blend); `blend` is the previous result's weight where
    it agrees (0 = per-frame restoration); `shots` (watched by the region source) says where the
    film cuts.
    """

    def __init__(self, restore: Restore, consistent: bool = True, blend: float = 0.5, shots: Shots | None = None) -> None:
        self.restore, self.consistent, self.blend, self.shots = restore, consistent, blend, shots
        self.previous: tuple[np.ndarray, torch.Tensor, torch.Tensor] | None = None  # grey input, result, mask
        self.index = 0  # frames seen

    def __call__(self, frames: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([self.step(frames[i : i + 1], masks[i : i + 1]) for i in range(len(frames))])

    @torch.inference_mode()
    def step(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """One frame: restore, blend with the aligned previous result where the cells agree, keep the mosaic's colours."""
        out = self.restore(x, mask)
        luma = grey(x)
        cut = self.shots is not None and self.index > 0 and self.shots.shot(self.index) != self.shots.shot(self.index - 1)
        self.index += 1
        if cut or (self.previous is not None and self.previous[0].shape != luma.shape):
            self.previous = None  # a new shot, or the window around the regions changed size: start afresh
        if self.previous is not None and self.blend > 0:
            out = self._blend(out, x, luma, mask)
        if self.consistent:
            for left, top, bw, bh in region_boxes(mask):
                own = torch.zeros_like(mask)
                own[:, :, top : top + bh, left : left + bw] = mask[:, :, top : top + bh, left : left + bw]
                out = keep_cells(out, x, own)
        self.previous = (luma, out, mask)
        return out

    def _blend(self, out: torch.Tensor, x: torch.Tensor, luma: np.ndarray, mask: torch.Tensor) -> torch.Tensor:
        before, result, before_mask = self.previous
        h, w = luma.shape
        for left, top, bw, bh in region_boxes(mask):
            t0, t1 = max(0, top - MARGIN), min(h, top + bh + MARGIN)
            l0, l1 = max(0, left - MARGIN), min(w, left + bw + MARGIN)
            own = torch.zeros(1, 1, t1 - t0, l1 - l0)
            own[:, :, top - t0 : top - t0 + bh, left - l0 : left - l0 + bw] = mask[:, :, top : top + bh, left : left + bw]
            found = region_grid(x[:, :, t0:t1, l0:l1], own)
            if found is None:
                continue  # no cells to check the motion against: this region is restored per frame
            known = ((mask[0, 0, t0:t1, l0:l1] < 0.5) & (before_mask[0, 0, t0:t1, l0:l1] < 0.5)).numpy().astype(np.uint8)
            motion = camera_motion(before[t0:t1, l0:l1], luma[t0:t1, l0:l1], known)
            if motion is None:
                continue
            prev = result[0, :, t0:t1, l0:l1].permute(1, 2, 0).numpy()
            size = (l1 - l0, t1 - t0)
            warped = torch.from_numpy(cv2.warpAffine(prev, motion, size, flags=cv2.INTER_LINEAR,
                                                     borderMode=cv2.BORDER_REPLICATE)).permute(2, 0, 1)[None]
            inside = torch.from_numpy(cv2.warpAffine(np.ones(prev.shape[:2], np.float32), motion, size,
                                                     flags=cv2.INTER_NEAREST, borderValue=0))[None, None]
            weight = self.blend * inside * own * self._agreement(found[0], warped, x[:, :, t0:t1, l0:l1], own)
            crop = out[:, :, t0:t1, l0:l1]
            out[:, :, t0:t1, l0:l1] = crop * (1 - weight) + warped * weight
        return out

    @staticmethod
    def _agreement(grid, warped: torch.Tensor, x: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
        """Per pixel (1x1xHxW), how far each cell's colour in the moved previous result agrees with the
        colour the frame shows there: 1 when equal, 0 at `AGREE` levels or more (mean over RGB)."""
        predicted = grid.cell_means(warped * own) / grid.cell_means(own).clamp(min=1e-6)
        shown = grid.cell_medians(x, own)
        levels = ((predicted - shown).abs().mean(1, keepdim=True) * 127.5).nan_to_num(float("inf"))
        return grid.expand((1 - levels / AGREE).clamp(0, 1), *x.shape[2:])
