"""Unpaired translation: CycleGAN (Zhu et al. 2017) and its dual-learning relatives, one method.

Two generators (G_A: A->B, G_B: B->A) and two discriminators (D_A judges domain B, D_B domain A,
the reference's naming) learn from unpaired images: each translation must fool its discriminator
and translate back to where it started (cycle consistency). `objective` picks a published
recipe, which only sets defaults; any field given explicitly wins:

| objective | GAN loss | reconstruction | identity | pool | generator | discriminator |
| --- | --- | --- | --- | --- | --- | --- |
| cyclegan | least squares | L1, weight 10 | 0.5 | 50 | ResNet (9 blocks; 6 at <= 128 px) | 70x70 PatchGAN |
| dualgan (Yi et al. 2017) | Wasserstein + GP (`gan_mode: wgan` + `clip: 0.01` for the paper's clipping) | L1, weight 10 | - | - | U-Net, dropout as the noise | PatchGAN critic |
| discogan (Kim et al. 2017) | sigmoid cross-entropy | MSE, weight 1 | - | - | encoder-decoder, no skips | PatchGAN deep enough that every output sees the whole crop |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from retouch.errors import RetouchError
from retouch.losses import GANObjective
from retouch.methods.base import Method, register, set_requires_grad
from retouch.nets import build_net
from retouch.nets.patchgan import receptive_field
from retouch.nets.unet import unet_depth

OBJECTIVES: dict[str, dict] = {
    "cyclegan": dict(gan_mode="lsgan", netG="resnet", norm="instance", dropout=False, recon="l1", lambda_A=10.0,
                     lambda_B=10.0, lambda_identity=0.5, pool_size=50, n_layers_D=3),
    "dualgan": dict(gan_mode="wgangp", netG="unet", norm="instance", dropout=True, recon="l1", lambda_A=10.0,
                    lambda_B=10.0, lambda_identity=0.0, pool_size=0, n_layers_D=3),
    "discogan": dict(gan_mode="vanilla", netG="encdec", norm="batch", dropout=False, recon="mse", lambda_A=1.0,
                     lambda_B=1.0, lambda_identity=0.0, pool_size=0, n_layers_D=0),
}
GENERATORS = ("resnet", "unet", "encdec")


@dataclass
class CycleGANConfig:
    """Fields left at None take the `objective`'s value (table above), so a config names only what it changes."""

    objective: str = "cyclegan"  # cyclegan | dualgan | discogan
    gan_mode: str | None = None
    netG: str | None = None  # resnet | unet | encdec (a U-Net without skips)
    norm: str | None = None
    dropout: bool | None = None
    recon: str | None = None  # l1 | mse: the cycle (and identity) distance
    lambda_A: float | None = None  # weight of the A -> B -> A cycle
    lambda_B: float | None = None
    lambda_identity: float | None = None  # times lambda: G_A(b) should stay b (keeps colours)
    pool_size: int | None = None  # history of generated images shown to the discriminators
    n_layers_D: int | None = None  # 0 = the fewest layers whose outputs each see the whole crop
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 0  # ResNet generator; 0 = 9 above 128 px, 6 at or below
    clip: float = 0.0  # WGAN weight clipping of the discriminators (0 = off)
    lr: float = 2e-4
    beta1: float = 0.5

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise RetouchError(f"Unknown objective {self.objective!r}; use one of {', '.join(OBJECTIVES)}.")
        for key, value in OBJECTIVES[self.objective].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.netG not in GENERATORS:
            raise RetouchError(f"Unknown netG {self.netG!r} for unpaired translation; use one of {', '.join(GENERATORS)}.")
        if self.recon not in ("l1", "mse"):
            raise RetouchError(f"Unknown recon {self.recon!r}; use l1 or mse.")


class ImagePool:
    """The reference's history of generated images: once full, each new fake is shown to the
    discriminator half the time, else swapped for a random older one, which damps the
    oscillation between G and D. The contents go into checkpoints; the draws come from a
    generator the caller seeds by the step, so a resumed run draws exactly as an uninterrupted one."""

    def __init__(self, size: int):
        self.size, self.images = size, []

    def query(self, fakes: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.size == 0:
            return fakes.detach()
        out = []
        for image in fakes.detach().float().split(1):
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=gen) < 0.5:
                k = int(torch.randint(self.size, (), generator=gen))
                out.append(self.images[k])
                self.images[k] = image.clone()
            else:
                out.append(image)
        return torch.cat(out)

    def state(self) -> torch.Tensor:
        return torch.cat(self.images) if self.images else torch.empty(0)

    def load(self, images: torch.Tensor) -> None:
        self.images = list(images.split(1)) if images.numel() else []


