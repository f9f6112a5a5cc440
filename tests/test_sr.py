"""Super-resolution: PAN's margin, SRResNet shapes, the VGG loader, srgan training and exact
resume, tiled upscaling, and the SR evaluation protocol on values computed independently."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from retouch.errors import RetouchError
from retouch.evaluate.sr import evaluate_sr, modcrop
from retouch.losses import PerceptualAdversarial, VGGContent
from retouch.metrics import rgb_to_y
from retouch.models.foreign.vgg import load_vgg19
from retouch.models.runner import Translator
from retouch.nets import build_net
from retouch.nets.patchgan import NLayerDiscriminator
from retouch.nets.vgg import _layers
from retouch.train import CHECKPOINT, RunConfig, train
from tests.helpers import killed_run, smooth_image
from tests.test_train import losses_only, read_log


class ScaledFeatures(nn.Module):
    """A 'discriminator' whose one hidden feature is w * x: P = |w| * mean|real - fake|."""

    def __init__(self, w: float):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def features(self, x):
        return [self.w * x]


REAL, FAKE = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)  # mean|real - fake| = 0.5


@pytest.mark.parametrize(("w", "margin", "expected"), [(1.0, 2.0, 1.5), (1.0, 0.3, 0.0), (4.0, 2.0, 0.0)])
def test_pan_margin_is_zero_beyond_m_and_m_minus_p_below(w, margin, expected):
    D, fake = ScaledFeatures(w), FAKE.clone().requires_grad_(True)
    pan = PerceptualAdversarial(margin=margin)
    loss = pan.d_loss(D, REAL, fake)
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    assert fake.grad is None  # D's term never trains G
    assert D.w.grad.item() == pytest.approx(-0.5 if expected > 0 else 0.0)  # d(m - |w| 0.5)/dw, or nothing past m


def test_pan_generator_term_is_the_weighted_distance_and_reaches_g():
    D, fake = ScaledFeatures(2.0), FAKE.clone().requires_grad_(True)
    loss = PerceptualAdversarial(layers=(0,), weights=(3.0,)).g_loss(D, REAL, fake)
    assert loss.item() == pytest.approx(3.0 * 2.0 * 0.5)
    loss.backward()
    assert torch.allclose(fake.grad, torch.full_like(fake, 3.0 * 2.0 / fake.numel()))


def test_pan_options_are_checked():
    with pytest.raises(RetouchError, match="one per layer"):
        PerceptualAdversarial(layers=(0, 1), weights=(1.0,))
    with pytest.raises(RetouchError, match="out of range"):
        PerceptualAdversarial(layers=(4,)).distance(NLayerDiscriminator(3, 4, 3, "none"), torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
    with pytest.raises(RetouchError, match="hidden features"):
        PerceptualAdversarial().distance(nn.Identity(), REAL, FAKE)


def test_patchgan_features_are_its_block_outputs_and_keys_stay():
    D = NLayerDiscriminator(3, 4, 3, "instance")
    keys = list(D.state_dict())
    x = torch.rand(1, 3, 64, 64)
    feats = D.features(x)
    assert [f.shape[1:] for f in feats] == [(4, 32, 32), (8, 16, 16), (16, 8, 8), (32, 7, 7)]
    assert torch.equal(D.model[-1](feats[-1]), D(x))  # the logits conv follows the last block
    assert list(D.state_dict()) == keys and keys[0] == "model.0.weight"


@pytest.mark.parametrize("scale", [2, 4])
def test_srresnet_output_is_scale_times_any_input(scale):
    G = build_net({"name": "srresnet", "scale": scale, "channels": 8, "n_blocks": 2})
    assert G(torch.zeros(2, 3, 7, 11)).shape == (2, 3, 7 * scale, 11 * scale)
    D = build_net({"name": "srgan_d", "ndf": 4, "n_stages": 2})
    assert D(torch.zeros(2, 3, 40, 28)).shape == (2, 1, 1, 1) and len(D.features(torch.zeros(1, 3, 8, 8))) == 4


def test_srresnet_default_fits_the_size_budget():
    G = build_net({"name": "srresnet"})
    assert sum(p.numel() for p in G.parameters()) * 2 < 3.2e6  # bytes in fp16


def test_vgg19_loads_torchvision_layout_and_missing_file_is_clear(tmp_path):
    torch.manual_seed(0)
    convs = {f"features.{i}": m for i, m in enumerate(_layers(36)) if isinstance(m, nn.Conv2d)}
    assert list(convs)[:3] == ["features.0", "features.2", "features.5"] and list(convs)[-1] == "features.34"
    state = {f"{k}.{p}": getattr(m, p).detach().clone() for k, m in convs.items() for p in ("weight", "bias")}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # the classifier part of a torchvision file is ignored
    torch.save(state, tmp_path / "vgg19.pth")
    vgg = load_vgg19(tmp_path / "vgg19.pth", "relu2_1")
    assert torch.equal(vgg.features[5].weight, state["features.5.weight"]) and len(vgg.features) == 7
    assert not any(p.requires_grad for p in vgg.parameters())
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert vgg(x).shape == (1, 128, 8, 8)
    loss = VGGContent(tmp_path / "vgg19.pth", "relu2_1")
    assert loss(x, x).item() == 0 and loss(x, -x).item() > 0
    with pytest.raises(RetouchError, match="do not exist"):
        load_vgg19(tmp_path / "absent.pth")
    torch.save({k: v for k, v in state.items() if k != "features.2.weight"}, tmp_path / "partial.pth")
    with pytest.raises(RetouchError, match="missing features.2.weight"):
        load_vgg19(tmp_path / "partial.pth")


def photos(root, n: int = 4, h: int = 40, w: int = 44):
    rng = np.random.default_rng(0)
    root.mkdir()
    for i in range(n):
        Image.fromarray(smooth_image(rng, h, w)).save(root / f"{i}.png")
    return root


def sr_config(data, loss: str = "pan", steps: int = 10) -> RunConfig:
    return RunConfig(
        method="srgan",
        model={"scale": 2, "channels": 8, "n_blocks": 1, "ndf": 4, "n_stages_D": 2, "loss": loss},
        data={"root": str(data), "size": 16, "degrade": "blur:sigma=0.5-1+downsample:scale=2+noise:sigma=0-5", "region": "full"},
        train={"steps": steps, "batch_size": 2, "log_every": 1, "sample_every": 100, "ckpt_every": 4, "device": "cpu",
               "precision": "fp32"},
    )


def test_srgan_trains_with_finite_losses_and_resumes_exactly(tmp_path, monkeypatch):
    from retouch.methods.srgan import SRGAN

    data = photos(tmp_path / "photos")
    cfg = sr_config(data)
    weights = train(cfg, tmp_path / "full", show_progress=False)
    rows = read_log(tmp_path / "full")
    assert set(rows[0]) == {"step", "D", "D_pan", "G_gan", "G_content", "G_mse", "img_per_s"}
    assert all(math.isfinite(v) for r in rows for v in r.values())
    up = Translator(*_load(weights))
    assert up(torch.zeros(1, 3, 9, 13)).shape == (1, 3, 18, 26)

    killed_run(monkeypatch, SRGAN, 7, lambda: train(cfg, tmp_path / "killed", show_progress=False))
    assert torch.load(tmp_path / "killed" / CHECKPOINT, weights_only=True)["step"] == 4
    train(cfg, tmp_path / "killed", resume=True, show_progress=False)
    assert losses_only(read_log(tmp_path / "killed")) == losses_only(rows)
    a = torch.load(tmp_path / "full" / CHECKPOINT, weights_only=True)["method"]["nets"]
    b = torch.load(tmp_path / "killed" / CHECKPOINT, weights_only=True)["method"]["nets"]
    assert all(torch.equal(v, b[n][k]) for n in a for k, v in a[n].items())


def _load(weights):
    from retouch.models.load import load_model

    net, meta = load_model(weights)
    return net, meta, "run", torch.device("cpu"), torch.float32, 8, 4


def test_srresnet_phase_builds_no_discriminator_and_a_wrong_scale_is_clear(tmp_path):
    data = photos(tmp_path / "photos")
    cfg = sr_config(data, loss="mse", steps=2)
    cfg.model.adv_weight = 0.0
    train(cfg, tmp_path / "mse", show_progress=False)
    assert set(torch.load(tmp_path / "mse" / CHECKPOINT, weights_only=True)["method"]["nets"]) == {"G"}
    cfg.data.degrade = "downsample:scale=4"
    with pytest.raises(RetouchError, match="must equal model.scale"):
        train(cfg, tmp_path / "x4", show_progress=False)
    cfg.data.region = "box"
    with pytest.raises(RetouchError, match="region: full"):
        train(cfg, tmp_path / "box", show_progress=False)


def test_srvgg_generator_trains_and_its_file_loads_in_the_published_layout(tmp_path):
    """`generator: srvgg` trains an SRVGGNetCompact; the exported file's tensors load with strict
    key matching into Real-ESRGAN's class (written from its source, tests/esrgan_reference.py), which
    then gives our output on [0, 1] images: the file is theirs to use as it is."""
    from safetensors.torch import load_file

    from tests.esrgan_reference import SRVGGNetCompact as Published

    cfg = sr_config(photos(tmp_path / "photos"), loss="mse", steps=3)
    cfg.model.adv_weight, cfg.model.generator, cfg.model.channels, cfg.model.n_convs = 0.0, "srvgg", 8, 2
    weights = train(cfg, tmp_path / "run", show_progress=False)
    theirs = Published(num_feat=8, num_conv=2, upscale=2)
    theirs.load_state_dict({k: v.float() for k, v in load_file(weights).items()}, strict=True)
    ours, _ = _load(weights)[:2]
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.allclose((ours(x * 2 - 1) + 1) / 2, theirs.eval()(x), atol=1e-5)
    cfg.model.generator = "edsr"
    with pytest.raises(RetouchError, match="use srresnet or srvgg"):
        train(cfg, tmp_path / "bad", show_progress=False)


def test_pix2pix_trains_with_the_pan_loss(tmp_path):
    from tests.helpers import make_ab_folder
    from tests.test_train import tiny_config

    cfg = tiny_config(make_ab_folder(tmp_path / "data"), steps=3)
    cfg.model.loss = "pan"
    train(cfg, tmp_path / "run", show_progress=False)
    rows = read_log(tmp_path / "run")
    assert {"D_pan", "G_pan", "G_l1"} <= set(rows[0]) and all(math.isfinite(r["G_pan"]) for r in rows)


def test_upscale_any_size_and_tiled_equals_whole_for_a_local_net(tmp_path):
    """A 3x3 conv + pixel shuffle sees one input pixel around each output: tiles blend exactly."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2)).eval()
    meta = {"net": {"name": "srresnet", "scale": 2}}
    x = torch.rand(1, 3, 37, 51) * 2 - 1
    with torch.no_grad():
        whole = net(x).clamp(-1, 1)
    tiled = Translator(net, meta, "conv", torch.device("cpu"), torch.float32, tile=16, overlap=8)(x)
    assert tiled.shape == (1, 3, 74, 102)
    assert (tiled - whole)[:, :, 2:-2, 2:-2].abs().max() < 1e-5  # borders differ by padding only


def test_upscale_cli_on_an_odd_sized_file_and_a_folder(tmp_path):
    from typer.testing import CliRunner

    from retouch.cli import app
    from retouch.io import read_provenance

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(smooth_image(np.random.default_rng(1), 23, 31)).save(src / "odd.png")
    result = CliRunner().invoke(app, ["upscale", str(src / "odd.png"), "-o", str(tmp_path / "big.png"), "--model", "bicubic",
                                      "--scale", "3"])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "big.png").size == (93, 69)
    assert read_provenance(tmp_path / "big.png")["task"] == "upscale x3"
    result = CliRunner().invoke(app, ["upscale", str(src), "-o", str(tmp_path / "out"), "--model", "bicubic"])
    assert result.exit_code == 0 and Image.open(tmp_path / "out" / "odd.png").size == (124, 92)


def test_y_channel_is_bt601():
    rgb = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0]]], dtype=np.uint8)
    assert rgb_to_y(rgb)[0] == pytest.approx([235.0, 16.0, 16 + 65.481, 16 + 128.553], abs=1e-6)


def _y(a: np.ndarray) -> np.ndarray:
    """BT.601 Y written out here, independently of retouch.metrics."""
    a = a.astype(np.float64) / 255
    return 16 + 65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2]


def _pillow_bicubic(a: np.ndarray, w: int, h: int) -> np.ndarray:
    """Pillow's antialiased bicubic in float mode (its own code, no 8-bit rounding between passes),
    rounded to 8 bits like a saved file."""
    planes = [np.asarray(Image.fromarray(a[..., c].astype(np.float32), "F").resize((w, h), Image.BICUBIC)) for c in range(3)]
    return np.clip(np.round(np.stack(planes, -1)), 0, 255).astype(np.uint8)


