"""Temporal restoration of films: less shimmer than restoring every frame on its own.

A per-frame model invents the hidden detail afresh in every frame, and as the camera moves the
mosaic's cells fall on different content, so the invention changes from frame to frame: it
flickers. `TemporalRestorer` keeps what it restored in the previous frame, moves it with the
camera (a similarity transform fitted by RANSAC to feature points tracked by pyramidal
Lucas-Kanade flow *outside* the region, where the pixels are real), and blends it into the new
frame's restoration inside the region. Where the camera has uncovered real pixels of the
previous frame, those come along too. With `consistent`, the blend is then projected back onto
the cell colours the mosaic shows (`Mosaic.project`), so temporal smoothing can never contradict
what the frame itself shows. This is a recurrent blend (an exponential moving average along the
motion), the simplest of the schemes DeepMosaics' video model and recurrent restorers refine.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch

from retouch.film.tracks import camera_motion, grey
from retouch.geometry import region_boxes
from retouch.locate.detect import fit_grid

Restore = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (1x3xHxW frame, 1x1xHxW mask) -> frame

MARGIN = 48  # pixels around a region whose motion moves it


class TemporalRestorer:
    """A FrameFn (frames, masks) -> frames for `retouch.video.process_video` that restores each
    region and blends it with the previous frame's result moved by the camera's motion.

    `restore` is the still path's region restoration without its cell-colour projection (the
    projection is applied here, after the blend); `blend` is the previous result's weight (0 =
    per-frame restoration).
    """

    def __init__(self, restore: Restore, consistent: bool = True, blend: float = 0.5) -> None:
        self.restore, self.consistent, self.blend = restore, consistent, blend
        self.previous: tuple[np.ndarray, torch.Tensor, torch.Tensor] | None = None  # grey input, result, mask

    def __call__(self, frames: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([self.step(frames[i : i + 1], masks[i : i + 1]) for i in range(len(frames))])

    @torch.inference_mode()
    def step(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """One frame: restore, blend with the aligned previous result, keep the mosaic's colours."""
        out = self.restore(x, mask)
        luma = grey(x)
        if self.previous is not None and self.previous[0].shape != luma.shape:
            self.previous = None  # the window around the regions changed size: start afresh
        if self.previous is not None and self.blend > 0:
            out = self._blend(out, luma, mask)
        if self.consistent:
            for left, top, bw, bh in region_boxes(mask):
                own = torch.zeros_like(mask)
                own[:, :, top : top + bh, left : left + bw] = mask[:, :, top : top + bh, left : left + bw]
                grid = fit_grid(x, own)
                if grid:
                    out = grid.project(out, x, own)
        self.previous = (luma, out, mask)
        return out

    def _blend(self, out: torch.Tensor, luma: np.ndarray, mask: torch.Tensor) -> torch.Tensor:
        before, result, before_mask = self.previous
        h, w = luma.shape
        for left, top, bw, bh in region_boxes(mask):
            t0, t1 = max(0, top - MARGIN), min(h, top + bh + MARGIN)
            l0, l1 = max(0, left - MARGIN), min(w, left + bw + MARGIN)
            known = ((mask[0, 0, t0:t1, l0:l1] < 0.5) & (before_mask[0, 0, t0:t1, l0:l1] < 0.5)).numpy().astype(np.uint8)
            motion = camera_motion(before[t0:t1, l0:l1], luma[t0:t1, l0:l1], known)
            if motion is None:
                continue
            prev = result[0, :, t0:t1, l0:l1].permute(1, 2, 0).numpy()
            size = (l1 - l0, t1 - t0)
            warped = cv2.warpAffine(prev, motion, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            inside = cv2.warpAffine(np.ones(prev.shape[:2], np.float32), motion, size, flags=cv2.INTER_NEAREST, borderValue=0)
            weight = torch.from_numpy(inside * self.blend)[None, None] * mask[:, :, t0:t1, l0:l1]
            crop = out[:, :, t0:t1, l0:l1]
            out[:, :, t0:t1, l0:l1] = crop * (1 - weight) + torch.from_numpy(warped).permute(2, 0, 1)[None] * weight
        return out
