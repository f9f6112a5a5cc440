"""TD-GAN (Wang et al. 2017): re-render an object with one tag changed, from disentangled codes.

Training data are photos under known tags (`retouch.tagged.TaggedImages`): each item is a photo
under some tags and the same photo with one tag changed, which is what a re-render of the first
should give (the paper's multi-view pairs of one chair). Losses:

- reconstruction: G(E(x)) against x (L1, `rec_weight`);
- tags: each tag's code classified by its distance to the value table (cross-entropy, `tag_weight`);
- re-render: x's codes with the changed tag swapped for the table's entry of its new value,
  rendered, against the true re-render (L1, `render_weight`);
- adversarial: a DCGAN discriminator on the re-renders (`gan_weight`; 0 builds none).

`tag_weight: 0` and `render_weight: 0` is the plain autoencoder the issue compares against: the
same nets and budget, no tag supervision. Export: the whole TDGAN net, task "rerender".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from retouch.methods.base import Method, register, set_requires_grad
from retouch.tagged import TAGS


@dataclass
class TDGANConfig:
    ngf: int = 64
    ndf: int = 64
    z_dim: int = 64
    tag_dim: int = 8
    rec_weight: float = 10.0
    tag_weight: float = 1.0
    render_weight: float = 10.0
    gan_weight: float = 0.1
    gan_mode: str = "vanilla"
    lr: float = 2e-4
    beta1: float = 0.5


@register
class TDGANMethod(Method):
    Config = TDGANConfig
    inference_net = "G"
    task = "rerender"

    def __init__(self, cfg: TDGANConfig, device: torch.device, dtype: torch.dtype, size: int, steps: int, decay_start: float):
        super().__init__(cfg, device, dtype)
        self.add_net("G", {"name": "tdgan", "size": size, "ngf": cfg.ngf, "z_dim": cfg.z_dim, "tag_dim": cfg.tag_dim,
                           "tags": [len(v) for v in TAGS.values()]})
        betas = (cfg.beta1, 0.999)
        self.add_optimizer("G", self.nets["G"].parameters(), cfg.lr, betas, steps, decay_start)
        if cfg.gan_weight > 0:
            self.add_net("D", {"name": "cond_d", "ndf": cfg.ndf, "size": size, "domains": 0})
            self.add_adversary(self.nets["D"].parameters(), cfg.lr, cfg.beta1, steps, decay_start, cfg.gan_mode)

    @classmethod
    def dataset(cls, data, train: bool = True):
        from retouch.tagged import TaggedImages

        return TaggedImages(data, train)

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        cfg, G = self.cfg, self.nets["G"]
        x, target = batch["A"].to(self.device), batch["B"].to(self.device)
        tags, new = batch["tags"].to(self.device), batch["new_tags"].to(self.device)
        gan = cfg.gan_weight > 0
        if gan:
            set_requires_grad(self.nets["D"], False)
        with self.autocast():
            z, codes = G.encode(x)
            rec = F.l1_loss(G.decode(z, codes).float(), x)
            tag = sum(F.cross_entropy(logits.float(), tags[:, t]) for t, logits in enumerate(G.tag_logits(codes)))
            which = new != tags
            swapped = [torch.where(which[:, t : t + 1], G.embed[t](new[:, t]).to(c), c) for t, c in enumerate(codes)]
            rendered = G.decode(z, swapped)
            render = F.l1_loss(rendered.float(), target)
            loss = cfg.rec_weight * rec + cfg.tag_weight * tag + cfg.render_weight * render
            losses = {"rec": rec, "tag": tag, "render": render}
            if gan:
                g_gan = self.objective.g_loss(self.nets["D"], rendered)
                loss = loss + cfg.gan_weight * g_gan
                losses["G_gan"] = g_gan
        self.update("G", loss)
        if gan:
            set_requires_grad(self.nets["D"], True)
            with self.autocast():
                d = self.objective.d_loss(self.nets["D"], target, rendered.detach())
            self.update("D", d)
            losses["D"] = d
        self.advance()
        return {k: v.detach() for k, v in losses.items()}

    @torch.no_grad()
    def sample(self, batch: dict) -> torch.Tensor:
        """Rows of input | reconstruction | re-render | the true re-render."""
        G = self.nets["G"]
        x, target = batch["A"].to(self.device), batch["B"].to(self.device)
        tags, new = batch["tags"].to(self.device), batch["new_tags"].to(self.device)
        G.eval()
        with self.autocast():
            rows = [x, G(x), G.rerender(x, new, new != tags), target]
        G.train()
        return torch.cat([t.float().contiguous() for t in rows], dim=3)