def test_eval_sr_scores_against_an_independent_computation(tmp_path):
    """Bicubic x2 with Pillow, BT.601 Y and PSNR by hand: HR modcropped from 27x35 to 26x34,
    the LR saved to 8 bits, a border of 2 cut."""
    folder = tmp_path / "set"
    folder.mkdir()
    rng = np.random.default_rng(3)
    hr = np.clip(smooth_image(rng, 27, 35) + rng.normal(0, 20, (27, 35, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(hr).save(folder / "a.png")
    report = evaluate_sr([], [str(folder)], tmp_path, scale=2, show_progress=False)
    got = report["results"][str(folder)]["bicubic"]

    crop = hr[:26, :34]
    up = _pillow_bicubic(_pillow_bicubic(crop, 17, 13), 34, 26)
    err = (_y(up) - _y(crop))[2:-2, 2:-2]
    expected = 10 * math.log10(255**2 / np.mean(err**2))
    assert report["scale"] == 2 and report["results"][str(folder)]["images"] == 1
    assert 20 < expected < 40 and got["psnr_y"] == pytest.approx(expected, abs=0.01)
    assert 0 < got["ssim_y"] < 1


def test_modcrop_and_scale_checks():
    assert modcrop(torch.zeros(1, 3, 27, 35), 4).shape == (1, 3, 24, 32)
    with pytest.raises(RetouchError, match="No benchmark"):
        evaluate_sr([], ["Set99"], Path("/nonexistent"), show_progress=False)


def test_shipped_sr_models_beat_bicubic_in_psnr_or_in_detail(shared_data):
    """srresnet-x4 is the PSNR model, srgan-x4 the detail model: each wins on its own measure (Set5)."""
    r = evaluate_sr(["srresnet-x4", "srgan-x4"], ["Set5"], shared_data, device="cpu", precision="fp32", show_progress=False)
    rows = r["results"]["Set5"]
    assert rows["srresnet-x4"]["psnr_y"] > rows["bicubic"]["psnr_y"] + 1.5  # measured +2.05 dB
    assert rows["srgan-x4"]["detail"] > rows["srresnet-x4"]["detail"] > rows["bicubic"]["detail"]
