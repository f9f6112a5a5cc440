"""How a training step's speed settles over its first runs: images/s of pix2pix (the bench's
network, 256 px, ngf 64) at each batch, four timed steps after one warm-up, optionally compiled.

    OMP_NUM_THREADS=2 python docs/scripts/settle_curve.py [--dtype bfloat16] [--batches 1,2,4,8] [--compile]

Why: `retouch tune` once timed one step after one warm-up, which compared settings at different
points of their warm-up (docs/benchmarks.md, "Full size on bf16 CPUs").
"""

import argparse
import time

import torch

from retouch.tune import training_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--method", default="pix2pix", choices=["pix2pix", "cyclegan"])
    args = parser.parse_args()
    for batch in (int(b) for b in args.batches.split(",")):
        step = training_step(args.method, 256, 64, batch, getattr(torch, args.dtype), torch.device("cpu"),
                             reference=False, compile=args.compile)
        step()
        rates = []
        for _ in range(4):
            start = time.perf_counter()
            step()
            rates.append(batch / (time.perf_counter() - start))
        print(f"{args.method} {args.dtype} batch {batch}{' compiled' if args.compile else ''}: "
              + ", ".join(f"{r:.2f}" for r in rates), flush=True)


if __name__ == "__main__":
    main()
