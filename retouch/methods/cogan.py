"""CoGAN (Liu and Tuzel 2016): two GANs, one per domain, that share weights, learnt without pairs.

The generators share their first (high-level) layers and the discriminators their last ones
(`nets.shared_latent.CoupledGenerator` / `CoupledDiscriminator`); each pair is otherwise an
ordinary GAN on its domain's images. Nothing ever shows the model a corresponding pair, yet one
noise draw gives one: the shared layers decide the content, the per-domain ones only how each
domain renders it. `retouch sample RUN -n 16 -o pairs.png` draws such pairs.

Data: two unpaired folders (trainA/, trainB/), or one set of photos and a degradation for the
second domain (data.degrade, e.g. `grey`), each B image degraded from another random photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from retouch.methods.base import Method, register, set_requires_grad


@dataclass
class CoGANConfig:
    z_dim: int = 100
    ngf: int = 64
    ndf: int = 64
    own_g: int = 1  # per-domain (last) upsamplings of the generators; the rest are shared
    own_d: int = 1  # per-domain (first) layers of the discriminators
    gan_mode: str = "vanilla"
    lr: float = 2e-4
    beta1: float = 0.5


@register
class CoGAN(Method):
    Config = CoGANConfig
    inference_net = "G"
    task = "sample-pairs"

    def __init__(self, cfg: CoGANConfig, device: torch.device, dtype: torch.dtype, size: int, steps: int, decay_start: float):
        super().__init__(cfg, device, dtype)
        self.add_net("G", {"name": "cogan_g", "z_dim": cfg.z_dim, "ngf": cfg.ngf, "size": size, "own": cfg.own_g})
        self.add_net("D", {"name": "cogan_d", "ndf": cfg.ndf, "size": size, "own": cfg.own_d})
        betas = (cfg.beta1, 0.999)
        self.add_optimizer("G", self.nets["G"].parameters(), cfg.lr, betas, steps, decay_start)
        self.add_adversary(self.nets["D"].parameters(), cfg.lr, cfg.beta1, steps, decay_start, cfg.gan_mode)

    @classmethod
    def dataset(cls, data, train: bool = True):
        from retouch.data import UnalignedDataset

        return UnalignedDataset(data, train)

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        G, D = self.nets["G"], self.nets["D"]
        real = {d: batch[d].to(self.device) for d in "AB"}
        judge = {d: (lambda x, d=d: D(x, d)) for d in "AB"}
        z = torch.randn(real["A"].size(0), self.cfg.z_dim, device=self.device)
        set_requires_grad(D, False)
        with self.autocast():
            fake = dict(zip("AB", G(z)))
            loss_g = sum(self.objective.g_loss(judge[d], fake[d]) for d in "AB")
        self.update("G", loss_g)
        set_requires_grad(D, True)
        with self.autocast():
            d_losses = {d: self.objective.d_loss(judge[d], real[d], fake[d].detach()) for d in "AB"}
        self.update("D", sum(d_losses.values()))
        self.advance()
        return {"D_A": d_losses["A"].detach(), "D_B": d_losses["B"].detach(), "G_gan": loss_g.detach()}

    @torch.no_grad()
    def sample(self, batch: dict) -> torch.Tensor:
        """Rows of pairs from one draw each (A | B), beside real A | real B; the noise is fixed by
        the batch size so previews of one run compare across steps."""
        G = self.nets["G"]
        n = batch["A"].size(0)
        z = torch.randn(n, self.cfg.z_dim, generator=torch.Generator().manual_seed(0)).to(self.device)
        G.eval()
        with self.autocast():
            a, b = G(z)
        G.train()
        rows = [a, b, batch["A"].to(self.device), batch["B"].to(self.device)]
        return torch.cat([t.float().contiguous() for t in rows], dim=3)
