"""ESRGAN and Real-ESRGAN: RRDBNet in its three key layouts, and Real-ESRGAN's SRVGGNetCompact.

RRDBNet (`retouch.nets.rrdbnet`, whose names are BasicSR's) is read from:

- BasicSR / Real-ESRGAN (`RealESRGAN_x4plus.pth`, `RealESRGAN_x2plus.pth`, `ESRGAN_SRx4_*.pth`):
  `conv_first`, `body.N.rdb1.conv1`, `conv_body`, `conv_up1`, `conv_up2`, `conv_hr`, `conv_last`,
  usually wrapped as `{"params_ema": ...}` (the EMA weights, which Real-ESRGAN's inference prefers)
  or `{"params": ...}`; x2 and x1 fold the input by pixel unshuffle (12 or 48 input channels);
- the ESRGAN repository's `RRDBNet_arch.py` (`RRDB_ESRGAN_x4.pth`, `RRDB_PSNR_x4.pth`):
  `conv_first`, `RRDB_trunk.N.RDB1.conv1`, `trunk_conv`, `upconv1`, `upconv2`, `HRconv`, `conv_last`;
- the original ESRGAN code's `architecture.py` (the "old arch" of most community models):
  `model.0`, `model.1.sub.N.RDB1.conv1.0`, `model.1.sub.<blocks>` (the trunk conv), then one conv
  per x2 upsampling stage (`model.3`, `model.6`, ...), the HR conv and the last (`model.8`,
  `model.10` at x4), so 1x, 2x, 4x and 8x models all read. Its pixel-shuffle upsampling variant
  and its batch-norm variant are not read (the strict load names what does not fit).

SRVGGNetCompact (`realesr-general-x4v3.pth`, `realesr-animevideov3.pth`): `body.N.weight` only,
convs at even indices and PReLU slopes (shape [features]) at odd ones.

Both families work in [0, 1] RGB (`unit_range`). Nothing is downloaded: the user gives the file.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from retouch.models.foreign.keys import count_indices

ARCHS: dict[str, dict[str, Any]] = {"rrdbnet": {"name": "rrdbnet"}, "esrgan": {"name": "rrdbnet"},
                                    "srvgg": {"name": "srvgg"}, "srvggnetcompact": {"name": "srvgg"}}
TASKS = {"rrdbnet": "upscale", "srvgg": "upscale"}

_ESRGAN_REPO = ((r"^RRDB_trunk\.", "body."), (r"\.RDB(\d)\.", r".rdb\1."), (r"^trunk_conv\.", "conv_body."),
                (r"^upconv(\d+)\.", r"conv_up\1."), (r"^HRconv\.", "conv_hr."))


def recognise(state: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """The spec of an RRDBNet (any of its layouts) or an SRVGGNetCompact, or None for another family's keys."""
    if _layout(state) is not None:
        return _rrdbnet(rename(state))
    if "body.0.weight" in state and all(re.fullmatch(r"body\.\d+\.(weight|bias)", k) for k in state):
        return _srvgg(state)
    return None


def rename(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict under `retouch.nets.rrdbnet`'s names (BasicSR's), whichever layout it came in;
    other families' keys are already their nets'. A key no rule maps stays as it is, for the strict
    load to name."""
    layout = _layout(state)
    if layout == "esrgan":
        def new(k: str) -> str:
            for pattern, repl in _ESRGAN_REPO:
                k = re.sub(pattern, repl, k)
            return k
        return {new(k): v for k, v in state.items()}
    if layout == "old":
        return _old(state)
    return state


def training_size(spec: dict[str, Any]) -> int:
    return 256  # Real-ESRGAN's gt_size (ESRGAN's was 128)


def _layout(state: dict[str, torch.Tensor]) -> str | None:
    if "conv_first.weight" in state and "body.0.rdb1.conv1.weight" in state:
        return "basicsr"
    if "conv_first.weight" in state and "RRDB_trunk.0.RDB1.conv1.weight" in state:
        return "esrgan"
    if "model.0.weight" in state and "model.1.sub.0.RDB1.conv1.0.weight" in state:
        return "old"
    return None


def _old(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`architecture.py`'s flattened `model` Sequential to BasicSR's names: after the first conv and
    the shortcut block, the convs left are the upsampling stages', then the HR conv, then the last."""
    tail = sorted({int(m.group(1)) for k in state if (m := re.fullmatch(r"model\.(\d+)\.(?:weight|bias)", k)) and m.group(1) != "0"})
    names = {0: "conv_first", **{i: f"conv_up{n + 1}" for n, i in enumerate(tail[:-2])}}
    if len(tail) >= 2:
        names |= {tail[-2]: "conv_hr", tail[-1]: "conv_last"}
    out = {}
    for k, v in state.items():
        if m := re.fullmatch(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)", k):
            k = f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"
        elif m := re.fullmatch(r"model\.1\.sub\.\d+\.(weight|bias)", k):
            k = f"conv_body.{m[1]}"
        elif (m := re.fullmatch(r"model\.(\d+)\.(weight|bias)", k)) and int(m[1]) in names:
            k = f"{names[int(m[1])]}.{m[2]}"
        out[k] = v
    return out


def _rrdbnet(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    channels, folded = state["conv_first.weight"].shape[:2]
    out_channels = state["conv_last.weight"].shape[0]
    upsamples = count_indices(state, r"conv_up(\d+)\.weight")
    # Real-ESRGAN's x2 and x1 unshuffle the image (as many channels in as out) by 2 or 4 first
    fold = next((f for f in (4, 2) if folded == out_channels * f * f and 2**upsamples >= f), 1)
    return {"name": "rrdbnet", "scale": 2**upsamples // fold, "in_channels": folded // (fold * fold), "out_channels": out_channels,
            "channels": channels, "n_blocks": count_indices(state, r"body\.(\d+)\.rdb1\.conv1\.weight"),
            "growth": state["body.0.rdb1.conv1.weight"].shape[0], "upsamples": upsamples, "unit_range": True}


def _srvgg(state: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    convs = sorted(int(m[1]) for k, v in state.items() if (m := re.fullmatch(r"body\.(\d+)\.weight", k)) and v.dim() == 4)
    if len(convs) < 2 or convs != list(range(0, 2 * len(convs), 2)):
        return None  # not one conv, activation, conv, ... list
    channels, in_channels = state["body.0.weight"].shape[:2]
    scale = round((state[f"body.{convs[-1]}.weight"].shape[0] / in_channels) ** 0.5)
    if scale < 1 or in_channels * scale * scale != state[f"body.{convs[-1]}.weight"].shape[0]:
        return None
    # PReLU keeps one slope per channel; ReLU and LeakyReLU keep nothing and cannot be told apart (--arch srvgg:act=leakyrelu)
    act = "prelu" if "body.1.weight" in state else "relu"
    return {"name": "srvgg", "scale": scale, "in_channels": in_channels, "out_channels": in_channels, "channels": channels,
            "n_convs": len(convs) - 2, "act": act, "unit_range": True}
