"""SRGAN (Ledig et al. 2017): single-image super-resolution, trained in two phases.

Phase 1 is SRResNet: the generator alone, minimising MSE to the sharp image (`loss: mse`,
`adv_weight: 0`; no discriminator is built). It gives the best PSNR and a smooth look, and it is
where phase 2 starts (`train.init_from`). Phase 2 adds the discriminator: the generator minimises
`content_weight * content + adv_weight * GAN`, where the content term is, by default, PAN's
perceptual adversarial loss on the discriminator's hidden features (`loss: pan`; no ImageNet
network needed), or SRGAN's VGG-19 feature MSE (`loss: vgg`, with `vgg_path` to a torchvision
state dict), or plain MSE (`loss: mse`, SRGAN-MSE). The adversarial weight is SRGAN's 1e-3.

Pairs are made on the fly from clean photos (`data.degrade: downsample:scale=4`, `data.region:
full`, optionally with blur, noise and JPEG), with every draw seeded per item, so runs resume exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from retouch.errors import RetouchError
from retouch.losses import PANOptions, VGGContent
from retouch.methods.base import Method, register, set_requires_grad

LOSSES = ("mse", "pan", "vgg")


@dataclass
class SRGANConfig(PANOptions):
    """Networks, content loss and weights; the defaults are SRGAN's at x4 (PAN content instead of VGG)."""

    scale: int = 4  # must equal the downsample scale in data.degrade
    # srresnet (SRGAN's: residual blocks, two x2 sub-pixel stages) or srvgg (Real-ESRGAN's
    # SRVGGNetCompact: a plain conv stack at the input's size and one pixel shuffle, so a few times
    # fewer FLOPs; saved in its published layout and value range, so its own tools load our file)
    generator: str = "srresnet"
    channels: int = 64
    n_blocks: int = 16  # srresnet's residual blocks
    n_convs: int = 16  # srvgg's body convs
    norm: str = "none"  # srresnet's (nets.srresnet says why none)
    ndf: int = 64
    n_stages_D: int = 4
    norm_D: str = "batch"
    gan_mode: str = "vanilla"  # vanilla | lsgan | hinge | wgangp
    loss: str = "pan"  # the content term: mse | pan | vgg
    content_weight: float = 1.0
    # MSE to the sharp image added to a pan/vgg content term: PAN's features come from a D that is
    # still learning, and without this anchor phase 2 drifted (MSE 0.013 -> 1767 in 1,200 steps on a GPU)
    pixel_weight: float = 0.0
    adv_weight: float = 1e-3  # 0 with loss mse = SRResNet (no discriminator)
    vgg_path: str = ""  # torchvision vgg19 state dict, for loss: vgg
    vgg_layer: str = "relu5_4"
    lr: float = 1e-4
    beta1: float = 0.9


