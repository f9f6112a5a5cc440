"""UNIT (Liu, Breuel and Kautz 2017): unpaired translation through a latent space both domains share.

Each domain has a VAE encoder and a GAN generator; their high-level layers are tied
(`nets.shared_latent.UNITGenerator`), so an image of A encoded and decoded by B's generator is
its translation. Losses, with the authors' default weights: per domain a VAE term (L1
reconstruction x10, KL x0.01), a GAN term (least squares, one PatchGAN per domain, x1), and the
cycle A -> B -> A (L1 x10, KL of the re-encoding x0.01). Larsen et al.'s VAE-GAN is the building
block: a VAE whose decoder is also a GAN generator.

Export is a `twoway` file like CycleGAN's (A->B and B->A each a `LatentPath`), so `retouch translate
--direction`, `eval-translation` and `export` take it as they take CycleGAN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from retouch.methods.base import Method, register, set_requires_grad
from retouch.nets import build_net
from retouch.nets.patchgan import receptive_field


@dataclass
class UNITConfig:
    """Network sizes and the loss weights (defaults: the authors' published configuration)."""

    ngf: int = 64
    n_down: int = 2
    n_res: int = 4  # residual blocks per encoder (and per generator), of which the last (first) n_shared are tied
    n_shared: int = 1
    norm: str = "instance"
    ndf: int = 64
    n_layers_D: int = 0  # 0 = the fewest layers whose outputs each see the whole crop (at most 3, a 70x70 PatchGAN)
    gan_mode: str = "lsgan"
    gan_weight: float = 1.0
    recon_weight: float = 10.0
    kl_weight: float = 0.01
    cycle_weight: float = 10.0
    cycle_kl_weight: float = 0.01
    lr: float = 1e-4
    beta1: float = 0.5


def kl(mu: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, I) || N(0, I)) up to a constant and a factor: the mean squared latent (the authors' form)."""
    return mu.float().pow(2).mean()


@register
class UNIT(Method):
    Config = UNITConfig
    inference_net = "G"
    task = "translate"

    def __init__(self, cfg: UNITConfig, device: torch.device, dtype: torch.dtype, size: int, steps: int, decay_start: float):
        super().__init__(cfg, device, dtype)
        self.add_net("G", {"name": "unit_g", "ngf": cfg.ngf, "n_down": cfg.n_down, "n_res": cfg.n_res, "n_shared": cfg.n_shared,
                           "norm": cfg.norm})
        n_layers = cfg.n_layers_D or next((n for n in range(1, 4) if receptive_field(n) >= size), 3)
        d = {"name": "patchgan", "in_channels": 3, "ndf": cfg.ndf, "n_layers": n_layers, "norm": cfg.norm}
        self.add_net("D_A", d)  # judges domain A
        self.add_net("D_B", d)
        betas = (cfg.beta1, 0.999)
        self.add_optimizer("G", self.nets["G"].parameters(), cfg.lr, betas, steps, decay_start)
        self.add_adversary([*self.nets["D_A"].parameters(), *self.nets["D_B"].parameters()], cfg.lr, cfg.beta1, steps, decay_start, cfg.gan_mode)

    @classmethod
    def dataset(cls, data, train: bool = True):
        from retouch.data import UnalignedDataset

        return UnalignedDataset(data, train)

    def _noisy(self, mu: torch.Tensor) -> torch.Tensor:
        return mu + torch.randn_like(mu)

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        cfg, G = self.cfg, self.nets["G"]
        real = {d: batch[d].to(self.device) for d in "AB"}
        other = {"A": "B", "B": "A"}
        set_requires_grad(self.nets["D_A"], False)
        set_requires_grad(self.nets["D_B"], False)
        losses: dict[str, torch.Tensor] = {}
        fakes: dict[str, torch.Tensor] = {}
        with self.autocast():
            mu = {d: G.encode(real[d], d) for d in "AB"}
            total = 0.0
            for d in "AB":
                o = other[d]
                z = self._noisy(mu[d])
                recon = F.l1_loss(G.decode(z, d).float(), real[d])
                fake = G.decode(z, o)  # d translated into o
                fakes[o] = fake
                gan = self.objective.g_loss(self.nets[f"D_{o}"], fake)
                mu_back = G.encode(fake, o)
                cycle = F.l1_loss(G.decode(self._noisy(mu_back), d).float(), real[d])
                total = total + (cfg.recon_weight * recon + cfg.kl_weight * kl(mu[d]) + cfg.gan_weight * gan
                                 + cfg.cycle_weight * cycle + cfg.cycle_kl_weight * kl(mu_back))
                losses |= {f"recon_{d}": recon, f"G_gan_{o}": gan, f"cycle_{d}": cycle}
        self.update("G", total)

        set_requires_grad(self.nets["D_A"], True)
        set_requires_grad(self.nets["D_B"], True)
        with self.autocast():
            d_losses = {d: self.objective.d_loss(self.nets[f"D_{d}"], real[d], fakes[d].detach()) for d in "AB"}
        self.update("D", sum(d_losses.values()))
        self.advance()
        return {**{f"D_{d}": v.detach() for d, v in d_losses.items()}, **{k: v.detach() for k, v in losses.items()}}

    @torch.no_grad()
    def sample(self, batch: dict) -> torch.Tensor:
        """Rows of real A | A->B | A->B->A | real B | B->A | B->A->B (latent means, no noise)."""
        G = self.nets["G"]
        G.eval()
        rows = []
        with self.autocast():
            for d, o in (("A", "B"), ("B", "A")):
                real = batch[d].to(self.device)
                fake = G.decode(G.encode(real, d), o)
                rows += [real, fake, G.decode(G.encode(fake, o), d)]
        G.train()
        return torch.cat([t.float().contiguous() for t in rows], dim=3)

    def export(self) -> tuple[torch.nn.Module, dict]:
        """Both directions as `LatentPath`s in one `twoway` file."""
        path = {k: v for k, v in self.specs["G"].items()} | {"name": "latent_path"}
        spec = {"name": "twoway", "generator": path}
        net = build_net(spec)
        net.G_A.take(self.nets["G"], "A", "B")
        net.G_B.take(self.nets["G"], "B", "A")
        return net, {"net": spec, "task": self.task, "method_config": asdict(self.cfg)}
