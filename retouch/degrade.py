"""Degradation operators φ: known corruptions that turn clean photos into training pairs.

Each is a small dataclass called as `op(x, mask=None)` on NCHW tensors in [-1, 1]; with a mask
(N1HW, 1 = act here) only the masked pixels change, and the rest is returned bit-exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def apply_in_mask(clean: torch.Tensor, degraded: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The degraded image inside the mask, the untouched input outside (exactly, for a hard mask)."""
    if mask is None:
        return degraded
    return torch.where(mask > 0.5, degraded, clean)


@dataclass(frozen=True)
class Mosaic:
    """Pixelation: each block x block cell replaced by its mean colour, grid aligned to the image.

    Cells cut by the image border average only the pixels inside the image.
    """

    block: int = 8

    def cell_means(self, x: torch.Tensor) -> torch.Tensor:
        """One pixel per cell: the mean colour the mosaic shows there (also what baselines upsample)."""
        if self.block < 1:
            raise ValueError(f"block must be at least 1, got {self.block}")
        return F.avg_pool2d(x, self.block, ceil_mode=True, count_include_pad=False)

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h, w = x.shape[2:]
        cells = self.cell_means(x).repeat_interleave(self.block, 2).repeat_interleave(self.block, 3)[:, :, :h, :w]
        return apply_in_mask(x, cells, mask)
