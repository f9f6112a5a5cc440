"""`retouch tune`: the batch and compiling that train a method fastest per image on this machine,
measured once and kept (`retouch.measured`, `~/.cache/retouch/training.json`).

Why measure: a batch amortises per-step costs (the optimiser, autocast's weight copies, small
layers), which pays where those costs matter, and costs cache misses where they do not. On an
AVX512-BF16 EPYC a batch of 8, compiled, trained pix2pix 3x faster per image than the reference's
batch of 1; on a 2-core AVX2 EPYC the same setting made CycleGAN 0.62x (its fp32 convolutions
already run near the machine's peak at batch 1, and eight 256 px images of activations do not fit
a cache). Batches 1, 2, 4 and 8 are timed in turn, each once its speed has settled
(`timing.settled_rate`), until one is clearly slower per image than the best so far (a plateau
goes on: on an AMX Xeon, pix2pix at bf16 gained 25% from batch 2 to 4 and 20% more to 8); a larger
batch is kept only when it gains `MARGIN` over the kept one. Compiling is timed at the kept batch
(full size only: it costs a minute or more first), and kept only when it gains `MARGIN`.

`retouch bench` trains "ours" at the kept setting; `retouch tune pix2pix|cyclegan` prints it for the
reference networks, to pass to `retouch train` as `--batch-size` and `--compile`. A larger batch
changes the optimisation: raise the learning rate by the square root of the batch ratio
(docs/benchmarks.md, "Equal quality").
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from retouch.measured import machine_key, remembered
from retouch.timing import settled_rate

BATCHES = (1, 2, 4, 8)
MARGIN = 1.05  # a larger batch or compiling is kept only when it is at least 5% faster per image


def training_setting(method: str, size: int, ngf: int, device: torch.device, dtype: torch.dtype,
                     try_compile: bool = True) -> dict:
    """{"batch", "compile", "images_per_s": {setting: rate}} for `method` ("pix2pix" or
    "cyclegan", the bench's networks at `ngf`) on `size` px images: kept, or measured now."""
    # "settled timing": choices kept from the one-step timing before 2026-12-02 are measured again
    key = machine_key(f"{method} training", f"{size} px", f"ngf {ngf}", str(dtype).removeprefix("torch."), device.type,
                      "compile tried" if try_compile else "no compile", "settled timing")
    return remembered("training", key, lambda: _measure(method, size, ngf, device, dtype, try_compile))


def training_step(method: str, size: int, ngf: int, batch: int, dtype: torch.dtype, device: torch.device,
                  reference: bool, compile: bool = False) -> Callable[[], None]:
    """One training step of `method` on fixed random data: pix2pix (U-Net + 70x70 PatchGAN, GAN +
    100 L1) or CycleGAN (two ResNet-9 generators, two PatchGANs, LSGAN + cycle + identity, pool 50),
    Adam 2e-4. `reference` uses torch's default Adam, as the reference does, instead of our fused
    one; `compile` compiles the networks as `train.compile` does (the untimed warm-up step compiles)."""
    from retouch.methods.cyclegan import CycleGAN, CycleGANConfig
    from retouch.methods.pix2pix import Pix2Pix, Pix2PixConfig

    if method == "pix2pix":
        m = Pix2Pix(Pix2PixConfig(ngf=ngf, ndf=ngf, norm="instance", dropout=True), device, dtype, size=size, steps=1000, decay_start=0.5)
        keys = ("input", "target")
    else:
        m = CycleGAN(CycleGANConfig(ngf=ngf, ndf=ngf, n_blocks=9), device, dtype, size=size, steps=1000, decay_start=0.5)
        keys = ("A", "B")
    if reference:
        for opt in m.optimizers.values():
            for group in opt.param_groups:
                group["fused"] = False
    if compile:
        m.compile()
    gen = torch.Generator().manual_seed(0)
    data = {k: (torch.rand(batch, 3, size, size, generator=gen) * 2 - 1).to(device) for k in keys}

    def step() -> None:
        m.step(data)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def _measure(method: str, size: int, ngf: int, device: torch.device, dtype: torch.dtype, try_compile: bool) -> dict:
    rates: dict[str, float] = {}
    best = None
    for batch in BATCHES:
        r = rates[f"batch {batch}"] = settled_rate(training_step(method, size, ngf, batch, dtype, device, reference=False), batch)
        if best is None or r >= MARGIN * rates[f"batch {best}"]:
            best = batch
        elif r * MARGIN < rates[f"batch {best}"]:
            break  # clearly slower per image than a smaller batch: a larger one will not turn that round
    compiled = False
    if try_compile:
        compiled_rate = settled_rate(training_step(method, size, ngf, best, dtype, device, reference=False, compile=True), best)
        rates[f"batch {best}, compiled"] = compiled_rate
        compiled = compiled_rate >= MARGIN * rates[f"batch {best}"]
    return {"batch": best, "compile": compiled, "images_per_s": rates}
