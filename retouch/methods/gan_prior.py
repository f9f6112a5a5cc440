"""A class-conditional BigGAN-style prior, trained here so the deep generative prior has a GAN to invert.

Hinge loss, spectral norm in both networks (nets/biggan.py), a projection discriminator, Adam with
β1 = 0 and the two-time-scale learning rates of SAGAN/BigGAN (D faster than G), and an
exponential moving average of G's weights, which is what inference and the prior use (`G_ema`,
as BigGAN-PyTorch ships it). With `augment`, real and generated images both pass through the same
differentiable random translation and cutout before D (DiffAugment, Zhao et al. 2020), which
keeps D from memorising a small set. Data: labelled images (the CIFAR-10 zip), as the classifier reads them.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from retouch.labelled import CIFAR10_CLASSES
from retouch.methods.base import Method, register, set_requires_grad


@dataclass
class GANPriorConfig:
    """Network widths and the optimiser; defaults are BigGAN-PyTorch's CIFAR recipe at a smaller width."""

    classes: list[str] = field(default_factory=lambda: list(CIFAR10_CLASSES))
    ch: int = 32  # G and D width multiplier (BigGAN-PyTorch's CIFAR runs use 64)
    dim_z: int = 128
    lr_G: float = 2e-4
    lr_D: float = 2e-4
    beta1: float = 0.0
    ema_decay: float = 0.999
    ema_start: int = 1000  # steps before the average starts (it copies G until then)
    augment: bool = True  # DiffAugment translation + cutout on everything D sees


def diff_augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random translation by up to 1/8 of the side (zero fill) and one cutout of half the side,
    per image, drawn from `gen`; differentiable in `x`, so G learns through it."""
    n, _, h, w = x.shape
    shift = torch.randint(-(h // 8), h // 8 + 1, (n, 2), generator=gen)
    padded = F.pad(x, [w // 8, w // 8, h // 8, h // 8])
    rows = (torch.arange(h)[None, :] + h // 8 - shift[:, :1]).to(x.device)  # (n, h)
    cols = (torch.arange(w)[None, :] + w // 8 - shift[:, 1:]).to(x.device)
    x = padded[torch.arange(n, device=x.device)[:, None, None, None], torch.arange(x.shape[1], device=x.device)[None, :, None, None],
               rows[:, None, :, None], cols[:, None, None, :]]
    centre = torch.stack([torch.randint(0, h, (n,), generator=gen), torch.randint(0, w, (n,), generator=gen)], 1)
    ys, xs = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    hole = ((ys - centre[:, :1, None]).abs() < h // 4) & ((xs - centre[:, 1:, None]).abs() < w // 4)
    return x * (~hole)[:, None].to(x)


@register
class GANPrior(Method):
    Config = GANPriorConfig
    inference_net = "G_ema"
    task = "generate"
    init_copies = ("G",)  # a run that continues a prior trains G from where G_ema ended

    def __init__(self, cfg: GANPriorConfig, device: torch.device, dtype: torch.dtype, size: int, steps: int, decay_start: float):
        super().__init__(cfg, device, dtype)
        common = {"resolution": size, "ch": cfg.ch, "n_classes": len(cfg.classes), "attention": 0}
        g = {"name": "biggan_g", **common, "dim_z": cfg.dim_z, "hier": False, "shared": False, "init": "orthogonal", "init_gain": 1.0}
        d = {"name": "biggan_d", **common, "init": "orthogonal", "init_gain": 1.0}
        self.add_net("G", g)
        self.add_net("G_ema", g)
        self.add_net("D", d)
        for net in (self.nets["G"], self.nets["D"]):  # class tables too, as BigGAN-PyTorch's 'ortho' init
            for m in net.modules():
                if isinstance(m, torch.nn.Embedding):
                    torch.nn.init.orthogonal_(m.weight)
        self.nets["G_ema"].load_state_dict(self.nets["G"].state_dict())
        set_requires_grad(self.nets["G_ema"], False)
        self.add_optimizer("G", self.nets["G"].parameters(), cfg.lr_G, (cfg.beta1, 0.999), steps, decay_start)
        self.add_adversary(self.nets["D"].parameters(), cfg.lr_D, cfg.beta1, steps, decay_start, "hinge")

    @classmethod
    def dataset(cls, data, train: bool = True):
        from retouch.labelled import LabelledImages

        return LabelledImages(data, train)

    def _augment(self, x: torch.Tensor, step: int) -> torch.Tensor:
        return diff_augment(x, torch.Generator().manual_seed(104_729 + step)) if self.cfg.augment else x

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        G, D = self.nets["G"], self.nets["D"]
        real, y = batch["image"].to(self.device), batch["label"].to(self.device)
        step = self.schedulers["G"].last_epoch
        z = torch.randn(real.size(0), G.dim_z, device=self.device)
        judge = functools.partial(D, y=y)
        set_requires_grad(D, True)
        with self.autocast():
            fake = G(z, y)
            loss_d = self.objective.d_loss(judge, self._augment(real, step), self._augment(fake.detach(), step))
        self.update("D", loss_d)
        set_requires_grad(D, False)
        with self.autocast():
            loss_g = self.objective.g_loss(judge, self._augment(fake, step + 1))
        self.update("G", loss_g)
        self._update_ema(step)
        self.advance()
        return {"D": loss_d.detach(), "G": loss_g.detach()}

    @torch.no_grad()
    def _update_ema(self, step: int) -> None:
        decay = self.cfg.ema_decay if step >= self.cfg.ema_start else 0.0
        ema, g = self.nets["G_ema"].state_dict(), self.nets["G"].state_dict()
        for k, v in ema.items():
            if v.is_floating_point():
                v.lerp_(g[k], 1 - decay)
            else:
                v.copy_(g[k])

    @torch.no_grad()
    def sample(self, batch: dict) -> torch.Tensor:
        """Rows of 8 samples from G_ema, one row per class, fixed latents (the batch is not used)."""
        G = self.nets["G_ema"]
        y = torch.arange(len(self.cfg.classes), device=self.device)
        gen = torch.Generator().manual_seed(0)
        z = torch.randn(y.size(0) * 8, G.dim_z, generator=gen).to(self.device)
        G.eval()
        with self.autocast():
            images = G(z, y.repeat_interleave(8)).float()
        G.train()
        return torch.cat(list(images.view(y.size(0), 8, 3, *images.shape[2:]).unbind(1)), dim=3)

    def export(self) -> tuple[torch.nn.Module, dict]:
        return self.nets["G_ema"], {"net": self.specs["G_ema"], "task": self.task, "method_config": asdict(self.cfg),
                                    "classes": list(self.cfg.classes)}

    def export_extra(self) -> dict[str, tuple[torch.nn.Module, dict]]:
        """The discriminator, for the deep generative prior's discriminator-feature distance."""
        return {"discriminator": (self.nets["D"], {"net": self.specs["D"], "task": "discriminate", "classes": list(self.cfg.classes)})}

