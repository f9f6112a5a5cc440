"""Inference backends: PyTorch, or ONNX Runtime on the CPU (`--backend torch|onnxruntime`).

Why a second runtime: on CPUs without bf16 units PyTorch's fp32 convolutions are what they are,
and ONNX Runtime fuses and schedules the same graph its own way. The image networks are exported
in memory with `retouch.export` (the same graph `retouch export` writes: NCHW float32 in [-1, 1],
dynamic batch, height and width, outputs clamped) and run by an `OrtNet`, which a `Translator`
calls exactly as it calls the torch module, so tiling, masks, films and provenance do not change.
Outputs agree with PyTorch's to float32 rounding (tests: within 1e-4 on [-1, 1]).

The choice is process-wide, like `--max-pixels`: the CLI sets it once (`set_backend`) and every
model loaded after that runs on it. `auto` times both on the model's own network the first time
it meets a (model, CPU, thread count, library versions) and keeps the faster in
`~/.cache/retouch/backends.json` (`$RETOUCH_CACHE` moves it; delete the file to measure again).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from retouch.errors import RetouchError

if TYPE_CHECKING:  # torch is imported when a model is, not when the CLI starts
    import torch

BACKENDS = ("torch", "onnxruntime", "auto")
MARGIN = 0.9  # auto switches to ONNX Runtime only when it is at least 10% faster: a switch must pay for itself
CACHE_ENV = "RETOUCH_CACHE"  # folder of the per-machine choices (default ~/.cache/retouch)
_current = "torch"


def set_backend(name: str) -> None:
    """Run every model loaded from now on with `name` (checked here, so a typo fails at once)."""
    global _current
    if name not in BACKENDS:
        raise RetouchError(f"Unknown --backend {name!r}; use one of {', '.join(BACKENDS)}.")
    if name in ("onnxruntime", "auto"):
        _onnxruntime()
    _current = name


def current_backend() -> str:
    return _current


def _onnxruntime():
    try:
        import onnx  # noqa: F401  (the exporter's output format)
        import onnxruntime
    except ImportError:
        raise RetouchError("--backend onnxruntime needs onnx and onnxruntime: pip install 'retouch[onnx]'.") from None
    return onnxruntime


class OrtNet:
    """An image network run by ONNX Runtime, called like the torch module it was exported from."""

    def __init__(self, net: torch.nn.Module, meta: dict, threads: int | None = None) -> None:
        import torch

        from retouch.export import _graph, _trace

        ort = _onnxruntime()
        module, inputs, in_names, out_names, axes, _ = _graph(net.eval(), meta)
        proto = _trace(module, inputs, in_names, out_names, axes, 17, dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads() or (os.cpu_count() or 1)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ONNX Runtime's threads spin after each run by default, taking the cores from the torch ops
        # around the network (a demosaic's projection ran 1.3x slower beside them): let them sleep
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self.input = in_names[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import numpy as np
        import torch

        out = self.session.run(None, {self.input: np.ascontiguousarray(x.detach().cpu().float().numpy())})[0]
        return torch.from_numpy(out)


def _cache_file():
    from pathlib import Path

    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "retouch") / "backends.json"


def faster(net: torch.nn.Module, meta: dict, model: str, example: torch.Tensor, repeats: int = 3) -> str:
    """The faster backend for `net` on this machine (ONNX Runtime only when it beats torch by the
    `MARGIN`): read from the cache, or timed now on `example` (best of `repeats` after a warm-up
    each) and written there."""
    import json
    import time

    import torch

    from retouch.atomic import atomic_write
    from retouch.device import cpu_name

    ort = _onnxruntime()
    key = f"{model}|{tuple(example.shape)}|{cpu_name()}|{torch.get_num_threads()} threads|torch {torch.__version__}|onnxruntime {ort.__version__}"
    path = _cache_file()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return cache[key]["backend"]
    try:
        ort_net = OrtNet(net, meta)
    except RetouchError:  # a network ONNX cannot express runs in torch, with no timing to do
        return "torch"
    seconds = {}
    for name, run in (("torch", net), ("onnxruntime", ort_net)):
        with torch.inference_mode():
            run(example)
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                run(example)
                best = min(best, time.perf_counter() - start)
        seconds[name] = best
    choice = "onnxruntime" if seconds["onnxruntime"] < MARGIN * seconds["torch"] else "torch"
    cache[key] = {"backend": choice, "seconds": seconds}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        f.write(json.dumps(cache, indent=1).encode())
    return choice

