"""`retouch complete`: a whole object drawn from a few key patches of it, with where they go.

The patches are image files (any size: each is resized to `patch` px, the side the model's
patches were cut at in training, 8 by default); their order does not matter. Each is pasted at
its most likely place and the rest is drawn around them. The output is the completion beside the
same image lit where the model believes the patches go (its placement mask), at the model's size.
Everything outside the patches is invented.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from retouch.errors import RetouchError
from retouch.io import Provenance, read_image, save_image
from retouch.methods.keypatch import lit
from retouch.models.load import load_model

TASK = "complete"


@torch.inference_mode()
def complete(patches: list[torch.Tensor], model: str | Path, patch: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(completion 1x3xSxS, placement probabilities 1x1xSxS) from 1x3xHxW patches."""
    if not patches:
        raise RetouchError("Give one or more patch images.")
    net, meta = load_model(model, task=TASK, hint="complete takes a keypatch run")
    stack = torch.cat([F.interpolate(p, size=(patch, patch), mode="bicubic", antialias=True).clamp(-1, 1) for p in patches])
    z = torch.randn(1, net.z_dim, generator=torch.Generator().manual_seed(seed))
    image, mask, _ = net(stack[None], z)
    return image, mask


def complete_files(sources: list[Path], output: Path, model: str | Path, patch: int = 8, seed: int = 0) -> list[Path]:
    image, mask = complete([read_image(p) for p in sources], model, patch, seed)
    save_image(torch.cat([image, lit(image, mask)], 3), output,
               Provenance(model=str(model), task=f"complete from {len(sources)} patches: completion | placement (invented)", regions=None))
    return [output]
