"""Datasets: aligned pairs for paired translation, decoded once and augmented deterministically.

Every random choice (crop offset, flip) is drawn from a generator seeded by the sample's position
in the training stream, not from a global RNG. A resumed run therefore sees exactly the batches an
uninterrupted one would, whatever the number of loader workers.
"""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset, Sampler

from retouch.errors import RetouchError
from retouch.io import IMAGE_EXTENSIONS, list_images, load_image

log = logging.getLogger(__name__)
PREPROCESS = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
DIRECTIONS = ("AtoB", "BtoA")
CACHE_LIMIT_BYTES = 3 * 2**30  # pre-decode sets up to this size; larger ones decode per item


@dataclass
class DataConfig:
    """Where the pairs are and how a training sample is cut from them."""

    root: str = ""
    split: str = "train"
    direction: str = "AtoB"
    preprocess: str = "resize_and_crop"
    size: int = 256  # the crop fed to the network
    # resize target before cropping; None = size * 286 / 256. On-the-fly (degrade) data: photos whose
    # short side is longer are shrunk to it once, aspect kept; None keeps them at full size.
    load_size: int | None = None
    flip: bool = True
    workers: int = 0  # loader processes; -1 = one per core but one (at most 8), for augmentation that costs CPU
    holdout: int = 0  # the last N pairs (natural name order) never train; `retouch eval --holdout` scores them
    # On-the-fly pairs from clean photos (no files written): a degradation spec such as
    # "mosaic:block=6-16" makes `root` (one folder or a list) a set of clean images.
    degrade: str = ""
    region: str = "box"  # where the degradation acts: "box" (random rectangle) or "full" (whole crop; SR pairs)
    region_size: list[int] = field(default_factory=lambda: [32, 112])  # box side range (pixels) inside the crop
    regions: list[int] = field(default_factory=lambda: [1, 1])  # how many boxes (range; 0 = some crops stay clean), each its own draw
    # Where key patches are cut (keypatch): "random" squares, or "cam": the squares where the
    # cifar10-classifier's activation map for the photo's class is strongest (retouch.patches)
    proposal: str = "random"
    # Degradations of the whole crop after the region's, what saving or re-encoding the file adds
    # (e.g. "jpeg:quality=40-95,p=0.8"): outside the region too, as in a real file; size-preserving.
    post: str = ""
    # On-the-fly pairs carry a `label`: the index here of the photo's folder name (a zip's
    # `train/<class>/...`, as CIFAR-10's), -1 for photos outside any of them (a colouriser's class
    # head learns from the labelled ones; pix2pix `class_head`)
    classes: list[str] = field(default_factory=list)

    def resolved_load_size(self) -> int:
        return self.load_size or round(self.size * 286 / 256)

    def resolved_workers(self) -> int:
        return self.workers if self.workers >= 0 else min(8, max(0, (os.cpu_count() or 1) - 1))


def make_dataset(cfg: DataConfig, train: bool = True) -> Dataset:
    """Paired files, or pairs made on the fly from clean photos when `cfg.degrade` is set."""
    return DegradedDataset(cfg, train) if cfg.degrade else PairedDataset(cfg, train)


def roots(cfg: DataConfig) -> list[Path]:
    """`cfg.root` as folders: one path, or a list of them (YAML)."""
    items = [cfg.root] if isinstance(cfg.root, (str, Path)) else list(cfg.root)
    if not items or not all(items):
        raise RetouchError("Say where the training images are with --data DIR (or data.root in the config).")
    return [Path(r) for r in items]


def split_dir(root: Path, split: str) -> Path:
    """`root/split` when it exists (the pix2pix layout), else `root` itself."""
    if not root.is_dir():
        raise RetouchError(f"Data folder {root} does not exist; pass a folder of paired images.")
    return root / split if (root / split).is_dir() else root


def _uint8(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.array(load_image(path))).permute(2, 0, 1).contiguous()


