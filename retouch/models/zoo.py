"""The registry of shipped models: each name's file under retouch/weights/, checksum, task and card.

Adding a shipped model is one entry here, its `.safetensors` under `retouch/weights/` and a card
under `docs/models/`; `tests/test_zoo.py` checks every entry's file and checksum.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent.parent / "weights"


@dataclass(frozen=True)
class ZooEntry:
    """A shipped model: its file under retouch/weights/, its checksum, and the card that documents it."""

    file: str
    sha256: str
    task: str
    summary: str
    card: str


ZOO: dict[str, ZooEntry] = {
    "cifar10-classifier": ZooEntry(
        file="cifar10-classifier.safetensors",
        sha256="0ec727b564634d608b3e719cf9334bdc22779a810eb6f18adb710338011f9b1e",
        task="classify",
        summary="GAP ResNet (32-64-128) for CIFAR-10 with copy-paste localisation, 78.7% test top-1; class activation maps for `retouch locate`",
        card="docs/models/cifar10-classifier.md",
    ),
    "demosaic": ZooEntry(
        file="demosaic.safetensors",
        sha256="ad6b1fa9e2ad597eef3a959d8e06b3f9b5ead21997fa52fb7f0c6995a4f62db9",
        task="restore",
        summary="masked pix2pix U-Net (ngf 32, L1 then PatchGAN) that restores mosaics of 6-16 px blocks inside a region",
        card="docs/models/demosaic.md",
    ),
    "demosaic-l1": ZooEntry(
        file="demosaic-l1.safetensors",
        sha256="adfa70196386f4d99c9a4919fcfb881b8495924bea7a169e22704d7bcd604381",
        task="restore",
        summary="the demosaic U-Net trained with L1 only for longer, mostly on JPEG-saved mosaics (phase 1e; smoother, higher PSNR; 8 flipped views by default)",
        card="docs/models/demosaic.md",
    ),
    "mosaic-detect": ZooEntry(
        file="mosaic-detect.safetensors",
        sha256="0eefd9807e37ba74d2746393d62d7040d7d47c1128338d06f117e2a176f457f6",
        task="segment",
        summary="80k-parameter fully convolutional mosaic segmenter (per-pixel probability) that `--detect` adds to the grid fit: JPEG, rescaled and soft-edged mosaics",
        card="docs/models/mosaic-detect.md",
    ),
    "horse2zebra": ZooEntry(
        file="horse2zebra.safetensors",
        sha256="9dfaaa8768d154145e8883d57aab6e254401fc1ed2d189f39874a22eba6c1de8",
        task="translate",
        summary="CycleGAN, both directions (ResNet-9, ngf 32): horse -> zebra (AtoB) and zebra -> horse (BtoA); 63% of translated test horses called zebra",
        card="docs/models/horse2zebra.md",
    ),
    "horse2zebra-domain": ZooEntry(
        file="horse2zebra-domain.safetensors",
        sha256="cb067180bff8cdc836d68e42834cd7ac6feb64f7ae89c78074e0a531dec60844",
        task="classify",
        summary="horse vs zebra domain classifier (GAP ResNet, 96 px) that scores `retouch eval-translation`",
        card="docs/models/horse2zebra.md",
    ),
    "srresnet-x4": ZooEntry(
        file="srresnet-x4.safetensors",
        sha256="62ee4e334fab9363be17adb7765ac6fadc58b5898c39eb767c4b2d351465955d",
        task="upscale",
        summary="x4 super-resolution, SRResNet (64 channels, 16 blocks) trained with MSE: the best PSNR (Set14 27.55 dB, bicubic 26.09)",
        card="docs/models/sr-x4.md",
    ),
    "srgan-x4": ZooEntry(
        file="srgan-x4.safetensors",
        sha256="b306f96afc5a5ab06e7058d3fa7ca4a9b325eedd309b64e81a0af8ed1cd1403d",
        task="upscale",
        summary="x4 super-resolution, the same SRResNet fine-tuned with PAN + adversarial + MSE losses: sharper, invented texture, lower PSNR",
        card="docs/models/sr-x4.md",
    ),
    "cifar10-prior": ZooEntry(
        file="cifar10-prior.safetensors",
        sha256="029f6949b44f96a7b33d3af25e78719a84f2bb0c57581023be3d64c5c8c86cbf",
        task="generate",
        summary="class-conditional BigGAN-style G (EMA) for CIFAR-10's ten classes, 32x32, that `retouch prior` fits to images; an early prior (2,500 GPU steps + 900 CPU steps)",
        card="docs/models/cifar10-prior.md",
    ),
    "cifar10-prior-discriminator": ZooEntry(
        file="cifar10-prior-discriminator.safetensors",
        sha256="923f5aa0b5d5b93a40d25a487978b0df3765fb2538a021d8d75eed7de43e69f3",
        task="discriminate",
        summary="the projection discriminator trained with cifar10-prior: DGP's feature distance (loaded beside the prior, not alone)",
        card="docs/models/cifar10-prior.md",
    ),
    "cifar10-keypatch": ZooEntry(
        file="cifar10-keypatch.safetensors",
        sha256="0e6114abf3d58e2c9be8879a0d21f636c6ec618088a946d357bd3c5c743b3129",
        task="complete",
        summary="key local patches (Lee et al.) on CIFAR-10: places three 8 px patches and inpaints the 32 px object around them; `retouch complete`",
        card="docs/models/cifar10-keypatch.md",
    ),
    "cifar10-tdgan": ZooEntry(
        file="cifar10-tdgan.safetensors",
        sha256="0792d3d4267071133697795f51e665fda9d9a3b1a819bca7150a90a1abbb6eb3",
        task="rerender",
        summary="TD-GAN on tagged CIFAR-10 (mirror, quarter turns, lighting, colour temperature) re-rendering 32 px objects; `retouch rerender`",
        card="docs/models/cifar10-tdgan.md",
    ),
    "colorize": ZooEntry(
        file="colorize.safetensors",
        sha256="1d971ec58af0ae88af2229facee8417d3fc78b7d9e1304e91b09343946024dfc",
        task="colorize",
        summary="chroma U-Net (ngf 32, L1 + cGAN, trained with a class head) colouring grey photos at 48 px, luma kept exactly; `retouch colorize`",
        card="docs/models/colorize.md",
    ),
    "repair": ZooEntry(
        file="repair.safetensors",
        sha256="6f8cca910adf2403aa7029a3424049cad26279013b498f62869f11f5eb48c424",
        task="translate",
        summary="blind FFDNet-style denoiser (12 convs at half resolution, residual) against noise, JPEG blocking, blur and downscaling; `retouch repair`",
        card="docs/models/repair.md",
    ),
}
