"""Each shipped image network under every backend and precision this CPU offers: time and distance
from torch fp32, one run, so the ratios compare like with like.

Why a script beside `retouch bench`: the bench times only what `auto` chose; this shows the whole
field `auto` chooses from (torch fp32, torch bf16 autocast, ONNX Runtime fp32, OpenVINO f32 and bf16)
and what each costs in accuracy (levels of 255 against torch fp32 on a fixed noise input), which is
what decided that OpenVINO may run bf16 where the precision is bf16.

    OMP_NUM_THREADS=2 python docs/scripts/backend_precision.py [--size 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from retouch.device import autocast, cpu_has_native_bf16
from retouch.models.backends import installed, runtime_net
from retouch.models.runner import load_translator

NETWORKS = [("demosaic", "restore", 4), ("srresnet-x4", "upscale", 3), ("horse2zebra", "translate", 3)]


def best_seconds(run, x: torch.Tensor, dtype: torch.dtype, repeats: int) -> tuple[float, torch.Tensor]:
    """Best of `repeats` after a warm-up, and the output."""
    with torch.inference_mode(), autocast(x.device, dtype):
        out = run(x).float()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            run(x)
            best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256, help="input side (srresnet-x4 gets a quarter of it)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bf16 = cpu_has_native_bf16()
    print(f"threads {torch.get_num_threads()}, native bf16: {bf16}, runtimes: {installed()}")
    for model, task, channels in NETWORKS:
        side = args.size // 4 if task == "upscale" else args.size
        x = torch.rand(1, channels, side, side, generator=torch.Generator().manual_seed(0)) * 2 - 1
        translator = load_translator(model, "cpu", "fp32", task=task, backend="torch")
        net, meta = translator.net, translator.meta
        candidates = [("torch fp32", net, torch.float32)]
        if bf16:
            candidates.append(("torch bf16", net, torch.bfloat16))
        for name in installed():
            candidates.append((f"{name} fp32", runtime_net(name, net, meta, torch.float32), torch.float32))
            if name == "openvino" and bf16:  # the runtime keeps its own precision: called outside autocast
                candidates.append(("openvino bf16", runtime_net(name, net, meta, torch.bfloat16), torch.float32))
        exact = None
        for label, run, dtype in candidates:
            seconds, out = best_seconds(run, x, dtype, args.repeats)
            out = out.clamp(-1, 1)
            exact = out if exact is None else exact
            levels = (out - exact).abs() * 127.5
            print(f"{model:12s} {side:4d} px  {label:16s} {seconds * 1000:8.1f} ms   max {levels.max():5.2f}  mean {levels.mean():5.3f} levels")


if __name__ == "__main__":
    main()
