"""`retouch sample`: pairs of corresponding images from a coupled model (CoGAN), one noise draw each.

This is how CoGAN is judged: it never saw a pair, so whether one draw gives the same content in
both domains is the evidence that the shared layers learnt a shared latent space.
"""

from __future__ import annotations

from pathlib import Path

import torch

from retouch.errors import RetouchError
from retouch.io import Provenance, save_image
from retouch.zoo import load_model

TASK = "sample-pairs"


@torch.inference_mode()
def sample_pairs(model: str | Path, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` pairs (A images, B images), each Nx3xHxW in [-1, 1], from noise seeded by `seed`."""
    if n < 1:
        raise RetouchError(f"-n must be at least 1, got {n}.")
    net, meta = load_model(model)
    if meta.get("task") != TASK:
        raise RetouchError(f"Model {model} does the task {meta.get('task')!r}, not {TASK!r}: sample draws pairs from a CoGAN run.")
    z = torch.randn(n, meta["net"]["z_dim"], generator=torch.Generator().manual_seed(seed))
    return net(z)


def sample_sheet(model: str | Path, n: int, output: Path, seed: int = 0) -> list[Path]:
    """One row per draw, A | B, written with provenance."""
    a, b = sample_pairs(model, n, seed)
    sheet = torch.cat([torch.cat([a, b], 3)[i] for i in range(n)], 1)[None]
    save_image(sheet, output, Provenance(model=str(model), task=f"sample pairs (seed {seed}): A | B from one draw per row", regions=None))
    return [output]
