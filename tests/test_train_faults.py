"""Training faults lose nothing: kills at random moments (one inside the checkpoint write), a full
disk, NaN losses, damaged checkpoints, code-carrying pickles, and resuming as people do it: the
same command again with --resume added, or with --steps moved."""

import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from retouch.cli import app
from retouch.errors import RetouchError
from retouch.methods.pix2pix import Pix2Pix
from retouch.models.files import load_pth
from retouch.train import CHECKPOINT, train
from tests.helpers import assert_same_nets, make_ab_folder
from tests.test_train import losses_only, read_log, tiny_config

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "retouch", "train", "pix2pix", *args], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def logged_steps(run: Path) -> int:
    try:
        return len((run / "log.jsonl").read_text().splitlines())
    except FileNotFoundError:
        return 0


def same_weights(a: Path, b: Path) -> None:
    x, y = torch.load(a / CHECKPOINT, weights_only=True), torch.load(b / CHECKPOINT, weights_only=True)
    assert x["step"] == y["step"]
    assert_same_nets(x, y, tuple(x["method"]["nets"]))


KILL_IN_WRITE = """
import os, signal, sys, torch
import retouch.train as T
real = torch.save
calls = [0]
def dying_save(obj, f, *a, **k):  # the third checkpoint dies half-written: some bytes, then SIGKILL
    calls[0] += 1
    if calls[0] == 3:
        f.write(b"PK\\x03\\x04 half a checkpoint")
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real(obj, f, *a, **k)
T.torch.save = dying_save
from retouch.cli import main
sys.argv = ["retouch", "train", "pix2pix"] + sys.argv[1:]
main()
"""


@pytest.mark.slow
def test_twenty_random_kills_and_one_inside_the_checkpoint_write_resume_exactly(tmp_path):
    data = make_ab_folder(tmp_path / "data")
    cfg = tiny_config(data, steps=300)
    cfg.train.ckpt_every = 3
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.to_dict()))
    train(cfg, tmp_path / "full", show_progress=False)

    run = tmp_path / "killed"
    args = ["--config", str(cfg_file), "--out", str(run)]
    proc = subprocess.run([sys.executable, "-c", KILL_IN_WRITE, *args], env=ENV, capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert list(run.glob(".checkpoint.pt.*.tmp")), "the half-written checkpoint should be beside the real one"
    assert torch.load(run / CHECKPOINT, weights_only=True)["step"] == 6  # the previous one, whole

    rng = random.Random(0)
    for kill in range(20):
        before = logged_steps(run)
        proc = cli(*args, "--resume")
        deadline = time.time() + 120
        while logged_steps(run) <= before + 1:  # kill while training runs, not while Python starts
            assert proc.poll() is None, f"kill {kill}: the run ended early: {proc.stderr.read().decode()}"
            assert time.time() < deadline
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.15))  # a random moment: a step, a log line, a checkpoint write
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, f"kill {kill} came after the run finished"
        assert torch.load(run / CHECKPOINT, weights_only=True)["step"] < 300
    assert subprocess.run([sys.executable, "-m", "retouch", "train", "pix2pix", *args, "--resume"], env=ENV).returncode == 0
    assert losses_only(read_log(run)) == losses_only(read_log(tmp_path / "full"))
    same_weights(run, tmp_path / "full")
    assert not list(run.glob(".*.tmp"))  # each resume cleared what the kills left


def test_the_same_command_with_resume_continues_and_steps_can_move(tmp_path):
    data = make_ab_folder(tmp_path / "data")
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(tiny_config(data, steps=14).to_dict()))
    run = tmp_path / "run"
    command = ["train", "pix2pix", "--config", str(cfg_file), "--data", str(data), "--out", str(run), "--steps", "7"]
    invoke = CliRunner().invoke
    assert invoke(app, command).exit_code == 0
    assert invoke(app, command).exit_code != 0  # not without --resume
    again = invoke(app, [*command, "--resume"])
    assert again.exit_code == 0, again.output  # the same flags: accepted, nothing left to do
    assert read_log(run)[-1]["step"] == 7
    clash = invoke(app, [*command, "--resume", "--seed", "5"])
    assert isinstance(clash.exception, RetouchError) and "--seed differ" in str(clash.exception)
    longer = invoke(app, ["train", "pix2pix", "--out", str(run), "--resume", "--steps", "14"])
    assert longer.exit_code == 0, longer.output
    assert [r["step"] for r in read_log(run)] == list(range(1, 15))
    state = torch.load(run / CHECKPOINT, weights_only=True)
    assert state["step"] == 14
    # the schedule is the 14-step run's: linear decay from step 7 ends at zero
    assert state["method"]["optimizers"]["G"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)
    shorter = invoke(app, ["train", "pix2pix", "--out", str(run), "--resume", "--steps", "10"])
    assert "already at step 14" in str(shorter.exception)


