"""Weights files and the registry of shipped models.

A weights file is safetensors: tensors plus a `retouch` metadata entry (JSON) holding the network
spec, the task, and whatever inference needs (direction, training size). Nothing is unpickled, so
a file from anywhere loads safely, and it rebuilds its network without the training code.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save
from torch import nn

from retouch import __version__
from retouch.atomic import atomic_write
from retouch.errors import RetouchError
from retouch.nets import build_net

WEIGHTS_DIR = Path(__file__).parent / "weights"
META_KEY = "retouch"


@dataclass(frozen=True)
class ZooEntry:
    """A shipped model: its file under retouch/weights/, its checksum, and the card that documents it."""

    file: str
    sha256: str
    task: str
    summary: str
    card: str


ZOO: dict[str, ZooEntry] = {
    "cifar10-classifier": ZooEntry(
        file="cifar10-classifier.safetensors",
        sha256="0ec727b564634d608b3e719cf9334bdc22779a810eb6f18adb710338011f9b1e",
        task="classify",
        summary="GAP ResNet (32-64-128) for CIFAR-10 with copy-paste localisation, 78.7% test top-1; class activation maps for `retouch locate`",
        card="docs/models/cifar10-classifier.md",
    ),
    "demosaic": ZooEntry(
        file="demosaic.safetensors",
        sha256="ad6b1fa9e2ad597eef3a959d8e06b3f9b5ead21997fa52fb7f0c6995a4f62db9",
        task="restore",
        summary="masked pix2pix U-Net (ngf 32, L1 then PatchGAN) that restores mosaics of 6-16 px blocks inside a region",
        card="docs/models/demosaic.md",
    ),
    "demosaic-l1": ZooEntry(
        file="demosaic-l1.safetensors",
        sha256="adfa70196386f4d99c9a4919fcfb881b8495924bea7a169e22704d7bcd604381",
        task="restore",
        summary="the demosaic U-Net trained with L1 only for longer, mostly on JPEG-saved mosaics (phase 1e; smoother, higher PSNR; 8 flipped views by default)",
        card="docs/models/demosaic.md",
    ),
    "mosaic-detect": ZooEntry(
        file="mosaic-detect.safetensors",
        sha256="0eefd9807e37ba74d2746393d62d7040d7d47c1128338d06f117e2a176f457f6",
        task="segment",
        summary="80k-parameter fully convolutional mosaic segmenter (per-pixel probability) that `--detect` adds to the grid fit: JPEG, rescaled and soft-edged mosaics",
        card="docs/models/mosaic-detect.md",
    ),
    "horse2zebra": ZooEntry(
        file="horse2zebra.safetensors",
        sha256="9dfaaa8768d154145e8883d57aab6e254401fc1ed2d189f39874a22eba6c1de8",
        task="translate",
        summary="CycleGAN, both directions (ResNet-9, ngf 32): horse -> zebra (AtoB) and zebra -> horse (BtoA); 63% of translated test horses called zebra",
        card="docs/models/horse2zebra.md",
    ),
    "horse2zebra-domain": ZooEntry(
        file="horse2zebra-domain.safetensors",
        sha256="cb067180bff8cdc836d68e42834cd7ac6feb64f7ae89c78074e0a531dec60844",
        task="classify",
        summary="horse vs zebra domain classifier (GAP ResNet, 96 px) that scores `retouch eval-translation`",
        card="docs/models/horse2zebra.md",
    ),
    "srresnet-x4": ZooEntry(
        file="srresnet-x4.safetensors",
        sha256="62ee4e334fab9363be17adb7765ac6fadc58b5898c39eb767c4b2d351465955d",
        task="upscale",
        summary="x4 super-resolution, SRResNet (64 channels, 16 blocks) trained with MSE: the best PSNR (Set14 27.55 dB, bicubic 26.09)",
        card="docs/models/sr-x4.md",
    ),
    "srgan-x4": ZooEntry(
        file="srgan-x4.safetensors",
        sha256="b306f96afc5a5ab06e7058d3fa7ca4a9b325eedd309b64e81a0af8ed1cd1403d",
        task="upscale",
        summary="x4 super-resolution, the same SRResNet fine-tuned with PAN + adversarial + MSE losses: sharper, invented texture, lower PSNR",
        card="docs/models/sr-x4.md",
    ),
    "cifar10-prior": ZooEntry(
        file="cifar10-prior.safetensors",
        sha256="029f6949b44f96a7b33d3af25e78719a84f2bb0c57581023be3d64c5c8c86cbf",
        task="generate",
        summary="class-conditional BigGAN-style G (EMA) for CIFAR-10's ten classes, 32x32, that `retouch prior` fits to images; an early prior (2,500 GPU steps + 900 CPU steps)",
        card="docs/models/cifar10-prior.md",
    ),
    "cifar10-prior-discriminator": ZooEntry(
        file="cifar10-prior-discriminator.safetensors",
        sha256="923f5aa0b5d5b93a40d25a487978b0df3765fb2538a021d8d75eed7de43e69f3",
        task="discriminate",
        summary="the projection discriminator trained with cifar10-prior: DGP's feature distance (loaded beside the prior, not alone)",
        card="docs/models/cifar10-prior.md",
    ),
    "cifar10-keypatch": ZooEntry(
        file="cifar10-keypatch.safetensors",
        sha256="0e6114abf3d58e2c9be8879a0d21f636c6ec618088a946d357bd3c5c743b3129",
        task="complete",
        summary="key local patches (Lee et al.) on CIFAR-10: places three 8 px patches and inpaints the 32 px object around them; `retouch complete`",
        card="docs/models/cifar10-keypatch.md",
    ),
    "cifar10-tdgan": ZooEntry(
        file="cifar10-tdgan.safetensors",
        sha256="0792d3d4267071133697795f51e665fda9d9a3b1a819bca7150a90a1abbb6eb3",
        task="rerender",
        summary="TD-GAN on tagged CIFAR-10 (mirror, quarter turns, lighting, colour temperature) re-rendering 32 px objects; `retouch rerender`",
        card="docs/models/cifar10-tdgan.md",
    ),
    "colorize": ZooEntry(
        file="colorize.safetensors",
        sha256="1d971ec58af0ae88af2229facee8417d3fc78b7d9e1304e91b09343946024dfc",
        task="colorize",
        summary="chroma U-Net (ngf 32, L1 + cGAN, trained with a class head) colouring grey photos at 48 px, luma kept exactly; `retouch colorize`",
        card="docs/models/colorize.md",
    ),
    "repair": ZooEntry(
        file="repair.safetensors",
        sha256="354fcfef91d2481330ce4fbb1fd4d936c9a7ea435e4b234f53cb9420e48bbc9f",
        task="translate",
        summary="U-Net (ngf 32, L1) against blur, noise, JPEG blocking and downscaling drawn in random chains; `retouch repair`",
        card="docs/models/repair.md",
    ),
}


def save_weights(net: nn.Module, meta: dict, path: Path, half: bool = True) -> Path:
    """Write the network's tensors (fp16 by default: half the size, same results) and its metadata."""
    tensors = {k: (v.half() if half and v.is_floating_point() else v).contiguous().cpu() for k, v in net.state_dict().items()}
    meta = {**meta, "version": __version__}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        f.write(save(tensors, metadata={META_KEY: json.dumps(meta)}))
    return path


