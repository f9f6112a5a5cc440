"""DGP's tasks: each a degradation φ (composable), default stages, and how the result is finished.

Restoration tasks (`reconstruct`, `colorize`, `inpaint`, `upscale`, `defend`) fit the prior to
the observation; manipulations (`jitter`, `morph`, `transfer`) reconstruct first, then move the
latent, the weights or the class. Stage lengths and learning rates below are this repository's
defaults for 32 px priors, chosen on CIFAR-10 training images (docs/notes/guide-history.md gives the choice);
DGP's own for 128/256 px ImageNet BigGANs are longer (hundreds of steps per stage).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import torch
from skimage.color import lab2rgb, rgb2lab
from torch import Tensor

from retouch.degrade import Greyscale, _resize
from retouch.errors import RetouchError
from retouch.prior.engine import DGP, Fit, Settings, Stage


@dataclass(frozen=True)
class Observation:
    """φ at G's resolution, composed in the order a photo loses them: colour, then resolution
    (down by `scale` and back up, bicubic), then the holes (`mask`: B1HW, 1 = known pixel)."""

    grey: bool = False
    scale: int = 1
    mask: Tensor | None = None

    @property
    def per_image(self) -> bool:
        """Whether images differ in φ (their own masks), which the latent search must respect."""
        return self.mask is not None and self.mask.size(0) > 1

    def __call__(self, x: Tensor, which: Tensor) -> Tensor:
        if self.grey:
            x = Greyscale()(x)
        if self.scale > 1:
            h, w = x.shape[2:]
            x = _resize(_resize(x, h // self.scale, w // self.scale, "bicubic"), h, w, "bicubic")
        if self.mask is not None:
            x = x * (self.mask if self.mask.size(0) == 1 else self.mask[which])
        return x


def _progressive(steps: int, lr_G: float, lr_z: float, w_mse: float, w_D: float = 1.0, parts: int = 5) -> tuple[Stage, ...]:
    """`parts` stages of `steps` each, stage k fine-tuning G's first k parts (all at the last)."""
    return tuple(Stage(steps, k, lr_G, lr_z, w_mse, w_D) for k in range(1, parts + 1))


# Defaults for 32 px priors. Every restoration keeps an MSE term: at this size D's features alone
# leave colour and position loose (docs/benchmarks.md has the ablation).
SETTINGS: dict[str, Settings] = {
    "reconstruct": Settings(_progressive(12, 2e-4, 1e-2, w_mse=1.0)),
    "colorize": Settings(_progressive(12, 2e-4, 1e-2, w_mse=1.0)),
    "inpaint": Settings(_progressive(12, 2e-4, 1e-2, w_mse=1.0)),
    "upscale": Settings(_progressive(12, 2e-4, 1e-2, w_mse=1.0)),
    "defend": Settings(_progressive(12, 2e-4, 1e-2, w_mse=1.0), early_stop_mse=0.004),
}
RESTORE = tuple(SETTINGS)
MANIPULATE = ("jitter", "morph", "transfer")
TASKS = RESTORE + MANIPULATE


def observation_for(task: str, mask: Tensor | None = None, scale: int = 4, grey: bool = False) -> Observation:
    """The φ a restoration task inverts; `grey`, `mask` and `scale` compose onto any of them."""
    if task not in RESTORE:
        raise RetouchError(f"Unknown DGP restoration {task!r}; use one of {', '.join(RESTORE)}.")
    if task == "inpaint" and mask is None:
        raise RetouchError("inpaint needs a mask (white = fill, black = keep).")
    return Observation(grey=grey or task == "colorize", scale=scale if task == "upscale" else 1, mask=mask)


def observe_input(images: Tensor, obs: Observation, size: int) -> Tensor:
    """The degraded inputs as observations at G's size: small inputs are brought up with the same
    bicubic kernel φ uses, then φ's colour loss and holes apply (a no-op where the input has them)."""
    if images.shape[2:] != (size, size):
        expected = size // obs.scale
        if images.shape[2:] != (expected, expected):
            raise RetouchError(f"This prior restores {size}x{size} images (inputs {expected}x{expected} for x{obs.scale} upscaling); "
                               f"got {images.shape[3]}x{images.shape[2]}.")
        images = _resize(images, size, size, "bicubic")
    return replace(obs, scale=1)(images, torch.arange(images.size(0), device=images.device))


