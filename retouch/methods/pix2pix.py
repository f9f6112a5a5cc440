"""pix2pix (Isola et al. 2017): a conditional GAN whose generator also minimises L1 to the target.

With `gan_weight: 0` it is the L1-only regression baseline (no discriminator is built), which
is how the model cards compare "what the adversarial term buys" at the same budget.

With `masked: true` it restores a region (demosaicking, inpainting): the generator and the
discriminator also see the region mask as a channel, the output keeps the input outside the
region, and L1 is averaged over the region's pixels only, so small regions still drive learning.

With `chroma: true` it colourises: G predicts chrominance and keeps the input's luma; with
`chroma_bins` it classifies chrominance into bins instead of regressing it (`losses.RebalancedBins`).

With `loss: l2` the reconstruction term is the squared error (weight `lambda_l1`; L1 is still
logged): a last phase for a model judged by PSNR.

With `loss: pan` (or `l1+pan`) the generator's reconstruction term is PAN's perceptual
adversarial loss on the discriminator's hidden features instead of (or beside) L1; the
discriminator then also keeps those features a margin apart (`losses.PerceptualAdversarial`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from retouch.errors import RetouchError
from retouch.losses import PANOptions, RebalancedBins
from retouch.methods.base import Method, register, set_requires_grad
from retouch.nets.unet import chroma_of, decode_bins, soft_bins, unet_depth, with_chroma

LOSSES = ("l1", "l2", "pan", "l1+pan")


@dataclass
class Pix2PixConfig(PANOptions):
    """Networks and loss weights; defaults are the reference's (U-Net 256, 70x70 PatchGAN, lambda 100)."""

    netG: str = "unet"  # unet | resnet | ffdnet (a plain conv stack at half resolution, for restoration: nets.ffdnet)
    ngf: int = 64
    n_blocks: int = 9  # ResNet generator only
    n_convs: int = 12  # ffdnet only
    netD: str = "patchgan"  # patchgan | pixel
    ndf: int = 64
    n_layers_D: int = 3
    norm: str = "batch"
    dropout: bool = True
    gan_mode: str = "vanilla"  # vanilla | lsgan | hinge | wgangp
    gan_weight: float = 1.0  # 0 = L1-only baseline
    lambda_l1: float = 100.0
    loss: str = "l1"  # the reconstruction term beside the GAN loss: l1 | l2 | pan | l1+pan (pan_* keys: losses.PANOptions)
    lr: float = 2e-4
    beta1: float = 0.5
    in_channels: int = 3
    out_channels: int = 3
    masked: bool = False  # restore inside a mask given as an extra input channel
    unet_downs: int = 0  # U-Net levels; 0 = enough to reach 1x1 at the training size
    chroma: bool = False  # colourisation: G predicts chrominance only and keeps the input's luma (U-Net only)
    # colourisation at the training scale: `retouch colorize` runs G on a copy whose short side is at most
    # this and lends its chroma to the full-size luma (0 = full size); match data.load_size
    chroma_side: int = 0
    # colourisation as classification (Zhang et al. 2016): G predicts logits over an n x n grid of
    # Cb/Cr bins, trained with rebalanced cross-entropy (weight lambda_l1, in place of L1) and decoded
    # by the annealed mean at `temperature`; `rebalance` mixes the bin prior with uniform (0 = none)
    chroma_bins: int = 0
    rebalance: float = 0.5
    temperature: float = 0.38
    # colourisation with a class head (Iizuka et al. 2016): a linear classifier on G's bottleneck
    # learns the `class_head` labels of data.classes beside the colours, weight `class_weight`
    class_head: int = 0
    class_weight: float = 1.0