def test_a_longer_resume_equals_a_run_started_at_that_length_once_past_the_first_part(tmp_path):
    """--steps N on resume takes the N-step schedule: from the resume step on, the rate is the one
    a run started with N steps has there (what the guide promises)."""
    data = make_ab_folder(tmp_path / "data")
    train(tiny_config(data, steps=8), tmp_path / "run", show_progress=False)
    train(tiny_config(data, steps=20), tmp_path / "run", resume=True, show_progress=False)
    train(tiny_config(data, steps=20), tmp_path / "ref", show_progress=False)
    a = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["method"]["optimizers"]["G"]["param_groups"][0]["lr"]
    b = torch.load(tmp_path / "ref" / CHECKPOINT, weights_only=True)["method"]["optimizers"]["G"]["param_groups"][0]["lr"]
    assert a == b


def test_nan_loss_stops_naming_step_and_loss_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real = Pix2Pix.step
    calls = {"n": 0}

    def poisoned(self, batch):
        calls["n"] += 1
        losses = real(self, batch)
        return {**losses, "G_l1": torch.tensor(float("nan"))} if calls["n"] == 17 else losses

    monkeypatch.setattr(Pix2Pix, "step", poisoned)
    data = make_ab_folder(tmp_path / "data")
    with pytest.raises(RetouchError, match=r"Step 17: loss G_l1 is nan.*checkpoint \(step 14\)"):
        train(tiny_config(data), tmp_path / "run", show_progress=False)
    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert state["step"] == 14
    assert all(torch.isfinite(v).all() for v in state["method"]["nets"]["G"].values())


def test_skip_mode_undoes_a_nan_step_counts_it_and_goes_on(tmp_path, monkeypatch):
    real = Pix2Pix.step
    calls = {"n": 0}

    def poisoned(self, batch):  # the real update happens; skip must take it back
        calls["n"] += 1
        losses = real(self, batch)
        return {**losses, "G_l1": torch.tensor(float("inf"))} if calls["n"] == 6 else losses

    data = make_ab_folder(tmp_path / "data")
    ref = tiny_config(data, steps=5)
    skip = tiny_config(data, steps=6)
    for cfg in (ref, skip):
        cfg.train.decay_start, cfg.train.ckpt_every = 1.0, 3  # a constant rate: 5 steps are 6 steps minus the last
    skip.train.nonfinite = "skip"
    train(ref, tmp_path / "ref", show_progress=False)
    monkeypatch.setattr(Pix2Pix, "step", poisoned)
    train(skip, tmp_path / "skip", show_progress=False)
    rows = read_log(tmp_path / "skip")
    assert [r["skipped"] for r in rows] == [0, 0, 0, 0, 0, 1]
    state = torch.load(tmp_path / "skip" / CHECKPOINT, weights_only=True)
    assert state["step"] == 6 and state["skipped"] == 1
    reference = torch.load(tmp_path / "ref" / CHECKPOINT, weights_only=True)
    assert_same_nets(reference, state, why="was changed by the step that should have been undone")


def test_a_full_disk_stops_with_a_clear_error_and_keeps_the_previous_checkpoint(tmp_path):
    data = make_ab_folder(tmp_path / "data")
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(tiny_config(data, steps=7).to_dict()))
    run = tmp_path / "run"
    assert cli("--config", str(cfg_file), "--out", str(run)).wait() == 0
    size = (run / CHECKPOINT).stat().st_size
    assert (run / "model.safetensors").stat().st_size < size // 2

    def small_disk() -> None:  # files may grow to half a checkpoint: the next one cannot be written
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, size // 2))

    proc = cli("--out", str(run), "--resume", "--steps", "14", preexec_fn=small_disk)
    stderr = proc.communicate()[1].decode()
    assert proc.returncode == 2, stderr
    assert "Cannot write the checkpoint of step 14" in stderr and "step 7 is kept" in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert torch.load(run / CHECKPOINT, weights_only=True)["step"] == 7
    assert not list(run.glob(".*.tmp"))


def test_a_damaged_checkpoint_is_a_clear_error(tmp_path):
    data = make_ab_folder(tmp_path / "data")
    cfg = tiny_config(data, steps=7)
    train(cfg, tmp_path / "run", show_progress=False)
    ckpt = tmp_path / "run" / CHECKPOINT
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 3])
    with pytest.raises(RetouchError, match="cannot be read as a torch file.*damaged"):
        train(cfg, tmp_path / "run", resume=True, show_progress=False)


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_carries_code_is_refused_and_never_run(tmp_path):
    from retouch.models.foreign.biggan import load_biggan

    payload = _Payload()
    payload.marker = tmp_path / "ran"
    evil = tmp_path / "G_ema.pth"
    torch.save({"weight": torch.zeros(1), "x": payload}, evil)
    assert not payload.marker.exists()
    with pytest.raises(RetouchError, match=r"carries Python objects or code.*weights_only=True"):
        load_pth(evil)
    with pytest.raises(RetouchError, match="carries Python objects or code"):
        load_biggan(evil, "G", resolution=32, attention=0)
    assert not payload.marker.exists()
