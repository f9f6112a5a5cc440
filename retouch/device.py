"""Device and precision choice: `auto` picks what is measurably fastest on the machine at hand."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import torch

from retouch.errors import RetouchError

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")


def pick_device(name: str = "auto") -> torch.device:
    """CUDA, then MPS, then CPU for `auto`; an explicit name must be available."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise RetouchError(f"Unknown device {name!r}; use one of {', '.join(DEVICES)}.")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RetouchError("CUDA was asked for but is not available; use --device cpu or auto.")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RetouchError("MPS was asked for but is not available; use --device cpu or auto.")
    return torch.device(name)


@functools.cache
def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is no such file)."""
    cpuinfo = Path("/proc/cpuinfo")
    return frozenset(cpuinfo.read_text().split()) if cpuinfo.exists() else frozenset()


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 in hardware (AMX or AVX512-BF16).

    oneDNN reports bf16 as "supported" on any AVX-512 CPU, but without these units it emulates
    bf16 and runs slower than fp32 (measured 1.4-4x slower on a 2-core AVX-512 Xeon without them).
    """
    return bool(_cpu_flags() & {"amx_bf16", "avx512_bf16"})


@functools.cache
def cpu_features() -> str:
    """The vector units a timing depends on: torch's kernel level ("AVX2", "AVX512", ...) and the
    native bf16 units, e.g. "AVX512+AVX512-BF16". Why beside the name: the model name does not
    tell them apart (2-core VMs named plain "AMD EPYC" have come with AVX2 only and with AVX512-BF16)."""
    units = [name for flag, name in (("avx512_bf16", "AVX512-BF16"), ("amx_bf16", "AMX-BF16")) if flag in _cpu_flags()]
    return "+".join([torch.backends.cpu.get_cpu_capability(), *units])


def pick_precision(name: str, device: torch.device) -> torch.dtype:
    """bf16 autocast where the hardware runs it natively, fp32 otherwise."""
    if name not in PRECISIONS:
        raise RetouchError(f"Unknown precision {name!r}; use one of {', '.join(PRECISIONS)}.")
    if name == "fp32":
        return torch.float32
    if name == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return torch.float32


def conv_memory_format(device: torch.device) -> torch.memory_format:
    """channels_last on CUDA, the default NCHW layout elsewhere.

    On CPU, oneDNN's channels-last backward of a 1x1 stride-2 convolution corrupts the heap on
    AVX2-only CPUs (torch 2.13: "free(): invalid next size", then a crash or silent damage; issue 23),
    and whether a CPU takes that path cannot be asked of torch before it runs. The layout bought
    1.5x only on AVX-512 CPUs, for classifier training alone, so the CPU gives it up everywhere.
    """
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Mixed precision for the forward pass when `dtype` is below fp32, a no-op otherwise."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), or the machine type where there is none: timings name the CPU."""
    import platform

    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())
