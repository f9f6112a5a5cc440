"""Degradation operators φ: known corruptions that turn clean photos into training pairs.

Each is a small frozen dataclass called as `op(x, mask=None)` on NCHW tensors in [-1, 1]; with
a mask (N1HW, 1 = act here) only the masked pixels change, and the rest is returned bit-exact.

A *spec* string such as ``mosaic:block=6-16`` names an operator family with ranges; `parse`
turns it into a `Family` whose `sample(gen)` draws one concrete operator, so a training stream
seeded by position (see `data.StreamSampler`) degrades every sample reproducibly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from retouch.errors import RetouchError


def apply_in_mask(clean: torch.Tensor, degraded: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The degraded image inside the mask, the untouched input outside (exactly, for a hard mask)."""
    if mask is None:
        return degraded
    return torch.where(mask > 0.5, degraded, clean)


@dataclass(frozen=True)
class Mosaic:
    """Pixelation: each block x block cell replaced by its mean colour.

    Grid lines fall at rows `offset[0] + k * block` and columns `offset[1] + k * block`: (0, 0)
    aligns the grid to the image, the region's top-left corner modulo `block` aligns it to the
    region. Cells cut by the image border average only the pixels inside the image.
    """

    block: int = 8
    offset: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if self.block < 1:
            raise RetouchError(f"Mosaic block must be at least 1 pixel, got {self.block}.")

    @classmethod
    def aligned_to(cls, block: int, top: int, left: int) -> "Mosaic":
        """A mosaic whose grid starts at the region's corner (what most editors do)."""
        return cls(block, (top % block, left % block))

    def _pads(self, h: int, w: int) -> tuple[int, int, int, int]:
        b = self.block
        top, left = (b - self.offset[0] % b) % b, (b - self.offset[1] % b) % b
        return left, (-(left + w)) % b, top, (-(top + h)) % b

    def cell_means(self, x: torch.Tensor) -> torch.Tensor:
        """One pixel per cell (the grid padded to whole cells): the colour the mosaic shows there."""
        pads = self._pads(*x.shape[2:])
        total = F.avg_pool2d(F.pad(x, pads), self.block)
        count = F.avg_pool2d(F.pad(torch.ones_like(x[:, :1]), pads), self.block)
        return total / count

    def expand(self, cells: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Cell values back to an h x w image on this grid (each cell a flat block)."""
        left, _, top, _ = self._pads(h, w)
        big = cells.repeat_interleave(self.block, 2).repeat_interleave(self.block, 3)
        return big[:, :, top : top + h, left : left + w]

    def bicubic(self, x: torch.Tensor) -> torch.Tensor:
        """The classic non-learned inverse: bicubic interpolation of the block means, each mean
        placed at its cell's centre (the baseline every demosaic model must beat)."""
        h, w = x.shape[2:]
        left, _, top, _ = self._pads(h, w)
        cells = self.cell_means(x)
        big = F.interpolate(cells, scale_factor=self.block, mode="bicubic", align_corners=False)
        return big[:, :, top : top + h, left : left + w].clamp(-1, 1)

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h, w = x.shape[2:]
        return apply_in_mask(x, self.expand(self.cell_means(x), h, w), mask)


@dataclass(frozen=True)
class MosaicFamily:
    """Mosaics with block sizes in [lo, hi] and, with `jitter`, a random grid offset."""

    lo: int = 8
    hi: int = 8
    jitter: bool = True

    def sample(self, gen: torch.Generator) -> Mosaic:
        block = int(torch.randint(self.lo, self.hi + 1, (), generator=gen))
        if not self.jitter:
            return Mosaic(block)
        oy, ox = (int(v) for v in torch.randint(0, block, (2,), generator=gen))
        return Mosaic(block, (oy, ox))


def _int_range(text: str, key: str) -> tuple[int, int]:
    try:
        lo, _, hi = text.partition("-")
        a, b = int(lo), int(hi or lo)
    except ValueError:
        raise RetouchError(f"{key}={text!r} must be a number or a range such as 6-16.") from None
    if not 1 <= a <= b:
        raise RetouchError(f"{key}={text!r} must be a range lo-hi with 1 <= lo <= hi.")
    return a, b


def parse(spec: str):
    """A degradation family from a spec like ``mosaic``, ``mosaic:block=12`` or ``mosaic:block=6-16,jitter=0``."""
    name, _, args = spec.partition(":")
    params = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in args.split(",") if kv)
    if name == "mosaic":
        unknown = set(params) - {"block", "jitter"}
        if unknown:
            raise RetouchError(f"Unknown mosaic option(s) {', '.join(sorted(unknown))}; known: block, jitter.")
        lo, hi = _int_range(params.get("block", "8"), "block")
        return MosaicFamily(lo, hi, params.get("jitter", "1") not in ("0", "false", "no"))
    raise RetouchError(f"Unknown degradation {name!r} in {spec!r}; known: mosaic.")
