"""ESRGAN / Real-ESRGAN checkpoints as `retouch upscale --model FILE.pth` (issue 45).

Each file is saved from the reference's own module tree (tests/esrgan_reference.py, written from
BasicSR's, the ESRGAN repository's and Real-ESRGAN's code), in each published key layout and
wrapper, small (2 blocks of 16 features, growth 8). `retouch upscale` must give that reference's
forward pass on the photo, within 8-bit rounding: at least 45 dB PSNR of the written PNG against
the reference's float output (measured: about 58.9 dB, the rounding alone).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

import retouch.cli
from retouch.cli import app
from retouch.models.load import read_meta
from tests.esrgan_reference import BasicSRRRDBNet, ESRGANRepoRRDBNet, OldRRDBNet, SRVGGNetCompact, trained_like
from tests.helpers import smooth_image

NF, NB, GC = 16, 2, 8

# name: (reference network, its last conv, the bias that puts its output mid-grey, scale, how it is saved)
CASES = {
    "realesrgan-x4-params_ema": (lambda: BasicSRRRDBNet(3, 3, 4, NF, NB, GC), "conv_last", 0.5, 4, "params_ema"),
    "realesrgan-x2-params": (lambda: BasicSRRRDBNet(3, 3, 2, NF, NB, GC), "conv_last", 0.5, 2, "params"),
    "basicsr-x1-bare": (lambda: BasicSRRRDBNet(3, 3, 1, NF, NB, GC), "conv_last", 0.5, 1, None),
    "esrgan-repo-x4": (lambda: ESRGANRepoRRDBNet(3, 3, NF, NB, GC), "conv_last", 0.5, 4, None),
    "esrgan-old-x4": (lambda: OldRRDBNet(3, 3, NF, NB, GC, 4), "model.10", 0.5, 4, None),
    "esrgan-old-x2": (lambda: OldRRDBNet(3, 3, NF, NB, GC, 2), "model.7", 0.5, 2, None),
    "srvgg-x4-params": (lambda: SRVGGNetCompact(3, 3, NF, 4, 4), "body.10", 0.0, 4, "params"),
    "srvgg-x2-bare": (lambda: SRVGGNetCompact(3, 3, NF, 3, 2), "body.8", 0.0, 2, None),
}


def psnr(got: torch.Tensor, want: torch.Tensor) -> float:
    """PSNR in dB of two images in 0..255."""
    return float(10 * torch.log10(255**2 / (got - want).pow(2).mean()))


def reference_upscale(net: torch.nn.Module, photo: np.ndarray, scale: int) -> torch.Tensor:
    """What Real-ESRGAN's RealESRGANer gives (HxWx3 in 0..255, float): RGB in [0, 1], for BasicSR's
    x2 and x1 (which fold the input) reflect-padded at the bottom and right to a multiple of 2 or 4
    and cropped back; clamped."""
    x = torch.tensor(photo).permute(2, 0, 1)[None].float() / 255
    h, w = x.shape[2:]
    mod = {2: 2, 1: 4}.get(scale, 1) if isinstance(net, BasicSRRRDBNet) else 1
    x = F.pad(x, (0, -w % mod, 0, -h % mod), mode="reflect")
    with torch.no_grad():
        out = net(x)[:, :, : h * scale, : w * scale].clamp(0, 1)
    return out[0].permute(1, 2, 0) * 255


@pytest.mark.parametrize("case", list(CASES))
def test_upscale_gives_the_reference_forward(tmp_path, case):
    make, last, bias, scale, wrap = CASES[case]
    net = make()
    net = trained_like(net, net.get_submodule(last), bias=bias)
    state = net.state_dict()
    if wrap == "params_ema":  # Real-ESRGAN's files hold both; its inference (and retouch) reads the EMA weights
        decoy = make()
        saved = {"params": trained_like(decoy, decoy.get_submodule(last), seed=1, bias=bias).state_dict(), "params_ema": state}
    else:
        saved = {wrap: state} if wrap else state
    torch.save(saved, tmp_path / "model.pth")
    photo = smooth_image(np.random.default_rng(0), 15, 21)  # odd sides: the x2 and x1 nets' fold pads them
    Image.fromarray(photo).save(tmp_path / "small.png")
    result = CliRunner().invoke(app, ["upscale", str(tmp_path / "small.png"), "-o", str(tmp_path / "big.png"), "--model",
                                      str(tmp_path / "model.pth"), "--device", "cpu", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    got = torch.tensor(np.asarray(Image.open(tmp_path / "big.png").convert("RGB"))).float()
    want = reference_upscale(net, photo, scale)
    assert got.shape == want.shape == (15 * scale, 21 * scale, 3)
    assert psnr(got, want) >= 45


def test_the_spec_is_read_off_the_keys(tmp_path):
    """Blocks, features, growth and scale from the shapes, the same network from all three RRDBNet layouts."""
    nets = {"basicsr": BasicSRRRDBNet(3, 3, 2, 24, 3, 12), "repo": ESRGANRepoRRDBNet(3, 3, 24, 3, 12),
            "old": OldRRDBNet(3, 3, 24, 3, 12, 8)}
    specs = {}
    for name, net in nets.items():
        torch.save(net.state_dict(), tmp_path / f"{name}.pth")
        specs[name] = read_meta(tmp_path / f"{name}.pth")
    common = {"name": "rrdbnet", "in_channels": 3, "out_channels": 3, "channels": 24, "n_blocks": 3, "growth": 12, "unit_range": True}
    assert specs["basicsr"]["net"] == {**common, "scale": 2, "upsamples": 2}  # Real-ESRGAN's x2: unshuffle, then x4
    assert specs["repo"]["net"] == {**common, "scale": 4, "upsamples": 2}
    assert specs["old"]["net"] == {**common, "scale": 8, "upsamples": 3}
    assert all(meta["task"] == "upscale" for meta in specs.values())
    torch.save({"params": SRVGGNetCompact(3, 3, 8, 32, 4).state_dict()}, tmp_path / "realesr-general-x4v3.pth")
    assert read_meta(tmp_path / "realesr-general-x4v3.pth")["net"] == {
        "name": "srvgg", "scale": 4, "in_channels": 3, "out_channels": 3, "channels": 8, "n_convs": 32, "act": "prelu", "unit_range": True}


def test_an_unknown_pth_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    torch.save({"encoder.conv.weight": torch.zeros(4, 3, 3, 3), "decoder.fc.weight": torch.zeros(2, 4)}, tmp_path / "other.pth")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "small.png")
    monkeypatch.setattr("sys.argv", ["retouch", "upscale", str(tmp_path / "small.png"), "-o", str(tmp_path / "big.png"),
                                     "--model", str(tmp_path / "other.pth"), "--device", "cpu"])
    with pytest.raises(SystemExit) as exit_:
        retouch.cli.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert "Cannot tell the architecture" in err and "RRDBNet" in err
    assert not (tmp_path / "big.png").exists()


@pytest.mark.parametrize("case", ["realesrgan-x2-params", "srvgg-x4-params"])
def test_onnx_export_matches(tmp_path, case):
    """`retouch export` takes these files too: the x2 fold (pixel unshuffle) and PReLU in ONNX."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from retouch.models.export import export_onnx
    from retouch.models.load import load_model

    make, last, bias, _, wrap = CASES[case]
    net = make()
    torch.save({wrap: trained_like(net, net.get_submodule(last), bias=bias).state_dict()}, tmp_path / "model.pth")
    export_onnx(tmp_path / "model.pth", tmp_path / "model.onnx")
    ours, _ = load_model(tmp_path / "model.pth")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    for size in ((8, 12), (6, 10)):
        x = torch.rand(1, 3, *size) * 2 - 1
        with torch.no_grad():
            want = ours(x).clamp(-1, 1).numpy()
        np.testing.assert_allclose(session.run(None, {"image": x.numpy()})[0], want, atol=1e-4, rtol=0)
