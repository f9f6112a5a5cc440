"""Choices measured once per machine and kept: which backend runs a network fastest (`backends`),
which batch and compiling train a method fastest (`tune`).

Why measure instead of reading the CPU: the answer depends on the network, the image size, the
library versions and the cores, and the CPU's flags do not predict it (on a 2-core AVX2 EPYC a
batch of 8 made CycleGAN training 0.62x the reference's batch of 1; on an AVX512-BF16 EPYC the
same setting gave 1.7x). A choice is keyed by what it depends on (the caller's parts, the CPU's
name and vector units, the thread count and torch's version), so another machine, a `taskset` or
an upgrade measures again. Files live in `~/.cache/retouch/` (`$RETOUCH_CACHE` moves the folder); delete
one, or run `retouch tune --clear`, to measure again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

CACHE_ENV = "RETOUCH_CACHE"  # folder of the per-machine choices (default ~/.cache/retouch)
KINDS = ("backends", "training")  # one file each


def cache_file(kind: str) -> Path:
    """The JSON file that keeps the choices of one `kind`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "retouch") / f"{kind}.json"


def machine_key(*parts: str) -> str:
    """`parts` plus what every measured choice depends on: CPU (name and vector units), threads, torch version."""
    import torch

    from retouch.device import cpu_features, cpu_name

    return "|".join([*parts, cpu_name(), cpu_features(), f"{torch.get_num_threads()} threads", f"torch {torch.__version__}"])


def remembered(kind: str, key: str, measure: Callable[[], dict]) -> dict:
    """The choice kept under `key`, or `measure()`'s, written to the cache before it is returned."""
    from retouch.atomic import atomic_write

    path = cache_file(kind)
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):  # no file yet, or one a crash or a hand left unreadable: measure again
        cache = {}
    if key in cache:
        return cache[key]
    cache[key] = measure()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        f.write(json.dumps(cache, indent=1).encode())
    return cache[key]


def clear() -> list[Path]:
    """Delete every kept choice; returns the files removed."""
    removed = []
    for kind in KINDS:
        path = cache_file(kind)
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed
