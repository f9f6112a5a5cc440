"""Degradation operators φ: known corruptions that turn clean photos into training pairs.

Each operator is a small frozen dataclass called as `op(x, mask=None)` on NCHW tensors in
[-1, 1]; with a mask (N1HW, 1 = act here) only the masked pixels change, and the rest is returned
bit-exact. `op.footprint(x, mask)` is the N1HW mask of the pixels the operator replaces: the mask
(or the whole image) for most, the holes themselves for `RectHoles` and `FreeFormHoles`, which is
what an inpainting model must be told.

A *spec* string names an operator family with ranges, drawn uniformly per sample:

    mosaic:block=6-16,jitter=1            Mosaic: block x block cells of mean colour; jitter = random grid offset
    downsample:scale=2-4,method=bicubic   Downsample by an integer factor (bicubic | lanczos | area), antialiased;
                                          returns the small image; up=1 resizes back (keeps size, works in a mask)
    grey                                  Greyscale: BT.601 luma in all three channels
    blur:sigma=0.5-2                      GaussianBlur: isotropic Gaussian, sigma in pixels (camera/lens softness)
    holes:count=1-3,size=0.2-0.5          RectHoles: rectangles, sides a fraction of the region's, filled with `fill`
    freeform:count=1-4,width=0.05-0.15    FreeFormHoles: random brush strokes (DeepFill v2 style masks)
    noise:sigma=5-25                      GaussianNoise: sigma in 0-255 units, clipped to the valid range
    jpeg:quality=30-90                    Jpeg: Pillow's encoder at that quality (4:2:0 chroma), per image
    mosaic:block=4-32,aspect=0.5-2        non-square cells: width = block x a factor drawn in `aspect`
    rescale:factor=0.5-1.5                Rescale: what came before, shrunk or enlarged by the factor (cells
                                          off the pixel grid); keeps the size inside a mask (Rescale.around)
    edge:sigma=0.5-2,width=3              EdgeBlur: a soft mosaic edge, blurred over a band inside the region
    h264:crf=20-35, hevc:crf=20-35        VideoFrame: one frame re-encoded by a video codec (needs PyAV)

Any part takes `p=0.7`: applied to that share of samples only (e.g. a JPEG on most, not all).

Holes take `fill=0-255` (default 127.5, mid-grey: 0 in the network's [-1, 1], i.e. a zero-filled
input as inpainting models expect; the footprint says where the holes are). Parts joined by `+`
apply left to right inside the same mask: ``mosaic:block=8-16+jpeg:quality=40-70``. A mosaic as people meet it is
``mosaic:block=4-32+edge:sigma=0.5-1.5,p=0.3+rescale:factor=0.5-1.5,p=0.5+jpeg:quality=40-95,p=0.8``. For
super-resolution of real photos, ``blur:sigma=0.5-1.5+downsample:scale=4+noise:sigma=0-8+jpeg:quality=60-95``
blurs the sharp photo, shrinks it, then adds sensor noise and compression to the small image.
Parts joined by `~` instead apply in a random order drawn per sample, as blind-restoration
degradation models (Real-ESRGAN's, BSRGAN's) shuffle theirs: the damage old and shared photos carry,
``blur:sigma=0.5-3,p=0.6~downsample:scale=2-4,up=1,p=0.5~noise:sigma=2-25,p=0.7~jpeg:quality=30-90,p=0.7``.

`parse(spec)` gives a family whose `sample(gen)` draws every parameter from `gen`, part by part in
spec order (hole shapes and noise from a seed drawn there, since they depend on the image size).
A sampled operator is a pure function of its fields and its input, so a training stream seeded
by position (see `data.StreamSampler`) degrades every sample reproducibly.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from retouch.errors import RetouchError
from retouch.io import to_pil, to_tensor

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as the SR literature's Y channel
RESAMPLING = ("bicubic", "lanczos", "area")


def apply_in_mask(clean: torch.Tensor, degraded: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The degraded image inside the mask, the untouched input outside (exactly, for a hard mask)."""
    if mask is None:
        return degraded
    return torch.where(mask > 0.5, degraded, clean)