@register
class CycleGAN(Method):
    Config = CycleGANConfig
    inference_net = "G_A"
    task = "translate"

    def __init__(self, cfg: CycleGANConfig, device: torch.device, dtype: torch.dtype, size: int, steps: int, decay_start: float):
        super().__init__(cfg, device, dtype)
        if cfg.netG == "resnet":
            g = {"name": "resnet", "n_blocks": cfg.n_blocks or (9 if size > 128 else 6)}
        else:
            # DiscoGAN's encoder-decoder stops at 4x4 (a U-Net goes down to 1x1, its skips carry the detail)
            depth = unet_depth(size) if cfg.netG == "unet" else max(5, unet_depth(size) - 2)
            g = {"name": "unet", "num_downs": depth, "skips": cfg.netG == "unet"}
        g |= {"in_channels": 3, "out_channels": 3, "ngf": cfg.ngf, "norm": cfg.norm, "dropout": cfg.dropout}
        n_layers = cfg.n_layers_D or next(n for n in range(1, 9) if receptive_field(n) >= size)
        d = {"name": "patchgan", "in_channels": 3, "ndf": cfg.ndf, "n_layers": n_layers, "norm": cfg.norm}
        for name, spec in (("G_A", g), ("G_B", g), ("D_A", d), ("D_B", d)):
            # NCHW, not channels-last: 1.34x faster bf16 steps on CPU (docs/notes/benchmarks-history.md)
            self.add_net(name, spec)
        betas = (cfg.beta1, 0.999)
        for group in ("G", "D"):  # one optimiser per pair, as the reference
            params = [*self.nets[f"{group}_A"].parameters(), *self.nets[f"{group}_B"].parameters()]
            self.add_optimizer(group, params, cfg.lr, betas, steps, decay_start)
        self.objective = GANObjective(cfg.gan_mode)
        self.pools = {"A": ImagePool(cfg.pool_size), "B": ImagePool(cfg.pool_size)}  # fakes in domain A, B

    @classmethod
    def dataset(cls, data, train: bool = True):
        from retouch.data import UnalignedDataset

        return UnalignedDataset(data, train)

    def _recon(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (F.l1_loss if self.cfg.recon == "l1" else F.mse_loss)(x.float(), target)

    def _real(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return tuple(batch[k].to(self.device) for k in "AB")

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        cfg, nets = self.cfg, self.nets
        real_a, real_b = self._real(batch)
        G_A, G_B, D_A, D_B = (nets[k] for k in ("G_A", "G_B", "D_A", "D_B"))
        set_requires_grad(D_A, False)
        set_requires_grad(D_B, False)
        with self.autocast():
            fake_b, fake_a = G_A(real_a), G_B(real_b)
            cycle_a, cycle_b = self._recon(G_B(fake_b), real_a), self._recon(G_A(fake_a), real_b)
            gan = self.objective.g_loss(D_A, fake_b) + self.objective.g_loss(D_B, fake_a)
            loss_g = gan + cfg.lambda_A * cycle_a + cfg.lambda_B * cycle_b
            losses = {"G_gan": gan, "cycle_A": cycle_a, "cycle_B": cycle_b}
            if cfg.lambda_identity > 0:
                idt_a, idt_b = self._recon(G_A(real_b), real_b), self._recon(G_B(real_a), real_a)
                loss_g = loss_g + cfg.lambda_identity * (cfg.lambda_B * idt_a + cfg.lambda_A * idt_b)
                losses["identity"] = (idt_a + idt_b) / 2
        self.update("G", loss_g)

        set_requires_grad(D_A, True)
        set_requires_grad(D_B, True)
        gen = torch.Generator().manual_seed(7_919 + self.schedulers["G"].last_epoch)
        with self.autocast():
            loss_da = self.objective.d_loss(D_A, real_b, self.pools["B"].query(fake_b, gen))
            loss_db = self.objective.d_loss(D_B, real_a, self.pools["A"].query(fake_a, gen))
        self.update("D", (loss_da + loss_db))
        if cfg.clip > 0:
            with torch.no_grad():
                for p in (*D_A.parameters(), *D_B.parameters()):
                    p.clamp_(-cfg.clip, cfg.clip)
        self.advance()
        return {"D_A": loss_da.detach(), "D_B": loss_db.detach(), **{k: v.detach() for k, v in losses.items()}}

    @torch.no_grad()
    def sample(self, batch: dict) -> torch.Tensor:
        """Rows of real A | G_A(A) | G_B(G_A(A)) | real B | G_B(B) | G_A(G_B(B))."""
        G_A, G_B = self.nets["G_A"], self.nets["G_B"]
        real_a, real_b = self._real(batch)
        G_A.eval(), G_B.eval()
        with self.autocast():
            fake_b, fake_a = G_A(real_a), G_B(real_b)
            row = [real_a, fake_b, G_B(fake_b), real_b, fake_a, G_A(fake_a)]
        G_A.train(), G_B.train()
        return torch.cat([t.float().contiguous() for t in row], dim=3)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "pools": {k: p.state() for k, p in self.pools.items()}}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        for k, pool in self.pools.items():
            pool.load(state["pools"][k].to(self.device))

    def export(self) -> tuple[torch.nn.Module, dict]:
        """Both generators in one file (a `twoway` net); `retouch translate --direction` picks one."""
        spec = {"name": "twoway", "generator": self.specs["G_A"]}
        net = build_net(spec)
        net.G_A.load_state_dict(self.nets["G_A"].state_dict())
        net.G_B.load_state_dict(self.nets["G_B"].state_dict())
        return net, {"net": spec, "task": self.task, "method_config": asdict(self.cfg)}