def resolve(model: str | Path) -> Path:
    """A zoo name, a .safetensors file, a reference .pth (`retouch.foreign`), or a run folder (its
    exported model.safetensors)."""
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
    """A weights file's metadata; for a reference .pth, what `retouch.foreign` infers (`arch` overrides)."""
    if path.suffix == ".pth":
        from retouch.foreign import read_foreign

        return read_foreign(path, arch)[1]
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError) as e:
        raise RetouchError(f"{path} is not a readable safetensors weights file ({e}).") from None
    if raw is None:
        raise RetouchError(f"{path} has no retouch metadata; convert foreign weights first.")
    return json.loads(raw)


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


def check_task(model: str | Path, meta: dict, task: str, hint: str = "") -> None:
    """Refuse a model trained for another task, in one sentence that names both (and `hint`: what
    to give instead), before any pixel goes through a network that would answer nonsense."""
    if meta.get("task") != task:
        raise RetouchError(f"Model {model} does the task {meta.get('task')!r}, not {task!r}" + (f": {hint}" if hint else "") + ".")


def load_model(model: str | Path, device: torch.device | str = "cpu", arch: str | None = None, task: str | None = None,
               hint: str = "") -> tuple[nn.Module, dict]:
    """The network in eval mode (fp32) and its metadata, from a name, file or run folder; a reference
    .pth is read by `retouch.foreign` (architecture inferred, or given by `arch`). With `task`, a
    model trained for another one is refused (`check_task`) before its weights are read."""
    path = resolve(model)
    if task is not None:
        check_task(model, read_meta(path, arch), task, hint)
    if path.suffix == ".pth":
        from retouch.foreign import read_foreign

        net, meta = read_foreign(path, arch)
        return net.to(device), meta
    meta = read_meta(path)
    net = build_net(dict(meta["net"]))
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    net.load_state_dict(state)
    return net.to(device).eval(), meta
