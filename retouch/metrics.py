"""Honest image-quality metrics: PSNR and SSIM on the pixels a user would actually get.

Both images are quantised to uint8 first, with the same rounding as `retouch.io.to_pil`, so a
score describes the saved file, not float values no file holds. The Y-channel variants follow
the super-resolution literature (BT.601 luma as MATLAB's `rgb2ycbcr`, SSIM with Wang et al.'s
Gaussian window), so numbers are comparable with published tables.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image
from skimage.color import rgb2ycbcr
from skimage.filters import sobel
from skimage.metrics import structural_similarity

from retouch.errors import RetouchError
from retouch.io import _quantize, _to_rgb

PSNR_CAP = 100.0
"""dB; `mean_metrics` caps each PSNR here, so identical pairs (PSNR = inf) can be averaged."""

Img = torch.Tensor | Image.Image
"""An image to score: a tensor (1x3xHxW or 3xHxW) in [-1, 1], or a PIL image as loaded."""

_SSIM_WINDOW = 11  # the Gaussian window skimage uses for sigma=1.5 (truncate 3.5): 2*5+1


def _uint8(x: Img) -> np.ndarray:
    """HxWx3 uint8 array of an image tensor (NCHW with N=1, or CHW, in [-1, 1]) or a PIL image."""
    if isinstance(x, Image.Image):
        return np.asarray(_to_rgb(x), dtype=np.uint8)
    return _quantize(x).permute(1, 2, 0).numpy()


def _pair(a: Img, b: Img, crop_border: int) -> tuple[np.ndarray, np.ndarray]:
    """Both images as uint8 HxWx3, checked for equal size and with `crop_border` pixels cut off each side."""
    a8, b8 = _uint8(a), _uint8(b)
    if a8.shape != b8.shape:
        raise RetouchError(
            f"Cannot compare a {a8.shape[1]}x{a8.shape[0]} image with a {b8.shape[1]}x{b8.shape[0]} one; "
            "compare images of the same size."
        )
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        h, w = a8.shape[:2]
        if 2 * crop_border >= min(h, w):
            raise RetouchError(f"crop_border={crop_border} leaves nothing of a {w}x{h} image; use a smaller crop_border.")
        c = crop_border
        a8, b8 = a8[c:-c, c:-c], b8[c:-c, c:-c]
    return a8, b8


def rgb_to_y(x: np.ndarray) -> np.ndarray:
    """BT.601 luma of an HxWx3 RGB array (uint8, or float in [0, 1]), as MATLAB's `rgb2ycbcr`.

    Y = 16 + 65.481 R + 128.553 G + 24.966 B with R, G, B in [0, 1], so Y lies in [16, 235]
    (white -> 235, black -> 16). Returned as float64, not rounded (as BasicSR does), on the
    0..255 scale so PSNR/SSIM use a data range of 255.
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"expected an HxWx3 RGB array, got shape {x.shape}")
    if x.dtype != np.uint8:
        x = x.astype(np.float64)
    return rgb2ycbcr(x)[..., 0].astype(np.float64)


