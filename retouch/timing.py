"""Timing work the way `retouch bench` and `retouch tune` need it: best of several runs after a
warm-up, two settings interleaved, and the FLOPs of one run.

Why interleave: on a shared or throttling machine the speed drifts over seconds. Timing the
reference's runs and then ours lets a drift land on one side only (the CI bench once read 0.98x
and 1.00x for a case that is 1.2x idle); alternating them, run for run, lets both sides see the
same machine, so the ratio of their bests measures the settings, not the moment.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from torch.utils.flop_counter import FlopCounterMode


def _seconds(work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def rate(work: Callable[[], None], units: int, repeats: int) -> float:
    """Units per second of `work` (which does `units` units), best of `repeats` after a warm-up."""
    work()
    return units / min(_seconds(work) for _ in range(repeats))


def settled_rate(work: Callable[[], None], units: int, warmup: int = 2, max_runs: int = 6) -> float:
    """Units per second of `work` once its speed has settled: after `warmup` untimed runs, runs
    until one is no more than 2% faster than the best before it (at most `max_runs`), best of them.

    Why not a fixed count: a training step speeds up over its first few runs (oneDNN creating
    primitives for the shapes, the optimiser's state, the allocator's pools), by 2.3x over four
    steps for pix2pix at bf16, batch 1, on an AMX Xeon; one timed step after one warm-up made
    `retouch tune` pick a batch of 2 over a batch of 8 that was 1.5x faster settled. Stopping
    once the speed stops improving keeps the cost low where it settles at once (a 25 s CycleGAN
    step on an AVX2 CPU).
    """
    for _ in range(warmup):
        work()
    best = _seconds(work)
    for _ in range(max_runs - 1):
        t = _seconds(work)
        if t > best / 1.02:
            best = min(best, t)
            break
        best = t
    return units / best


def rates(a: Callable[[], None], a_units: int, b: Callable[[], None], b_units: int, repeats: int,
          warmup: int = 1) -> tuple[float, float]:
    """Units per second of `a` and of `b`, each best of `repeats` after `warmup` runs each, timed
    alternately (a, b, a, b, ...) so that a drift of the machine's speed reaches both."""
    for _ in range(warmup):
        a()
        b()
    best_a = best_b = float("inf")
    for _ in range(repeats):
        best_a = min(best_a, _seconds(a))
        best_b = min(best_b, _seconds(b))
    return a_units / best_a, b_units / best_b


def flops(work: Callable[[], None]) -> int:
    """Floating-point operations one call of `work` performs (`torch.utils.flop_counter`)."""
    with FlopCounterMode(display=False) as counter:
        work()
    return counter.get_total_flops()
