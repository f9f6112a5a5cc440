"""Weights of the reference implementations: read a `.pth`, infer its architecture, load it strictly.

Three layouts are understood, each by the keys and shapes its nets leave in a state dict:

- pytorch-CycleGAN-and-pix2pix generators (`latest_net_G.pth`, `latest_net_G_A.pth`): the U-Net
  (`unet_128`, `unet_256`, any depth) and the ResNet generator (`resnet_6blocks`, `resnet_9blocks`),
  whose module trees `retouch.nets.unet` and `retouch.nets.resnet` share;
- BasicSR's MSRResNet (`{"params": ...}` or a bare state dict), `retouch.nets.msrresnet`;
- BigGAN-PyTorch / DGP `G_ema.pth` (or `G.pth`) and `D.pth`, `retouch.nets.biggan`.

What a state dict cannot tell is taken from the reference's defaults and can be overridden with an
`--arch` string, `NAME[:key=value,...]` (e.g. `resnet_9blocks:norm=none,padding=replicate`):
instance norm and no norm leave the same keys (default instance), as do reflect and replicate
padding (default reflect); dropout is absent at inference. Files are opened by `zoo.load_pth`
only (`weights_only=True`): nothing in them is run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from retouch.errors import RetouchError
from retouch.nets import build_net
from retouch.nets.biggan import D_WIDTHS, G_WIDTHS

# Reference names accepted by --arch, and the spec each one fixes before inference fills the rest.
ARCHS: dict[str, dict[str, Any]] = {
    "unet": {"name": "unet"},
    "unet_128": {"name": "unet", "num_downs": 7},
    "unet_256": {"name": "unet", "num_downs": 8},
    "resnet": {"name": "resnet"},
    "resnet_6blocks": {"name": "resnet", "n_blocks": 6},
    "resnet_9blocks": {"name": "resnet", "n_blocks": 9},
    "msrresnet": {"name": "msrresnet"},
    "biggan": {},  # G or D, told apart by their keys
}
TASKS = {"unet": "translate", "resnet": "translate", "msrresnet": "upscale", "biggan_g": "generate", "biggan_d": "discriminate"}


def parse_arch(arch: str) -> dict[str, Any]:
    """`NAME[:key=value,...]` as a partial spec; values are ints, booleans or strings."""
    name, _, rest = arch.partition(":")
    if name not in ARCHS:
        raise RetouchError(f"Unknown --arch {name!r}; use one of {', '.join(ARCHS)} (optionally :key=value,...).")
    spec = dict(ARCHS[name])
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise RetouchError(f"--arch option {item!r} must be key=value, e.g. {name}:norm=batch.")
        spec[key.strip()] = _value(value.strip())
    return spec


def _value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state dict inside what a reference saved: BasicSR's `params` (or `params_ema`), a
    DataParallel `module.` prefix stripped."""
    if isinstance(obj, dict):
        for key in ("params", "params_ema", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise RetouchError(f"{path} holds no state dict of tensors (a {type(obj).__name__}); save the network's "
                           "state_dict() and try again.")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _blocks(state: dict[str, torch.Tensor], pattern: str) -> int:
    """How many distinct indices `pattern` (a regex with one group) matches among the keys."""
    return len({m.group(1) for k in state if (m := re.match(pattern, k))})


def _norm(state: dict[str, torch.Tensor]) -> str:
    """batch when norm layers keep weights and statistics; otherwise instance (no norm looks the same)."""
    stats = [k.removesuffix(".running_mean") for k in state if k.endswith(".running_mean")]
    return "batch" if any(f"{k}.weight" in state for k in stats) else "instance"


def infer_spec(state: dict[str, torch.Tensor], given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The network spec a reference state dict was saved from; `given` (from --arch) wins."""
    given = dict(given or {})
    if "model.model.0.weight" in state:
        spec = _unet(state)
    elif "model.1.weight" in state and any(".conv_block." in k for k in state):
        spec = _resnet(state)
    elif "conv_first.weight" in state and "conv_last.weight" in state:
        spec = _msrresnet(state)
    elif "output_layer.2.weight" in state:
        spec = _biggan_g(state)
    elif "embed.weight" in state and "linear.weight" in state:
        spec = _biggan_d(state)
    else:
        raise RetouchError(f"Cannot tell the architecture from keys like {', '.join(list(state)[:3])}: retouch reads "
                           "pix2pix/CycleGAN generators, BasicSR MSRResNet and BigGAN-PyTorch G/D state dicts.")
    if given.get("name", spec["name"]) != spec["name"]:
        raise RetouchError(f"--arch says {given['name']}, but the file's keys are those of a {spec['name']}.")
    return {**spec, **given}


def _unet(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    ngf, in_channels = state["model.model.0.weight"].shape[:2]
    up = state["model.model.3.weight"]  # outermost ConvTranspose2d: (channels from below, out_channels, 4, 4)
    convs = sum(1 for k, v in state.items() if k.endswith(".weight") and v.dim() == 4)
    return {"name": "unet", "in_channels": in_channels, "out_channels": up.shape[1], "num_downs": convs // 2, "ngf": ngf,
            "norm": _norm(state), "dropout": False, "skips": up.shape[0] == 2 * ngf}


def _resnet(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    ngf, in_channels = state["model.1.weight"].shape[:2]
    n_blocks = _blocks(state, r"model\.(\d+)\.conv_block\.")
    first = next(k for k in state if ".conv_block." in k)
    prefix = first[: first.index(".conv_block.")]
    zero = f"{prefix}.conv_block.0.weight" in state  # no pad layer in front of the first conv
    second = max(int(m.group(1)) for k in state if k.startswith(prefix) and (m := re.search(r"conv_block\.(\d+)\.weight$", k))
                 and state[k].dim() == 4)
    last = max((k for k in state if re.fullmatch(r"model\.\d+\.weight", k)), key=lambda k: int(k.split(".")[1]))
    return {"name": "resnet", "in_channels": in_channels, "out_channels": state[last].shape[0], "ngf": ngf,
            "norm": _norm(state), "dropout": second == (4 if zero else 6), "n_blocks": n_blocks,
            "padding": "zero" if zero else "reflect"}


def _msrresnet(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    channels, in_channels = state["conv_first.weight"].shape[:2]
    scale = 4 if "upconv2.weight" in state else round((state["upconv1.weight"].shape[0] / channels) ** 0.5)
    return {"name": "msrresnet", "scale": scale, "in_channels": in_channels, "out_channels": state["conv_last.weight"].shape[0],
            "channels": channels, "n_blocks": _blocks(state, r"body\.(\d+)\.conv1\."), "unit_range": True}


def _attention(state: dict[str, torch.Tensor], at: list[int]) -> list[int]:
    return [r for i, r in enumerate(at) if f"blocks.{i}.1.gamma" in state]


def _biggan_g(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    n_blocks = _blocks(state, r"blocks\.(\d+)\.0\.")
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
    n = _blocks(state, r"blocks\.(\d+)\.0\.")
    resolution = next((r for r, w in D_WIDTHS.items() if len(w) == n), None)
    if resolution is None:
        raise RetouchError(f"A BigGAN D with {n} blocks matches no BigGAN-PyTorch resolution.")
    at = [16] * 4 if resolution == 32 else [max(resolution >> (i + 1), 4) for i in range(n)]
    return {"name": "biggan_d", "resolution": resolution, "ch": state["blocks.0.0.conv1.weight"].shape[0] // D_WIDTHS[resolution][0],
            "n_classes": state["embed.weight"].shape[0], "attention": sorted(set(_attention(state, at)))}


def fill_state(net: torch.nn.Module, state: dict[str, torch.Tensor], norm: str) -> dict[str, torch.Tensor]:
    """What older PyTorch releases left out or in: batch norm's `num_batches_tracked` (added, 0)
    and instance norm's running statistics (dropped, as the reference's loader does)."""
    expected = net.state_dict()
    state = dict(state)
    if norm != "batch":
        state = {k: v for k, v in state.items() if not k.endswith((".running_mean", ".running_var", ".num_batches_tracked"))}
    for k, v in expected.items():
        if k.endswith(".num_batches_tracked") and k not in state:
            state[k] = torch.zeros_like(v)
    return state


def load_state(net: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, spec: dict[str, Any]) -> torch.nn.Module:
    """Load strictly, and say in one sentence what does not fit (missing or unexpected keys, shapes)."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        what = "; ".join(f"{label} {', '.join(keys[:3])}{' …' if len(keys) > 3 else ''}"
                         for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys)
        raise RetouchError(f"{path} does not fit {spec} ({what}); give the architecture with --arch.")
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    return net


