"""BigGAN G and D: shapes, BigGAN-PyTorch's state-dict layout, loading released-style files,
spectral norm, conditioning, and the features DGP's discriminator loss compares."""

import pytest
import torch
from safetensors.torch import save_file

from retouch.errors import RetouchError
from retouch.models.foreign.biggan import load_biggan
from retouch.nets import NETS, build_net
from retouch.nets.biggan import BigGANDiscriminator, BigGANGenerator, SNConv2d

# Small versions of the released 128 px models (ch 96 -> 4 in G, 8 in D so D's 64 px attention
# keeps 8 channels), 10 classes; everything else as released (dim_z 120, shared_dim 128, hier).
G128 = dict(resolution=128, ch=4, n_classes=10)
D128 = dict(resolution=128, ch=8, n_classes=10)
# BigGAN-PyTorch's CIFAR setup: no attention, per-class batch-norm tables, one z for all blocks.
G32 = dict(resolution=32, ch=4, n_classes=10, dim_z=128, attention=0, hier=False, shared=False)
D32 = dict(resolution=32, ch=4, n_classes=10, attention=0)

SN = ("weight", "u0", "sv0")
SN_B = ("weight", "bias", "u0", "sv0")
# BigGAN-PyTorch layers.py: SNConv2d/SNLinear register u0, sv0; ccbn registers stored_mean/var and
# holds gain/bias SNLinear(bias=False); bn has gain, bias params; Attention has theta/phi/g/o + gamma.
G_BLOCK = ([f"conv{c}.{p}" for c in ("1", "2", "_sc") for p in SN_B]
           + [f"bn{i}.{s}" for i in (1, 2) for s in ("stored_mean", "stored_var")]
           + [f"bn{i}.{lin}.{p}" for i in (1, 2) for lin in ("gain", "bias") for p in SN])
ATTENTION = ["gamma"] + [f"{c}.{p}" for c in ("theta", "phi", "g", "o") for p in SN]
D_BLOCK = [f"conv{c}.{p}" for c in ("1", "2") for p in SN_B]


def expected_g128() -> set[str]:
    keys = {"shared.weight"} | {f"linear.{p}" for p in SN_B}
    keys |= {f"blocks.{i}.0.{k}" for i in range(5) for k in G_BLOCK}
    keys |= {f"blocks.3.1.{k}" for k in ATTENTION}  # G's block 3 works at 64 px
    keys |= {f"output_layer.0.{k}" for k in ("gain", "bias", "stored_mean", "stored_var")}
    return keys | {f"output_layer.2.{p}" for p in SN_B}


def expected_d128() -> set[str]:
    keys = {f"blocks.{i}.0.{k}" for i in range(6) for k in D_BLOCK}
    keys |= {f"blocks.{i}.0.conv_sc.{p}" for i in range(5) for p in SN_B}  # the last block keeps size and width
    keys |= {f"blocks.0.1.{k}" for k in ATTENTION}  # D's block 0 outputs 64 px
    return keys | {f"linear.{p}" for p in SN_B} | {f"embed.{p}" for p in SN}


