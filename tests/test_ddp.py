"""Training on two processes (torchrun, gloo on the CPU) takes the steps one process takes on the
same global batch: equal losses within float tolerance, one writer, and an exact resume.

pix2pix with a tiny U-Net and PatchGAN, no normalisation and no dropout: per-sample losses and no
random draws in the step, the conditions under which the two must agree (docs/howto/train.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from retouch.data import StreamSampler
from retouch.train import RunConfig, train
from tests.helpers import make_ab_folder

ROOT = Path(__file__).resolve().parents[1]


def config(data: Path, steps: int) -> RunConfig:
    return RunConfig(
        method="pix2pix",
        model={"ngf": 4, "ndf": 4, "n_layers_D": 2, "norm": "none", "dropout": False},
        data={"root": str(data), "size": 32},
        train={"steps": steps, "batch_size": 4, "log_every": 1, "ckpt_every": 2, "sample_every": 100, "device": "cpu",
               "precision": "fp32"},
    )


def losses(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "img_per_s"} for line in (run / "log.jsonl").read_text().splitlines()]


def torchrun(cfg_path: Path, out: Path, *extra: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "retouch",
           "train", "pix2pix", "--config", str(cfg_path), "--out", str(out), *extra]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group: a hung job is killed whole
    try:
        _, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0, err[-3000:]


def test_ranks_take_their_slice_of_each_global_batch():
    one = iter(StreamSampler(7, seed=1, start=8))
    ranks = [iter(StreamSampler(7, seed=1, start=8, rank=r, world=2, global_batch=4)) for r in range(2)]
    for _ in range(5):  # five global batches, across epoch boundaries
        expected = [next(one) for _ in range(4)]
        assert [next(ranks[0]) for _ in range(2)] + [next(ranks[1]) for _ in range(2)] == expected


def test_two_processes_equal_one_with_the_same_global_batch_and_resume(tmp_path):
    data = make_ab_folder(tmp_path / "pairs", n=6, size=32)
    train(config(data, 4), tmp_path / "one", show_progress=False)
    cfg_path = tmp_path / "two.yaml"
    cfg_path.write_text(yaml.safe_dump(config(data, 2).to_dict()))
    torchrun(cfg_path, tmp_path / "two")  # 2 steps, checkpoint, exit ...
    torchrun(cfg_path, tmp_path / "two", "--resume", "--steps", "4")  # ... then resumed to 4
    single, double = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert [r["step"] for r in double] == [1, 2, 3, 4]  # one writer: no rank-1 lines
    for a, b in zip(single, double):
        assert a.keys() == b.keys()
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=1e-5, abs=1e-7), (a["step"], k)
