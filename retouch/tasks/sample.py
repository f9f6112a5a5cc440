"""`retouch sample`: pairs of corresponding images from one latent draw each, from a coupled model.

CoGAN draws them from noise; a UNIT run decodes one draw of its shared latent (a unit Gaussian,
as its VAE training makes it) with each domain's generator. This is how the shared-latent family
is judged: neither model saw a pair, so whether one draw gives the same content in both domains
is the evidence that the latent space is shared.
"""

from __future__ import annotations

from pathlib import Path

import torch

from retouch.errors import RetouchError
from retouch.io import Provenance, save_image
from retouch.models.load import load_model

TASK = "sample-pairs"


@torch.inference_mode()
def sample_pairs(model: str | Path, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` pairs (A images, B images), each Nx3xHxW in [-1, 1], from noise seeded by `seed`."""
    if n < 1:
        raise RetouchError(f"-n must be at least 1, got {n}.")
    net, meta = load_model(model)
    gen = torch.Generator().manual_seed(seed)
    spec = meta["net"]
    if spec["name"] == "twoway" and spec["generator"]["name"] == "latent_path":
        # G_A is A's encoder then B's generator, G_B the reverse: each holds one domain's generator
        g = spec["generator"]
        side = meta["size"] // 2 ** g["n_down"]
        z = torch.randn(n, g["ngf"] * 2 ** g["n_down"], side, side, generator=gen)
        return net.G_B.dec(net.G_B.dec_shared(z)), net.G_A.dec(net.G_A.dec_shared(z))
    if meta.get("task") != TASK:
        raise RetouchError(f"Model {model} does the task {meta.get('task')!r} with a {spec['name']!r} net: sample draws pairs "
                           "from a CoGAN or UNIT run.")
    return net(torch.randn(n, spec["z_dim"], generator=gen))


def sample_sheet(model: str | Path, n: int, output: Path, seed: int = 0) -> list[Path]:
    """One row per draw, A | B, written with provenance."""
    a, b = sample_pairs(model, n, seed)
    sheet = torch.cat([torch.cat([a, b], 3)[i] for i in range(n)], 1)[None]
    save_image(sheet, output, Provenance(model=str(model), task=f"sample pairs (seed {seed}): A | B from one draw per row", regions=None))
    return [output]
