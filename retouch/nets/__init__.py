"""Network architectures (no training logic) and ``build_net``, which makes one from a stored spec.

A spec is a JSON-able dict ``{"name": ..., **constructor kwargs}`` plus optional ``init`` and
``init_gain``; it travels inside weights files' metadata, so it must describe the whole
architecture.
"""

import inspect
from typing import Any

from torch import nn

from retouch.errors import RetouchError
from retouch.nets.biggan import BigGANDiscriminator, BigGANGenerator
from retouch.nets.classifier import ResNetGAP
from retouch.nets.ffdnet import FFDNet
from retouch.nets.keypatch import KeyPatchNet
from retouch.nets.layers import init_weights
from retouch.nets.msrresnet import MSRResNet
from retouch.nets.patchgan import NLayerDiscriminator, PixelDiscriminator
from retouch.nets.resnet import ResnetGenerator
from retouch.nets.rrdbnet import RRDBNet
from retouch.nets.segmenter import Segmenter
from retouch.nets.shared_latent import (
    ConditionalDiscriminator,
    ConditionalGenerator,
    ConditionalTranslator,
    CoupledDiscriminator,
    CoupledGenerator,
    LatentPath,
    NoiseEncoder,
    UNITGenerator,
)
from retouch.nets.srresnet import SRGANDiscriminator, SRResNet
from retouch.nets.srvgg import SRVGGNetCompact
from retouch.nets.tdgan import TDGAN
from retouch.nets.unet import BottleneckClassHead, UnetGenerator

NETS: dict[str, type[nn.Module]] = {
    "unet": UnetGenerator,
    "resnet": ResnetGenerator,
    "patchgan": NLayerDiscriminator,
    "pixel": PixelDiscriminator,
    "resnet_gap": ResNetGAP,
    "srresnet": SRResNet,
    "msrresnet": MSRResNet,
    "rrdbnet": RRDBNet,
    "srvgg": SRVGGNetCompact,
    "ffdnet": FFDNet,
    "srgan_d": SRGANDiscriminator,
    "biggan_g": BigGANGenerator,
    "biggan_d": BigGANDiscriminator,
    "segmenter": Segmenter,
    "unit_g": UNITGenerator,
    "latent_path": LatentPath,
    "cogan_g": CoupledGenerator,
    "cogan_d": CoupledDiscriminator,
    "cond_g": ConditionalGenerator,
    "cond_d": ConditionalDiscriminator,
    "noise_encoder": NoiseEncoder,
    "cond_translator": ConditionalTranslator,
    "tdgan": TDGAN,
    "keypatch": KeyPatchNet,
    "unet_class_head": BottleneckClassHead,
}


def input_multiple(spec: dict[str, Any]) -> int:
    """What an image network's input sides must divide by (2 ** its downsamplings): inference pads
    to it and the ONNX export documents it."""
    name = spec["name"]
    if name == "unet":
        return 2 ** spec["num_downs"]
    if name == "latent_path":
        return 2 ** spec["n_down"]
    if name == "rrdbnet":  # Real-ESRGAN's x2 and x1 fold their input by 2 or 4 first
        return 2 ** spec.get("upsamples", 2) // spec.get("scale", 4)
    if name == "ffdnet":  # folds 2x2 pixels into channels
        return 2
    return 1 if name in ("srresnet", "msrresnet", "srvgg") else 4


def build_net(spec: dict[str, Any]) -> nn.Module:
    """Construct and initialise the network ``spec`` describes (init defaults: normal, 0.02)."""
    if not isinstance(spec, dict):
        raise RetouchError(f"A network spec must be a dict with a 'name', got {spec!r}.")
    kwargs = dict(spec)
    name = kwargs.pop("name", None)
    init = kwargs.pop("init", "normal")
    gain = kwargs.pop("init_gain", 0.02)
    if name not in NETS:
        raise RetouchError(f"Unknown network {name!r}; choose one of {', '.join(NETS)}.")
    cls = NETS[name]
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as e:
        raise RetouchError(
            f"Bad arguments for network {name!r} ({e}); it takes {inspect.signature(cls)}."
        ) from None
    try:
        return init_weights(cls(**kwargs), init, gain)
    except (TypeError, ValueError) as e:
        raise RetouchError(f"Cannot build network {name!r} from {spec}: {e}") from None


class TwoWay(nn.Module):
    """Both generators of an unpaired model in one weights file: G_A maps A to B, G_B maps B to A.

    ``generator`` is the spec both are built from; inference picks one (``retouch translate
    --direction``), and the keys (``G_A.*``, ``G_B.*``) are the reference CycleGAN's net names.
    """

    def __init__(self, generator: dict[str, Any]) -> None:
        super().__init__()
        self.G_A, self.G_B = build_net(dict(generator)), build_net(dict(generator))

    def direction(self, name: str) -> nn.Module:
        if name not in ("AtoB", "BtoA"):
            raise RetouchError(f"Unknown direction {name!r}; use AtoB or BtoA.")
        return self.G_A if name == "AtoB" else self.G_B

    def forward(self, x):
        return self.G_A(x)


NETS["twoway"] = TwoWay

__all__ = ["NETS", "build_net", "init_weights", "input_multiple", "BottleneckClassHead", "BigGANDiscriminator", "BigGANGenerator",
           "MSRResNet", "NLayerDiscriminator", "PixelDiscriminator", "ResnetGenerator", "RRDBNet", "SRGANDiscriminator", "SRResNet", "SRVGGNetCompact", "TwoWay", "UnetGenerator"]
