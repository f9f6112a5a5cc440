"""DGP fit speed with torch's default Adam against the fused one, at batch 1 and 8, in one run.

Run: OMP_NUM_THREADS=2 python docs/scripts/dgp_fused_adam.py  (about a minute on a 2-core CPU).
The bench's DGP case (`retouch.bench._dgp_fit`: the shipped prior, all of G learning, 10 steps on
random 32x32 images), the two optimisers timed alternately (`retouch.timing.rates`), best of 6,
in three rounds so the spread of this machine's speed shows beside the ratio.
"""

from __future__ import annotations

import torch

from retouch.bench import _dgp_fit
from retouch.device import cpu_name
from retouch.timing import rates


def main(steps: int = 10, rounds: int = 3) -> None:
    print(f"{cpu_name()}, {torch.get_num_threads()} threads; image-steps/s, default Adam -> fused")
    cpu = torch.device("cpu")
    for batch in (1, 8):
        default, fused = _dgp_fit(batch, steps, cpu, reference=True), _dgp_fit(batch, steps, cpu, reference=False)
        for _ in range(rounds):
            a, b = rates(default, batch * steps, fused, batch * steps, repeats=6)
            print(f"batch {batch}: {a:.2f} -> {b:.2f} ({b / a:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
