"""Holistic generation from key local patches (Lee et al. 2018): given a few patches of an object
and no positions, draw the whole object with the patches where they belong.

Losses, per the paper: spatial (`spatial_weight`), appearance (the generated image inside the true
mask against the real pixels there, L1 averaged over the mask, `app_weight`) and adversarial (a
DCGAN discriminator on whole images, `gan_weight`), and, beyond the paper, `rec_weight` times the
L1 to the whole photo: the photo the patches came from is known too, and without it the rest of
the completion learns from the discriminator alone (noisy textures at our budget; docs/notes/benchmarks-history.md,
key local patches; 0 is the paper). The paper's spatial loss compares a predicted
mask with the true one; ours is the cross-entropy of each patch's placement against the corner it
was cut at, which says the same and which patch goes where, known for free too. In training the
patches are pasted at their true corners before the U-Net inpaints (`retouch.nets.keypatch`), so
only the spatial loss trains placement (an earlier version let the image losses move the mask too,
and placement fell below the centre prior: docs/notes/benchmarks-history.md); completions paste them where the
placement network says. Patches come for free from real photos
(`retouch.patches`; how many and how large: `data.regions` and `data.region_size`).
Export: the `keypatch` net, task "complete" (`retouch complete`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from retouch.methods.base import Method, register, set_requires_grad


@dataclass
class KeyPatchConfig:
    ngf: int = 64
    ndf: int = 64
    code: int = 128
    z_dim: int = 32
    spatial_weight: float = 1.0
    app_weight: float = 10.0
    gan_weight: float = 1.0
    rec_weight: float = 0.0
    gan_mode: str = "vanilla"
    lr: float = 2e-4
    beta1: float = 0.5


@register
class KeyPatch(Method):
    Config = KeyPatchConfig
    inference_net = "G"
    task = "complete"
    # the shipped recipes' sizes (configs/keypatch_*.yaml): three 8 px patches of a 32 px photo, what
    # `retouch complete` and `eval-keypatch` assume by default; CIFAR-10 is 32 px already and larger
    # photos are fitted to it, so `--data` alone trains on either
    data_defaults = {"size": 32, "regions": [3, 3], "region_size": [8, 8]}

    def __init__(self, cfg: KeyPatchConfig, device: torch.device, dtype: torch.dtype, size: int, steps: int, decay_start: float):
        super().__init__(cfg, device, dtype)
        self.add_net("G", {"name": "keypatch", "size": size, "ngf": cfg.ngf, "code": cfg.code, "z_dim": cfg.z_dim})
        self.add_net("D", {"name": "cond_d", "ndf": cfg.ndf, "size": size, "domains": 0})
        betas = (cfg.beta1, 0.999)
        self.add_optimizer("G", self.nets["G"].parameters(), cfg.lr, betas, steps, decay_start)
        self.add_adversary(self.nets["D"].parameters(), cfg.lr, cfg.beta1, steps, decay_start, cfg.gan_mode)

    @classmethod
    def dataset(cls, data, train: bool = True):
        from retouch.patches import KeyPatchImages

        return KeyPatchImages(data, train)

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        cfg, G = self.cfg, self.nets["G"]
        patches, mask, real, corners = (batch[k].to(self.device) for k in ("patches", "mask", "image", "positions"))
        z = torch.randn(real.size(0), cfg.z_dim, device=self.device)
        set_requires_grad(self.nets["D"], False)
        with self.autocast():
            fake, _, logits = G(patches, z, positions=corners)
            g = logits.shape[-1]
            spatial = F.cross_entropy(logits.float().flatten(2).flatten(0, 1), (corners[..., 0] * g + corners[..., 1]).flatten())
            error = (fake.float() - real).abs()
            appearance = (error * mask).sum() / (3 * mask.sum()).clamp(min=1)
            gan = self.objective.g_loss(self.nets["D"], fake)
            loss = cfg.spatial_weight * spatial + cfg.app_weight * appearance + cfg.gan_weight * gan + cfg.rec_weight * error.mean()
        self.update("G", loss)
        set_requires_grad(self.nets["D"], True)
        with self.autocast():
            d = self.objective.d_loss(self.nets["D"], real, fake.detach())
        self.update("D", d)
        self.advance()
        return {"spatial": spatial.detach(), "appearance": appearance.detach(), "rec": error.mean().detach(), "G_gan": gan.detach(),
                "D": d.detach()}

    @torch.no_grad()
    def sample(self, batch: dict) -> torch.Tensor:
        """Rows of the real photo with its patches lit | the completion with its predicted mask lit | the completion."""
        G = self.nets["G"]
        patches, mask, real = (batch[k].to(self.device) for k in ("patches", "mask", "image"))
        G.eval()
        with self.autocast():
            fake, placed, _ = G(patches)
        G.train()
        fake = fake.float()
        return torch.cat([lit(real, mask), lit(fake, placed.float()), fake], dim=3)


def lit(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The image darkened outside the mask (soft masks: in proportion), to show a placement."""
    return x * (0.35 + 0.65 * mask) - 0.65 * (1 - mask)
