"""`load`: a shipped name, a weights file, a run folder or a reference `.pth` to a network in eval mode.

This is the one road from `--model` to weights: `resolve` says which file, the file is read once
(a safetensors header, then its tensors; a `.pth` through `retouch.models.foreign`), a model made
for another task is refused before any pixel reaches it, and the network is rebuilt from the spec
in the metadata with `retouch.nets.build_net`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from retouch.errors import RetouchError
from retouch.models.files import load_pth, read_header, read_tensors
from retouch.models.foreign import build_foreign, read_foreign
from retouch.models.zoo import WEIGHTS_DIR, ZOO
from retouch.nets import build_net


def resolve(model: str | Path) -> Path:
    """A zoo name, a .safetensors file, a reference .pth (`retouch.models.foreign`), or a run folder
    (its exported model.safetensors)."""
    if isinstance(model, str) and model in ZOO:
        return WEIGHTS_DIR / ZOO[model].file
    path = Path(model)
    if path.is_dir():
        path = path / "model.safetensors"
        if not path.exists():
            raise RetouchError(f"Run folder {model} has no model.safetensors yet; wait for the first checkpoint or pass a weights file.")
    if not path.exists():
        known = ", ".join(sorted(ZOO)) or "none yet"
        raise RetouchError(f"No model {model!r}: give a run folder, a .safetensors file, a reference .pth, or a shipped name ({known}).")
    return path


def read_meta(path: Path, arch: str | None = None) -> dict:
    """A weights file's metadata; for a reference .pth, what `retouch.models.foreign` infers (`arch` overrides)."""
    return read_foreign(path, arch)[1] if path.suffix == ".pth" else read_header(path)


def check_task(model: str | Path, meta: dict, task: str, hint: str = "") -> None:
    """Refuse a model trained for another task, in one sentence that names both (and `hint`: what
    to give instead), before any pixel goes through a network that would answer nonsense."""
    if meta.get("task") != task:
        raise RetouchError(f"Model {model} does the task {meta.get('task')!r}, not {task!r}" + (f": {hint}" if hint else "") + ".")


def load_model(model: str | Path, device: torch.device | str = "cpu", arch: str | None = None, task: str | None = None,
               hint: str = "") -> tuple[nn.Module, dict]:
    """The network in eval mode (fp32) and its metadata, from a name, file or run folder; a reference
    .pth is read by `retouch.models.foreign` (architecture inferred, or given by `arch`). With `task`,
    a model trained for another one is refused (`check_task`): for our files before their tensors
    are read, for a .pth from what its one reading inferred."""
    path = resolve(model)
    if path.suffix == ".pth":
        net, meta = build_foreign(load_pth(path), path, arch)
        if task is not None:
            check_task(model, meta, task, hint)
        return net.to(device), meta
    meta = read_header(path)
    if task is not None:
        check_task(model, meta, task, hint)
    net = build_net(dict(meta["net"]))
    net.load_state_dict(read_tensors(path))
    return net.to(device).eval(), meta