def keep_lightness(grey: Tensor, colour: Tensor) -> Tensor:
    """Lab: the lightness of `grey`, the colour (a, b) of `colour`; both (B, 3, H, W) in [-1, 1]."""
    def lab(t: Tensor) -> np.ndarray:
        return rgb2lab(((t.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).cpu().numpy())

    mixed = lab(colour)
    mixed[..., 0] = lab(grey)[..., 0]
    with warnings.catch_warnings():  # a bright grey under a saturated colour leaves the gamut: clipped, as expected
        warnings.filterwarnings("ignore", message="Conversion from CIE-LAB")
        rgb = lab2rgb(mixed)
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).float().to(colour.device) * 2 - 1


def finish(fit: Fit, observed: Tensor, obs: Observation) -> Tensor:
    """The restored images: G's output, with what the input knows put back. Inpainting keeps the
    known pixels; colourisation keeps the input's lightness and takes only colour from G."""
    out = fit.image
    known = obs.mask > 0.5 if obs.mask is not None and obs.scale == 1 else None
    if obs.grey and obs.scale == 1:  # lightness from the input where it has pixels of its own
        coloured = keep_lightness(observed, out)
        out = coloured if known is None else torch.where(known, coloured, out)
    elif known is not None:
        out = torch.where(known, observed, out)
    return out


def restore(dgp: DGP, task: str, images: Tensor, mask: Tensor | None = None, y: Tensor | None = None, scale: int = 4,
            grey: bool = False, settings: Settings | None = None, seed: int = 0, **fit_args) -> tuple[Tensor, Fit]:
    """Run one restoration task on a batch: (restored images at G's size, the fit)."""
    obs = observation_for(task, mask=None if mask is None else mask.to(dgp.device), scale=scale, grey=grey)
    observed = observe_input(images.to(dgp.device), obs, dgp.size)
    fit = dgp.fit(observed, obs, settings or SETTINGS[task], y=y, seed=seed, **fit_args)
    return finish(fit, observed, obs), fit


def jitter(dgp: DGP, fit: Fit, count: int = 7, sigma: float = 0.3, seed: int = 0) -> Tensor:
    """`count` variations of each reconstruction: its latent plus Gaussian noise, its weights kept.
    Returns (B, count, 3, H, W)."""
    noise = torch.randn(count, *fit.z.shape, generator=torch.Generator().manual_seed(seed)).to(fit.z)
    return torch.stack([dgp.generate(fit.z + sigma * noise[k], fit.y, fit.params) for k in range(count)], 1)


def _mix_params(dgp: DGP, fit: Fit, a: int, b: int, t: float) -> dict[str, Tensor]:
    """Image a's weights moved a fraction t towards image b's; class tables mix a's class row with
    b's class row (in a's slot), so the class moves with everything else."""
    out = {}
    for name, p in fit.params.items():
        mixed = torch.lerp(p[a], p[b], t)
        if name in dgp.class_tables:
            mixed = mixed.clone()
            mixed[fit.y[a]] = torch.lerp(p[a, fit.y[a]], p[b, fit.y[b]], t)
        out[name] = mixed.unsqueeze(0)
    return out


def morph(dgp: DGP, fit: Fit, a: int = 0, b: int = 1, frames: int = 8) -> Tensor:
    """Interpolate latent and fine-tuned weights (class included) between reconstructions a and b:
    (frames, 3, H, W), a first, b last."""
    out = []
    for t in torch.linspace(0, 1, frames).tolist():
        z = torch.lerp(fit.z[a], fit.z[b], t)[None]
        out.append(dgp.generate(z, fit.y[a:a + 1], _mix_params(dgp, fit, a, b, t))[0])
    return torch.stack(out)


def transfer(dgp: DGP, fit: Fit, classes: list[int] | None = None) -> Tensor:
    """Each reconstruction redrawn as every class in `classes` (all by default), latent and
    fine-tuned weights kept: (B, len(classes), 3, H, W)."""
    classes = list(range(dgp.n_classes)) if classes is None else classes
    cols = [dgp.generate(fit.z, torch.full_like(fit.y, c), fit.params) for c in classes]
    return torch.stack(cols, 1)
