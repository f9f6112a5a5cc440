"""The conditional route to unpaired translation (Dong, Neekhara, Wu and Guo 2017), in two phases.

1. A conditional GAN learns G(z, domain): the same noise z drawn with either domain's label gives
   that domain's version of one underlying image, so z is the representation the domains share.
2. An encoder E learns to invert G, decode-then-encode: draw z and a domain, make G(z, domain) and
   regress E's code onto z (mean squared error). G is frozen then.

Translation is E, then G with the other domain's label (`nets.shared_latent.ConditionalTranslator`).
`encoder_share` is the part of the steps given to phase 2; the phase comes from the step count,
so a resumed run continues in the phase it stopped in. Export is a `twoway` file like CycleGAN's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from retouch.errors import RetouchError
from retouch.methods.base import Method, register, set_requires_grad
from retouch.nets import build_net
from retouch.nets.shared_latent import with_label


@dataclass
class CondGANConfig:
    z_dim: int = 128
    ngf: int = 64
    ndf: int = 64
    gan_mode: str = "vanilla"
    encoder_share: float = 0.3  # the last share of the steps trains the encoder (phase 2)
    lr: float = 2e-4
    beta1: float = 0.5


@register
class CondGAN(Method):
    Config = CondGANConfig
    inference_net = "G"
    task = "translate"

    def __init__(self, cfg: CondGANConfig, device: torch.device, dtype: torch.dtype, size: int, steps: int, decay_start: float):
        super().__init__(cfg, device, dtype)
        if not 0 < cfg.encoder_share < 1:
            raise RetouchError(f"encoder_share must lie strictly between 0 and 1, got {cfg.encoder_share}.")
        self.size, self.gan_steps = size, round(steps * (1 - cfg.encoder_share))
        self.add_net("G", {"name": "cond_g", "z_dim": cfg.z_dim, "ngf": cfg.ngf, "size": size})
        self.add_net("D", {"name": "cond_d", "ndf": cfg.ndf, "size": size})
        self.add_net("E", {"name": "noise_encoder", "z_dim": cfg.z_dim, "ndf": cfg.ndf, "size": size})
        betas = (cfg.beta1, 0.999)
        # each phase decays its learning rate over its own steps
        self.add_optimizer("G", self.nets["G"].parameters(), cfg.lr, betas, self.gan_steps, decay_start)
        self.add_adversary(self.nets["D"].parameters(), cfg.lr, cfg.beta1, self.gan_steps, decay_start, cfg.gan_mode)
        self.add_optimizer("E", self.nets["E"].parameters(), cfg.lr, betas, steps - self.gan_steps, decay_start)

    @classmethod
    def dataset(cls, data, train: bool = True):
        from retouch.data import UnalignedDataset

        return UnalignedDataset(data, train)

    def _draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise, and labels alternating between the domains."""
        return torch.randn(n, self.cfg.z_dim, device=self.device), torch.arange(n, device=self.device) % 2

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        # the phase from the steps taken so far (both schedules count theirs), so a resumed run knows it
        gan_phase = self.schedulers["G"].last_epoch + self.schedulers["E"].last_epoch < self.gan_steps
        out = self._gan_step(batch) if gan_phase else self._encoder_step(batch)
        for name in (("G", "D") if gan_phase else ("E",)):
            self.schedulers[name].step()
        return out

    def _gan_step(self, batch: dict) -> dict[str, torch.Tensor]:
        G, D = self.nets["G"], self.nets["D"]
        real = torch.cat([batch["A"], batch["B"]]).to(self.device)
        labels = torch.cat([torch.zeros(len(batch["A"])), torch.ones(len(batch["B"]))]).long().to(self.device)
        z, drawn = self._draw(real.size(0))
        set_requires_grad(D, False)
        with self.autocast():
            fake = G(z, drawn)
            loss_g = self.objective.g_loss(D, with_label(fake, drawn))
        self.update("G", loss_g)
        set_requires_grad(D, True)
        with self.autocast():
            loss_d = self.objective.d_loss(D, with_label(real, labels), with_label(fake.detach(), drawn))
        self.update("D", loss_d)
        return {"D": loss_d.detach(), "G_gan": loss_g.detach()}

    def _encoder_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """Decode-then-encode: E(G(z, d)) should give z back; G (in eval mode, frozen) only draws."""
        G, E = self.nets["G"], self.nets["E"]
        n = len(batch["A"]) + len(batch["B"])
        z, drawn = self._draw(n)
        G.eval()
        with torch.no_grad(), self.autocast():
            drawn_images = G(z, drawn)
        G.train()
        with self.autocast():
            loss = F.mse_loss(E(drawn_images).float(), z)
        self.update("E", loss)
        return {"E_z": loss.detach()}

    @torch.no_grad()
    def sample(self, batch: dict) -> torch.Tensor:
        """Rows of real A | A->B | real B | B->A, and G(z, A) | G(z, B) for fresh noise (one draw, both domains)."""
        net, _ = self.export()
        net.to(self.device).eval()
        G = self.nets["G"]
        G.eval()
        a, b = batch["A"].to(self.device), batch["B"].to(self.device)
        z = torch.randn(a.size(0), self.cfg.z_dim, device=self.device)
        with self.autocast():
            rows = [a, net.G_A(a), b, net.G_B(b), G(z, torch.zeros_like(z[:, 0]).long()), G(z, torch.ones_like(z[:, 0]).long())]
        G.train()
        return torch.cat([t.float().contiguous() for t in rows], dim=3)

    def export(self) -> tuple[torch.nn.Module, dict]:
        """Both directions as `ConditionalTranslator`s (encoder + generator with the other label) in one `twoway` file."""
        cfg = self.cfg
        spec = {"name": "twoway", "generator": {"name": "cond_translator", "z_dim": cfg.z_dim, "ngf": cfg.ngf, "ndf": cfg.ndf,
                                                "size": self.size}}
        net = build_net(spec)
        for path, target in ((net.G_A, 1.0), (net.G_B, 0.0)):
            path.E.load_state_dict(self.nets["E"].state_dict())
            path.G.load_state_dict(self.nets["G"].state_dict())
            path.target.fill_(target)
        return net, {"net": spec, "task": self.task, "method_config": asdict(self.cfg)}
