"""Inference backends: PyTorch, or ONNX Runtime or OpenVINO on the CPU (`--backend torch|onnxruntime|openvino|auto`).

Why other runtimes: on CPUs without bf16 units PyTorch's fp32 convolutions are what they are,
and ONNX Runtime and OpenVINO fuse and schedule the same graph their own way. The image networks
are exported in memory with `retouch.models.export` (the same graph `retouch export` writes: NCHW float32
in [-1, 1], dynamic batch, height and width, outputs clamped) and run by an `OrtNet` or `OvNet`,
which a `Translator` calls exactly as it calls the torch module, so tiling, masks, films and
provenance do not change. Outputs agree with PyTorch's to float32 rounding (tests: within 1e-4 on
[-1, 1]). Precision follows `--precision`: ONNX Runtime runs fp32 always; OpenVINO runs bf16 where
the translator's precision is bf16 (what torch's `auto` picks on CPUs with bf16 units), f32 otherwise.
Why: on a Sapphire Rapids Xeon (AMX) OpenVINO's bf16 ran srresnet-x4 about 5x faster than torch's
bf16 autocast, which leaves its pixel shuffles and 64-channel convolutions to slower kernels.

The choice is an argument of `retouch.models.runner.load_translator` (the CLI's `--backend`), checked
here by `check_backend`. `auto` times torch and every runtime installed on the model's
own network, each at the precision it would run, the first time it meets a (model, precision, CPU,
thread count, library versions) and keeps the fastest (`retouch.measured`: `~/.cache/retouch/backends.json`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from retouch.defaults import BACKENDS
from retouch.errors import RetouchError

if TYPE_CHECKING:  # torch is imported when a model is, not when the CLI starts
    import torch

# auto leaves torch only for a runtime at least 25% faster on the network alone: the torch ops around
# it (a demosaic's grid fit and projection, 15-20 ms at 256 px) dilute the gain end to end. (The CI's
# 0.98x for demosaic at 256 px, which first raised this from 0.9, came from the bench timing the two
# settings one after the other; it alternates them now, `retouch.timing.rates`.)
MARGIN = 0.8


def check_backend(name: str) -> None:
    """A backend that exists and whose runtime is installed, or one sentence that says what to do."""
    if name not in BACKENDS:
        raise RetouchError(f"Unknown --backend {name!r}; use one of {', '.join(BACKENDS)}.")
    if name in RUNTIMES:
        RUNTIMES[name][0]()


def _onnxruntime():
    try:
        import onnx  # noqa: F401  (the exporter's output format)
        import onnxruntime
    except ImportError:
        raise RetouchError("--backend onnxruntime needs onnx and onnxruntime: pip install 'retouch[onnx]'.") from None
    return onnxruntime


def _openvino():
    try:
        import onnx  # noqa: F401
        import openvino
    except ImportError:
        raise RetouchError("--backend openvino needs onnx and openvino: pip install 'retouch[openvino]'.") from None
    return openvino


def _onnx_graph(net: torch.nn.Module, meta: dict):
    """The network as an in-memory ONNX model (what `retouch export` writes) and its input's name."""
    from retouch.models.export import _graph, _trace

    module, inputs, in_names, out_names, axes, _ = _graph(net.eval(), meta)
    return _trace(module, inputs, in_names, out_names, axes, 17, dynamo=False), in_names[0]


class OvNet:
    """An image network run by OpenVINO's CPU plugin (f32, or bf16 when `dtype` is), called like the
    torch module it came from."""

    def __init__(self, net: torch.nn.Module, meta: dict, dtype: torch.dtype | None = None, threads: int | None = None) -> None:
        import io

        import torch

        ov = _openvino()
        proto, _ = _onnx_graph(net, meta)
        model = ov.convert_model(io.BytesIO(proto.SerializeToString()))
        config = {"INFERENCE_NUM_THREADS": threads or torch.get_num_threads() or (os.cpu_count() or 1),
                  "INFERENCE_PRECISION_HINT": "bf16" if dtype == torch.bfloat16 else "f32", "PERFORMANCE_HINT": "LATENCY"}
        self.compiled = ov.Core().compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import numpy as np
        import torch

        out = self.request.infer([np.ascontiguousarray(x.detach().cpu().float().numpy())])
        return torch.from_numpy(np.array(out[self.compiled.output(0)]))