@register
class SRGAN(Method):
    Config = SRGANConfig
    inference_net = "G"
    task = "upscale"

    def __init__(self, cfg: SRGANConfig, device: torch.device, dtype: torch.dtype, size: int, steps: int, decay_start: float):
        super().__init__(cfg, device, dtype)
        if cfg.loss not in LOSSES:
            raise RetouchError(f"Unknown srgan loss {cfg.loss!r}; use one of {', '.join(LOSSES)}.")
        if size % cfg.scale:
            raise RetouchError(f"The HR crop data.size {size} must be a multiple of model.scale {cfg.scale}.")
        betas = (cfg.beta1, 0.999)
        self.add_net("G", self.generator_spec(cfg))
        self.add_optimizer("G", self.nets["G"].parameters(), cfg.lr, betas, steps, decay_start)
        self.pan = cfg.pan() if cfg.loss == "pan" else None
        if cfg.adv_weight > 0 or self.pan is not None:
            self.add_net("D", {"name": "srgan_d", "ndf": cfg.ndf, "n_stages": cfg.n_stages_D, "norm": cfg.norm_D})
            self.add_adversary(self.nets["D"].parameters(), cfg.lr, cfg.beta1, steps, decay_start, cfg.gan_mode)
        self.vgg = VGGContent(cfg.vgg_path, cfg.vgg_layer).to(device) if cfg.loss == "vgg" else None

    @staticmethod
    def generator_spec(cfg: SRGANConfig) -> dict:
        if cfg.generator == "srresnet":
            return {"name": "srresnet", "scale": cfg.scale, "channels": cfg.channels, "n_blocks": cfg.n_blocks, "norm": cfg.norm}
        if cfg.generator == "srvgg":
            return {"name": "srvgg", "scale": cfg.scale, "channels": cfg.channels, "n_convs": cfg.n_convs, "act": "prelu", "init": "kaiming"}
        raise RetouchError(f"Unknown srgan generator {cfg.generator!r}; use srresnet or srvgg.")

    @classmethod
    def dataset(cls, data, train: bool = True):
        """Clean photos, shrunk on the fly: `data.degrade` must make the small image of the whole crop."""
        from retouch.data import DegradedDataset

        if not data.degrade or data.region != "full":
            raise RetouchError("srgan makes its pairs from clean photos: set data.degrade (e.g. downsample:scale=4) and "
                               "data.region: full, as configs/srresnet_x4.yaml does.")
        return DegradedDataset(data, train)

    def _pair(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(LR, HR) on the device; a degradation of another scale is a clear error, not a shape crash."""
        x, y = batch["input"].to(self.device), batch["target"].to(self.device)
        if tuple(y.shape[2:]) != (x.shape[2] * self.cfg.scale, x.shape[3] * self.cfg.scale):
            raise RetouchError(f"data.degrade makes {x.shape[3]}x{x.shape[2]} inputs from {y.shape[3]}x{y.shape[2]} crops, "
                               f"not x{self.cfg.scale}: its downsample scale must equal model.scale.")
        return x, y

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        x, y = self._pair(batch)
        with self.autocast():
            fake = self.nets["G"](x)
        losses: dict[str, torch.Tensor] = {}
        D = self.nets.get("D")
        if D is not None:
            set_requires_grad(D, True)
            with self.autocast():
                loss_d = self.objective.d_loss(D, y, fake.detach())
                if self.pan is not None:
                    loss_pan_d = self.pan.d_loss(D, y, fake)
                    loss_d = loss_d + loss_pan_d
                    losses["D_pan"] = loss_pan_d.detach()
            self.update("D", loss_d)
            set_requires_grad(D, False)
            losses["D"] = loss_d.detach()
        with self.autocast():
            mse = F.mse_loss(fake.float(), y)
            if self.pan is not None:
                content = self.pan.g_loss(D, y, fake)
            elif self.vgg is not None:
                content = self.vgg(fake, y)
            else:
                content = mse
            loss_g = cfg.content_weight * content
            if content is not mse and cfg.pixel_weight > 0:
                loss_g = loss_g + cfg.pixel_weight * mse
            if D is not None and cfg.adv_weight > 0:
                loss_gan = self.objective.g_loss(D, fake)
                loss_g = loss_g + cfg.adv_weight * loss_gan
                losses["G_gan"] = loss_gan.detach()
        self.update("G", loss_g)
        self.advance()
        losses["G_content"] = content.detach()
        losses["G_mse"] = mse.detach()  # PSNR's view of progress, whatever the content loss
        return losses

    @torch.no_grad()
    def sample(self, batch: dict) -> torch.Tensor:
        """Rows of bicubic | output | target at the high resolution."""
        G = self.nets["G"]
        x, y = self._pair(batch)
        G.eval()
        with self.autocast():
            fake = G(x).float().clamp(-1, 1)
        G.train()
        bicubic = F.interpolate(x, size=y.shape[2:], mode="bicubic", align_corners=False).clamp(-1, 1)
        return torch.cat([bicubic, fake, y], dim=3)
