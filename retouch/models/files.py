"""Weights files and state files: the one place a file on disk becomes tensors.

A weights file is safetensors: tensors plus a `retouch` metadata entry (JSON) holding the network
spec, the task, and whatever inference needs (direction, training size). Nothing is unpickled, so
a file from anywhere loads safely, and it rebuilds its network without the training code. A `.pth`
(checkpoints we write, reference weights) is opened by `load_pth` alone, with `weights_only=True`.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save
from torch import nn

from retouch import __version__
from retouch.atomic import atomic_write
from retouch.errors import RetouchError

META_KEY = "retouch"


def save_weights(net: nn.Module, meta: dict, path: Path, half: bool = True) -> Path:
    """Write the network's tensors (fp16 by default: half the size, same results) and its metadata."""
    tensors = {k: (v.half() if half and v.is_floating_point() else v).contiguous().cpu() for k, v in net.state_dict().items()}
    meta = {**meta, "version": __version__}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        f.write(save(tensors, metadata={META_KEY: json.dumps(meta)}))
    return path


def read_header(path: Path) -> dict:
    """A safetensors weights file's retouch metadata, from its header alone (no tensors read)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError) as e:
        raise RetouchError(f"{path} is not a readable safetensors weights file ({e}).") from None
    if raw is None:
        raise RetouchError(f"{path} has no retouch metadata; convert foreign weights first.")
    return json.loads(raw)


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A weights file's tensors in fp32 (stored fp16 or fp32), integer buffers as they are."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise RetouchError(f"{path} is not a readable safetensors weights file ({e}).") from None
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def load_pth(path: Path, map_location: torch.device | str = "cpu") -> Any:
    """`torch.load` with `weights_only=True`, the only way a .pth is ever opened here, and one
    sentence for each way it fails: a pickle that carries code or objects is refused, not run."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        detail = next((line.strip() for line in str(e).splitlines() if "Unsupported global" in line), "not plain tensors")
        raise RetouchError(f"{path} carries Python objects or code, not only tensors ({detail}); retouch opens .pth "
                           "files with weights_only=True and refuses it: re-save a plain state dict.") from None
    except Exception as e:  # noqa: BLE001 (truncated zips, wrong magic, EOF: all mean a damaged file to the user)
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RetouchError(f"{path} cannot be read as a torch file ({first}); it is damaged or not a .pth.") from None


def read_state_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict of tensors from a .safetensors or .pth file (the latter through `load_pth`)."""
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as e:
            raise RetouchError(f"{path} is not a readable safetensors file ({e}).") from None
    state = load_pth(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RetouchError(f"{path} holds a {type(state).__name__}, not a state dict of tensors.")
    return state


def companion_path(weights: Path, role: str = "discriminator") -> Path:
    """Where a network exported beside another lives (a prior's `discriminator`, which DGP and a
    continued training run read): `ROLE.safetensors` beside a run's `model.safetensors`, `D.pth`
    beside BigGAN-PyTorch's `G_ema.pth` (DGP's `D_256.pth` beside `G_ema_256.pth`),
    `<name>-ROLE.safetensors` beside any other weights file."""
    if weights.suffix == ".pth" and role == "discriminator":
        return weights.with_name(re.sub(r"^G(_ema)?", "D", weights.stem) + ".pth")
    if weights.name == "model.safetensors":
        return weights.with_name(f"{role}.safetensors")
    return weights.with_name(f"{weights.stem}-{role}.safetensors")
