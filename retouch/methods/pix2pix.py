"""pix2pix (Isola et al. 2017): a conditional GAN whose generator also minimises L1 to the target.

With `gan_weight: 0` it is the L1-only regression baseline (no discriminator is built), which
is how the model cards compare "what the adversarial term buys" at the same budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from retouch.losses import GANObjective
from retouch.methods import Method, register, set_requires_grad
from retouch.nets import build_net
from retouch.nets.unet import unet_depth


@dataclass
class Pix2PixConfig:
    """Networks and loss weights; defaults are the reference's (U-Net 256, 70x70 PatchGAN, lambda 100)."""

    netG: str = "unet"  # unet | resnet
    ngf: int = 64
    n_blocks: int = 9  # ResNet generator only
    netD: str = "patchgan"  # patchgan | pixel
    ndf: int = 64
    n_layers_D: int = 3
    norm: str = "batch"
    dropout: bool = True
    gan_mode: str = "vanilla"  # vanilla | lsgan | hinge | wgangp
    gan_weight: float = 1.0  # 0 = L1-only baseline
    lambda_l1: float = 100.0
    lr: float = 2e-4
    beta1: float = 0.5
    in_channels: int = 3
    out_channels: int = 3


@register
class Pix2Pix(Method):
    Config = Pix2PixConfig
    inference_net = "G"
    task = "translate"

    def __init__(self, cfg: Pix2PixConfig, device: torch.device, dtype: torch.dtype, size: int, steps: int, decay_start: float):
        super().__init__(cfg, device, dtype)
        if cfg.netG == "unet":
            g = {"name": "unet", "num_downs": unet_depth(size), "dropout": cfg.dropout}
        else:
            g = {"name": "resnet", "n_blocks": cfg.n_blocks, "dropout": cfg.dropout}
        self._add("G", {**g, "in_channels": cfg.in_channels, "out_channels": cfg.out_channels, "ngf": cfg.ngf, "norm": cfg.norm})
        betas = (cfg.beta1, 0.999)
        self.add_optimizer("G", self.nets["G"].parameters(), cfg.lr, betas, steps, decay_start)
        if cfg.gan_weight > 0:
            d = {"name": cfg.netD, "in_channels": cfg.in_channels + cfg.out_channels, "ndf": cfg.ndf, "norm": cfg.norm}
            if cfg.netD == "patchgan":
                d["n_layers"] = cfg.n_layers_D
            self._add("D", d)
            self.add_optimizer("D", self.nets["D"].parameters(), cfg.lr, betas, steps, decay_start)
            self.objective = GANObjective(cfg.gan_mode)

    def _add(self, name: str, spec: dict) -> None:
        self.specs[name] = spec
        self.nets[name] = build_net(dict(spec)).to(self.device)

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        cfg, G = self.cfg, self.nets["G"]
        x, y = batch["input"].to(self.device), batch["target"].to(self.device)
        with self.autocast():
            fake = G(x)
        losses: dict[str, torch.Tensor] = {}
        if "D" in self.nets:
            D = self.nets["D"]
            set_requires_grad(D, True)
            self.optimizers["D"].zero_grad(set_to_none=True)
            with self.autocast():
                loss_d = self.objective.d_loss(D, torch.cat([x, y], 1), torch.cat([x, fake.detach()], 1))
            loss_d.backward()
            self.optimizers["D"].step()
            set_requires_grad(D, False)
            losses["D"] = loss_d.detach()
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.autocast():
            loss_l1 = F.l1_loss(fake.float(), y)
            loss_g = cfg.lambda_l1 * loss_l1
            if "D" in self.nets:
                loss_gan = self.objective.g_loss(self.nets["D"], torch.cat([x, fake], 1))
                loss_g = loss_g + cfg.gan_weight * loss_gan
                losses["G_gan"] = loss_gan.detach()
        loss_g.backward()
        self.optimizers["G"].step()
        for s in self.schedulers.values():
            s.step()
        losses["G_l1"] = loss_l1.detach()
        return losses

    @torch.no_grad()
    def sample(self, batch: dict) -> torch.Tensor:
        G = self.nets["G"]
        x, y = batch["input"].to(self.device), batch["target"].to(self.device)
        G.eval()  # previews show what inference will give: dropout off, running statistics
        with self.autocast():
            fake = G(x).float()
        G.train()
        return torch.cat([x, fake, y], dim=3)
