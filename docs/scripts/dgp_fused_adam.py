"""DGP fit speed with torch's default Adam against the fused one, in one run (fused was not kept:
no gain beyond noise on the whole inpainting fit; docs/benchmarks.md).

Run: OMP_NUM_THREADS=2 python docs/scripts/dgp_fused_adam.py  (about three minutes on a 2-core CPU).
First the bench's DGP case (`retouch.bench._dgp_fit`: the shipped prior, all of G learning, 10
steps on random 32x32 images) at batch 1 and 8, the two optimisers timed alternately
(`retouch.timing.rates`), best of 6, in three rounds so the spread of this machine's speed shows
beside the ratio; then the whole progressive inpainting fit of `eval-dgp` (the task's defaults, a
central 12x12 hole) on eight CIFAR-10 test images, one per class, three alternated rounds.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from retouch.bench import _dgp_fit
from retouch.device import cpu_name
from retouch.evaluate.dgp import centre_hole, cifar_test
from retouch.prior import tasks as T
from retouch.prior.engine import DGP, load_prior
from retouch.timing import rates

ADAM = torch.optim.Adam


@contextlib.contextmanager
def adam(fused: bool) -> Iterator[None]:
    """Every Adam the engine makes inside is fused (or torch's default)."""
    torch.optim.Adam = functools.partial(ADAM, fused=True) if fused else ADAM
    try:
        yield
    finally:
        torch.optim.Adam = ADAM


def timed(work, fused: bool):
    """`work` run with the chosen Adam."""
    def run() -> None:
        with adam(fused):
            work()
    return run


def main(steps: int = 10, rounds: int = 3) -> None:
    print(f"{cpu_name()}, {torch.get_num_threads()} threads; image-steps/s, default Adam -> fused")
    cpu = torch.device("cpu")
    for batch in (1, 8):
        work = _dgp_fit(batch, steps, cpu)
        default, fused = timed(work, False), timed(work, True)
        for _ in range(rounds):
            a, b = rates(default, batch * steps, fused, batch * steps, repeats=6)
            print(f"batch {batch}: {a:.2f} -> {b:.2f} ({b / a:.2f}x)", flush=True)

    x = cifar_test(Path("../shared/data/cifar10.zip"), 1)[0][:8]
    G, D, _ = load_prior("cifar10-prior")
    obs = T.observation_for("inpaint", mask=centre_hole(32, 12))
    observed = T.observe_input(x, obs, 32)
    dgp = DGP(G, D)
    start = dgp.search(observed, obs, T.SETTINGS["inpaint"], None, torch.Generator().manual_seed(0))
    print(f"inpainting fit of 8 images ({T.SETTINGS['inpaint'].steps} steps), seconds, default Adam -> fused")
    for _ in range(rounds):
        seconds = []
        for fused in (False, True):
            t = time.perf_counter()
            timed(lambda: dgp.fit(observed, obs, T.SETTINGS["inpaint"], start=start), fused)()
            seconds.append(time.perf_counter() - t)
        print(f"{seconds[0]:.2f} -> {seconds[1]:.2f} ({seconds[0] / seconds[1]:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
