"""Class activation maps (Zhou et al. 2016): where a global-pool classifier sees a class.

For a network whose logits are `fc(mean over positions of features(x))`, the map
`fc.weight[c] . features(x)` at each position is the evidence for class c there; its spatial mean
plus `fc.bias[c]` is the logit. Upsampled to the image and scaled to [0, 1], its high part is the
object: the region is the connected part above a fraction of the peak that contains the peak.

A classifier trained on 32x32 CIFAR-10 images sees objects about 20-32 px across, so a photo is
first shrunk until its short side is `SHORT_SIDE` pixels (never enlarged): objects that fill a
third of a photo then come out near training scale (see docs/benchmarks.md for the measurement).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from skimage.measure import label
from torch import nn

from retouch.errors import RetouchError
from retouch.io import to_pil, to_tensor

#: heat above this fraction of the range (min -> 0, peak -> 1) belongs to the region
THRESHOLD = 0.5
#: photos are shrunk to this short side before the 32x32-trained classifier looks at them
SHORT_SIDE = 96
DEFAULT_MODEL = "cifar10-classifier"


def cam(net: nn.Module, x: torch.Tensor, cls: int | None = None, size: tuple[int, int] | None = None) -> tuple[torch.Tensor, int]:
    """The class activation map of `x` (1x3xHxW) as an HxW map in [0, 1], and the class it is for.

    `cls` None takes the class the network predicts. `size` (h, w) upsamples to another size than
    the input's (the photo a shrunk input came from). `net` needs `features(x)` and a linear `fc`.
    """
    with torch.no_grad():
        feats = net.features(x).float()
        if cls is None:
            cls = int(net.fc(feats.mean(dim=(2, 3))).argmax(1)[0])
        raw = torch.einsum("k,nkhw->nhw", net.fc.weight[cls].float(), feats)[:, None]
        heat = F.interpolate(raw, size=size or x.shape[2:], mode="bilinear", align_corners=False)[0, 0]
    lo, hi = heat.min(), heat.max()
    return (heat - lo) / (hi - lo).clamp(min=1e-12), cls


def peak(heat: torch.Tensor) -> tuple[int, int]:
    """(x, y) of the highest response."""
    y, x = divmod(int(heat.argmax()), heat.shape[1])
    return x, y


def region(heat: torch.Tensor, threshold: float = THRESHOLD) -> torch.Tensor:
    """Boolean HxW mask: the 8-connected part of `heat >= threshold * max` that contains the peak.

    Only the peak's component, so a second, weaker blob elsewhere does not stretch the box.
    """
    if not 0 <= threshold <= 1:
        raise RetouchError(f"threshold {threshold} must be a fraction of the peak, between 0 and 1.")
    above = (heat >= threshold * heat.max()).cpu().numpy()
    labels = label(above, connectivity=2)
    px, py = peak(heat)
    return torch.from_numpy(labels == labels[py, px])


def box(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the smallest rectangle holding every True pixel of `mask`."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    if len(xs) == 0:
        raise ValueError("an empty mask has no box")
    x0, y0 = int(xs.min()), int(ys.min())
    return x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1


def blend(image: torch.Tensor, heat: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """`image` (1x3xHxW in [-1, 1]) with the heat map in the jet colour map laid over it, same range."""
    from matplotlib import colormaps

    colour = torch.from_numpy(colormaps["jet"](heat.cpu().numpy())[..., :3]).float().permute(2, 0, 1)[None]
    return (1 - alpha) * image + alpha * (colour * 2 - 1)


def overlay(image: torch.Tensor | Image.Image, heat: torch.Tensor, alpha: float = 0.5) -> Image.Image:
    """The heat map blended over the photo, as an RGB PIL image of the photo's size."""
    x = to_tensor(image) if isinstance(image, Image.Image) else image
    return to_pil(blend(x, heat, alpha))


def load_classifier(model: str = DEFAULT_MODEL) -> tuple[nn.Module, list[str]]:
    """The classifier (eval mode, CPU) and its class names, loaded again only when its file changes."""
    from retouch.models.load import resolve

    path = resolve(model)
    return _load_classifier(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load_classifier(path: str, mtime_ns: int) -> tuple[nn.Module, list[str]]:
    from retouch.models.load import load_model

    net, meta = load_model(path, task="classify", hint="class activation maps need a classifier")
    return net, list(meta["classes"])


def class_index(cls: str | int | None, classes: list[str]) -> int | None:
    """A class name or index as an index into `classes` (None stays None: the predicted class)."""
    if cls is None:
        return None
    if isinstance(cls, str) and not cls.isdigit():
        if cls not in classes:
            raise RetouchError(f"Unknown class {cls!r}; the model knows {', '.join(classes)}.")
        return classes.index(cls)
    if not 0 <= int(cls) < len(classes):
        raise RetouchError(f"Class index {cls} is out of range; the model has {len(classes)} classes.")
    return int(cls)


def working_scale(image: torch.Tensor, short_side: int = SHORT_SIDE) -> torch.Tensor:
    """`image` shrunk (antialiased) so its short side is `short_side`; smaller images, or any with
    `short_side` 0, stay as they are."""
    h, w = image.shape[2:]
    s = short_side / min(h, w)
    if not short_side or s >= 1:
        return image
    size = (max(1, round(h * s)), max(1, round(w * s)))
    return F.interpolate(image, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(-1, 1)


def heat_map(image: torch.Tensor, model: str = DEFAULT_MODEL, cls: str | int | None = None,
             short_side: int = SHORT_SIDE) -> tuple[torch.Tensor, str]:
    """The CAM of `image` (1x3xHxW in [-1, 1]) at the image's resolution, and the class it shows.

    The classifier runs on the image shrunk to `short_side` (see the module docstring); the map
    is scaled back up to HxW.
    """
    if image.dim() != 4 or image.shape[:2] != (1, 3):
        raise RetouchError(f"Expected one RGB image as a 1x3xHxW tensor, got shape {tuple(image.shape)}.")
    net, classes = load_classifier(model)
    heat, c = cam(net, working_scale(image.float().cpu(), short_side), class_index(cls, classes), size=image.shape[2:])
    return heat, classes[c]


def locate_box(image: torch.Tensor, model: str = DEFAULT_MODEL, cls: str | int | None = None) -> tuple[int, int, int, int]:
    """(x, y, w, h) in image pixels of the region where `model` sees class `cls` (default: its prediction)."""
    heat, _ = heat_map(image, model, cls)
    return box(region(heat))


def locate_file(path: Path, output: Path, model: str = DEFAULT_MODEL, cls: str | int | None = None) -> tuple[tuple[int, int, int, int], str]:
    """Read an image, write its CAM overlay with the box drawn in white, return the box and the class."""
    from PIL import ImageDraw

    from retouch.io import Provenance, read_image, save_image

    image = read_image(path)
    heat, name = heat_map(image, model, cls)
    x, y, w, h = box(region(heat))
    im = overlay(image, heat)
    ImageDraw.Draw(im).rectangle([x, y, x + w - 1, y + h - 1], outline=(255, 255, 255), width=max(1, min(im.size) // 150))
    save_image(im, output, Provenance(model=model, task=f"class activation map of {name!r} over the photo", regions=[]))
    return (x, y, w, h), name
