"""The CIFAR-style prior: hinge GAN steps are finite, a killed run resumes exactly (EMA included),
DiffAugment is seeded and differentiable, and eval-prior counts what the classifier says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from retouch.methods.gan_prior import GANPrior, diff_augment
from retouch.train import CHECKPOINT, RunConfig, train
from tests.helpers import killed_run, smooth_image


def class_folders(root: Path, n: int = 6) -> Path:
    """Two classes of 32x32 images: smooth fields (a) and their colour inverses (b)."""
    rng = np.random.default_rng(0)
    for c in "ab":
        (root / c).mkdir(parents=True)
        for i in range(n):
            im = smooth_image(rng, 32, 32)
            Image.fromarray(im if c == "a" else 255 - im).save(root / c / f"{i}.png")
    return root


def tiny_prior(data: Path, steps: int) -> RunConfig:
    return RunConfig(method="gan_prior", model={"classes": ["a", "b"], "ch": 4, "dim_z": 16, "ema_start": 3},
                     data={"root": str(data), "size": 32, "load_size": 32},
                     train={"steps": steps, "batch_size": 4, "log_every": 1, "sample_every": 1000, "ckpt_every": 4,
                            "device": "cpu", "precision": "fp32"})


def rows(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "img_per_s"} for line in (run / "log.jsonl").read_text().splitlines()]


def test_killed_prior_run_resumes_exactly_and_the_ema_lags_g(tmp_path, monkeypatch):
    data = class_folders(tmp_path / "data")
    cfg = tiny_prior(data, steps=10)
    train(cfg, tmp_path / "full", show_progress=False)
    assert all(np.isfinite(v) for r in rows(tmp_path / "full") for v in r.values())
    killed_run(monkeypatch, GANPrior, 7, lambda: train(cfg, tmp_path / "killed", show_progress=False))
    train(cfg, tmp_path / "killed", resume=True, show_progress=False)
    assert rows(tmp_path / "killed") == rows(tmp_path / "full")
    a, b = (torch.load(tmp_path / r / CHECKPOINT, weights_only=True)["method"]["nets"] for r in ("full", "killed"))
    assert all(torch.equal(a[n][k], b[n][k]) for n in a for k in a[n])
    g, ema = a["G"]["linear.weight"], a["G_ema"]["linear.weight"]
    assert not torch.equal(g, ema)  # after ema_start the average trails G
    from retouch.models.load import load_model

    D, meta = load_model(tmp_path / "full" / "discriminator.safetensors")  # written beside the prior, for DGP
    assert meta["task"] == "discriminate" and torch.allclose(D.state_dict()["linear.weight"], a["D"]["linear.weight"].half().float())


def test_diff_augment_is_seeded_differentiable_and_cuts_a_hole():
    x = torch.rand(3, 3, 32, 32, requires_grad=True)
    a, b = (diff_augment(x, torch.Generator().manual_seed(5)) for _ in range(2))
    assert torch.equal(a, b)
    assert 0.2 < float((a == 0).float().mean()) < 0.5  # a 16x16 cutout plus up to 4 px of shift
    a.sum().backward()
    assert x.grad.abs().sum() > 0


def test_eval_prior_counts_the_classifiers_calls(tmp_path):
    from retouch.evaluate.prior import evaluate_prior
    from retouch.models.load import load_model

    data = class_folders(tmp_path / "data")
    train(tiny_prior(data, steps=4), tmp_path / "prior", show_progress=False)
    train(RunConfig(method="classifier", model={"classes": ["a", "b"], "width": 4},
                    data={"root": str(data), "size": 32, "load_size": 32},
                    train={"steps": 4, "batch_size": 4, "device": "cpu", "precision": "fp32"}), tmp_path / "judge", show_progress=False)
    r = evaluate_prior(str(tmp_path / "prior"), str(tmp_path / "judge"), per_class=5, sheet=tmp_path / "s.png")
    G, _ = load_model(tmp_path / "prior")
    judge, _ = load_model(tmp_path / "judge")
    gen = torch.Generator().manual_seed(0)
    for c, name in enumerate("ab"):
        with torch.no_grad():
            calls = judge(G(torch.randn(5, G.dim_z, generator=gen), torch.full((5,), c))).argmax(1)
        assert r["per_class_share"][name] == pytest.approx(float((calls == c).float().mean()))
    assert Image.open(tmp_path / "s.png").size == (5 * 32, 2 * 32)


def test_a_prior_continued_from_weights_starts_g_and_g_ema_there(tmp_path):
    from retouch.models.load import load_model
    from retouch.train import _init_from, build_method

    data = class_folders(tmp_path / "data")
    train(tiny_prior(data, steps=4), tmp_path / "prior", show_progress=False)
    source, _ = load_model(tmp_path / "prior" / "model.safetensors")
    method = build_method(tiny_prior(data, steps=4), torch.device("cpu"), torch.float32)
    _init_from(method, tmp_path / "prior" / "model.safetensors", torch.device("cpu"))
    for name in ("G", "G_ema"):  # the weights file holds G_ema (fp16): both nets start from it
        for k, v in method.nets[name].state_dict().items():
            assert torch.equal(v, source.state_dict()[k]), (name, k)
