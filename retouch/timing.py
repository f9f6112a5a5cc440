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


def rates(a: Callable[[], None], a_units: int, b: Callable[[], None], b_units: int, repeats: int) -> tuple[float, float]:
    """Units per second of `a` and of `b`, each best of `repeats` after a warm-up each, timed
    alternately (a, b, a, b, ...) so that a drift of the machine's speed reaches both."""
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
