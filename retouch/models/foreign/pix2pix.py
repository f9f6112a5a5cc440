"""pytorch-CycleGAN-and-pix2pix generators (`latest_net_G.pth`, `latest_net_G_A.pth`): the U-Net
(`unet_128`, `unet_256`, any depth) and the ResNet generator (`resnet_6blocks`, `resnet_9blocks`),
whose module trees `retouch.nets.unet` and `retouch.nets.resnet` share key for key.

The reference gives a conv a bias only before instance norm, so its `--norm none` files have no
conv biases (and no statistics): read as `norm: none, bias: false`. A file with biases and no
statistics is instance norm, or no norm as retouch trains it (default instance), and reflect and
replicate padding leave the same keys (default reflect); `--arch` says what the keys cannot. A
U-Net's dropout has no weights and the ResNet's only shifts indices; either is off at inference
(eval mode: what the reference's `test.py --eval` runs).
"""

from __future__ import annotations

import re
from typing import Any

import torch

from retouch.models.foreign.keys import count_indices, norm_kind

ARCHS: dict[str, dict[str, Any]] = {
    "unet": {"name": "unet"},
    "unet_128": {"name": "unet", "num_downs": 7},
    "unet_256": {"name": "unet", "num_downs": 8},
    "resnet": {"name": "resnet"},
    "resnet_6blocks": {"name": "resnet", "n_blocks": 6},
    "resnet_9blocks": {"name": "resnet", "n_blocks": 9},
}
TASKS = {"unet": "translate", "resnet": "translate"}
SIZES = {"resnet": 256}  # the reference's default crop; a U-Net's is 2 ** num_downs


def recognise(state: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """The spec of a reference U-Net or ResNet generator, or None for another family's keys."""
    if "model.model.0.weight" in state:
        return _unet(state)
    if "model.1.weight" in state and any(".conv_block." in k for k in state):
        return _resnet(state)
    return None


def training_size(spec: dict[str, Any]) -> int:
    """unet_256 was trained on 256 px crops, unet_128 on 128; the ResNet generator on 256."""
    return 2 ** spec["num_downs"] if spec["name"] == "unet" else SIZES[spec["name"]]


def _norm(state: dict[str, torch.Tensor], first_conv: str) -> dict[str, Any]:
    """`norm` (and `bias: False` for the reference's bias-less `--norm none`) from the statistics
    and whether the first conv, which a norm follows, has a bias."""
    norm = norm_kind(state)
    if norm != "batch" and f"{first_conv}.bias" not in state:
        return {"norm": "none", "bias": False}
    return {"norm": norm}


def _unet(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    ngf, in_channels = state["model.model.0.weight"].shape[:2]
    up = state["model.model.3.weight"]  # outermost ConvTranspose2d: (channels from below, out_channels, 4, 4)
    convs = sum(1 for k, v in state.items() if k.endswith(".weight") and v.dim() == 4)
    return {"name": "unet", "in_channels": in_channels, "out_channels": up.shape[1], "num_downs": convs // 2, "ngf": ngf,
            **_norm(state, "model.model.0"), "dropout": False, "skips": up.shape[0] == 2 * ngf}


def _resnet(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    ngf, in_channels = state["model.1.weight"].shape[:2]
    n_blocks = count_indices(state, r"model\.(\d+)\.conv_block\.")
    first = next(k for k in state if ".conv_block." in k)
    prefix = first[: first.index(".conv_block.")]
    zero = f"{prefix}.conv_block.0.weight" in state  # no pad layer in front of the first conv
    second = max(int(m.group(1)) for k in state if k.startswith(prefix) and (m := re.search(r"conv_block\.(\d+)\.weight$", k))
                 and state[k].dim() == 4)
    last = max((k for k in state if re.fullmatch(r"model\.\d+\.weight", k)), key=lambda k: int(k.split(".")[1]))
    return {"name": "resnet", "in_channels": in_channels, "out_channels": state[last].shape[0], "ngf": ngf,
            **_norm(state, "model.1"), "dropout": second == (4 if zero else 6), "n_blocks": n_blocks,
            "padding": "zero" if zero else "reflect"}
