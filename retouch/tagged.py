"""A tagged image set whose tags can be measured: real photos under known, controllable factors.

TD-GAN's paper re-renders chairs from multi-view CAD renders, where identity, viewpoint and
lighting are known. Those renders cannot be had offline here, so this is the stand-in: each real
photo (CIFAR-10, its class the identity) is *rendered* under four tags whose every value is an
exact operation on the photo,

| tag | values | operation |
|---|---|---|
| viewpoint | original, mirrored | horizontal mirror (the horizontal viewpoint) |
| rotation | 0, 90, 180, 270 | in-plane rotation, counter-clockwise |
| lighting | dark, normal, bright | brightness: values pulled towards black or white by 40% |
| temperature | warm, neutral, cool | colour temperature: red up and blue down (warm) or the reverse |

so the image a re-render *should* give is known, and a re-render's tags can be measured: the value
of each tag is the one whose rendering of the source photo lies nearest to the output.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from retouch.errors import RetouchError

TAGS: dict[str, tuple[str, ...]] = {
    "viewpoint": ("original", "mirrored"),
    "rotation": ("0", "90", "180", "270"),
    "lighting": ("dark", "normal", "bright"),
    "temperature": ("warm", "neutral", "cool"),
}
NAMES = tuple(TAGS)
CANONICAL = (0, 0, 1, 1)  # original, 0, normal, neutral: the photo as it is
LIGHT = 0.4  # share of the way to black (dark) or white (bright)
SHIFT = 0.25  # red/blue shift of the temperature tag, on the [-1, 1] scale


def render(x: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
    """Photos (Nx3xHxW, square, in [-1, 1]) under tag values (NxT indices into `TAGS`), per image."""
    out = []
    for image, (view, rot, light, temp) in zip(x, tags.tolist()):
        y = image.flip(-1) if view else image
        y = torch.rot90(y, rot, (1, 2))
        if light != 1:
            end = -1.0 if light == 0 else 1.0
            y = y + LIGHT * (end - y)
        if temp != 1:
            sign = 1.0 if temp == 0 else -1.0
            y = y + torch.tensor([sign * SHIFT, 0.0, -sign * SHIFT]).view(3, 1, 1)
        out.append(y.clamp(-1, 1))
    return torch.stack(out)


def measure(output: torch.Tensor, source: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
    """The tag values an output shows (NxT): for each tag, the value whose rendering of the source
    photo (its other tags as in `tags`) lies nearest to the output in mean absolute difference."""
    measured = tags.clone()
    for t, values in enumerate(TAGS.values()):
        distances = []
        for v in range(len(values)):
            candidate = tags.clone()
            candidate[:, t] = v
            distances.append((render(source, candidate) - output).abs().mean((1, 2, 3)))
        measured[:, t] = torch.stack(distances, 1).argmin(1)
    return measured


def parse_setting(text: str) -> tuple[int, int]:
    """'viewpoint=mirrored' to (tag index, value index); a clear error for anything else."""
    name, _, value = text.partition("=")
    if name not in TAGS:
        raise RetouchError(f"Unknown tag {name!r} in --set {text!r}; tags: {', '.join(NAMES)}.")
    if value not in TAGS[name]:
        raise RetouchError(f"Tag {name} takes {', '.join(TAGS[name])}, not {value!r}.")
    return NAMES.index(name), TAGS[name].index(value)


def draw_tags(n: int, gen: torch.Generator) -> torch.Tensor:
    """n random tag settings (NxT), each value uniform."""
    return torch.stack([torch.randint(len(v), (n,), generator=gen) for v in TAGS.values()], 1)


def change_one(tags: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each row with one tag, drawn at random, set to another of its values: a re-render request."""
    new = tags.clone()
    for row in new:
        t = int(torch.randint(len(NAMES), (), generator=gen))
        n = len(TAGS[NAMES[t]])
        row[t] = (row[t] + 1 + int(torch.randint(n - 1, (), generator=gen))) % n
    return new


class TaggedImages(Dataset):
    """Labelled photos (a CIFAR-10 zip or class folders, as `classifier` reads them) rendered under
    random tags. Item: "A" the photo under tags "tags", "B" the same photo under "new_tags" (one
    tag changed: what a re-render of A asked for that should give), "label", "index"."""

    def __init__(self, data, train: bool = True):
        from dataclasses import replace

        from retouch.labelled import LabelledImages

        self.photos = LabelledImages(replace(data, flip=False, load_size=data.size), train=False)
        self.train = train

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, item: tuple[int, int] | int) -> dict:
        i, seed = item if isinstance(item, tuple) else (item, item)
        gen = torch.Generator().manual_seed(seed)
        photo = self.photos[i]
        tags = draw_tags(1, gen)
        new = change_one(tags, gen)
        pair = render(photo["image"][None].expand(2, -1, -1, -1), torch.cat([tags, new]))
        return {"A": pair[0], "B": pair[1], "tags": tags[0], "new_tags": new[0], "label": photo["label"], "index": i}
