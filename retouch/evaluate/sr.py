"""`retouch eval-sr`: super-resolution models on the classic benchmarks, beside bicubic.

The protocol of the SR literature, so numbers compare with published tables: each HR image is
cropped to a multiple of the scale (modcrop), shrunk by the same antialiased bicubic operator
that made the training inputs and saved to 8 bits (as an LR file would be); outputs are scored by
PSNR and SSIM on the BT.601 Y channel (`metrics.rgb_to_y`) after cutting `scale` pixels off every
border, where every method lacks context.
"""

from __future__ import annotations

from pathlib import Path

import torch
from rich.progress import track

from retouch.degrade import Downsample
from retouch.errors import RetouchError
from retouch.io import list_images, read_image, to_pil, to_tensor
from retouch.metrics import detail_ratio, mean_metrics, psnr, ssim
from retouch.tasks.upscale import BICUBIC, Bicubic, load_upscaler

# benchmark name -> folder under the shared data root (BSD100 is BSDS500's validation split)
SETS = {"Set5": "sr-bench/Set5", "Set14": "sr-bench/Set14", "BSD100": "bsds500/val", "Kodak24": "sr-bench/Kodak24"}


def modcrop(x: torch.Tensor, scale: int) -> torch.Tensor:
    """The top-left part of x whose sides are multiples of `scale`."""
    h, w = x.shape[2:]
    return x[:, :, : h - h % scale, : w - w % scale]


def low_res(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """The 8-bit LR input of a modcropped HR image."""
    return to_tensor(to_pil(Downsample(scale)(hr)))


def sr_scores(out: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, float]:
    """PSNR and SSIM on Y with a `scale`-pixel border cut, as SR papers report them, and the detail
    ratio (edge energy against the original's), which PSNR's preference for blur hides."""
    return {"psnr_y": psnr(out, hr, y_channel=True, crop_border=scale), "ssim_y": ssim(out, hr, y_channel=True, crop_border=scale),
            "detail": detail_ratio(out, hr)}


def set_folder(name: str, data: Path) -> Path:
    """A benchmark name under `data` (../shared/data), or any folder of HR images."""
    folder = data / SETS[name] if name in SETS else Path(name)
    if not folder.is_dir():
        raise RetouchError(f"No benchmark {name!r}: use {', '.join(SETS)} (under --data {data}) or a folder of images.")
    return folder


def evaluate_sr(models: list[str], sets: list[str], data: Path, scale: int | None = None, device: str = "auto",
                precision: str = "auto", limit: int | None = None, show_progress: bool = True) -> dict:
    """Mean Y PSNR/SSIM per benchmark for bicubic and each model; all must share one scale."""
    upscalers = {m: load_upscaler(m, scale, device, precision) for m in models if m != BICUBIC}
    scales = {up.scale for up in upscalers.values()} | ({scale} if scale else set())
    if len(scales) > 1:
        raise RetouchError(f"The models upscale by different factors ({', '.join(f'x{s}' for s in sorted(scales))}); evaluate one scale at a time.")
    s = scales.pop() if scales else Bicubic().scale
    rows = {BICUBIC: Bicubic(s), **upscalers}
    results: dict[str, dict] = {}
    for name in sets:
        paths = list_images(set_folder(name, data))[:limit]
        scores: dict[str, list] = {row: [] for row in rows}
        for path in track(paths, description=f"eval-sr {name}", disable=not show_progress):
            hr = modcrop(read_image(path), s)
            if min(hr.shape[2:]) < 4 * s:  # the protocol cuts a border of `s` pixels from each side
                raise RetouchError(f"{path} is {hr.shape[3]}x{hr.shape[2]} after cropping to multiples of {s}: too small for x{s} "
                                   f"evaluation (each side needs {4 * s} pixels); remove it from the folder.")
            lr = low_res(hr, s)
            for row, up in rows.items():
                scores[row].append(sr_scores(up(lr), hr, s))
        results[name] = {"images": len(paths), **{row: mean_metrics(v) for row, v in scores.items()}}
    return {"scale": s, "data": str(data), "results": results}
