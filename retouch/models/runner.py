"""Running an image-to-image network on images of any size: pad, tile with overlap, blend, crop back.

Images no larger than the training crop run whole, padded to what the network divides by and
never beyond the training size (`Translator.least`): a pix2pix U-Net's multiple is its training
size, so a photo of that size runs exactly as the reference runs it. Larger ones are cut into
training-size tiles that overlap and are blended with linear ramps, so memory stays bounded,
normalisation layers see the statistics they were trained on, and a U-Net's innermost layer,
which sees its whole input, sees what it saw in training. A super-resolution network's output
is `scale` times its input: tiles are cut from the input and
placed and blended at `scale` times their offsets. `load_translator` picks the device, the
precision and the backend (all arguments, nothing process-wide), and `SelfEnsemble` averages
flipped views.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from retouch.defaults import BACKEND
from retouch.device import autocast, pick_device, pick_precision
from retouch.errors import RetouchError
from retouch.models import backends
from retouch.models.load import load_model, resolve
from retouch.nets import input_multiple

# Tile side for networks without normalisation layers, where tiles only bound memory. 1024, not
# 512: a 1024 px region took 3 x 3 tiles of 512 (the overlaps redo 2.25x its pixels) and restored
# 2.1x slower than in one pass (docs/notes/benchmarks-history.md, "Tiled inference").
FREE_TILE = 1024
# Output pixels run in one batch of tiles: what 8 tiles of 512 px cost, the bound before tiles grew.
BATCH_PIXELS = 8 * 512 * 512


# The square's flips and quarter turns as (mirror, quarter turns). The first four (identity, mirror,
# half turn, upside down) keep a tile's sides where they were, so a landscape box stays one tile.
DIHEDRAL = ((False, 0), (True, 0), (False, 2), (True, 2), (False, 1), (True, 1), (False, 3), (True, 3))


class SelfEnsemble:
    """A translator run on `n` flipped and turned copies of its input, averaged after turning back.

    Why: a network's errors are not symmetric under flips while the photos are, so the average of
    the eight views is closer to the truth than any one (the "x8" self-ensemble of super-resolution
    papers, Lim et al. 2017). It costs `n` runs; for a mosaic region that is milliseconds against the
    photo's decoding, so `retouch demosaic` spends them on images (docs/notes/benchmarks-history.md, eval-region).
    Everything but the call is the wrapped translator's.
    """

    def __init__(self, tr: Translator, n: int):
        if n not in (1, 2, 4, 8):
            raise RetouchError(f"--ensemble {n}: use 1, 2, 4 or 8 views.")
        self.tr, self.n = tr, n

    def __getattr__(self, name: str):
        return getattr(self.tr, name)

    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        total = None
        for mirror, turns in DIHEDRAL[: self.n]:
            def there(t: torch.Tensor) -> torch.Tensor:
                return torch.rot90(t.flip(-1) if mirror else t, turns, (-2, -1))

            out = torch.rot90(self.tr(there(x), None if mask is None else there(mask)), -turns, (-2, -1))
            out = out.flip(-1) if mirror else out
            total = out if total is None else total.add_(out)
        return total / self.n


@dataclass
class Translator:
    """A loaded model with everything inference needs."""

    net: nn.Module
    meta: dict
    name: str
    device: torch.device
    dtype: torch.dtype
    tile: int
    overlap: int

    @property
    def multiple(self) -> int:
        """What the input's sides must divide by (2**downsamplings)."""
        return input_multiple(self.meta["net"])

    @property
    def least(self) -> int:
        """The side a smaller image is padded up to: two cells of the network's coarsest level, so
        that a 1xN image leaves normalisation layers more than one value per channel there, but not
        beyond the training size (in input pixels).

        Why the cap: a pix2pix U-Net is trained at its multiple (unet_256 on 256 px crops), where
        its innermost level is 1x1 and unnormalised and sees the whole crop. Padded to two cells,
        a 256 px photo would reach that layer as half of a 512 px image, half of it padding: 27 dB
        from the reference's output instead of equal to it (issue 44).
        """
        return _ceil(min(2 * self.multiple, self.meta.get("size", 256) // self.scale), self.multiple)

    @property
    def scale(self) -> int:
        """Output side over input side: 1, or a super-resolution network's factor."""
        return self.meta["net"].get("scale", 1)

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """1x3xHxW in [-1, 1] to the translated 1x3x(sH)x(sW) (s = `scale`), on the CPU whichever path runs.

        A model trained with `masked: true` also takes the region mask (1x1xHxW), tiled with the image.
        """
        if self.meta.get("method_config", {}).get("masked"):
            if mask is None:
                raise RetouchError(f"Model {self.name} restores a region: give it a mask.")
            x = torch.cat([x, mask.to(x)], 1)
        _, _, h, w = x.shape
        s = self.scale
        tile = max(self.tile, self.multiple) // self.multiple * self.multiple
        if h <= tile and w <= tile:
            least = self.least
            return self._run(_pad_to(x, max(least, _ceil(h, self.multiple)), max(least, _ceil(w, self.multiple))))[:, :, : h * s, : w * s].cpu()
        x = _pad_to(x, max(h, tile), max(w, tile))
        H, W = x.shape[2:]
        overlap = min(self.overlap, tile // 4)  # a larger overlap than a quarter tile only multiplies tiles
        tops, lefts = _starts(H, tile, overlap), _starts(W, tile, overlap)
        acc = torch.zeros(1, 3, H * s, W * s, device=self.device)
        T = tile * s  # a tile's side in the output
        ramp_y = {t: _ramp(T, overlap * s, t > 0, t + tile < H).to(self.device) for t in tops}
        ramp_x = {l: _ramp(T, overlap * s, l > 0, l + tile < W).to(self.device) for l in lefts}
        # Tiles form a grid and each weight is a row ramp times a column ramp, so the total weight
        # is the product of two 1-D sums: no second image-sized buffer.
        norm_y, norm_x = torch.zeros(H * s, device=self.device), torch.zeros(W * s, device=self.device)
        for t, r in ramp_y.items():
            norm_y[t * s : t * s + T] += r
        for l, r in ramp_x.items():
            norm_x[l * s : l * s + T] += r
        boxes = [(t, l) for t in tops for l in lefts]
        batch = max(1, min(8, BATCH_PIXELS // T**2))
        for i in range(0, len(boxes), batch):
            chunk = boxes[i : i + batch]
            out = self._run(torch.cat([x[:, :, t : t + tile, l : l + tile] for t, l in chunk]))
            for (t, l), o in zip(chunk, out):
                acc[0, :, t * s : t * s + T, l * s : l * s + T].addcmul_(o, ramp_y[t][:, None] * ramp_x[l][None, :])
        for top in range(0, H * s, T):  # normalise in place, a band of rows at a time
            acc[:, :, top : top + T].div_(norm_y[top : top + T, None] * norm_x[None, :])
        return acc[:, :, : h * s, : w * s].cpu()

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.dtype):
            return self.net(x.to(self.device)).float().clamp_(-1, 1)


def _ceil(n: int, m: int) -> int:
    return -(-n // m) * m


def _pad_to(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Reflect-pad bottom/right to h x w (replicate where the image is too small to reflect)."""
    ph, pw = h - x.shape[2], w - x.shape[3]
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < x.shape[2] and pw < x.shape[3] else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile offsets covering [0, length) with at least `overlap` shared pixels; the last is flush."""
    stride = max(1, tile - overlap)
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def _ramp(tile: int, overlap: int, taper_start: bool, taper_end: bool) -> torch.Tensor:
    """Blending weights along one side of a tile.

    Where the tile meets a neighbour, its outer quarter of the overlap gets weight zero (those
    pixels saw the tile's padding, not the image) and the rest rises linearly; at the image's own
    border the weight stays one, so every pixel keeps a positive total weight.
    """
    r = torch.ones(tile)
    margin = overlap // 4
    edge = torch.cat([torch.zeros(margin), torch.arange(1, overlap - margin + 1, dtype=torch.float32) / (overlap - margin + 1)])
    if taper_start and overlap > 0:
        r[:overlap] = edge
    if taper_end and overlap > 0:
        r[-overlap:] = torch.minimum(r[-overlap:], edge.flip(0))
    return r


def load_translator(model: str, device: str = "auto", precision: str = "auto", tile: int | None = None, overlap: int = 32,
                    task: str = "translate", direction: str = "AtoB", arch: str | None = None, backend: str = BACKEND) -> Translator:
    """Load once per (model, device, precision, tiling, direction, backend): the Python API calls this on every image.

    `backend` is torch, a CPU runtime (`retouch.models.backends`: onnxruntime, openvino) or auto
    (the fastest here, timed once per model and kept).

    An unpaired model holds both generators; `direction` picks one. A paired model translates the
    one way it was trained, so only its default direction is accepted. Tiles are in input pixels;
    a super-resolution model's training size is its output crop, so its tiles are that (or
    FREE_TILE) over its scale, which keeps output tiles the same size. `arch` describes a reference
    .pth whose architecture its keys leave open (`retouch.models.foreign`).
    """
    backends.check_backend(backend)
    return _load_translator(model, device, precision, tile, overlap, task, direction, arch, backend, _stamp(model))


def _stamp(model: str) -> tuple[int, int] | None:
    """The weights file's modification time and size, in the cache key: a file written again under
    the same name (a run folder's model.safetensors as training goes on, a .pth saved again) is
    read again, not served stale from the cache. None where there is no file: loading says why."""
    try:
        st = resolve(model).stat()
    except (RetouchError, OSError):
        return None
    return st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=4)
def _load_translator(model: str, device: str, precision: str, tile: int | None, overlap: int, task: str, direction: str,
                     arch: str | None, backend: str, stamp: tuple[int, int] | None) -> Translator:
    # `stamp` is only part of the cache key (`_stamp`)
    dev = pick_device(device)
    net, meta = load_model(model, dev, arch, task=task)
    if meta["net"]["name"] == "twoway":
        net, meta = net.direction(direction), {**meta, "net": meta["net"]["generator"], "direction": direction}
    elif direction != "AtoB":
        raise RetouchError(f"Model {model} translates one way only; --direction {direction} needs an unpaired (two-way) model.")
    if tile is None:  # normalised nets need training-size tiles; without norms, tiles only bound memory
        tile = meta.get("size", 256) if meta["net"].get("norm", "none") != "none" else max(meta.get("size", 256), FREE_TILE)
        tile //= meta["net"].get("scale", 1)
    dtype = pick_precision(precision, dev)
    if backend == "auto":  # the fastest on this machine (torch at this precision or fp32, or a runtime), timed
        # once per model on a tile and cached; torch on a GPU (the runtimes here are CPU ones)
        side = min(tile, 256)
        backend, dtype = ("torch", dtype) if dev.type != "cpu" else backends.faster(
            net, meta, str(model), torch.zeros(1, meta["net"].get("in_channels", 3), side, side), dtype)
    if backend != "torch":
        if dev.type != "cpu":
            raise RetouchError(f"--backend {backend} runs on the CPU, not {dev.type}; use --backend torch there.")
        net, dtype = backends.runtime_net(backend, net, meta, dtype), torch.float32  # the runtime keeps its own precision
    return Translator(net, meta, model, dev, dtype, tile, overlap)
