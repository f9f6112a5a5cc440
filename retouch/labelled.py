"""Labelled images: the CIFAR-10 zip, or folders with one subfolder (or one folder) per class.

Classifiers, the GAN prior, key patches and TD-GAN all read them; decoded once into one uint8
tensor, augmented per item from a seed so that a resumed run sees the same batches.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from retouch.data import DataConfig, _to_float, split_dir
from retouch.errors import RetouchError
from retouch.io import IMAGE_EXTENSIONS, list_images, load_image

UNLABELLED = ""  # the class key of photos outside any class folder (`LabelledImages(unlabelled=True)`): label -1
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class LabelledImages(Dataset):
    """Labelled images decoded once to a uint8 N x 3 x size x size tensor (CIFAR-10 train: 150 MB).

    `data.root` is a `.zip` holding `<split>/<class>/<image>`, or a folder holding `<class>/<image>`
    (or `<split>/<class>/<image>`), labels indexing the sorted class names; or a list of folders,
    folder i holding class i (name them in `model.classes`). Images not of the training
    size are resized (short side) and centre-cropped to it. Training items are random crops of the
    image padded by reflection to `data.load_size` (e.g. 40 for 32: 4 px each side) and random
    flips, drawn from a generator seeded by the item's seed, so a resumed run sees the same batches.

    With `unlabelled`, a folder of photos without class folders is read too, every label -1
    (unknown): for methods that learn from the photos alone (key patches), where asking for class
    folders would only stand between a user's photos and training.
    """

    def __init__(self, data: DataConfig, train: bool = True, unlabelled: bool = False):
        if not data.root:
            raise RetouchError("Say where the labelled images are with --data (a .zip or a folder of class folders).")
        self.size, self.train, self.flip = data.size, train, data.flip
        self.pad = max(0, (data.resolved_load_size() - data.size) // 2)
        if isinstance(data.root, (list, tuple)):
            files = _listed_files([Path(r) for r in data.root])
        else:
            root = Path(data.root)
            files = _zip_files(root, data.split) if root.suffix == ".zip" else _folder_files(root, data.split, unlabelled)
        self.classes = [c for c in files if c != UNLABELLED]
        decoded = [(self._decode(read()), -1 if c == UNLABELLED else label) for label, c in enumerate(files) for read in files[c]]
        self.images = torch.stack([im for im, _ in decoded])
        self.labels = torch.tensor([label for _, label in decoded])

    def _decode(self, im: Image.Image) -> torch.Tensor:
        if im.size != (self.size, self.size):
            im = ImageOps.fit(im, (self.size, self.size), Image.BICUBIC)
        return torch.from_numpy(np.array(im)).permute(2, 0, 1).contiguous()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, item: tuple[int, int] | int) -> dict:
        i, seed = item if isinstance(item, tuple) else (item, item)
        x = _to_float(self.images[i])
        if self.train:
            gen = torch.Generator().manual_seed(seed)
            if self.pad:
                x = F.pad(x[None], [self.pad] * 4, mode="reflect")[0]
                top, left = (int(v) for v in torch.randint(0, 2 * self.pad + 1, (2,), generator=gen))
                x = x[:, top : top + self.size, left : left + self.size]
            if self.flip and torch.rand((), generator=gen) < 0.5:
                x = x.flip(-1)
        return {"image": x, "label": self.labels[i], "index": i}


def _zip_files(path: Path, split: str) -> dict[str, list]:
    """Class name -> readers of that class's images under `split/` in the zip (read once, kept in memory)."""
    if not path.is_file():
        raise RetouchError(f"{path} does not exist; pass the CIFAR-10 zip (or a folder of class folders).")
    with zipfile.ZipFile(path) as z:
        raw: dict[str, list[bytes]] = {}
        for name in sorted(z.namelist()):
            parts = name.split("/")
            if len(parts) == 3 and parts[0] == split and Path(parts[2]).suffix.lower() in IMAGE_EXTENSIONS:
                raw.setdefault(parts[1], []).append(z.read(name))
    if len(raw) < 2:
        raise RetouchError(f"{path} has no '{split}/<class>/<image>' entries for two or more classes; check --split.")
    return {c: [lambda b=b: Image.open(io.BytesIO(b)).convert("RGB") for b in blobs] for c, blobs in raw.items()}


def _listed_files(folders: list[Path]) -> dict[str, list]:
    """One class per folder, in the order given (e.g. the two domains trainA, trainB of unpaired data)."""
    if len(folders) < 2:
        raise RetouchError("A list of class folders needs two or more folders.")
    for folder in folders:
        if not folder.is_dir():
            raise RetouchError(f"Class folder {folder} does not exist.")
    return {str(f): [lambda p=p: load_image(p) for p in list_images(f)] for f in folders}


def _folder_files(root: Path, split: str, unlabelled: bool = False) -> dict[str, list]:
    """Class name -> readers of its images; with `unlabelled`, a folder with no class folders is
    one set of photos under the key `UNLABELLED`."""
    folder = split_dir(root, split)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if unlabelled and not classes:
        return {UNLABELLED: [lambda p=p: load_image(p) for p in list_images(folder)]}
    if len(classes) < 2:
        raise RetouchError(f"{folder} needs one subfolder per class (two or more); found {len(classes)}.")
    return {c: [lambda p=p: load_image(p) for p in list_images(folder / c)] for c in classes}
