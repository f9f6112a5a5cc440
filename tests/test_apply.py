"""Inference at any size, files and folders, weights files and the one-call API."""

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import retouch
from retouch.cli import app
from retouch.errors import RetouchError
from retouch.io import read_provenance
from retouch.models.files import save_weights
from retouch.models.load import load_model, read_meta
from retouch.models.runner import SelfEnsemble, Translator, _starts, load_translator
from retouch.nets import build_net

SPEC = {"name": "unet", "in_channels": 3, "out_channels": 3, "num_downs": 5, "ngf": 4, "norm": "instance", "dropout": False}


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    net = build_net(dict(SPEC))
    return save_weights(net, {"net": SPEC, "task": "translate", "direction": "AtoB", "size": 32}, tmp_path / "m.safetensors")


def test_weights_round_trip_in_fp16(weights):
    torch.manual_seed(0)
    original = build_net(dict(SPEC)).eval()
    net, meta = load_model(weights)
    assert meta["net"] == SPEC and meta["version"] == retouch.__version__
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert (net(x) - original(x)).abs().max() < 1e-2  # fp16 storage, fp32 compute


def test_bad_weights_files_are_clear_errors(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(RetouchError, match="not a readable"):
        read_meta(tmp_path / "bad.safetensors")
    with pytest.raises(RetouchError, match="No model"):
        load_model(tmp_path / "missing.safetensors")
    with pytest.raises(RetouchError, match="no model.safetensors"):
        load_model(tmp_path)


@pytest.mark.parametrize(("length", "tile", "overlap"), [(32, 32, 8), (100, 32, 8), (33, 32, 16), (517, 64, 32)])
def test_tiles_cover_everything_and_overlap(length, tile, overlap):
    starts = _starts(length, tile, overlap)
    covered = np.zeros(length, bool)
    for s in starts:
        covered[s : s + tile] = True
    assert covered.all() and starts[-1] == length - tile
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


def test_tiled_inference_matches_whole_image_for_a_local_net():
    """A net without normalisation and with a small receptive field gives the same result tiled."""
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.Tanh()).eval()
    tr = Translator(conv, {"net": {"name": "resnet"}}, "conv", torch.device("cpu"), torch.float32, tile=32, overlap=8)
    x = torch.rand(1, 3, 70, 90) * 2 - 1
    with torch.no_grad():
        whole = conv(x)
    tiled = tr(x)
    assert tiled.shape == x.shape
    assert (tiled - whole)[:, :, 1:-1, 1:-1].abs().max() < 1e-5  # borders differ by padding only


def test_tile_count_stays_proportional_to_area(monkeypatch):
    conv = torch.nn.Conv2d(3, 3, 1).eval()
    tr = Translator(conv, {"net": {"name": "resnet"}}, "conv", torch.device("cpu"), torch.float32, tile=32, overlap=32)
    calls = []
    monkeypatch.setattr(tr, "_run", lambda x: calls.append(len(x)) or x)
    tr(torch.zeros(1, 3, 333, 517))
    assert sum(calls) <= (333 // 24 + 1) * (517 // 24 + 1)  # overlap capped at a quarter tile


def test_any_size_and_mode_gives_rgb_of_the_same_size(tmp_path, weights):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (333, 517, 4), dtype=np.uint8), "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rng.integers(0, 256, (45, 70), dtype=np.uint8), "L").save(tmp_path / "grey.jpg")
    for name in ["rgba.png", "grey.jpg"]:
        out = retouch.translate(tmp_path / name, model=str(weights))
        assert out.mode == "RGB" and out.size == Image.open(tmp_path / name).size


def test_cli_translate_folder_keeps_names_and_records_provenance(tmp_path, weights):
    src = tmp_path / "in"
    src.mkdir()
    for name, size in [("a.png", (40, 20)), ("b.jpg", (64, 64))]:
        Image.new("RGB", size, (200, 30, 30)).save(src / name)
    result = CliRunner().invoke(app, ["translate", str(src), "-o", str(tmp_path / "out"), "--model", str(weights)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.jpg"]
    assert Image.open(tmp_path / "out" / "a.png").size == (40, 20)
    prov = read_provenance(tmp_path / "out" / "b.jpg")
    assert prov["task"] == "translate" and prov["model"] == str(weights)


def test_translator_is_cached_per_model(weights):
    assert load_translator(str(weights)) is load_translator(str(weights))


def test_cli_user_errors_exit_2_without_traceback(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "retouch", "translate", str(tmp_path / "none.png"), "-o", str(tmp_path / "o.png"),
                        "--model", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "error:" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.png").exists()


def test_eval_reports_model_and_identity_and_writes_a_sheet(tmp_path, weights):
    from retouch.evaluate.paired import evaluate
    from tests.helpers import make_ab_folder

    data = make_ab_folder(tmp_path / "data", n=3, size=32)
    report = evaluate(str(weights), data, split="train", sheet=tmp_path / "sheet.png", show_progress=False)
    assert report["images"] == 3 and set(report["results"]) == {"model", "identity"}
    # B is the colour inverse of A, so returning the input unchanged scores badly
    assert report["results"]["identity"]["psnr_rgb"] < 12
    assert Image.open(tmp_path / "sheet.png").size == (96, 96)  # 3 rows of input | output | target


def test_weights_get_umask_permissions_and_no_temp_files(tmp_path, weights):
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(weights.stat().st_mode) == 0o666 & ~umask  # mkstemp would give 0600
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_self_ensemble_turns_each_view_back_with_its_mask():
    """A pointwise net is the same under every flip, so the average must equal one pass; a net
    that reads the mask must get the mask turned with the image, or the average blurs it."""
    x = torch.rand(1, 3, 10, 14) * 2 - 1
    mask = torch.zeros(1, 1, 10, 14)
    mask[:, :, 1:4, 2:9] = 1  # not symmetric under any flip
    pointwise = lambda t, m=None: torch.tanh(t) * m  # noqa: E731
    for n in (1, 2, 4, 8):
        assert torch.allclose(SelfEnsemble(pointwise, n)(x, mask), pointwise(x, mask), atol=1e-6)


def test_self_ensemble_averages_what_a_net_does_not_do_symmetrically():
    """A net that adds a left-to-right ramp: the mirror view's ramp runs the other way, so two views
    cancel it to its mean, and eight views (quarter turns add a top-to-bottom one) too."""
    ramp = lambda t, m=None: t + torch.linspace(0, 1, t.shape[-1])  # noqa: E731
    x = torch.zeros(1, 3, 6, 8)
    assert torch.allclose(SelfEnsemble(ramp, 1)(x), ramp(x))
    assert torch.allclose(SelfEnsemble(ramp, 2)(x), torch.full_like(x, 0.5), atol=1e-6)
    assert torch.allclose(SelfEnsemble(ramp, 8)(x), torch.full_like(x, 0.5), atol=1e-6)
    assert SelfEnsemble(ramp, 8)(x).shape == x.shape  # quarter turns of a landscape input come back landscape
    with pytest.raises(RetouchError, match="1, 2, 4 or 8"):
        SelfEnsemble(ramp, 3)
