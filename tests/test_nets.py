"""Architectures: shapes, reference key layout and sizes, receptive fields, init, build_net."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from retouch.errors import RetouchError
from retouch.nets import NETS, TwoWay, build_net
from retouch.nets import shared_latent as sl
from retouch.nets.biggan import BigGANDiscriminator, BigGANGenerator
from retouch.nets.classifier import ResNetGAP
from retouch.nets.ffdnet import FFDNet
from retouch.nets.keypatch import KeyPatchNet
from retouch.nets.layers import init_weights, norm_layer
from retouch.nets.msrresnet import MSRResNet
from retouch.nets.patchgan import (
    NLayerDiscriminator,
    PixelDiscriminator,
    receptive_field,
)
from retouch.nets.resnet import ResnetGenerator
from retouch.nets.rrdbnet import RRDBNet
from retouch.nets.segmenter import Segmenter
from retouch.nets.srresnet import SRGANDiscriminator, SRResNet
from retouch.nets.srvgg import SRVGGNetCompact
from retouch.nets.tdgan import TDGAN
from retouch.nets.unet import (
    BottleneckClassHead,
    UnetGenerator,
    UnetSkipBlock,
    unet_depth,
)

NORMS = ["batch", "instance", "none"]


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# --- layers -------------------------------------------------------------------------------------


def test_norm_layer_kinds():
    bn = norm_layer("batch", 5)
    assert isinstance(bn, nn.BatchNorm2d) and bn.affine and bn.track_running_stats
    inorm = norm_layer("instance", 5)
    assert isinstance(inorm, nn.InstanceNorm2d)
    assert not inorm.affine and not inorm.track_running_stats
    assert list(inorm.state_dict()) == []
    assert isinstance(norm_layer("none", 5), nn.Identity)
    with pytest.raises(ValueError, match="batch, instance, none"):
        norm_layer("group", 5)


def test_init_normal_matches_pix2pix():
    torch.manual_seed(0)
    net = init_weights(ResnetGenerator(3, 3, ngf=16, n_blocks=2), "normal", 0.02)
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert weights.numel() > 50_000
    assert weights.std().item() == pytest.approx(0.02, rel=0.03)
    assert abs(weights.mean().item()) < 1e-3
    assert all((m.bias == 0).all() for m in convs if m.bias is not None)
    bn_w = torch.cat([m.weight for m in net.modules() if isinstance(m, nn.BatchNorm2d)])
    assert bn_w.mean().item() == pytest.approx(1.0, abs=0.01)
    assert bn_w.std().item() == pytest.approx(0.02, rel=0.2)
    assert all((m.bias == 0).all() for m in net.modules() if isinstance(m, nn.BatchNorm2d))


def test_init_other_kinds():
    lin = nn.Linear(64, 16)
    init_weights(lin, "orthogonal", gain=1.0)
    assert torch.allclose(lin.weight @ lin.weight.T, torch.eye(16), atol=1e-5)
    conv = nn.Conv2d(32, 256, 3)
    torch.manual_seed(0)
    init_weights(conv, "kaiming")  # std sqrt(2 / fan_in), gain ignored as in the reference
    assert conv.weight.std().item() == pytest.approx((2 / (32 * 9)) ** 0.5, rel=0.03)
    init_weights(conv, "xavier", gain=0.5)
    xavier_std = 0.5 * (2 / (32 * 9 + 256 * 9)) ** 0.5
    assert conv.weight.std().item() == pytest.approx(xavier_std, rel=0.03)
    with pytest.raises(ValueError, match="normal, xavier, kaiming, orthogonal"):
        init_weights(conv, "uniform")


# --- U-Net --------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("num_downs", [5, 6, 7, 8])
def test_unet_shapes(num_downs, norm):
    size = 2**num_downs
    net = UnetGenerator(3, 2, num_downs, ngf=8, norm=norm)
    out = net(torch.randn(2, 3, size, size))
    assert out.shape == (2, 2, size, size)
    assert out.abs().max() <= 1
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == num_downs - 5


def test_unet_output_is_tanh_bounded():
    torch.manual_seed(0)
    net = UnetGenerator(3, 3, 5, ngf=8).eval()
    with torch.no_grad():
        net.model.model[3].weight.mul_(1e4)  # outermost up-conv: huge pre-activations
    out = net(torch.randn(1, 3, 64, 64))
    assert out.min() >= -1 and out.max() <= 1
    assert (out > 0.999).any() and (out < -0.999).any()


def test_unet_rejects_sizes_that_do_not_divide():
    net = UnetGenerator(3, 3, 5, ngf=4)
    with pytest.raises(ValueError, match="divisible by 32"):
        net(torch.randn(1, 3, 48, 64))
    with pytest.raises(ValueError, match="num_downs >= 5"):
        UnetGenerator(3, 3, 4)


def test_unet_skip_carries_leaky_relu_like_the_reference():
    block = UnetSkipBlock(4, 8, norm="none")  # innermost, in-place LeakyReLU first
    x = torch.randn(1, 4, 8, 8)
    expected = F.leaky_relu(x, 0.2)
    y = block(x)
    assert y.shape == (1, 8, 8, 8)
    assert torch.equal(y[:, :4], expected)


def test_unet_depth():
    assert [unet_depth(s) for s in (32, 128, 256, 512)] == [5, 7, 8, 9]
    for bad in (16, 100, 0, 255):
        with pytest.raises(ValueError, match="power of two"):
            unet_depth(bad)


# --- ResNet -------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n_blocks", [6, 9])
def test_resnet_shapes(n_blocks, norm):
    net = ResnetGenerator(3, 1, ngf=8, norm=norm, n_blocks=n_blocks)
    out = net(torch.randn(2, 3, 32, 36))
    assert out.shape == (2, 1, 32, 36)
    assert out.abs().max() <= 1


@pytest.mark.parametrize("padding", ["replicate", "zero"])
def test_resnet_paddings(padding):
    net = ResnetGenerator(3, 3, ngf=4, n_blocks=1, padding=padding, dropout=True)
    assert net(torch.randn(1, 3, 16, 16)).shape == (1, 3, 16, 16)
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 1


def test_resnet_bad_padding():
    with pytest.raises(ValueError, match="reflect, replicate, zero"):
        ResnetGenerator(3, 3, ngf=4, n_blocks=0, padding="circular")


# --- PatchGAN -----------------------------------------------------------------------------------


def test_patchgan_output_size():
    d = NLayerDiscriminator(6, ndf=8)
    assert d(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)
    d1 = NLayerDiscriminator(3, ndf=4, n_layers=1)
    assert d1(torch.randn(1, 3, 64, 64)).shape == (1, 1, 30, 30)


def test_receptive_field_values():
    assert [receptive_field(n) for n in (1, 2, 3, 4)] == [16, 34, 70, 142]


def _influence(net: nn.Module, in_channels: int, size: int) -> torch.Tensor:
    """Input pixels whose gradient reaches the centre output pixel."""
    net = net.double().eval()
    x = torch.randn(1, in_channels, size, size, dtype=torch.float64, requires_grad=True)
    out = net(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    return x.grad.abs().sum(1)[0] > 0


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_receptive_field_matches_gradients(n_layers):
    torch.manual_seed(0)
    mask = _influence(NLayerDiscriminator(2, ndf=4, n_layers=n_layers), 2, 128)
    rows = mask.any(1).nonzero().flatten()
    cols = mask.any(0).nonzero().flatten()
    rf = receptive_field(n_layers)
    assert 0 < rows.min() and rows.max() < 127  # not clipped by the border
    assert rows.max() - rows.min() + 1 == rf
    assert cols.max() - cols.min() + 1 == rf
    assert mask.sum() == rf * rf


def test_pixel_discriminator_sees_one_pixel():
    torch.manual_seed(0)
    d = PixelDiscriminator(3, ndf=8)
    assert d(torch.randn(2, 3, 20, 24)).shape == (2, 1, 20, 24)
    assert _influence(d, 3, 9).sum() == 1


# --- reference layout ---------------------------------------------------------------------------
# Sizes from the reference arithmetic (conv: cin*cout*k*k [+ cout bias]; batch norm: 2c params).
# pix2pix prints them rounded: unet_256 "54.414 M", resnet_9blocks (CycleGAN, instance norm)
# "11.378 M", basic D on 6 channels "2.769 M".


def test_reference_unet_256():
    with torch.device("meta"):
        net = UnetGenerator(3, 3, 8, ngf=64, norm="batch")
    assert n_params(net) == 54_413_955
    keys = set(net.state_dict())
    inner = "model.model.1" + ".model.3" * 6  # the bottleneck block
    assert {
        "model.model.0.weight",  # outermost down-conv: no bias with batch norm
        "model.model.3.weight",
        "model.model.3.bias",  # outermost up-conv always has one
        "model.model.1.model.1.weight",
        "model.model.1.model.2.running_mean",
        "model.model.1.model.5.weight",
        "model.model.1.model.6.num_batches_tracked",
        f"{inner}.model.1.weight",
        f"{inner}.model.3.weight",
        f"{inner}.model.4.running_var",
    } <= keys
    assert "model.model.0.bias" not in keys and "model.model.1.model.1.bias" not in keys


def test_reference_resnet_9blocks():
    with torch.device("meta"):
        instance = ResnetGenerator(3, 3, ngf=64, norm="instance", n_blocks=9)
        batch = ResnetGenerator(3, 3, ngf=64, norm="batch", n_blocks=9)
    assert n_params(instance) == 11_378_179
    assert n_params(batch) == 11_383_427
    keys = set(instance.state_dict())
    assert {
        "model.1.weight", "model.1.bias",
        "model.10.conv_block.1.weight", "model.10.conv_block.5.bias",
        "model.18.conv_block.5.weight", "model.19.weight", "model.22.weight",
        "model.26.weight", "model.26.bias",
    } <= keys
    assert not any("running" in k for k in keys)
    batch_keys = set(batch.state_dict())
    assert "model.23.running_mean" in batch_keys and "model.1.bias" not in batch_keys


def test_reference_patchgan():
    with torch.device("meta"):
        d6 = NLayerDiscriminator(6, ndf=64, n_layers=3, norm="batch")
        d3 = NLayerDiscriminator(3, ndf=64, n_layers=3, norm="batch")
        pixel = PixelDiscriminator(6, ndf=64, norm="batch")
    assert n_params(d6) == 2_768_705
    assert n_params(d3) == 2_765_633
    assert set(d6.state_dict()) == {
        "model.0.weight", "model.0.bias",
        "model.2.weight", "model.3.weight", "model.3.bias", "model.3.running_mean",
        "model.3.running_var", "model.3.num_batches_tracked",
        "model.5.weight", "model.6.weight", "model.6.bias", "model.6.running_mean",
        "model.6.running_var", "model.6.num_batches_tracked",
        "model.8.weight", "model.9.weight", "model.9.bias", "model.9.running_mean",
        "model.9.running_var", "model.9.num_batches_tracked",
        "model.11.weight", "model.11.bias",
    }
    assert set(pixel.state_dict()) == {
        "net.0.weight", "net.0.bias", "net.2.weight", "net.3.weight", "net.3.bias",
        "net.3.running_mean", "net.3.running_var", "net.3.num_batches_tracked", "net.5.weight",
    }
    assert n_params(pixel) == 6 * 64 + 64 + 64 * 128 + 2 * 128 + 128


# --- build_net ----------------------------------------------------------------------------------


def test_registry():
    assert NETS == {
        "unet": UnetGenerator, "resnet": ResnetGenerator,
        "patchgan": NLayerDiscriminator, "pixel": PixelDiscriminator, "resnet_gap": ResNetGAP,
        "srresnet": SRResNet, "msrresnet": MSRResNet, "rrdbnet": RRDBNet, "srvgg": SRVGGNetCompact, "ffdnet": FFDNet,
        "srgan_d": SRGANDiscriminator, "twoway": TwoWay,
        "biggan_g": BigGANGenerator, "biggan_d": BigGANDiscriminator, "segmenter": Segmenter,
        "unit_g": sl.UNITGenerator, "latent_path": sl.LatentPath, "cogan_g": sl.CoupledGenerator, "cogan_d": sl.CoupledDiscriminator,
        "cond_g": sl.ConditionalGenerator, "cond_d": sl.ConditionalDiscriminator, "noise_encoder": sl.NoiseEncoder,
        "cond_translator": sl.ConditionalTranslator, "tdgan": TDGAN, "keypatch": KeyPatchNet,
        "unet_class_head": BottleneckClassHead,
    }


def test_coupled_nets_share_exactly_the_layers_they_should():
    G = sl.CoupledGenerator(z_dim=8, ngf=8, size=32, own=1)
    z = torch.randn(3, 8)
    with torch.no_grad():
        a, b = G(z)
        G.head_B[-2].weight.mul_(-1)  # B's own last layer changes B only
        a2, b2 = G(z)
    assert torch.equal(a, a2) and not torch.allclose(b, b2)
    D = sl.CoupledDiscriminator(ndf=8, size=32, own=1)
    assert not set(map(id, D.stem_A.parameters())) & set(map(id, D.stem_B.parameters()))
    unit = sl.UNITGenerator(ngf=8, n_res=3, n_shared=1)
    assert len(unit.enc_A) == len(unit.enc_B) and len(unit.enc_shared) == 1 and len(unit.dec_shared) == 1
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        path = sl.LatentPath(ngf=8, n_res=3, n_shared=1).take(unit.eval(), "B", "A").eval()
        assert torch.allclose(path(x), unit.decode(unit.encode(x, "B"), "A"), atol=1e-6)


def test_build_net_round_trip():
    spec = {"name": "unet", "in_channels": 3, "out_channels": 3, "num_downs": 5, "ngf": 8,
            "norm": "instance", "init": "xavier", "init_gain": 0.5}
    stored = json.loads(json.dumps(spec))
    torch.manual_seed(1)
    a = build_net(spec)
    torch.manual_seed(1)
    b = build_net(stored)
    assert spec == stored  # build_net does not consume the caller's dict
    assert isinstance(a, UnetGenerator) and a.num_downs == 5
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    b.load_state_dict(sa, strict=True)


def test_build_net_applies_default_init():
    torch.manual_seed(0)
    d = build_net({"name": "patchgan", "in_channels": 3, "ndf": 16, "n_layers": 2})
    w = torch.cat([m.weight.flatten() for m in d.modules() if isinstance(m, nn.Conv2d)])
    assert w.std().item() == pytest.approx(0.02, rel=0.05)
    assert isinstance(build_net({"name": "pixel", "in_channels": 3}), PixelDiscriminator)
    assert isinstance(build_net({"name": "resnet", "in_channels": 3, "out_channels": 3, "ngf": 4,
                                 "n_blocks": 1}), ResnetGenerator)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"name": "vgg"}, "Unknown network 'vgg'; choose one of unet, resnet, patchgan, pixel"),
        ({"in_channels": 3}, "Unknown network None"),
        ({"name": "unet", "in_channels": 3}, "missing a required argument: 'out_channels'"),
        ({"name": "pixel", "in_channels": 3, "depth": 2}, "unexpected keyword argument 'depth'"),
        ({"name": "pixel", "in_channels": 3, "norm": "group"}, "Unknown norm 'group'"),
        ({"name": "pixel", "in_channels": 3, "init": "uniform"}, "Unknown init 'uniform'"),
        ({"name": "unet", "in_channels": 3, "out_channels": 3, "num_downs": 3}, "num_downs >= 5"),
        (["unet"], "must be a dict"),
    ],
)
def test_build_net_errors(spec, match):
    with pytest.raises(RetouchError, match=match):
        build_net(spec)
