"""BasicSR's MSRResNet (`{"params": ...}` or a bare state dict), as `retouch.nets.msrresnet`."""

from __future__ import annotations

from typing import Any

import torch

from retouch.models.foreign.keys import count_indices

ARCHS: dict[str, dict[str, Any]] = {"msrresnet": {"name": "msrresnet"}}
TASKS = {"msrresnet": "upscale"}


def recognise(state: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """The spec of an MSRResNet, or None for another family's keys."""
    if "conv_first.weight" in state and "body.0.conv1.weight" in state and "upconv1.weight" in state:  # not RRDBNet's
        return _msrresnet(state)
    return None


def training_size(spec: dict[str, Any]) -> int:
    return 128  # BasicSR's gt_size for MSRResNet


def _msrresnet(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    channels, in_channels = state["conv_first.weight"].shape[:2]
    scale = 4 if "upconv2.weight" in state else round((state["upconv1.weight"].shape[0] / channels) ** 0.5)
    return {"name": "msrresnet", "scale": scale, "in_channels": in_channels, "out_channels": state["conv_last.weight"].shape[0],
            "channels": channels, "n_blocks": count_indices(state, r"body\.(\d+)\.conv1\."), "unit_range": True}