def randomised(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Random values in the real layout (variances kept positive), as a trained file would hold."""
    return {k: v.abs() + 0.5 if k.endswith("stored_var") else torch.randn_like(v) for k, v in net.state_dict().items()}


def test_shapes_32():
    torch.manual_seed(0)
    g, d = BigGANGenerator(**G32), BigGANDiscriminator(**D32)
    y = torch.tensor([3, 7])
    x = g(torch.randn(2, 128), y)
    assert x.shape == (2, 3, 32, 32) and x.abs().max() <= 1
    assert len(g.blocks) == 3 and d(x, y).shape == (2, 1)


def test_shapes_128():
    torch.manual_seed(0)
    g, d = BigGANGenerator(**G128), BigGANDiscriminator(**D128)
    assert g.dim_z == 120 and g.z_chunk == 20  # 6 slots: the linear layer and 5 blocks
    y = torch.tensor([0, 9])
    x = g(torch.randn(2, 120), y)
    assert x.shape == (2, 3, 128, 128) and x.abs().max() <= 1
    assert d(x, y).shape == (2, 1) and d(x).shape == (2, 1)


def test_key_layout_128_matches_reference():
    g, d = BigGANGenerator(**G128), BigGANDiscriminator(**D128)
    assert set(g.state_dict()) == expected_g128()
    assert set(d.state_dict()) == expected_d128()
    gs, ds = g.state_dict(), d.state_dict()
    assert gs["shared.weight"].shape == (10, 128)
    assert gs["linear.weight"].shape == (16 * 4 * 4 * 4, 20)
    assert gs["blocks.0.0.bn1.gain.weight"].shape == (64, 128 + 20)  # class embedding + z chunk
    assert gs["blocks.0.0.conv1.u0"].shape == (1, 64) and gs["blocks.0.0.conv1.sv0"].shape == (1,)
    assert gs["blocks.3.1.theta.weight"].shape == (1, 8, 1, 1) and gs["blocks.3.1.gamma"].shape == ()
    assert gs["output_layer.2.weight"].shape == (3, 4, 3, 3)
    assert ds["blocks.0.0.conv1.weight"].shape == (8, 3, 3, 3)
    assert ds["embed.weight"].shape == (10, 128) and ds["embed.u0"].shape == (1, 10)
    assert ds["linear.weight"].shape == (1, 128)


def test_layout_256_and_32():
    g = BigGANGenerator(resolution=256, ch=2, n_classes=10)
    assert g.z_chunk == 17 and g.dim_z == 119  # 120 // 7 slots, as BigGAN-PyTorch computes it
    assert [len(s) for s in g.blocks] == [1, 1, 1, 2, 1, 1]  # attention after the 64 px block
    d = BigGANDiscriminator(resolution=256, ch=8, n_classes=10)
    assert [len(s) for s in d.blocks] == [1, 2, 1, 1, 1, 1, 1]
    g32 = BigGANGenerator(**G32).state_dict()
    assert "shared.weight" not in g32 and g32["blocks.0.0.bn1.gain.weight"].shape == (10, 16)
    assert "u0" not in {k.rsplit(".", 1)[1] for k in g32 if ".bn" in k}  # per-class tables, no SN
    assert g32["linear.weight"].shape == (4 * 4 * 4 * 4, 128)
    d32 = BigGANDiscriminator(**D32).state_dict()
    assert {k.split(".conv_sc")[0] for k in d32 if "conv_sc" in k} == {"blocks.0.0", "blocks.1.0"}


@pytest.mark.parametrize("which,cls,spec", [("G", BigGANGenerator, G128), ("D", BigGANDiscriminator, D128)])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_load_released_layout(tmp_path, which, cls, spec, suffix):
    torch.manual_seed(0)
    state = randomised(cls(**spec))
    path = tmp_path / f"{which}{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        save_file(state, str(path))
    net = load_biggan(path, which, **spec)
    assert not net.training
    loaded = net.state_dict()
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], v) for k, v in state.items())


def test_load_errors(tmp_path):
    with pytest.raises(RetouchError, match="No BigGAN weights.*downloads nothing"):
        load_biggan(tmp_path / "G_ema.pth", **G128)
    state = randomised(BigGANGenerator(**G128))
    bad = dict(state)
    bad["blocks.0.0.bn1.gain.weight_orig"] = bad.pop("blocks.0.0.bn1.gain.weight")
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(RetouchError, match=r"missing blocks\.0\.0\.bn1\.gain\.weight; unexpected blocks\.0\.0\.bn1\.gain\.weight_orig"):
        load_biggan(tmp_path / "bad.pth", "G", **G128)
    torch.save(state, tmp_path / "G.pth")
    with pytest.raises(RetouchError, match=r"missing .*\(\+\d+ more\).*Check which"):
        load_biggan(tmp_path / "G.pth", "D", **D128)
    with pytest.raises(RetouchError, match=r"linear\.weight is \(1024, 20\) in the file but \(2048, 20\)"):
        load_biggan(tmp_path / "G.pth", "G", **{**G128, "ch": 8})
    torch.save({"G": state}, tmp_path / "checkpoint.pth")
    with pytest.raises(RetouchError, match="not a state dict of tensors"):
        load_biggan(tmp_path / "checkpoint.pth", "G", **G128)
    with pytest.raises(RetouchError, match="Cannot build.*resolution must be one of 32, 64, 128, 256, 512 px, got 100"):
        load_biggan(tmp_path / "G.pth", "G", resolution=100)


def test_discriminator_features_are_dgps_list():
    torch.manual_seed(0)
    d = BigGANDiscriminator(**D128).eval()
    x, y = torch.randn(2, 3, 128, 128), torch.tensor([1, 2])
    f = d.features(x)
    # every module of blocks (6 residual blocks + the attention after block 0), then the pooled vector
    assert [t.shape[1:] for t in f] == [(8, 64, 64), (8, 64, 64), (16, 32, 32), (32, 16, 16), (64, 8, 8),
                                        (128, 4, 4), (128, 4, 4), (128,)]
    assert torch.allclose(f[-1], f[-2].relu().sum(dim=(2, 3)))
    uncond = d.linear(f[-1])
    assert torch.allclose(d(x), uncond)
    assert torch.allclose(d(x, y), uncond + (d.embed(y) * f[-1]).sum(1, keepdim=True))


def test_spectral_norm_power_iteration():
    torch.manual_seed(0)
    conv = SNConv2d(8, 16)
    sigma = torch.linalg.matrix_norm(conv.weight.detach().view(16, -1), 2)
    x = torch.randn(1, 8, 4, 4)
    conv.eval()
    u = conv.u0.clone()
    conv(x)
    assert torch.equal(conv.u0, u)  # eval mode: no state changes
    conv.train()
    conv(x)
    first = conv.sv0.item()
    for _ in range(40):  # one power-iteration step per call; the estimate rises to sigma
        conv(x)
    assert first < conv.sv0.item() and conv.sv0.item() == pytest.approx(sigma.item(), rel=1e-3)
    normalised = conv.sn_weight().detach().view(16, -1)
    assert torch.linalg.matrix_norm(normalised, 2).item() == pytest.approx(1.0, rel=1e-3)


def test_generator_conditioning():
    torch.manual_seed(0)
    g = BigGANGenerator(**G128)
    g.load_state_dict(randomised(g))
    g.eval()
    z = torch.randn(1, 120)
    a, b = g(z, torch.tensor([1])), g(z, torch.tensor([2]))
    assert (a - b).abs().mean() > 1e-3  # the class changes the image
    assert torch.equal(a, g(z, g.shared(torch.tensor([1]))))  # class index or its embedding
    z2 = z.clone()
    z2[:, -20:] += 1  # only the last block's chunk of the hierarchical latent
    assert (g(z2, torch.tensor([1])) - a).abs().mean() > 1e-4
    with pytest.raises(ValueError, match=r"z must be \(N, 120\)"):
        g(torch.randn(1, 128), torch.tensor([1]))


def test_bad_specs():
    with pytest.raises(ValueError, match="no block at 64 px.*8, 16, 32"):
        BigGANGenerator(resolution=32, ch=4, n_classes=10)
    with pytest.raises(ValueError, match="at least 8 channels"):
        BigGANDiscriminator(resolution=128, ch=4, n_classes=10)
    with pytest.raises(ValueError, match="shared embedding"):
        BigGANGenerator(resolution=32, ch=4, attention=0, hier=True, shared=False)


def test_build_net():
    assert NETS["biggan_g"] is BigGANGenerator and NETS["biggan_d"] is BigGANDiscriminator
    g = build_net({"name": "biggan_g", **G32, "init": "orthogonal", "init_gain": 1.0})
    assert g(torch.randn(2, 128), torch.tensor([0, 1])).shape == (2, 3, 32, 32)
    d = build_net({"name": "biggan_d", **D32})
    assert isinstance(d, BigGANDiscriminator)
    with pytest.raises(RetouchError, match="Cannot build network 'biggan_g'"):
        build_net({"name": "biggan_g", "resolution": 48})
