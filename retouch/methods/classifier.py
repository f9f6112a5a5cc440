"""Image classification with a global-average-pooling ResNet, the network class activation maps need.

Trained with SGD (Nesterov momentum) and a one-cycle-like schedule (linear warm-up, then
`train.decay_start` as the point where the linear decay to zero begins), which reaches a given
accuracy in far fewer epochs than Adam on small ResNets. Data are labelled images: the CIFAR-10
zip (`train/<class>/*.jpg`, `test/<class>/*.jpg`) or a folder with one subfolder per class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from retouch.data import DataConfig, _random_crop, _to_float
from retouch.device import conv_memory_format
from retouch.errors import RetouchError
from retouch.io import list_images, load_image
from retouch.labelled import CIFAR10_CLASSES, LabelledImages
from retouch.methods.base import Method, linear_decay, register


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