def read_foreign(path: Path, arch: str | None = None, task: str | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A reference `.pth` as our network (weights loaded strictly, eval mode) and metadata like our weights files'."""
    from retouch.zoo import (
        load_pth,  # zoo imports this module lazily; no cycle at load time
    )

    state = unwrap(load_pth(path), path)
    spec = infer_spec(state, parse_arch(arch) if arch else None)
    try:
        net = build_net(dict(spec))
    except RetouchError as e:
        raise RetouchError(f"{path}: {e}") from None
    state = fill_state(net, state, spec.get("norm", "none"))
    load_state(net, state, path, spec)
    meta: dict[str, Any] = {"net": spec, "task": task or TASKS[spec["name"]], "direction": "AtoB", "source": path.name}
    if spec["name"] == "unet":
        meta["size"] = 2 ** spec["num_downs"]  # unet_256 was trained on 256 px crops, unet_128 on 128
    elif spec["name"] == "resnet":
        meta["size"] = 256  # the reference's default crop
    elif spec["name"] == "msrresnet":
        meta["size"] = 128  # BasicSR's gt_size for MSRResNet
    else:
        meta["size"] = spec["resolution"]
        meta["classes"] = [str(i) for i in range(spec["n_classes"])]  # the files carry no class names
    return net.eval(), meta


def convert(src: Path, dst: Path, arch: str | None = None, task: str | None = None) -> list[Path]:
    """Write a reference `.pth` as our safetensors (fp32, as stored: outputs stay equal) with the
    spec in its metadata. A BigGAN G's `D.pth` beside it is converted too, to where `retouch prior`
    looks for the discriminator (`OUT-discriminator.safetensors`)."""
    from retouch.prior.engine import discriminator_path
    from retouch.zoo import save_weights

    if not src.is_file():
        raise RetouchError(f"No weights file at {src}; give a reference .pth such as latest_net_G.pth.")
    if dst.suffix != ".safetensors":
        raise RetouchError(f"Write converted weights to a .safetensors file, not {dst.name}.")
    net, meta = read_foreign(src, arch, task)
    written = [save_weights(net, meta, dst, half=False)]
    if meta["net"]["name"] == "biggan_g" and (d_src := discriminator_path(src)).exists():
        d_net, d_meta = read_foreign(d_src)
        written.append(save_weights(d_net, {**d_meta, "classes": meta["classes"]}, discriminator_path(dst), half=False))
    return written
