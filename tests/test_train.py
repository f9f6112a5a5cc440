"""The training loop: a run killed mid-way and resumed equals an uninterrupted run, exactly."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from retouch.errors import RetouchError
from retouch.models.load import load_model
from retouch.train import CHECKPOINT, RunConfig, train
from tests.helpers import assert_same_nets, killed_run, make_ab_folder

STEPS = 80


def tiny_config(data: Path, steps: int = STEPS) -> RunConfig:
    return RunConfig(
        method="pix2pix",
        model={"ngf": 4, "ndf": 4, "norm": "instance"},
        data={"root": str(data), "size": 32, "load_size": 36},
        train={"steps": steps, "batch_size": 2, "log_every": 1, "sample_every": 100, "ckpt_every": 7,
               "device": "cpu", "precision": "fp32"},
    )


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def losses_only(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "img_per_s"} for r in rows]


def test_killed_run_resumes_exactly(tmp_path):
    data = make_ab_folder(tmp_path / "data")
    cfg = tiny_config(data)

    full = tmp_path / "full"
    train(cfg, full, show_progress=False)

    killed = tmp_path / "killed"
    killed.mkdir()
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    proc = subprocess.Popen([sys.executable, "-m", "retouch", "train", "pix2pix", "--config", str(tmp_path / "cfg.yaml"),
                             "--out", str(killed)], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (killed / CHECKPOINT).exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "no checkpoint within 120 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stopped_at = torch.load(killed / CHECKPOINT, weights_only=True)["step"]
    assert 0 < stopped_at < STEPS, "the run must be killed mid-way for this test to mean anything"

    with pytest.raises(RetouchError, match="--resume"):
        train(cfg, killed, show_progress=False)
    train(cfg, killed, resume=True, show_progress=False)

    assert losses_only(read_log(killed)) == losses_only(read_log(full))
    a = torch.load(full / CHECKPOINT, weights_only=True)
    b = torch.load(killed / CHECKPOINT, weights_only=True)
    assert a["step"] == b["step"] == STEPS
    assert_same_nets(a, b, why="differs after resume")


def test_training_learns_and_exports(tmp_path):
    """L1 falls on a learnable mapping, samples are written, and the export loads on its own."""
    data = make_ab_folder(tmp_path / "data")
    run = tmp_path / "run"
    cfg = tiny_config(data, steps=120)
    cfg.model.gan_weight, cfg.model.lr = 0.0, 1e-3
    weights = train(cfg, run, show_progress=False)
    rows = read_log(run)
    first, last = sum(r["G_l1"] for r in rows[:10]) / 10, sum(r["G_l1"] for r in rows[-10:]) / 10
    assert last < 0.6 * first
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000100.png", "step_0000120.png"]
    assert (run / "logs").is_dir() and any((run / "logs").iterdir())
    assert RunConfig.from_yaml(run / "config.yaml").to_dict() == cfg.to_dict()
    net, meta = load_model(weights)
    assert meta["task"] == "translate" and meta["direction"] == "AtoB" and meta["size"] == 32
    assert meta["net"]["name"] == "unet" and meta["net"]["num_downs"] == 5
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_l1_only_baseline_builds_no_discriminator(tmp_path):
    data = make_ab_folder(tmp_path / "data")
    cfg = tiny_config(data, steps=3)
    cfg.model.gan_weight = 0.0
    train(cfg, tmp_path / "run", show_progress=False)
    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert set(state["method"]["nets"]) == {"G"}
    assert set(read_log(tmp_path / "run")[0]) == {"step", "G_l1", "img_per_s"}


def test_squared_error_phase_trains_on_the_region_mean_square(tmp_path):
    """`loss: l2` replaces L1 by the squared error over the region (what PSNR measures); the log
    still reports L1, so phases compare."""
    from retouch.methods.pix2pix import Pix2Pix

    data = make_ab_folder(tmp_path / "data")
    logs = {}
    for loss in ("l1", "l2"):
        cfg = tiny_config(data, steps=3)
        cfg.model.gan_weight, cfg.model.loss = 0.0, loss
        train(cfg, tmp_path / loss, show_progress=False)
        logs[loss] = read_log(tmp_path / loss)
    assert set(logs["l2"][0]) == {"step", "G_l1", "img_per_s"}
    assert logs["l1"][0]["G_l1"] == logs["l2"][0]["G_l1"]  # same start
    assert logs["l1"][2]["G_l1"] != logs["l2"][2]["G_l1"]  # different steps
    fake, y, mask = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5), torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    y[..., 2:, :] = 9.0  # outside the region: not counted
    assert Pix2Pix._pixel_error(None, fake, y, mask, squared=True).item() == 0.25
    assert Pix2Pix._pixel_error(None, fake, y, mask).item() == 0.5


def test_config_rejects_unknown_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("method: pix2pix\nmodel: {ngf: 8, nfg: 8}\n")
    with pytest.raises(RetouchError, match="nfg"):
        RunConfig.from_yaml(path)


def test_cli_flags_override_the_config_file(tmp_path):
    from typer.testing import CliRunner

    from retouch.cli import app

    data = make_ab_folder(tmp_path / "data")
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(tiny_config(tmp_path / "elsewhere", steps=50).to_dict()))
    result = CliRunner().invoke(app, ["train", "pix2pix", "--config", str(tmp_path / "cfg.yaml"), "--data", str(data),
                                      "--out", str(tmp_path / "run"), "--steps", "2", "--batch-size", "1", "--direction", "BtoA"])
    assert result.exit_code == 0, result.output
    saved = RunConfig.from_yaml(tmp_path / "run" / "config.yaml")
    assert (saved.train.steps, saved.train.batch_size, saved.data.direction, saved.data.root) == (2, 1, "BtoA", str(data))
    assert saved.model.ngf == 4  # untouched keys come from the file
    resumed = CliRunner().invoke(app, ["train", "pix2pix", "--out", str(tmp_path / "run"), "--resume", "--batch-size", "3"])
    assert isinstance(resumed.exception, RetouchError) and "--batch-size differ" in str(resumed.exception)
    assert CliRunner().invoke(app, ["train", "cyclegan", "--config", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "r2")]).exit_code != 0


@pytest.mark.slow
def test_compiled_run_trains_like_eager_keeps_names_and_resumes_exactly(tmp_path, monkeypatch):
    """train.compile: eager's losses to float tolerance, the same exported keys, an exact resume."""
    from retouch.methods.pix2pix import Pix2Pix

    data = make_ab_folder(tmp_path / "data")
    eager, compiled = tiny_config(data, steps=10), tiny_config(data, steps=10)
    compiled.train.compile = True
    train(eager, tmp_path / "eager", show_progress=False)
    train(compiled, tmp_path / "compiled", show_progress=False)
    for a, b in zip(losses_only(read_log(tmp_path / "eager")), losses_only(read_log(tmp_path / "compiled")), strict=True):
        assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], rel=1e-3, abs=1e-5) for k in a)
    net_e, _ = load_model(tmp_path / "eager" / "model.safetensors")
    net_c, _ = load_model(tmp_path / "compiled" / "model.safetensors")
    assert net_e.state_dict().keys() == net_c.state_dict().keys()  # no "_orig_mod." prefixes

    killed_run(monkeypatch, Pix2Pix, 9, lambda: train(compiled, tmp_path / "killed", show_progress=False))
    assert torch.load(tmp_path / "killed" / CHECKPOINT, weights_only=True)["step"] == 7
    train(compiled, tmp_path / "killed", resume=True, show_progress=False)
    assert losses_only(read_log(tmp_path / "killed")) == losses_only(read_log(tmp_path / "compiled"))