class PairedDataset(Dataset):
    """Aligned (input, target) pairs: AB side-by-side files, or parallel folders `A/` and `B/`.

    A `mask/` folder beside them (as `retouch data pairs` writes) adds a "mask" (1xHxW, {0, 1})
    to each item, cropped and flipped with the pair, for masked models.

    Items are requested as `(index, seed)`; the seed fixes the augmentation of that draw.
    """

    def __init__(self, cfg: DataConfig, train: bool = True, held_out: bool = False):
        if cfg.preprocess not in PREPROCESS:
            raise RetouchError(f"Unknown preprocess {cfg.preprocess!r}; use one of {', '.join(PREPROCESS)}.")
        if cfg.direction not in DIRECTIONS:
            raise RetouchError(f"Unknown direction {cfg.direction!r}; use AtoB or BtoA.")
        self.cfg, self.train = cfg, train
        folder = split_dir(roots(cfg)[0], cfg.split)
        self.masks = folder / "mask" if (folder / "mask").is_dir() else None
        if (folder / "A").is_dir() and (folder / "B").is_dir():
            self.paths_a = list_images(folder / "A")
            names_b = {p.name: p for p in list_images(folder / "B")}
            missing = [p.name for p in self.paths_a if p.name not in names_b]
            if missing:
                raise RetouchError(f"{len(missing)} files in {folder / 'A'} have no partner in B (e.g. {missing[0]}).")
            self.paths_b: list[Path] | None = [names_b[p.name] for p in self.paths_a]
        else:
            self.paths_a, self.paths_b = list_images(folder), None
        if cfg.holdout:
            self._hold_out(cfg.holdout, held_out)
        self._cache: list[tuple[torch.Tensor, ...]] | None = None
        first = self._read(0)
        if first[0].numel() * 2 * len(self) <= CACHE_LIMIT_BYTES:
            self._cache = [first] + [self._read(i) for i in range(1, len(self))]

    def _hold_out(self, n: int, held_out: bool) -> None:
        """Split off the last n pairs in natural order (frame 10 after frame 9): for sequences of
        frames, a contiguous tail leaks less into training than a random pick."""
        if not 0 < n < len(self.paths_a):
            raise RetouchError(f"--holdout {n} must be between 1 and {len(self.paths_a) - 1} for this folder.")
        order = sorted(range(len(self.paths_a)), key=lambda i: _natural_key(self.paths_a[i].name))
        keep = order[-n:] if held_out else order[:-n]
        self.paths_a = [self.paths_a[i] for i in keep]
        if self.paths_b is not None:
            self.paths_b = [self.paths_b[i] for i in keep]

    def __len__(self) -> int:
        return len(self.paths_a)

    def name(self, i: int) -> str:
        return self.paths_a[i].name

    def _read(self, i: int) -> tuple[torch.Tensor, ...]:
        """(input, target[, mask]) as uint8 CHW, in the configured direction; the mask is 1xHxW."""
        if self.paths_b is None:
            ab = _uint8(self.paths_a[i])
            if ab.shape[2] % 2:
                raise RetouchError(f"{self.paths_a[i]} has odd width; AB files hold A and B side by side.")
            w = ab.shape[2] // 2
            a, b = ab[:, :, :w], ab[:, :, w:]
        else:
            a, b = _uint8(self.paths_a[i]), _uint8(self.paths_b[i])
            if a.shape != b.shape:
                raise RetouchError(f"{self.paths_a[i].name}: A and B differ in size ({a.shape} vs {b.shape}).")
        pair = (a, b) if self.cfg.direction == "AtoB" else (b, a)
        if self.masks is None:
            return pair
        m = _uint8(self.masks / self.paths_a[i].name)[:1]
        if m.shape[1:] != a.shape[1:]:
            raise RetouchError(f"{self.paths_a[i].name}: the mask is {m.shape[2]}x{m.shape[1]} but the pair is {a.shape[2]}x{a.shape[1]}.")
        return (*pair, m)

    def pair(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole pair as float tensors in [-1, 1], 3xHxW, untouched (for evaluation)."""
        a, b, *_ = self._cache[i] if self._cache is not None else self._read(i)
        return _to_float(a), _to_float(b)

    def __getitem__(self, item: tuple[int, int] | int) -> dict:
        i, seed = item if isinstance(item, tuple) else (item, item)
        a, b, *m = self._cache[i] if self._cache is not None else self._read(i)
        gen = torch.Generator().manual_seed(seed)
        ab = _to_float(torch.cat([a, b, *m], 0))
        ab = augment(ab, self.cfg, gen if self.train else None)
        item = {"input": ab[:3], "target": ab[3:6], "index": i}
        if m:
            item["mask"] = (ab[6:] > 0).float()  # a resized mask is thresholded back to {0, 1}
        return item


class UnalignedDataset(Dataset):
    """Two unpaired domains, `<split>A/` and `<split>B/` (the CycleGAN layout), decoded once.

    Item i is A image i (mod |A|) and a B image drawn at random by the item's seed, so A and B are
    shuffled independently (the reference without `--serial_batches`) and a resumed run sees the
    same pairs. Each side gets its own crop and flip. Items hold "A", "B" and "index".

    With `degrade` set, `root` is one set of photos (folders or zips, as on-the-fly pairs read) and
    domain B is the degradation of them (e.g. `grey`): B's image is still another random photo's,
    so the two domains stay unpaired, but how they correspond is known and can be measured.
    """

    def __init__(self, cfg: DataConfig, train: bool = True):
        if cfg.preprocess not in PREPROCESS:
            raise RetouchError(f"Unknown preprocess {cfg.preprocess!r}; use one of {', '.join(PREPROCESS)}.")
        self.cfg, self.train = cfg, train
        self.degrade = None
        if cfg.degrade:
            from retouch.degrade import parse

            self.degrade = parse(cfg.degrade)
            named = [item for r in roots(cfg) for item in clean_images(r, cfg.split)]
            self.names = {side: [n for n, _ in named] for side in "AB"}
            self.images = {side: [im for _, im in named] for side in "AB"}
            return
        root = roots(cfg)[0]
        if not root.is_dir():
            raise RetouchError(f"Data folder {root} does not exist; pass a folder holding {cfg.split}A/ and {cfg.split}B/.")
        self.names, self.images = {}, {}
        for side in "AB":
            folder = root / f"{cfg.split}{side}"
            if not folder.is_dir():
                raise RetouchError(f"{root} has no {cfg.split}{side}/ folder; unpaired data needs {cfg.split}A/ and {cfg.split}B/.")
            paths = list_images(folder)
            self.names[side], self.images[side] = [p.name for p in paths], [_uint8(p) for p in paths]

    def __len__(self) -> int:
        return max(len(self.images["A"]), len(self.images["B"]))

    def name(self, i: int) -> str:
        return self.names["A"][i % len(self.names["A"])]

    def __getitem__(self, item: tuple[int, int] | int) -> dict:
        i, seed = item if isinstance(item, tuple) else (item, item)
        gen = torch.Generator().manual_seed(seed)
        n_b = len(self.images["B"])
        j = int(torch.randint(n_b, (), generator=gen)) if self.train else i % n_b
        draw = gen if self.train else None
        a = augment(_to_float(self.images["A"][i % len(self.images["A"])]), self.cfg, draw)
        b = augment(_to_float(self.images["B"][j]), self.cfg, draw)
        if self.degrade is not None:
            b = self.degrade.sample(draw or torch.Generator().manual_seed(seed))(b[None], None)[0]
            if b.shape != a.shape:
                raise RetouchError(f"data.degrade {self.cfg.degrade!r} changed the image's size; unpaired domains need size-preserving operators.")
        return {"A": a, "B": b, "index": i}


def augment(x: torch.Tensor, cfg: DataConfig, gen: torch.Generator | None) -> torch.Tensor:
    """Resize / crop / flip as the pix2pix reference does; with `gen` None (evaluation) the crop is
    centred and nothing flips. Paired data stacks input and target so both get the same draw."""
    mode = cfg.preprocess
    load = cfg.resolved_load_size()
    if mode == "resize_and_crop":
        x = _resize(x, load, load)
    elif mode.startswith("scale_width"):
        h, w = x.shape[1:]
        x = _resize(x, max(cfg.size, round(h * load / w)), load)
    if mode in ("resize_and_crop", "crop", "scale_width_and_crop"):
        x = _random_crop(x, cfg.size, gen)
    if mode == "none":
        h, w = x.shape[1:]
        x = _resize(x, max(4, h // 4 * 4), max(4, w // 4 * 4)) if (h % 4 or w % 4) else x
    if gen is not None and cfg.flip and torch.rand((), generator=gen) < 0.5:
        x = x.flip(-1)
    return x


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(127.5).sub_(1.0)


def _resize(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    if x.shape[1:] == (h, w):
        return x
    y = F.interpolate(x[None], size=(h, w), mode="bicubic", antialias=True, align_corners=False)[0]
    return y.clamp_(-1, 1)


def _random_crop(x: torch.Tensor, size: int, gen: torch.Generator | None) -> torch.Tensor:
    """A size x size crop; centred when `gen` is None. Smaller images are an error, not a pad."""
    h, w = x.shape[1:]
    if h < size or w < size:
        raise RetouchError(f"An image of {w}x{h} is smaller than the crop --size {size}; lower --size.")
    if gen is None:
        top, left = (h - size) // 2, (w - size) // 2
    else:
        top = int(torch.randint(0, h - size + 1, (), generator=gen))
        left = int(torch.randint(0, w - size + 1, (), generator=gen))
    return x[:, top : top + size, left : left + size]


class DegradedDataset(Dataset):
    """Clean photos from one or more folders (or zips), degraded on the fly inside a random region.

    Each item is a random crop, its degraded version (`input`), the region `mask` (1 = degraded)
    and the clean crop (`target`). Crop, flip, region and the operator's own parameters (block
    size, grid offset, ...) all come from the item's seed, so the stream is reproducible.
    `regions` boxes (a range; each box draws its own operator) make the region, and `post`
    degrades the whole crop after them (the saved file's compression).
    """

    def __init__(self, cfg: DataConfig, train: bool = True):
        from retouch.degrade import parse

        if cfg.region not in ("box", "full"):
            raise RetouchError(f"Unknown region {cfg.region!r}; use box or full.")
        lo, hi = cfg.region_size
        if cfg.region == "box" and not 1 <= lo <= hi <= cfg.size:
            raise RetouchError(f"region_size {lo}-{hi} must lie within 1 and the crop size {cfg.size}.")
        lo, hi = cfg.regions
        if not 0 <= lo <= hi:
            raise RetouchError(f"regions {lo}-{hi} must be a range of box counts with 0 <= lo <= hi.")
        self.cfg, self.train, self.family = cfg, train, parse(cfg.degrade)
        self.post = parse(cfg.post) if cfg.post else None
        named = [item for r in roots(cfg) for item in clean_images(r, cfg.split)]
        if cfg.load_size:
            named = [(name, _shrink(im, cfg.load_size)) for name, im in named]
        keep = [(name, im) for name, im in named if min(im.shape[1:]) >= cfg.size]
        if not keep:
            raise RetouchError(f"All {len(named)} images are smaller than the crop --size {cfg.size}; lower --size.")
        if len(keep) < len(named):  # a pool of photos: skip the few that cannot give a crop, and say so
            log.warning("skipping %d of %d images smaller than the %d px crop", len(named) - len(keep), len(named), cfg.size)
        self._names, self._images = [n for n, _ in keep], [im for _, im in keep]
        index = {c: i for i, c in enumerate(cfg.classes)}
        self._labels = [index.get(PurePosixPath(n).parent.name, -1) for n in self._names]
        if cfg.classes and max(self._labels) < 0:
            raise RetouchError(f"No photo lies in a folder named after data.classes ({', '.join(cfg.classes[:3])}, ...); "
                               "labels come from a zip's <split>/<class>/ folders.")

    def __len__(self) -> int:
        return len(self._images)

    def name(self, i: int) -> str:
        return self._names[i]

    def __getitem__(self, item: tuple[int, int] | int) -> dict:
        i, seed = item if isinstance(item, tuple) else (item, item)
        gen = torch.Generator().manual_seed(seed)
        size = self.cfg.size
        clean = _random_crop(_to_float(self._images[i]), size, gen if self.train else None)
        if self.train and self.cfg.flip and torch.rand((), generator=gen) < 0.5:
            clean = clean.flip(-1)
        mask = torch.zeros(1, 1, size, size)
        degraded = clean[None]
        if self.cfg.region == "full":
            # a full region acts on the whole crop: the same pixels, and size-changing operators
            # (downsample, for super-resolution pairs) work too
            mask[:] = 1
            degraded = self.family.sample(gen)(degraded, None)
        else:
            lo, hi = self.cfg.regions
            for _ in range(lo if lo == hi else int(torch.randint(lo, hi + 1, (), generator=gen))):
                box = self._box(gen)
                degraded = self.family.sample(gen)(degraded, box)
                mask = torch.maximum(mask, box)
        if self.post is not None:
            degraded = self.post.sample(gen)(degraded, None)
            if degraded.shape[2:] != clean.shape[1:]:
                raise RetouchError(f"data.post {self.cfg.post!r} changed the crop's size; use size-preserving operators there.")
        item = {"input": degraded[0], "mask": mask[0], "target": clean, "index": i}
        return {**item, "label": self._labels[i]} if self.cfg.classes else item

    def _box(self, gen: torch.Generator) -> torch.Tensor:
        """A random box of `region_size` sides inside the crop, as a 1x1xSxS mask."""
        size, (lo, hi) = self.cfg.size, self.cfg.region_size
        bh, bw = (int(v) for v in torch.randint(lo, hi + 1, (2,), generator=gen))
        top = int(torch.randint(0, size - bh + 1, (), generator=gen))
        left = int(torch.randint(0, size - bw + 1, (), generator=gen))
        box = torch.zeros(1, 1, size, size)
        box[..., top : top + bh, left : left + bw] = 1
        return box



def clean_images(root: Path, split: str) -> list[tuple[str, torch.Tensor]]:
    """(name, uint8 CHW image) for every photo of one source: a folder (its `split/` when it has
    one), or a zip such as CIFAR-10's, whose images under `split/` (any depth) are read from memory
    without unpacking 60,000 files."""
    if root.suffix.lower() == ".zip" and root.is_file():
        with zipfile.ZipFile(root) as z:
            names = sorted(n for n in z.namelist()
                           if n.startswith(f"{split}/") and Path(n).suffix.lower() in IMAGE_EXTENSIONS and not Path(n).name.startswith("."))
            if not names:
                raise RetouchError(f"{root} holds no images under '{split}/'; check data.split.")
            return [(n, _decoded(z.read(n))) for n in names]
    return [(p.name, _uint8(p)) for p in list_images(split_dir(root, split))]


def _decoded(blob: bytes) -> torch.Tensor:
    with Image.open(io.BytesIO(blob)) as im:
        return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).contiguous()


def _shrink(x: torch.Tensor, side: int) -> torch.Tensor:
    """uint8 CHW with its short side brought down to `side` (aspect kept); smaller images stay as
    they are. Why: crops of a shrunk photo hold whole scenes, as CIFAR-10's 32 px objects do."""
    from retouch.degrade import shrink

    if min(x.shape[1:]) <= side:
        return x
    return shrink(_to_float(x)[None], side)[0].add_(1).mul_(127.5).round_().to(torch.uint8)


class StreamSampler(Sampler):
    """An endless stream of (index, seed): a fresh permutation per epoch, resumable at any step.

    Position p of the stream is always the same item with the same augmentation seed, so
    starting at `start` reproduces the tail of an uninterrupted stream exactly.

    On many processes the stream is cut into global batches of `global_batch` positions, and rank
    `rank` of `world` takes its contiguous slice of each (positions `rank * b` to `(rank + 1) * b`
    of the batch, `b = global_batch // world`): together the ranks see what one process with the
    global batch sees, whatever their number. `start` must then be a multiple of `global_batch`.
    """

    def __init__(self, n: int, seed: int, start: int = 0, rank: int = 0, world: int = 1, global_batch: int = 1):
        self.n, self.seed, self.start = n, seed, start
        self.rank, self.world, self.global_batch = rank, world, global_batch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        local = self.global_batch // self.world
        p = self.start
        while True:
            epoch, offset = divmod(p, self.n)
            perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
            for q in range(offset, self.n):
                if self.world == 1 or (epoch * self.n + q) % self.global_batch // local == self.rank:
                    yield int(perm[q]), self.seed * 1_000_000_007 + epoch * self.n + q
            p = (epoch + 1) * self.n
