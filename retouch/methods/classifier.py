"""Image classification with a global-average-pooling ResNet, the network class activation maps need.

Trained with SGD (Nesterov momentum) and a one-cycle-like schedule (linear warm-up, then
`train.decay_start` as the point where the linear decay to zero begins), which reaches a given
accuracy in far fewer epochs than Adam on small ResNets. Data are labelled images: the CIFAR-10
zip (`train/<class>/*.jpg`, `test/<class>/*.jpg`) or a folder with one subfolder per class.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from retouch.data import DataConfig, _random_crop, _to_float, split_dir
from retouch.device import conv_memory_format
from retouch.errors import RetouchError
from retouch.io import IMAGE_EXTENSIONS, list_images, load_image
from retouch.methods import Method, linear_decay, register

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@dataclass
class ClassifierConfig:
    """Network size and optimiser; `classes` names the labels in sorted-folder order (CIFAR-10 by default)."""

    classes: list[str] = field(default_factory=lambda: list(CIFAR10_CLASSES))
    width: int = 32  # channels of the first stage; each later stage doubles it
    blocks: list[int] = field(default_factory=lambda: [1, 1, 1])  # basic blocks per stage
    lr: float = 0.2  # peak learning rate
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup: float = 0.15  # fraction of steps with a linear warm-up from 0
    label_smoothing: float = 0.1
    # Copy-paste localisation: each step also pastes `paste_batch` of the batch's images, shrunk to
    # `paste_sizes` px, at random places on crops of photos in `background`, and trains them with the
    # same labels. Photos then stop being evidence for a class (sky for airplane, water for ship), and
    # class activation maps peak on the object rather than on its usual surroundings.
    background: list[str] = field(default_factory=list)  # folders of photos without the classes' objects in focus
    background_scales: list[int] = field(default_factory=lambda: [64, 96, 128])  # photo short sides crops come from
    paste_batch: int = 64  # pasted canvases per step
    paste_canvas: int = 64  # side of each canvas (a crop of a background photo)
    paste_sizes: list[int] = field(default_factory=lambda: [20, 40])  # smallest and largest pasted side
    paste_weight: float = 1.0


def warmup_then_decay(steps: int, warmup: float, decay_start: float):
    """Linear warm-up over the first `warmup` of training, constant, then linear to zero from `decay_start`."""
    decay, ramp = linear_decay(steps, decay_start), max(1, int(steps * warmup))

    def factor(step: int) -> float:
        return min(1.0, (step + 1) / ramp) * decay(step)

    return factor


@register
class Classifier(Method):
    Config = ClassifierConfig
    inference_net = "net"
    task = "classify"

    def __init__(self, cfg: ClassifierConfig, device: torch.device, dtype: torch.dtype, size: int, steps: int, decay_start: float):
        super().__init__(cfg, device, dtype)
        if len(cfg.classes) < 2:
            raise RetouchError("A classifier needs at least two classes in model.classes.")
        spec = {"name": "resnet_gap", "num_classes": len(cfg.classes), "width": cfg.width, "blocks": list(cfg.blocks),
                "in_channels": 3, "init": "kaiming"}
        self.memory_format = conv_memory_format(device)
        self.add_net("net", spec, self.memory_format)
        opt = torch.optim.SGD(self.nets["net"].parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                              weight_decay=cfg.weight_decay)
        self.optimizers["net"] = opt
        self.schedulers["net"] = torch.optim.lr_scheduler.LambdaLR(opt, warmup_then_decay(steps, cfg.warmup, decay_start))
        lo, hi = cfg.paste_sizes
        if cfg.background and not 1 <= lo <= hi <= cfg.paste_canvas:
            raise RetouchError(f"model.paste_sizes {cfg.paste_sizes} must be [smallest, largest] within 1 and paste_canvas {cfg.paste_canvas}.")
        self.backgrounds = background_photos(cfg.background, cfg.background_scales, cfg.paste_canvas) if cfg.background else []

    @classmethod
    def dataset(cls, data: DataConfig, train: bool = True) -> "LabelledImages":
        return LabelledImages(data, train)

    def _inputs(self, batch: dict) -> torch.Tensor:
        return batch["image"].to(self.device, memory_format=self.memory_format)

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        net = self.nets["net"]
        y = batch["label"].to(self.device)
        with self.autocast():
            logits = net(self._inputs(batch)).float()
        loss = F.cross_entropy(logits, y, label_smoothing=self.cfg.label_smoothing)
        if self.backgrounds:
            canvases, labels = self._pasted_batch(batch)
            with self.autocast():
                pasted = net(canvases).float()
            loss = loss + self.cfg.paste_weight * F.cross_entropy(pasted, labels, label_smoothing=self.cfg.label_smoothing)
        self.update("net", loss)
        self.advance()
        return {"loss": loss.detach(), "acc": (logits.argmax(1) == y).float().mean().detach()}

    def _pasted_batch(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's first `paste_batch` images, each shrunk and pasted on a background crop.

        Crops, sizes and places are drawn from the step number, so a resumed run pastes the same."""
        cfg = self.cfg
        gen = torch.Generator().manual_seed(1_000_003 + self.schedulers["net"].last_epoch)
        draw = lambda n: int(torch.randint(n, (), generator=gen))  # noqa: E731
        images, labels = batch["image"][: cfg.paste_batch], batch["label"][: cfg.paste_batch]
        canvases = []
        for obj in images:
            im = self.backgrounds[draw(len(self.backgrounds))]
            canvas = _to_float(_random_crop(im, cfg.paste_canvas, gen))
            side = cfg.paste_sizes[0] + draw(cfg.paste_sizes[1] - cfg.paste_sizes[0] + 1)
            small = F.interpolate(obj[None].float(), size=(side, side), mode="bilinear", antialias=True, align_corners=False)
            y, x = draw(cfg.paste_canvas - side + 1), draw(cfg.paste_canvas - side + 1)
            canvas[:, y : y + side, x : x + side] = small[0].clamp(-1, 1)
            canvases.append(canvas)
        return torch.stack(canvases).to(self.device, memory_format=self.memory_format), labels.to(self.device)

    @torch.no_grad()
    def sample(self, batch: dict) -> torch.Tensor:
        """Rows of image | CAM of the predicted class over it, enlarged 4x to be visible."""
        from retouch.locate.cam import blend, cam

        net = self.nets["net"]
        net.eval()
        rows = []
        for x in self._inputs(batch).float().contiguous():
            heat, _ = cam(net, x[None])
            rows.append(torch.cat([x[None].cpu(), blend(x[None].cpu(), heat.cpu())], dim=3))
        net.train()
        return F.interpolate(torch.cat(rows), scale_factor=4, mode="nearest")

    def export(self) -> tuple[torch.nn.Module, dict]:
        net, meta = super().export()
        return net, {**meta, "classes": list(self.cfg.classes)}


