"""Checkpoints of other projects: read a `.pth`, tell its architecture from its keys, load it strictly.

One module per family, each recognising its own state-dict keys (`recognise(state) -> spec | None`)
and naming the reference architectures it accepts (`ARCHS`) and the task its networks serve:

- `pix2pix`: pytorch-CycleGAN-and-pix2pix generators, U-Net and ResNet;
- `basicsr`: BasicSR's MSRResNet;
- `esrgan`: ESRGAN's RRDBNet (BasicSR/Real-ESRGAN, ESRGAN-repository and original key layouts) and
  Real-ESRGAN's SRVGGNetCompact;
- `biggan`: BigGAN-PyTorch / DGP `G_ema.pth` and `D.pth` (and `load_biggan` for a given spec);
- `vgg`: torchvision's vgg19 state dict, for the VGG content loss.

What a state dict cannot tell is taken from the reference's defaults and can be overridden with an
`--arch` string, `NAME[:key=value,...]` (e.g. `resnet_9blocks:norm=none,padding=replicate`). Files
are opened by `retouch.models.files.load_pth` only (`weights_only=True`): nothing in them is run.
Adding a family: a module with `ARCHS`, `TASKS`, `recognise` and `training_size`, listed in `FAMILIES`;
a family whose files come in other key layouts than its net's also has `rename(state)`, which gives
the state dict under the net's own names before the strict load.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from retouch.errors import RetouchError
from retouch.models.files import companion_path, load_pth, save_weights
from retouch.models.foreign import basicsr, biggan, esrgan, pix2pix
from retouch.nets import build_net

FAMILIES = (pix2pix, basicsr, esrgan, biggan)
# Reference names accepted by --arch, and the spec each one fixes before inference fills the rest.
ARCHS: dict[str, dict[str, Any]] = {name: spec for family in FAMILIES for name, spec in family.ARCHS.items()}
TASKS = {name: task for family in FAMILIES for name, task in family.TASKS.items()}
FAMILY_OF = {name: family for family in FAMILIES for name in family.TASKS}


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
    """The state dict inside what a reference saved: BasicSR's `params_ema` (the EMA weights, which
    Real-ESRGAN's inference prefers) or else its `params`, a `state_dict`, a DataParallel `module.`
    prefix stripped."""
    if isinstance(obj, dict):
        for key in ("params_ema", "params", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise RetouchError(f"{path} holds no state dict of tensors (a {type(obj).__name__}); save the network's "
                           "state_dict() and try again.")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def infer_spec(state: dict[str, torch.Tensor], given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The network spec a reference state dict was saved from; `given` (from --arch) wins."""
    given = dict(given or {})
    spec = next((s for family in FAMILIES if (s := family.recognise(state)) is not None), None)
    if spec is None:
        raise RetouchError(f"Cannot tell the architecture from keys like {', '.join(list(state)[:3])}: retouch reads "
                           "pix2pix/CycleGAN generators, BasicSR MSRResNet, ESRGAN/Real-ESRGAN RRDBNet and SRVGGNetCompact "
                           "and BigGAN-PyTorch G/D state dicts.")
    if given.get("name", spec["name"]) != spec["name"]:
        raise RetouchError(f"--arch says {given['name']}, but the file's keys are those of a {spec['name']}.")
    return {**spec, **given}


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
    return build_foreign(load_pth(path), path, arch, task)


def build_foreign(saved: Any, path: Path, arch: str | None = None, task: str | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """What a reference saved in `path` (read by `load_pth`) as our network and metadata: the state
    dict unwrapped, its architecture recognised (or given by `arch`), loaded strictly."""
    state = unwrap(saved, path)
    spec = infer_spec(state, parse_arch(arch) if arch else None)
    state = getattr(FAMILY_OF[spec["name"]], "rename", dict)(state)
    try:
        net = build_net(dict(spec))
    except RetouchError as e:
        raise RetouchError(f"{path}: {e}") from None
    state = fill_state(net, state, spec.get("norm", "none"))
    load_state(net, state, path, spec)
    meta: dict[str, Any] = {"net": spec, "task": task or TASKS[spec["name"]], "direction": "AtoB", "source": path.name}
    meta["size"] = FAMILY_OF[spec["name"]].training_size(spec)
    if spec["name"].startswith("biggan"):
        meta["classes"] = [str(i) for i in range(spec["n_classes"])]  # the files carry no class names
    return net.eval(), meta


def convert(src: Path, dst: Path, arch: str | None = None, task: str | None = None) -> list[Path]:
    """Write a reference `.pth` as our safetensors (fp32, as stored: outputs stay equal) with the
    spec in its metadata. A BigGAN G's `D.pth` beside it is converted too, to where `retouch prior`
    looks for the discriminator (`OUT-discriminator.safetensors`)."""
    if not src.is_file():
        raise RetouchError(f"No weights file at {src}; give a reference .pth such as latest_net_G.pth.")
    if dst.suffix != ".safetensors":
        raise RetouchError(f"Write converted weights to a .safetensors file, not {dst.name}.")
    net, meta = read_foreign(src, arch, task)
    written = [save_weights(net, meta, dst, half=False)]
    if meta["net"]["name"] == "biggan_g" and (d_src := companion_path(src)).exists():
        d_net, d_meta = read_foreign(d_src)
        written.append(save_weights(d_net, {**d_meta, "classes": meta["classes"]}, companion_path(dst), half=False))
    return written