class OrtNet:
    """An image network run by ONNX Runtime in fp32 (its CPU provider has no bf16 convolutions),
    called like the torch module it was exported from."""

    def __init__(self, net: torch.nn.Module, meta: dict, dtype: torch.dtype | None = None, threads: int | None = None) -> None:
        import torch

        ort = _onnxruntime()
        proto, self.input = _onnx_graph(net, meta)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads() or (os.cpu_count() or 1)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ONNX Runtime's threads spin after each run by default, taking the cores from the torch ops
        # around the network (a demosaic's projection ran 1.3x slower beside them): let them sleep
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import numpy as np
        import torch

        out = self.session.run(None, {self.input: np.ascontiguousarray(x.detach().cpu().float().numpy())})[0]
        return torch.from_numpy(out)


RUNTIMES = {"onnxruntime": (_onnxruntime, OrtNet), "openvino": (_openvino, OvNet)}


def installed() -> dict[str, str]:
    """The CPU runtimes importable here, with their versions (what `auto` can choose among)."""
    found = {}
    for name, (load, _) in RUNTIMES.items():
        try:
            found[name] = load().__version__
        except RetouchError:
            pass
    return found


def runtime_net(name: str, net: torch.nn.Module, meta: dict, dtype: torch.dtype | None = None) -> OrtNet | OvNet:
    """`net` run by the CPU runtime `name` (`onnxruntime` or `openvino`) at the precision it takes of `dtype`."""
    return RUNTIMES[name][1](net, meta, dtype)


def faster(net: torch.nn.Module, meta: dict, model: str, example: torch.Tensor, dtype: torch.dtype,
           repeats: int = 3) -> tuple[str, torch.dtype]:
    """The fastest backend for `net` on this machine, and the precision torch runs it at: torch at
    `dtype`, and at fp32 too when `dtype` is bf16, against the runtimes installed (a runtime only when
    it beats the faster torch by the `MARGIN`); read from the cache, or timed now on `example` (best of
    `repeats` after a warm-up each) and written there.

    Why fp32 beside bf16: some CPUs with AVX512-BF16 flags run bf16 convolutions slower than fp32
    (a 2-core Xeon without AMX: 149 against 270 GFLOP/s measured peak), and `auto` must never lose
    to plain fp32 torch."""
    import time

    import torch

    from retouch.device import autocast
    from retouch.measured import machine_key, remembered

    versions = installed()
    key = machine_key(model, str(tuple(example.shape)), str(dtype).removeprefix("torch."),
                      *(f"{k} {v}" for k, v in versions.items()), "torch fp32 timed too")

    def measure() -> dict:
        candidates = {"torch": (net, dtype)}
        if dtype == torch.bfloat16:
            candidates["torch fp32"] = (net, torch.float32)
        for name in versions:
            try:
                candidates[name] = (runtime_net(name, net, meta, dtype), torch.float32)
            except RetouchError:  # a network ONNX cannot express runs in torch
                break
        seconds = {}
        for name, (run, precision) in candidates.items():
            with torch.inference_mode(), autocast(example.device, precision):
                run(example)
                best = float("inf")
                for _ in range(repeats):
                    start = time.perf_counter()
                    run(example)
                    best = min(best, time.perf_counter() - start)
            seconds[name] = best
        torch_best = min((n for n in seconds if n.startswith("torch")), key=seconds.get)
        best = min(seconds, key=seconds.get)
        return {"backend": best if best == torch_best or seconds[best] < MARGIN * seconds[torch_best] else torch_best,
                "seconds": seconds}

    choice = remembered("backends", key, measure)["backend"]
    return ("torch", torch.float32) if choice == "torch fp32" else (choice, dtype)