class LabelledImages(Dataset):
    """Labelled images decoded once to a uint8 N x 3 x size x size tensor (CIFAR-10 train: 150 MB).

    `data.root` is a `.zip` holding `<split>/<class>/<image>`, or a folder holding `<class>/<image>`
    (or `<split>/<class>/<image>`), labels indexing the sorted class names; or a list of folders,
    folder i holding class i (name them in `model.classes`). Images not of the training
    size are resized (short side) and centre-cropped to it. Training items are random crops of the
    image padded by reflection to `data.load_size` (e.g. 40 for 32: 4 px each side) and random
    flips, drawn from a generator seeded by the item's seed, so a resumed run sees the same batches.
    """

    def __init__(self, data: DataConfig, train: bool = True):
        if not data.root:
            raise RetouchError("Say where the labelled images are with --data (a .zip or a folder of class folders).")
        self.size, self.train, self.flip = data.size, train, data.flip
        self.pad = max(0, (data.resolved_load_size() - data.size) // 2)
        if isinstance(data.root, (list, tuple)):
            files = _listed_files([Path(r) for r in data.root])
        else:
            root = Path(data.root)
            files = _zip_files(root, data.split) if root.suffix == ".zip" else _folder_files(root, data.split)
        self.classes = list(files)
        decoded = [(self._decode(read()), label) for label, c in enumerate(self.classes) for read in files[c]]
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


def background_photos(folders: list[str], scales: list[int], size: int) -> list[torch.Tensor]:
    """Every photo in `folders` shrunk (antialiased) to each short side in `scales`, as uint8 3xHxW."""
    paths = [p for folder in folders for p in list_images(Path(folder))]
    if not paths:
        raise RetouchError(f"No images in model.background {folders}.")
    out = []
    for path in paths:
        im = load_image(path)
        for side in scales:
            s = max(side, size) / min(im.size)
            small = im.resize((max(size, round(im.width * s)), max(size, round(im.height * s))), Image.LANCZOS)
            out.append(torch.from_numpy(np.array(small)).permute(2, 0, 1).contiguous())
    return out


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


def _folder_files(root: Path, split: str) -> dict[str, list]:
    folder = split_dir(root, split)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise RetouchError(f"{folder} needs one subfolder per class (two or more); found {len(classes)}.")
    return {c: [lambda p=p: load_image(p) for p in list_images(folder / c)] for c in classes}