def _planes(a8: np.ndarray, b8: np.ndarray, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    if y_channel:
        return rgb_to_y(a8), rgb_to_y(b8)
    return a8.astype(np.float64), b8.astype(np.float64)


def _psnr8(a8: np.ndarray, b8: np.ndarray, y_channel: bool) -> float:
    pa, pb = _planes(a8, b8, y_channel)
    mse = float(np.mean((pa - pb) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)


def _ssim8(a8: np.ndarray, b8: np.ndarray, y_channel: bool) -> float:
    pa, pb = _planes(a8, b8, y_channel)
    h, w = pa.shape[:2]
    if min(h, w) < _SSIM_WINDOW:
        raise RetouchError(
            f"SSIM needs images at least {_SSIM_WINDOW}x{_SSIM_WINDOW} pixels (after crop_border); this one is {w}x{h}."
        )
    return float(
        structural_similarity(
            pa,
            pb,
            data_range=255.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            channel_axis=None if y_channel else 2,
        )
    )


def psnr(a: Img, b: Img, y_channel: bool = False, crop_border: int = 0) -> float:
    """PSNR in dB of one image pair on the 0..255 scale (RGB, or BT.601 Y with `y_channel`).

    Identical images give `math.inf` (zero error has no finite PSNR); average with
    `mean_metrics`, which caps it, rather than `statistics.mean`.
    """
    return _psnr8(*_pair(a, b, crop_border), y_channel)


def ssim(a: Img, b: Img, y_channel: bool = False, crop_border: int = 0) -> float:
    """SSIM of one image pair: Wang et al.'s setting (11x11 Gaussian window, sigma 1.5, population
    covariance, data range 255); for RGB the mean over the three channels. 1.0 means identical.
    """
    return _ssim8(*_pair(a, b, crop_border), y_channel)


def image_metrics(output: Img, target: Img, crop_border: int = 0) -> dict[str, float]:
    """All four standard scores of one output against its target: psnr_rgb, ssim_rgb, psnr_y, ssim_y."""
    a8, b8 = _pair(output, target, crop_border)  # quantise once; the four scores share it
    return {
        "psnr_rgb": _psnr8(a8, b8, y_channel=False),
        "ssim_rgb": _ssim8(a8, b8, y_channel=False),
        "psnr_y": _psnr8(a8, b8, y_channel=True),
        "ssim_y": _ssim8(a8, b8, y_channel=True),
    }


def detail_ratio(output: Img, target: Img) -> float:
    """Mean Sobel gradient magnitude of the output's Y over the target's: how much fine detail it has.

    PSNR and SSIM reward the blurry average of all plausible answers; this does not. 1.0 means as
    much edge energy as the original, below 1 smoother (an L1-trained restorer), above 1 more
    (noise, or invented texture). It says nothing about whether the detail is right: read it beside PSNR.
    """
    a, b = (rgb_to_y(x) / 255.0 for x in _pair(output, target, 0))
    return float(sobel(a).mean() / max(float(sobel(b).mean()), 1e-12))


def mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each key over `rows` (e.g. one `image_metrics` dict per image).

    Every PSNR (keys starting with "psnr") is capped at `PSNR_CAP` = 100 dB before averaging:
    an identical pair (inf) counts as 100 dB, so one perfect image neither makes the mean inf
    nor is silently dropped. Finite 8-bit PSNRs above 100 dB need a single off-by-one level in
    over ten million values, so the cap changes nothing else in practice. All rows must have the
    same keys.
    """
    if not rows:
        raise ValueError("mean_metrics needs at least one row")
    keys = list(rows[0])
    for i, row in enumerate(rows):
        if set(row) != set(keys):
            raise ValueError(f"row {i} has keys {sorted(row)}, expected {sorted(keys)}")
    out = {}
    for k in keys:
        values = [float(row[k]) for row in rows]
        if k.startswith("psnr"):
            values = [min(v, PSNR_CAP) for v in values]
        out[k] = sum(values) / len(values)
    return out


__all__ = ["PSNR_CAP", "detail_ratio", "image_metrics", "mean_metrics", "psnr", "rgb_to_y", "ssim"]


def warping_error(frames: list[np.ndarray], reference: list[np.ndarray], region: np.ndarray | None = None) -> float:
    """Flicker as Lai et al. (2018, "Learning Blind Video Temporal Consistency") measure it: E_warp,
    the mean over frames t >= 1 of sum(M_t * ||O_t - warp(O_t-1)||^2) / sum(M_t), RGB in [0, 1].

    `frames` (HxWx3 uint8) are the output O; the optical flow is computed on `reference` (the clean
    film, or the input), so every output is aligned the same way: OpenCV's DIS flow where Lai et al.
    used FlowNet2. M_t keeps the pixels the flow can follow: inside `region` (HxW bool; default the
    whole frame), inside the frame, and not occluded (forward-backward check, their threshold:
    |F_b(x) + F_f(x + F_b(x))|^2 < 0.01 (|F_b|^2 + |F_f|^2) + 0.5).
    """
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in reference]
    h, w = grey[0].shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    errors = []
    for t in range(1, len(frames)):
        back = dis.calc(grey[t], grey[t - 1], None)  # where each pixel of t was in t - 1
        fore = dis.calc(grey[t - 1], grey[t], None)
        mx, my = gx + back[..., 0], gy + back[..., 1]
        fore_there = cv2.remap(fore, mx, my, cv2.INTER_LINEAR)
        loop = ((back + fore_there) ** 2).sum(-1)
        visible = loop < 0.01 * ((back**2).sum(-1) + (fore_there**2).sum(-1)) + 0.5
        keep = visible & (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        if region is not None:
            keep &= region
        if not keep.any():
            continue
        warped = cv2.remap(frames[t - 1].astype(np.float32) / 255, mx, my, cv2.INTER_LINEAR)
        diff = ((frames[t].astype(np.float32) / 255 - warped) ** 2).sum(-1)
        errors.append(float(diff[keep].mean()))
    return float(np.mean(errors)) if errors else 0.0
