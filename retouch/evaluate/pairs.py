"""`retouch eval-pairs`: does one noise draw of a CoGAN give *corresponding* images?

CoGAN never sees a pair, so correspondence is the claim to check. When domain B was made from
photos by a known operator (data.degrade, e.g. `grey`, recorded in the weights), applying that
operator to the A sample predicts what the B sample should be. The score is PSNR/SSIM between
degrade(A_i) and B_i, against the same with B drawn from another noise (B_j, j != i): pairs that
correspond score far above random ones; independent GANs would score the same on both.
"""

from __future__ import annotations

from pathlib import Path

import torch

from retouch.degrade import parse
from retouch.errors import RetouchError
from retouch.metrics import mean_metrics, psnr, ssim
from retouch.models.load import read_meta, resolve
from retouch.tasks.sample import sample_pairs


def evaluate_pairs(model: str | Path, n: int = 1000, seed: int = 0) -> dict:
    """Mean PSNR/SSIM of degrade(A_i) against B_i (same draw) and against B_{i+1} (another draw)."""
    spec = read_meta(resolve(model)).get("degrade")
    if not spec:
        raise RetouchError(f"Model {model} was not trained with data.degrade, so nothing predicts B from A; "
                           "train CoGAN with a degradation as its second domain (configs/cogan_cifar10_grey.yaml).")
    if n < 2:
        raise RetouchError(f"-n must be at least 2 (random pairs need another draw), got {n}.")
    a, b = sample_pairs(model, n, seed)
    op = parse(spec).sample(torch.Generator().manual_seed(seed))
    predicted = torch.cat([op(a[i : i + 1], None) for i in range(n)])
    other = b.roll(1, 0)

    def scores(targets: torch.Tensor) -> dict[str, float]:
        return mean_metrics([{"psnr": psnr(p, t), "ssim": ssim(p, t)} for p, t in zip(predicted, targets)])

    return {"model": str(model), "degrade": spec, "pairs": n, "seed": seed, "same_draw": scores(b), "other_draw": scores(other)}