def _region(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The hard N1HW region an operator acts on: the mask, or the whole image."""
    if mask is None:
        return x.new_ones(x.shape[0], 1, *x.shape[2:])
    return (mask > 0.5).to(x.dtype).expand(x.shape[0], 1, *x.shape[2:])


class _Op:
    """What every operator shares: which pixels it replaces (the whole region, unless it says less)."""

    def footprint(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return _region(x, mask)


@dataclass(frozen=True)
class Mosaic(_Op):
    """Pixelation: each cell of block x block pixels (block x block_w when `block_w` is set: the
    non-square cells some editors and codecs leave) replaced by its mean colour.

    Grid lines fall at rows `offset[0] + k * block` and columns `offset[1] + k * block_w`: (0, 0)
    aligns the grid to the image, the region's top-left corner modulo the cell aligns it to the
    region. Cells cut by the image border average only the pixels inside the image.
    """

    block: int = 8
    offset: tuple[int, int] = (0, 0)
    block_w: int = 0  # 0: square cells

    def __post_init__(self) -> None:
        if self.block < 1 or self.block_w < 0:
            raise RetouchError(f"Mosaic cells must be at least 1 pixel, got {self.block}x{self.block_w or self.block}.")

    @property
    def cell(self) -> tuple[int, int]:
        """(height, width) of one cell."""
        return self.block, self.block_w or self.block

    @classmethod
    def aligned_to(cls, block: int, top: int, left: int, block_w: int = 0) -> "Mosaic":
        """A mosaic whose grid starts at the region's corner (what most editors do)."""
        return cls(block, (top % block, left % (block_w or block)), block_w)

    def _pads(self, h: int, w: int) -> tuple[int, int, int, int]:
        bh, bw = self.cell
        top, left = (bh - self.offset[0] % bh) % bh, (bw - self.offset[1] % bw) % bw
        return left, (-(left + w)) % bw, top, (-(top + h)) % bh

    def cell_means(self, x: torch.Tensor) -> torch.Tensor:
        """One pixel per cell (the grid padded to whole cells): the colour the mosaic shows there."""
        return self._cell_sums(x) / self._cell_sums(torch.ones_like(x[:, :1]))

    def cell_medians(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """One pixel per cell: the median of the cell's masked pixels (NaN where it has none).

        A recompressed mosaic's cells are no longer flat: JPEG rings near the cell edges and
        blocks, and the median of the cell is the colour most of it still shows."""
        bh, bw = self.cell
        left, right, top, bottom = self._pads(*x.shape[2:])
        inside = F.pad((mask > 0.5).expand_as(x), (left, right, top, bottom), value=False)
        v = torch.where(inside, F.pad(x, (left, right, top, bottom)), torch.nan)
        n, c, hh, ww = v.shape
        cells = v.reshape(n, c, hh // bh, bh, ww // bw, bw).permute(0, 1, 2, 4, 3, 5).reshape(n, c, hh // bh, ww // bw, -1)
        return cells.nanmedian(-1).values

    def expand(self, cells: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Cell values back to an h x w image on this grid (each cell a flat block)."""
        left, _, top, _ = self._pads(h, w)
        bh, bw = self.cell
        big = cells.repeat_interleave(bh, 2).repeat_interleave(bw, 3)
        return big[:, :, top : top + h, left : left + w]

    def bicubic(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The classic non-learned inverse: bicubic interpolation of the block means, each mean
        placed at its cell's centre (the baseline every demosaic model must beat); inside the
        mask only, as `__call__`."""
        return self.interpolate(self.cell_means(x), x, mask)

    def interpolate(self, cells: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Bicubic interpolation of given cell colours (one pixel per cell) over `x`, inside the mask."""
        h, w = x.shape[2:]
        left, _, top, _ = self._pads(h, w)
        big = F.interpolate(cells, scale_factor=self.cell, mode="bicubic", align_corners=False)
        return apply_in_mask(x, big[:, :, top : top + h, left : left + w].clamp(-1, 1), mask)

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h, w = x.shape[2:]
        return apply_in_mask(x, self.expand(self.cell_means(x), h, w), mask)

    def _cell_sums(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(x, self._pads(*x.shape[2:])), self.cell, divisor_override=1)

    def project(self, x: torch.Tensor, hidden: torch.Tensor, mask: torch.Tensor, iters: int = 10,
                weight: float = 1.0, robust: bool = False) -> torch.Tensor:
        """`x` with its masked pixels shifted, cell by cell, until the mosaic of `x` is `hidden`.

        A restoration whose cells average to other colours than the mosaic shows contradicts what
        was observed. The true image lies in the set of images with those cell means, and moving
        onto that (affine) set orthogonally can only bring any estimate closer to every member of
        it, so this never increases the error; alternating with the clipping to [-1, 1] (`iters`
        rounds) keeps that true, as both sets hold the truth. `hidden` is the mosaicked image on this grid; only pixels of cells that
        touch the mask change, and only inside the mask.

        A recompressed mosaic shows each cell's colour only approximately: then `robust` reads it
        as the cell's median instead of its mean, and `weight` < 1 moves only that share of the
        way onto the set (a soft projection), as the set itself is uncertain.
        """
        ys, xs = torch.nonzero(mask[0, 0] > 0.5, as_tuple=True)
        if ys.numel() == 0:
            return x
        (bh, bw), (oy, ox) = self.cell, self.offset
        h, w = x.shape[2:]
        # whole cells around the mask, so no cell is cut by the crop
        t0 = max(0, int(ys.min()) - (int(ys.min()) - oy) % bh)
        l0 = max(0, int(xs.min()) - (int(xs.min()) - ox) % bw)
        t1, l1 = min(h, int(ys.max()) + bh), min(w, int(xs.max()) + bw)
        grid = Mosaic(bh, ((oy - t0) % bh, (ox - l0) % bw), bw)
        crop = lambda t: t[:, :, t0:t1, l0:l1]  # noqa: E731
        m, seen = crop((mask > 0.5).to(x.dtype)), crop(hidden)
        n_all, n_mask = grid._cell_sums(torch.ones_like(m)), grid._cell_sums(m)
        if robust:
            observed = grid.cell_medians(seen, m).nan_to_num(0.0)
        else:
            observed = grid._cell_sums(seen * m) / n_mask.clamp(min=1)  # every masked pixel of a cell shows its mean
        start = crop(x)
        out = start.clone()
        for _ in range(iters):
            delta = (observed - grid._cell_sums(out) / n_all) * n_all / n_mask.clamp(min=1)
            out = torch.where(m > 0.5, out + grid.expand(delta * (n_mask > 0), *out.shape[2:]), out).clamp(-1, 1)
        result = x.clone()
        result[:, :, t0:t1, l0:l1] = out if weight >= 1 else torch.where(m > 0.5, start + weight * (out - start), start)
        return result


def shrink(x: torch.Tensor, side: int) -> torch.Tensor:
    """NxCxHxW in [-1, 1] with its short side brought down to `side`, aspect kept (bicubic,
    antialiased); an image already that small comes back as it is. For a model trained on small
    views, judged or run at the scale it learnt."""
    h, w = x.shape[-2:]
    if min(h, w) <= side:
        return x
    s = side / min(h, w)
    return _resize(x, max(side, round(h * s)), max(side, round(w * s)), "bicubic")


def _resize(x: torch.Tensor, h: int, w: int, method: str) -> torch.Tensor:
    """Resample to h x w: bicubic (Pillow's kernel, antialiased), area (box mean), nearest, or
    lanczos through Pillow's float mode (torch has no Lanczos; this path is not differentiable)."""
    if method == "lanczos":
        planes = x.detach().to("cpu", torch.float32).contiguous().numpy()
        out = [[np.asarray(Image.fromarray(c).resize((w, h), Image.LANCZOS)) for c in im] for im in planes]
        return torch.from_numpy(np.array(out)).to(x).clamp(-1, 1)
    if method == "bicubic":
        return F.interpolate(x, size=(h, w), mode="bicubic", antialias=True, align_corners=False).clamp(-1, 1)
    return F.interpolate(x, size=(h, w), mode="area" if method == "area" else "nearest-exact")


@dataclass(frozen=True)
class Downsample(_Op):
    """Resolution loss by an integer `scale` with an antialiased kernel.

    By default the result is the small image (h/scale x w/scale), the input of a super-resolution
    pair; that needs sides divisible by `scale` and cannot act inside a mask, so both are errors.
    With `up=True` it is resized back to the input's size with the same kernel (area: pixel
    replication, i.e. a mosaic of `scale`), which works inside a mask: the blur of an upscaled
    thumbnail.
    """

    scale: int = 2
    method: str = "bicubic"
    up: bool = False

    def __post_init__(self) -> None:
        if self.scale < 1 or self.method not in RESAMPLING:
            raise RetouchError(f"Downsample needs scale >= 1 and method in {', '.join(RESAMPLING)}; got {self.scale}, {self.method!r}.")

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h, w, s = *x.shape[2:], self.scale
        if self.up:
            small = _resize(x, max(1, round(h / s)), max(1, round(w / s)), self.method)
            return apply_in_mask(x, _resize(small, h, w, "nearest" if self.method == "area" else self.method), mask)
        if mask is not None:
            raise RetouchError("downsample changes the image size, so it cannot act inside a region; add up=1 to scale back up, or act on the whole image.")
        if h % s or w % s:
            raise RetouchError(f"Downsampling by {s} needs sides divisible by {s}, not {w}x{h}; crop the image to a multiple of {s} first.")
        return _resize(x, h // s, w // s, self.method)


@dataclass(frozen=True)
class GaussianBlur(_Op):
    """Softness: a separable Gaussian of standard deviation `sigma` pixels (kernel out to 3 sigma),
    reflect-padded so borders do not darken; sigma 0 is the identity. Differentiable."""

    sigma: float = 1.0

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.sigma <= 0:
            return x
        r = min(max(1, math.ceil(3 * self.sigma)), min(x.shape[2:]) - 1)
        k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / self.sigma) ** 2).to(x)
        k = k / k.sum()
        c = x.shape[1]
        y = F.pad(x, (r, r, r, r), mode="reflect")
        y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        y = F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
        return apply_in_mask(x, y, mask)


@dataclass(frozen=True)
class Greyscale(_Op):
    """Colour loss: BT.601 luma in all three channels (the weights sum to one, so [-1, 1] stays put).

    It has no random parameter, so it is its own family.
    """

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        y = (x * x.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
        return apply_in_mask(x, y.expand_as(x), mask)

    def sample(self, gen: torch.Generator) -> "Greyscale":
        return self


def _bbox(region: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(top, left, height, width) of an HxW hard mask, or None when it is empty."""
    ys, xs = torch.nonzero(region > 0.5, as_tuple=True)
    if ys.numel() == 0:
        return None
    top, left = int(ys.min()), int(xs.min())
    return top, left, int(ys.max()) - top + 1, int(xs.max()) - left + 1


def _uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


def _randint(gen: torch.Generator, lo: int, hi: int) -> int:
    return int(torch.randint(lo, hi + 1, (), generator=gen))


def _seed(gen: torch.Generator) -> int:
    return int(torch.randint(0, 2**31 - 1, (), generator=gen))


@dataclass(frozen=True, kw_only=True)
class _Holes(_Op):
    """Missing pixels: `count` shapes drawn from `seed` inside each image's region, set to `fill`.

    Shapes are laid out in the region's bounding box and cut to the region, so they never leave
    the mask. `fill` is in 0-255 units; the default 127.5 is 0 in [-1, 1] (a zero-filled input).
    """

    count: int = 1
    fill: float = 127.5
    seed: int = 0

    def _shapes(self, gen: torch.Generator, h: int, w: int) -> torch.Tensor:
        """An h x w {0, 1} map of the shapes for one region's bounding box."""
        raise NotImplementedError

    def footprint(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The holes (N1HW, 1 = destroyed): what an inpainting model is told to fill."""
        region = _region(x, mask)
        holes = torch.zeros_like(region)
        gen = torch.Generator().manual_seed(self.seed)
        for n in range(x.shape[0]):
            box = _bbox(region[n, 0])
            if box is not None:
                top, left, h, w = box
                holes[n, 0, top : top + h, left : left + w] = self._shapes(gen, h, w).to(holes)
        return holes * region

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.where(self.footprint(x, mask) > 0.5, x.new_tensor(self.fill / 127.5 - 1), x)


@dataclass(frozen=True, kw_only=True)
class RectHoles(_Holes):
    """Rectangular holes, each side a uniform fraction in `size` of the region's side."""

    size: tuple[float, float] = (0.2, 0.5)

    def _shapes(self, gen: torch.Generator, h: int, w: int) -> torch.Tensor:
        out = torch.zeros(h, w)
        for _ in range(self.count):
            bh, bw = (max(1, round(_uniform(gen, *self.size) * side)) for side in (h, w))
            top, left = _randint(gen, 0, h - bh), _randint(gen, 0, w - bw)
            out[top : top + bh, left : left + bw] = 1
        return out


@dataclass(frozen=True, kw_only=True)
class FreeFormHoles(_Holes):
    """Free-form holes: `count` brush strokes, each a random walk of 4-12 segments (length 10-30 %
    of the region's shorter side) drawn with round joints and a brush `width` fraction of that side,
    like the free-form masks of DeepFill v2 (Yu et al., 2019)."""

    width: tuple[float, float] = (0.05, 0.15)

    def _shapes(self, gen: torch.Generator, h: int, w: int) -> torch.Tensor:
        canvas = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(canvas)
        side = min(h, w)
        for _ in range(self.count):
            brush = max(1, round(_uniform(gen, *self.width) * side))
            x, y = _uniform(gen, 0, w - 1), _uniform(gen, 0, h - 1)
            points = [(x, y)]
            for _ in range(_randint(gen, 4, 12)):
                angle, length = _uniform(gen, 0, 2 * math.pi), _uniform(gen, 0.1, 0.3) * side
                x = min(max(x + length * math.cos(angle), 0), w - 1)
                y = min(max(y + length * math.sin(angle), 0), h - 1)
                points.append((x, y))
            draw.line(points, fill=255, width=brush, joint="curve")
            r = brush / 2
            for px, py in (points[0], points[-1]):  # round caps
                draw.ellipse((px - r, py - r, px + r, py + r), fill=255)
        return torch.from_numpy(np.asarray(canvas) > 127).float()


@dataclass(frozen=True)
class GaussianNoise(_Op):
    """Additive white Gaussian noise, `sigma` in 0-255 units, drawn from `seed`, then clipped to
    [-1, 1] as a saved image would be (so the measured std is a little lower near black and white)."""

    sigma: float = 10.0
    seed: int = 0

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(self.seed)).to(x)
        return apply_in_mask(x, (x + noise * (self.sigma / 127.5)).clamp(-1, 1), mask)


@dataclass(frozen=True)
class Jpeg(_Op):
    """JPEG artefacts: each image quantised to 8 bits, encoded by Pillow at `quality` (its default
    4:2:0 chroma subsampling) and decoded. Not differentiable."""

    quality: int = 75

    def __post_init__(self) -> None:
        if not 1 <= self.quality <= 100:
            raise RetouchError(f"JPEG quality must lie in 1-100, got {self.quality}.")

    def _roundtrip(self, image: torch.Tensor) -> torch.Tensor:
        buf = io.BytesIO()
        to_pil(image).save(buf, format="JPEG", quality=self.quality)
        with Image.open(buf) as im:
            return to_tensor(im)

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return apply_in_mask(x, torch.cat([self._roundtrip(im) for im in x]).to(x), mask)


VIDEO_CODECS = {"h264": ("libx264", {}), "hevc": ("libx265", {"x265-params": "log-level=none"})}


@dataclass(frozen=True)
class VideoFrame(_Op):
    """A frame re-encoded by a video codec (H.264 or HEVC at constant quality `crf`, 4:2:0) and
    decoded, through PyAV (`pip install av`): the blocking and smearing of a mosaic in a video.
    One frame is an intra frame, as a keyframe is. Odd sides are padded by edge replication for
    the codec and cropped back. Not differentiable."""

    codec: str = "h264"
    crf: int = 28

    def __post_init__(self) -> None:
        if self.codec not in VIDEO_CODECS or not 0 <= self.crf <= 51:
            raise RetouchError(f"Video re-encoding needs codec in {', '.join(VIDEO_CODECS)} and crf in 0-51; got {self.codec!r}, {self.crf}.")

    def _roundtrip(self, image: torch.Tensor) -> torch.Tensor:
        try:
            import av
        except ImportError:
            raise RetouchError("Video re-encoding (h264:/hevc: degradations) needs PyAV: pip install av.") from None
        rgb = np.asarray(to_pil(image))
        h, w = rgb.shape[:2]
        rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        name, options = VIDEO_CODECS[self.codec]
        buf = io.BytesIO()
        with av.open(buf, "w", format="matroska") as out:
            stream = out.add_stream(name, rate=25)
            stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
            stream.options = {"crf": str(self.crf), **options}
            for packet in [*stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")), *stream.encode()]:
                out.mux(packet)
        buf.seek(0)
        with av.open(buf) as inp:
            decoded = next(inp.decode(video=0)).to_ndarray(format="rgb24")[:h, :w]
        return to_tensor(Image.fromarray(np.ascontiguousarray(decoded)))

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return apply_in_mask(x, torch.cat([self._roundtrip(im) for im in x]).to(x), mask)


@dataclass(frozen=True)
class Rescale(_Op):
    """A picture shrunk or enlarged by `factor` after it was degraded (a screenshot, a repost):
    mosaic cells `factor` times their size, their edges off the pixel grid and softened by the
    resampling (bicubic, antialiased when shrinking).

    Alone on a whole image (no mask) it resizes it: the size changes. Inside a mask it keeps the
    size, so the clean image stays the target of a training pair: `around` runs the operators
    before it in a chain at 1/`factor` the resolution and resamples their result back, which is
    the same picture as degrading first and rescaling the whole file after, seen at the clean
    image's scale. Alone inside a mask that is a resampling there and back.
    """

    factor: float = 1.0

    def __post_init__(self) -> None:
        if not 0.1 <= self.factor <= 10:
            raise RetouchError(f"Rescale factor must lie in 0.1-10, got {self.factor}.")

    def size(self, h: int, w: int) -> tuple[int, int]:
        return max(1, round(h * self.factor)), max(1, round(w * self.factor))

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return _resize(x, *self.size(*x.shape[2:]), "bicubic")
        return self.around(lambda y, m: y, x, mask)

    def around(self, inner: Callable, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`inner(x, mask)` done at 1/factor the resolution, resampled back to x's size, in the mask."""
        h, w = x.shape[2:]
        hs, ws = max(1, round(h / self.factor)), max(1, round(w / self.factor))
        big = inner(_resize(x, hs, ws, "bicubic"), F.interpolate((mask > 0.5).to(x.dtype), size=(hs, ws), mode="nearest-exact"))
        return apply_in_mask(x, _resize(big, h, w, "bicubic"), mask)


@dataclass(frozen=True)
class EdgeBlur(_Op):
    """A soft mosaic edge (feathered selections, resampling): a Gaussian blur of `sigma` px over a
    band `width` px deep just inside the region's border; the rest of the region is untouched."""

    sigma: float = 1.0
    width: int = 3

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        region = _region(x, mask)
        k = 2 * self.width + 1
        core = -F.max_pool2d(-F.pad(region, (self.width,) * 4, value=0.0), k, stride=1)  # eroded region
        band = (region > 0.5) & (core < 0.5)
        return torch.where(band, GaussianBlur(self.sigma)(x), x)


@dataclass(frozen=True)
class Identity(_Op):
    """No change: what an optional part (`p=` in a spec) draws when it is skipped."""

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return x

    def footprint(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.zeros_like(_region(x, mask))


@dataclass(frozen=True)
class Compose(_Op):
    """Operators applied left to right, each inside the same mask; the footprint is their union.

    Inside a mask a `Rescale` wraps the operators before it (see `Rescale.around`)."""

    parts: tuple = ()

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        start = x
        for i, op in enumerate(self.parts):
            if isinstance(op, Rescale) and mask is not None:
                x = op.around(Compose(self.parts[:i]), start, mask)
            else:
                x = op(x, mask)
        return x

    def footprint(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.stack([op.footprint(x, mask) for op in self.parts]).amax(0)


# ----------------------------------------------------------------------------------------------
# Families: ranges of parameters, `sample(gen)` draws one operator


@dataclass(frozen=True)
class MosaicFamily:
    """Mosaics with block sizes in [lo, hi], with `aspect` (width / height range) non-square cells,
    and with `jitter` a random grid offset. Without `aspect` the draws are the ones streams seeded
    before it existed made."""

    lo: int = 8
    hi: int = 8
    jitter: bool = True
    aspect: tuple[float, float] | None = None

    def sample(self, gen: torch.Generator) -> Mosaic:
        block = int(torch.randint(self.lo, self.hi + 1, (), generator=gen))
        block_w = 0 if self.aspect is None else max(2, round(block * _uniform(gen, *self.aspect)))
        if not self.jitter:
            return Mosaic(block, (0, 0), block_w)
        oy = int(torch.randint(0, block, (), generator=gen)) if block_w else None
        if oy is None:
            oy, ox = (int(v) for v in torch.randint(0, block, (2,), generator=gen))
        else:
            ox = int(torch.randint(0, block_w, (), generator=gen))
        return Mosaic(block, (oy, ox), block_w)


@dataclass(frozen=True)
class DownsampleFamily:
    lo: int = 2
    hi: int = 2
    method: str = "bicubic"
    up: bool = False

    def sample(self, gen: torch.Generator) -> Downsample:
        return Downsample(_randint(gen, self.lo, self.hi), self.method, self.up)


@dataclass(frozen=True)
class HolesFamily:
    """Holes like `template` with a count in [lo, hi] and a fresh shape seed per sample."""

    template: _Holes
    lo: int = 1
    hi: int = 1

    def sample(self, gen: torch.Generator) -> _Holes:
        return replace(self.template, count=_randint(gen, self.lo, self.hi), seed=_seed(gen))


@dataclass(frozen=True)
class BlurFamily:
    lo: float = 0.5
    hi: float = 2.0

    def sample(self, gen: torch.Generator) -> GaussianBlur:
        return GaussianBlur(_uniform(gen, self.lo, self.hi))


@dataclass(frozen=True)
class NoiseFamily:
    lo: float = 5.0
    hi: float = 25.0

    def sample(self, gen: torch.Generator) -> GaussianNoise:
        return GaussianNoise(_uniform(gen, self.lo, self.hi), _seed(gen))


@dataclass(frozen=True)
class JpegFamily:
    lo: int = 30
    hi: int = 90

    def sample(self, gen: torch.Generator) -> Jpeg:
        return Jpeg(_randint(gen, self.lo, self.hi))


@dataclass(frozen=True)
class VideoFamily:
    codec: str = "h264"
    lo: int = 20
    hi: int = 35

    def sample(self, gen: torch.Generator) -> VideoFrame:
        return VideoFrame(self.codec, _randint(gen, self.lo, self.hi))


@dataclass(frozen=True)
class RescaleFamily:
    lo: float = 0.5
    hi: float = 1.5

    def sample(self, gen: torch.Generator) -> Rescale:
        return Rescale(_uniform(gen, self.lo, self.hi))


@dataclass(frozen=True)
class EdgeBlurFamily:
    lo: float = 0.5
    hi: float = 2.0
    width: int = 3

    def sample(self, gen: torch.Generator) -> EdgeBlur:
        return EdgeBlur(_uniform(gen, self.lo, self.hi), self.width)


@dataclass(frozen=True)
class MaybeFamily:
    """A part applied with probability `p` per sample (else the identity): `jpeg:quality=50-95,p=0.7`."""

    p: float
    family: object

    def sample(self, gen: torch.Generator):
        skip = float(torch.rand((), generator=gen)) >= self.p
        return Identity() if skip else self.family.sample(gen)


@dataclass(frozen=True)
class ComposeFamily:
    parts: tuple = ()
    shuffled: bool = False  # parts joined by `~`: a new order per sample, as blind-restoration degradation models draw it

    def sample(self, gen: torch.Generator) -> Compose:
        ops = [p.sample(gen) for p in self.parts]
        if self.shuffled:
            ops = [ops[i] for i in torch.randperm(len(ops), generator=gen).tolist()]
        return Compose(tuple(ops))


# ----------------------------------------------------------------------------------------------
# Spec parsing


def parse_range(text: str, key: str, cast: Callable = int, low: float = 1, high: float | None = None) -> tuple:
    """'6-16' or '12' to (lo, hi) with low <= lo <= hi <= high; anything else is a clear error."""
    try:
        lo, _, hi = text.partition("-")
        a, b = cast(lo), cast(hi or lo)
    except ValueError:
        raise RetouchError(f"{key}={text!r} must be a number or a range such as 6-16.") from None
    if not (low <= a <= b and (high is None or b <= high)):
        bound = "" if high is None else f" <= {high}"
        raise RetouchError(f"{key}={text!r} must be a range lo-hi with {low} <= lo <= hi{bound}.")
    return a, b


def _flag(params: dict[str, str], key: str, default: bool) -> bool:
    value = params.get(key, "1" if default else "0").lower()
    if value not in ("", "1", "true", "yes", "0", "false", "no"):
        raise RetouchError(f"{key}={value!r} must be 1 or 0.")
    return value not in ("0", "false", "no")


def _fill(params: dict[str, str]) -> float:
    lo, hi = parse_range(params.get("fill", "127.5"), "fill", float, 0, 255)
    if lo != hi:
        raise RetouchError("fill must be one value in 0-255, not a range.")
    return lo


def _downsample(p: dict[str, str]) -> DownsampleFamily:
    method = p.get("method", "bicubic")
    if method not in RESAMPLING:
        raise RetouchError(f"Unknown downsample method {method!r}; use {', '.join(RESAMPLING)}.")
    return DownsampleFamily(*parse_range(p.get("scale", "2"), "scale", low=2), method, _flag(p, "up", False))


def _mosaic(p: dict[str, str]) -> MosaicFamily:
    aspect = parse_range(p["aspect"], "aspect", float, 0.1, 10) if "aspect" in p else None
    return MosaicFamily(*parse_range(p.get("block", "8"), "block"), _flag(p, "jitter", True), aspect)


def _rect_holes(p: dict[str, str]) -> HolesFamily:
    size = parse_range(p.get("size", "0.2-0.5"), "size", float, 0, 1)
    return HolesFamily(RectHoles(size=size, fill=_fill(p)), *parse_range(p.get("count", "1-3"), "count"))


def _freeform_holes(p: dict[str, str]) -> HolesFamily:
    width = parse_range(p.get("width", "0.05-0.15"), "width", float, 0, 1)
    return HolesFamily(FreeFormHoles(width=width, fill=_fill(p)), *parse_range(p.get("count", "1-4"), "count"))


# name -> (options it takes, builder from the option strings)
_PARTS: dict[str, tuple[set[str], Callable[[dict[str, str]], object]]] = {
    "mosaic": ({"block", "jitter", "aspect"}, _mosaic),
    "downsample": ({"scale", "method", "up"}, _downsample),
    "grey": (set(), lambda p: Greyscale()),
    "blur": ({"sigma"}, lambda p: BlurFamily(*parse_range(p.get("sigma", "0.5-2"), "sigma", float, 0))),
    "holes": ({"count", "size", "fill"}, _rect_holes),
    "freeform": ({"count", "width", "fill"}, _freeform_holes),
    "noise": ({"sigma"}, lambda p: NoiseFamily(*parse_range(p.get("sigma", "5-25"), "sigma", float, 0, 255))),
    "jpeg": ({"quality"}, lambda p: JpegFamily(*parse_range(p.get("quality", "30-90"), "quality", high=100))),
    "h264": ({"crf"}, lambda p: VideoFamily("h264", *parse_range(p.get("crf", "20-35"), "crf", low=0, high=51))),
    "hevc": ({"crf"}, lambda p: VideoFamily("hevc", *parse_range(p.get("crf", "20-35"), "crf", low=0, high=51))),
    "rescale": ({"factor"}, lambda p: RescaleFamily(*parse_range(p.get("factor", "0.5-1.5"), "factor", float, 0.1, 10))),
    "edge": ({"sigma", "width"}, lambda p: EdgeBlurFamily(*parse_range(p.get("sigma", "0.5-2"), "sigma", float, 0),
                                                          int(parse_range(p.get("width", "3"), "width", low=1)[0]))),
}


def _parse_part(part: str, spec: str):
    name, _, args = part.strip().partition(":")
    if name not in _PARTS:
        what = f"Unknown degradation {name!r}" if name else "An empty degradation"
        raise RetouchError(f"{what} in {spec!r}; use {', '.join(_PARTS)}, joined by + (e.g. mosaic:block=8+jpeg:quality=50).")
    params = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in args.split(",") if kv)
    p = parse_range(params.pop("p"), "p", float, 0, 1)[0] if "p" in params else None
    known, build = _PARTS[name]
    unknown = set(params) - known
    if unknown:
        raise RetouchError(f"Unknown {name} option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known)) or 'none'}, and p= for any part.")
    return build(params) if p is None else MaybeFamily(p, build(params))


def parse(spec: str):
    """A degradation family from a spec such as ``mosaic:block=6-16`` or ``grey+noise:sigma=10``
    (see the module docstring); `family.sample(gen)` draws one operator."""
    if "+" in spec and "~" in spec:
        raise RetouchError(f"{spec!r} mixes + (in this order) and ~ (in a random order); use one of them.")
    joiner = "~" if "~" in spec else "+"
    parts = [_parse_part(part, spec) for part in spec.split(joiner)]
    return parts[0] if len(parts) == 1 else ComposeFamily(tuple(parts), shuffled=joiner == "~")
