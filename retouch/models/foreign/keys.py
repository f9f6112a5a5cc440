"""What a state dict's keys say: shared by the readers of each family."""

from __future__ import annotations

import re

import torch


def count_indices(state: dict[str, torch.Tensor], pattern: str) -> int:
    """How many distinct indices `pattern` (a regex with one group) matches among the keys."""
    return len({m.group(1) for k in state if (m := re.match(pattern, k))})


def norm_kind(state: dict[str, torch.Tensor]) -> str:
    """batch when norm layers keep weights and statistics; otherwise instance (no norm looks the same)."""
    stats = [k.removesuffix(".running_mean") for k in state if k.endswith(".running_mean")]
    return "batch" if any(f"{k}.weight" in state for k in stats) else "instance"
