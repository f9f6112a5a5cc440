"""The shared-latent family: UNIT, the conditional route and CoGAN train, resume exactly, export
both directions (or pairs) and run through the same verbs as CycleGAN."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from retouch.cli import app
from retouch.data import DataConfig, UnalignedDataset
from retouch.errors import RetouchError
from retouch.methods.cogan import CoGAN
from retouch.methods.condgan import CondGAN
from retouch.methods.unit import UNIT
from retouch.models.runner import load_translator
from retouch.nets import build_net
from retouch.train import CHECKPOINT, RunConfig, train
from tests.helpers import killed_run, photo_folder
from tests.test_cyclegan import log_rows, tiny_domains

MODELS = {
    "unit": {"ngf": 8, "ndf": 8, "n_res": 2},
    "condgan": {"ngf": 8, "ndf": 8, "z_dim": 16, "encoder_share": 0.5},
    "cogan": {"ngf": 8, "ndf": 8, "z_dim": 16},
}
CLASSES = {"unit": UNIT, "condgan": CondGAN, "cogan": CoGAN}


def tiny(method: str, data, steps: int) -> RunConfig:
    return RunConfig(method=method, model=MODELS[method], data={"root": str(data), "size": 32, "load_size": 36},
                     train={"steps": steps, "batch_size": 2, "log_every": 1, "sample_every": 1000, "ckpt_every": 4,
                            "device": "cpu", "precision": "fp32"})


@pytest.mark.parametrize("method", sorted(MODELS))
def test_a_killed_run_resumes_exactly(tmp_path, monkeypatch, method):
    data = tiny_domains(tmp_path / "data")
    cfg = tiny(method, data, steps=10)
    train(cfg, tmp_path / "full", show_progress=False)
    killed_run(monkeypatch, CLASSES[method], 7, lambda: train(cfg, tmp_path / "killed", show_progress=False))
    assert torch.load(tmp_path / "killed" / CHECKPOINT, weights_only=True)["step"] == 4
    train(cfg, tmp_path / "killed", resume=True, show_progress=False)
    assert log_rows(tmp_path / "killed") == log_rows(tmp_path / "full")
    a, b = (torch.load(tmp_path / r / CHECKPOINT, weights_only=True)["method"]["nets"] for r in ("full", "killed"))
    for k in a:
        assert all(torch.equal(a[k][p], b[k][p]) for p in a[k])


def test_condgan_trains_the_gan_first_then_the_encoder_alone(tmp_path):
    data = tiny_domains(tmp_path / "data")
    train(tiny("condgan", data, steps=8), tmp_path / "run", show_progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [("G_gan" in r, "E_z" in r) for r in rows] == [(True, False)] * 4 + [(False, True)] * 4
    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["method"]
    assert state["schedulers"]["G"]["last_epoch"] == 4 and state["schedulers"]["E"]["last_epoch"] == 4


@pytest.mark.parametrize("method", ["unit", "condgan"])
def test_both_directions_translate_through_the_cyclegan_verbs(tmp_path, method):
    data = tiny_domains(tmp_path / "data")
    run = tmp_path / "run"
    train(tiny(method, data, steps=4), run, show_progress=False)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    outs = {d: load_translator(str(run), "cpu", "fp32", direction=d)(x) for d in ("AtoB", "BtoA")}
    assert outs["AtoB"].shape == x.shape and not torch.allclose(outs["AtoB"], outs["BtoA"])
    state = torch.load(run / CHECKPOINT, weights_only=True)["method"]["nets"]
    if method == "unit":  # A -> B is A's encoder, the shared layers and B's generator, mean latent
        G = build_net({"name": "unit_g", "ngf": 8, "n_res": 2})
        G.load_state_dict({k: v.half().float() for k, v in state["G"].items()})
        G.eval()
        assert torch.allclose(outs["AtoB"], G.decode(G.encode(x, "A"), "B"), atol=1e-5)
    r = CliRunner().invoke(app, ["translate", str(data / "trainB"), "-o", str(tmp_path / "out"), "--model", str(run), "--direction", "BtoA"])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "out").iterdir())) == 4


def test_cogan_samples_pairs_from_one_draw(tmp_path):
    data = tiny_domains(tmp_path / "data")
    run = tmp_path / "run"
    train(tiny("cogan", data, steps=3), run, show_progress=False)
    r = CliRunner().invoke(app, ["sample", str(run), "-n", "6", "-o", str(tmp_path / "pairs.png"), "--seed", "3"])
    assert r.exit_code == 0, r.output
    from retouch.io import read_image

    sheet = read_image(tmp_path / "pairs.png")
    assert sheet.shape == (1, 3, 6 * 32, 2 * 32)  # one row per draw: A | B
    again = CliRunner().invoke(app, ["sample", str(run), "-n", "6", "-o", str(tmp_path / "again.png"), "--seed", "3"])
    assert again.exit_code == 0 and torch.equal(read_image(tmp_path / "again.png"), sheet)
    unit = tmp_path / "unit"  # UNIT: one draw of the shared latent through both generators
    train(tiny("unit", data, steps=1), unit, show_progress=False)
    r = CliRunner().invoke(app, ["sample", str(unit), "-n", "3", "-o", str(tmp_path / "unit.png")])
    assert r.exit_code == 0, r.output
    assert read_image(tmp_path / "unit.png").shape == (1, 3, 3 * 32, 2 * 32)
    from retouch.tasks.sample import sample_pairs

    a, b = sample_pairs(str(unit), 2, seed=1)
    G = build_net({"name": "unit_g", "ngf": 8, "n_res": 2})
    state = torch.load(unit / CHECKPOINT, weights_only=True)["method"]["nets"]["G"]
    G.load_state_dict({k: v.half().float() for k, v in state.items()})
    z = torch.randn(2, 32, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(a, G.eval().decode(z, "A"), atol=1e-5) and torch.allclose(b, G.decode(z, "B"), atol=1e-5)
    pix = tmp_path / "pix"
    train(RunConfig(method="pix2pix", model={"ngf": 4, "ndf": 4, "norm": "none"},
                    data={"root": str(photo_folder(tmp_path / "ph", n=2, h=32, w=32)), "degrade": "grey", "region": "full", "size": 32},
                    train={"steps": 1, "device": "cpu", "precision": "fp32"}), pix, show_progress=False)
    wrong = CliRunner().invoke(app, ["sample", str(pix), "-n", "2", "-o", str(tmp_path / "x.png")])
    assert isinstance(wrong.exception, RetouchError) and "CoGAN or UNIT" in str(wrong.exception)


def test_a_degraded_second_domain_is_another_photo_made_grey(tmp_path):
    photos = photo_folder(tmp_path / "photos", n=6, h=32, w=32)
    ds = UnalignedDataset(DataConfig(root=str(photos), degrade="grey", size=32, preprocess="crop"))
    item = ds[(0, 11)]
    b = item["B"]
    assert (b[0] - b[1]).abs().max() < 1e-6 and (b[1] - b[2]).abs().max() < 1e-6  # grey
    assert (item["A"][0] - item["A"][2]).abs().max() > 0.05  # A keeps its colour
    assert torch.equal(ds[(0, 11)]["B"], b)  # the seed fixes the draw
    draws = {round(float(ds[(0, s)]["B"].mean()), 4) for s in range(20)}
    assert len(draws) > 2  # B is drawn among the photos, not tied to A's


def test_eval_pairs_scores_a_draw_against_its_own_pair_and_another(tmp_path):
    photos = photo_folder(tmp_path / "photos", n=6, h=32, w=32)
    run = tmp_path / "run"
    cfg = tiny("cogan", photos, steps=2)
    cfg.data.degrade, cfg.data.preprocess = "grey", "crop"
    train(cfg, run, show_progress=False)
    r = CliRunner().invoke(app, ["eval-pairs", str(run), "-n", "8", "--json", str(tmp_path / "pairs.json")])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "pairs.json").read_text())
    assert report["degrade"] == "grey" and report["pairs"] == 8
    assert report["same_draw"]["psnr"] != report["other_draw"]["psnr"]  # different targets, different scores
    plain = tmp_path / "plain"
    train(tiny("cogan", tiny_domains(tmp_path / "data"), steps=1), plain, show_progress=False)
    r = CliRunner().invoke(app, ["eval-pairs", str(plain), "-n", "4"])
    assert isinstance(r.exception, RetouchError) and "data.degrade" in str(r.exception)


def test_pairs_that_correspond_score_far_above_other_draws(tmp_path, monkeypatch):
    import retouch.evaluate.pairs as pairs
    from retouch.degrade import Greyscale

    photos = photo_folder(tmp_path / "photos", n=6, h=32, w=32)
    run = tmp_path / "run"
    cfg = tiny("cogan", photos, steps=1)
    cfg.data.degrade, cfg.data.preprocess = "grey", "crop"
    train(cfg, run, show_progress=False)
    a = torch.rand(6, 3, 32, 32) * 2 - 1
    monkeypatch.setattr(pairs, "sample_pairs", lambda model, n, seed: (a, Greyscale()(a) + 0.01 * torch.randn_like(a)))
    r = pairs.evaluate_pairs(run, n=6)
    assert r["same_draw"]["psnr"] > 40 > 15 > r["other_draw"]["psnr"]
    assert r["same_draw"]["ssim"] > 0.95 > 0.2 > r["other_draw"]["ssim"]