@register
class Pix2Pix(Method):
    Config = Pix2PixConfig
    inference_net = "G"
    task = "translate"

    def __init__(self, cfg: Pix2PixConfig, device: torch.device, dtype: torch.dtype, size: int, steps: int, decay_start: float):
        super().__init__(cfg, device, dtype)
        if cfg.loss not in LOSSES:
            raise RetouchError(f"Unknown pix2pix loss {cfg.loss!r}; use one of {', '.join(LOSSES)}.")
        if "pan" in cfg.loss and cfg.gan_weight <= 0:
            raise RetouchError("loss: pan compares discriminator features, so it needs a discriminator: set gan_weight > 0.")
        self.pan = cfg.pan() if "pan" in cfg.loss else None
        if cfg.masked:
            self.task = "restore"
        if cfg.chroma:
            if cfg.netG != "unet" or cfg.masked or cfg.out_channels != 3:
                raise RetouchError("chroma (colourisation) needs netG: unet, RGB out and no mask.")
            self.task = "colorize"
        if cfg.chroma_bins and not cfg.chroma:
            raise RetouchError("chroma_bins classifies chrominance: it needs chroma: true.")
        self.bins = RebalancedBins(cfg.chroma_bins, cfg.rebalance, device) if cfg.chroma_bins else None
        if cfg.netG == "unet":
            g = {"name": "unet", "num_downs": cfg.unet_downs or unet_depth(size), "dropout": cfg.dropout}
            if cfg.chroma:
                g["chroma"] = True
            if cfg.chroma_bins:
                g.update(chroma_bins=cfg.chroma_bins, temperature=cfg.temperature)
        elif cfg.netG == "resnet":
            g = {"name": "resnet", "n_blocks": cfg.n_blocks, "dropout": cfg.dropout}
        elif cfg.netG == "ffdnet":
            g = {"name": "ffdnet", "n_convs": cfg.n_convs, "init": "kaiming"}
        else:
            raise RetouchError(f"Unknown pix2pix netG {cfg.netG!r}; use unet, resnet or ffdnet.")
        cond = cfg.in_channels + int(cfg.masked)  # what G and D are conditioned on
        self.add_net("G", {**g, "in_channels": cond, "out_channels": cfg.out_channels, "ngf": cfg.ngf, "norm": cfg.norm})
        betas = (cfg.beta1, 0.999)
        trained = list(self.nets["G"].parameters())
        if cfg.class_head:
            if not cfg.chroma:
                raise RetouchError("class_head helps a colouriser pick hues: it needs chroma: true.")
            self.add_net("C", {"name": "unet_class_head", "channels": cfg.ngf * 8, "classes": cfg.class_head})
            self.nets["C"].watch(self.nets["G"])
            trained += list(self.nets["C"].parameters())  # one optimiser: the class loss shapes G's bottleneck
        self.add_optimizer("G", trained, cfg.lr, betas, steps, decay_start)
        if cfg.gan_weight > 0:
            d = {"name": cfg.netD, "in_channels": cond + cfg.out_channels, "ndf": cfg.ndf, "norm": cfg.norm}
            if cfg.netD == "patchgan":
                d["n_layers"] = cfg.n_layers_D
            self.add_net("D", d)
            self.add_adversary(self.nets["D"].parameters(), cfg.lr, cfg.beta1, steps, decay_start, cfg.gan_mode)

    def _generate(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """G's output; with a mask, G's pixels inside it and the input's outside."""
        if mask is None:
            return self.nets["G"](x)
        return torch.where(mask > 0.5, self.nets["G"](torch.cat([x, mask], 1)).float(), x)

    def _condition(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """(input, mask or None, target) on the device; a masked model without a mask is an error."""
        mask = batch.get("mask") if self.cfg.masked else None
        if self.cfg.masked and mask is None:
            raise RuntimeError("A masked pix2pix needs batches with a 'mask' (set data.degrade, or use mask files).")
        to = lambda t: None if t is None else t.to(self.device)  # noqa: E731
        return to(batch["input"]), to(mask), to(batch["target"])

    def _pixel_error(self, fake: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None, squared: bool = False) -> torch.Tensor:
        """Mean absolute (or `squared`) error over the image, or over the region when masked."""
        diff = fake.float() - y
        err = diff.square() if squared else diff.abs()
        if mask is None:
            return err.mean()
        return (err * mask).sum() / (mask.sum() * y.shape[1]).clamp(min=1)

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        x, mask, y = self._condition(batch)
        cond = x if mask is None else torch.cat([x, mask], 1)
        with self.autocast():
            if self.bins is not None:
                logits = self.nets["G"].logits(x)
                fake = with_chroma(x, decode_bins(logits, cfg.chroma_bins, cfg.temperature))
            else:
                fake = self._generate(x, mask)
        losses: dict[str, torch.Tensor] = {}
        if "D" in self.nets:
            D = self.nets["D"]
            set_requires_grad(D, True)
            with self.autocast():
                real_d, fake_d = torch.cat([cond, y], 1), torch.cat([cond, fake.detach()], 1)
                loss_d = self.objective.d_loss(D, real_d, fake_d)
                if self.pan is not None:
                    loss_pan_d = self.pan.d_loss(D, real_d, fake_d)
                    loss_d = loss_d + loss_pan_d
                    losses["D_pan"] = loss_pan_d.detach()
            self.update("D", loss_d)
            set_requires_grad(D, False)
            losses["D"] = loss_d.detach()
        with self.autocast():
            loss_l1 = self._pixel_error(fake, y, mask)
            if self.bins is not None:
                loss_bins = self.bins(logits, soft_bins(chroma_of(y), cfg.chroma_bins))
                loss_g = cfg.lambda_l1 * loss_bins
                losses["G_bins"] = loss_bins.detach()
            elif cfg.loss == "l2":  # L1's optimum is the median of the possible targets, L2's the mean, which PSNR rewards
                loss_g = cfg.lambda_l1 * self._pixel_error(fake, y, mask, squared=True)
            else:
                loss_g = cfg.lambda_l1 * loss_l1 if "l1" in cfg.loss else 0.0
            if "D" in self.nets:
                loss_gan = self.objective.g_loss(self.nets["D"], torch.cat([cond, fake], 1))
                loss_g = loss_g + cfg.gan_weight * loss_gan
                losses["G_gan"] = loss_gan.detach()
            if "C" in self.nets:
                loss_class = self._class_loss(batch)
                loss_g = loss_g + cfg.class_weight * loss_class
                losses["G_class"] = loss_class.detach()
            if self.pan is not None:
                loss_pan = self.pan.g_loss(self.nets["D"], torch.cat([cond, y], 1), torch.cat([cond, fake], 1))
                loss_g = loss_g + loss_pan
                losses["G_pan"] = loss_pan.detach()
        self.update("G", loss_g)
        self.advance()
        losses["G_l1"] = loss_l1.detach()
        return losses

    def _class_loss(self, batch: dict) -> torch.Tensor:
        """Cross-entropy of the class head on the batch G just coloured, over its labelled items
        (label -1, a photo outside the classes, adds nothing; an unlabelled batch gives 0)."""
        if "label" not in batch:
            raise RetouchError("class_head needs labels: list the class folders in data.classes.")
        labels = batch["label"].to(self.device)
        total = F.cross_entropy(self.nets["C"](), labels, ignore_index=-1, reduction="sum")
        return total / (labels >= 0).sum().clamp(min=1)

    def state_dict(self) -> dict:
        state = super().state_dict()
        return {**state, "bins": self.bins.state()} if self.bins is not None else state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict({k: v for k, v in state.items() if k != "bins"})
        if self.bins is not None:
            self.bins.load(state["bins"])

    @torch.no_grad()
    def sample(self, batch: dict) -> torch.Tensor:
        G = self.nets["G"]
        x, mask, y = self._condition(batch)
        G.eval()  # previews show what inference will give: dropout off, running statistics
        with self.autocast():
            fake = self._generate(x, mask).float()
        G.train()
        return torch.cat([x, fake, y], dim=3)
