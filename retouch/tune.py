"""`retouch tune`: the batch and compiling that train a method fastest per image on this machine,
measured once and kept (`retouch.measured`, `~/.cache/retouch/training.json`).

Why measure: a batch amortises per-step costs (the optimiser, autocast's weight copies, small
layers), which pays where those costs matter, and costs cache misses where they do not. On an
AVX512-BF16 EPYC a batch of 8, compiled, trained pix2pix 3x faster per image than the reference's
batch of 1; on a 2-core AVX2 EPYC the same setting made CycleGAN 0.62x (its fp32 convolutions
already run near the machine's peak at batch 1, and eight 256 px images of activations do not fit
a cache). Batches 1, 2, 4 and 8 are timed in turn, stopping once one is not faster per image than
the last; compiling is timed at the winning batch (full size only: it costs a minute or more
first), and kept only when it gains `MARGIN`.

`retouch bench` trains "ours" at the kept setting; `retouch tune pix2pix|cyclegan` prints it for the
reference networks, to pass to `retouch train` as `--batch-size` and `--compile`. A larger batch
changes the optimisation: raise the learning rate by the square root of the batch ratio
(docs/benchmarks.md, "Equal quality").
"""

from __future__ import annotations

import torch

from retouch.measured import machine_key, remembered

BATCHES = (1, 2, 4, 8)
MARGIN = 1.05  # a larger batch or compiling is kept only when it is at least 5% faster per image


def training_setting(method: str, size: int, ngf: int, device: torch.device, dtype: torch.dtype,
                     try_compile: bool = True) -> dict:
    """{"batch", "compile", "images_per_s": {setting: rate}} for `method` ("pix2pix" or
    "cyclegan", the bench's networks at `ngf`) on `size` px images: kept, or measured now."""
    key = machine_key(f"{method} training", f"{size} px", f"ngf {ngf}", str(dtype).removeprefix("torch."), device.type,
                      "compile tried" if try_compile else "no compile")
    return remembered("training", key, lambda: _measure(method, size, ngf, device, dtype, try_compile))


def _measure(method: str, size: int, ngf: int, device: torch.device, dtype: torch.dtype, try_compile: bool) -> dict:
    from retouch.bench import _rate, _training_step

    rates: dict[str, float] = {}
    best = None
    for batch in BATCHES:
        rates[f"batch {batch}"] = _rate(_training_step(method, size, ngf, batch, dtype, device, reference=False), batch, 1)
        if best is not None and rates[f"batch {batch}"] < MARGIN * rates[f"batch {best}"]:
            break  # no faster per image than the last: a larger batch will not be either
        best = batch
    compiled = False
    if try_compile:
        rate = _rate(_training_step(method, size, ngf, best, dtype, device, reference=False, compile=True), best, 1)
        rates[f"batch {best}, compiled"] = rate
        compiled = rate >= MARGIN * rates[f"batch {best}"]
    return {"batch": best, "compile": compiled, "images_per_s": rates}
