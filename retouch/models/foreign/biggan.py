"""BigGAN-PyTorch / DGP `G_ema.pth` (or `G.pth`) and `D.pth`, as `retouch.nets.biggan`.

`recognise` tells G from D by their keys and reads resolution, width, classes, attention and the
hierarchical latent off the shapes; `load_biggan` loads a file into a spec the caller gives (the
released ImageNet models' constructor arguments), refusing whatever does not fit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from retouch.errors import RetouchError
from retouch.models.files import read_state_file
from retouch.models.foreign.keys import count_indices
from retouch.nets.biggan import D_WIDTHS, G_WIDTHS, BigGANDiscriminator, BigGANGenerator

ARCHS: dict[str, dict[str, Any]] = {"biggan": {}}  # G or D, told apart by their keys
TASKS = {"biggan_g": "generate", "biggan_d": "discriminate"}


def recognise(state: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """The spec of a BigGAN G or D, or None for another family's keys."""
    if "output_layer.2.weight" in state:
        return _biggan_g(state)
    if "embed.weight" in state and "linear.weight" in state:
        return _biggan_d(state)
    return None


def training_size(spec: dict[str, Any]) -> int:
    return spec["resolution"]


def _attention(state: dict[str, torch.Tensor], at: list[int]) -> list[int]:
    return [r for i, r in enumerate(at) if f"blocks.{i}.1.gamma" in state]


def _biggan_g(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    n_blocks = count_indices(state, r"blocks\.(\d+)\.0\.")
    resolution = 4 * 2**n_blocks
    if resolution not in G_WIDTHS:
        raise RetouchError(f"A BigGAN G with {n_blocks} blocks makes {resolution} px images, which BigGAN-PyTorch does not define.")
    ch = state["output_layer.0.gain"].shape[0] // G_WIDTHS[resolution][-1]
    shared = "shared.weight" in state
    z_in = state["linear.weight"].shape[1]
    gain = state["blocks.0.0.bn1.gain.weight"]
    if shared:
        n_classes, shared_dim = state["shared.weight"].shape
        z_chunk = gain.shape[1] - shared_dim  # each block's condition: class embedding + its z chunk
    else:
        n_classes, shared_dim, z_chunk = gain.shape[0], 128, 0
    hier = z_chunk > 0
    return {"name": "biggan_g", "resolution": resolution, "ch": ch, "dim_z": z_chunk * (n_blocks + 1) if hier else z_in,
            "shared_dim": shared_dim, "n_classes": n_classes,
            "attention": _attention(state, [8 * 2**i for i in range(n_blocks)]), "hier": hier, "shared": shared}


def _biggan_d(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    n = count_indices(state, r"blocks\.(\d+)\.0\.")
    resolution = next((r for r, w in D_WIDTHS.items() if len(w) == n), None)
    if resolution is None:
        raise RetouchError(f"A BigGAN D with {n} blocks matches no BigGAN-PyTorch resolution.")
    at = [16] * 4 if resolution == 32 else [max(resolution >> (i + 1), 4) for i in range(n)]
    return {"name": "biggan_d", "resolution": resolution, "ch": state["blocks.0.0.conv1.weight"].shape[0] // D_WIDTHS[resolution][0],
            "n_classes": state["embed.weight"].shape[0], "attention": sorted(set(_attention(state, at)))}


def load_biggan(path: str | Path, which: str = "G", **spec) -> nn.Module:
    """A BigGAN G or D (eval mode) with the weights in ``path``: a BigGAN-PyTorch / DGP state dict
    (``G_ema.pth``, ``D.pth``; read with ``weights_only``, nothing else is unpickled) or a
    ``.safetensors`` file with the same keys. ``spec`` holds the constructor arguments the file was
    trained with (the released ImageNet models: ``resolution=128`` or ``256``, the defaults
    otherwise). Nothing is downloaded."""
    if which not in ("G", "D"):
        raise RetouchError(f"which must be 'G' or 'D', got {which!r}.")
    path = Path(path)
    if not path.is_file():
        raise RetouchError(f"No BigGAN weights at {path}: give the G_ema.pth or D.pth of BigGAN-PyTorch "
                           "or the DGP release (retouch downloads nothing).")
    cls = BigGANGenerator if which == "G" else BigGANDiscriminator
    try:
        net = cls(**spec)
    except (TypeError, ValueError) as e:
        raise RetouchError(f"Cannot build a BigGAN {which} from {spec}: {e}") from None
    state = read_state_file(path)
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = ([f"missing {_first(missing)}"] if missing else []) + ([f"unexpected {_first(unexpected)}"] if unexpected else [])
        raise RetouchError(f"{path} does not fit a BigGAN {which} with {spec or 'the default spec'}: "
                           f"{'; '.join(parts)}. Check which ('G' or 'D'), resolution and attention.")
    for k, v in expected.items():
        if state[k].shape != v.shape:
            raise RetouchError(f"{path}: {k} is {tuple(state[k].shape)} in the file but {tuple(v.shape)} for "
                               f"{spec or 'the default spec'}; check ch, n_classes, dim_z and shared_dim.")
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return net.eval()


def _first(keys: list[str], n: int = 3) -> str:
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more
