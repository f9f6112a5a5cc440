"""TD-GAN: the tagged set renders and measures its tags exactly, the method trains and resumes
exactly, `retouch rerender` swaps only the tags asked for, and `eval-rerender` scores real runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from retouch.cli import app
from retouch.data import DataConfig
from retouch.errors import RetouchError
from retouch.methods.tdgan import TDGANMethod
from retouch.tagged import (
    NAMES,
    TAGS,
    TaggedImages,
    change_one,
    draw_tags,
    measure,
    parse_setting,
    render,
)
from retouch.train import RunConfig, train
from tests.helpers import killed_run, smooth_image
from tests.test_cyclegan import log_rows


def class_folders(root: Path, n: int = 4) -> Path:
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(smooth_image(rng, 32, 32)).save(root / c / f"{i}.png")
    return root


def tiny(data: Path, steps: int, **model) -> RunConfig:
    return RunConfig(method="tdgan", model={"ngf": 8, "ndf": 8, "z_dim": 8, "tag_dim": 4, **model},
                     data={"root": str(data), "size": 32},
                     train={"steps": steps, "batch_size": 4, "log_every": 1, "sample_every": 1000, "ckpt_every": 4,
                            "device": "cpu", "precision": "fp32"})


def test_renders_are_the_operations_and_measuring_recovers_them():
    x = torch.rand(5, 3, 16, 16) * 1.6 - 0.8
    canonical = torch.tensor([[0, 0, 1, 1]] * 5)
    assert torch.equal(render(x, canonical), x)
    assert torch.equal(render(x, torch.tensor([[1, 1, 1, 1]] * 5)), torch.rot90(x.flip(-1), 1, (2, 3)))
    dark, bright = render(x, torch.tensor([[0, 0, 0, 1]] * 5)), render(x, torch.tensor([[0, 0, 2, 1]] * 5))
    assert dark.mean() < x.mean() < bright.mean()
    warm = render(x, torch.tensor([[0, 0, 1, 0]] * 5))
    assert (warm[:, 0] - warm[:, 2]).mean() > (x[:, 0] - x[:, 2]).mean() + 0.3
    gen = torch.Generator().manual_seed(0)
    tags = draw_tags(5, gen)
    new = change_one(tags, gen)
    assert ((new != tags).sum(1) == 1).all()
    assert torch.equal(measure(render(x, tags), x, tags), tags)
    assert torch.equal(measure(render(x, new), x, new), new)
    stale = measure(render(x, tags), x, new)  # the output did not change: the changed tag reads its old value
    assert torch.equal(stale[new != tags], tags[new != tags])


def test_tagged_items_pair_a_render_with_its_one_tag_rerender(tmp_path):
    ds = TaggedImages(DataConfig(root=str(class_folders(tmp_path / "data")), size=32))
    item = ds[(3, 7)]
    assert (item["tags"] != item["new_tags"]).sum() == 1
    photo = ds.photos[3]["image"][None]
    assert torch.equal(item["A"], render(photo, item["tags"][None])[0])
    assert torch.equal(item["B"], render(photo, item["new_tags"][None])[0])
    assert torch.equal(ds[(3, 7)]["B"], item["B"])  # the seed fixes the draw


def test_settings_parse_or_say_what_is_allowed():
    assert parse_setting("viewpoint=mirrored") == (0, 1)
    assert parse_setting("temperature=cool") == (3, 2)
    with pytest.raises(RetouchError, match="Unknown tag 'pose'"):
        parse_setting("pose=left")
    with pytest.raises(RetouchError, match="rotation takes 0, 90, 180, 270"):
        parse_setting("rotation=45")


@pytest.mark.parametrize("model", [{}, {"tag_weight": 0, "render_weight": 0, "gan_weight": 0}], ids=["tdgan", "autoencoder"])
def test_a_killed_run_resumes_exactly(tmp_path, monkeypatch, model):
    data = class_folders(tmp_path / "data")
    cfg = tiny(data, 10, **model)
    train(cfg, tmp_path / "full", show_progress=False)
    killed_run(monkeypatch, TDGANMethod, 7, lambda: train(cfg, tmp_path / "killed", show_progress=False))
    train(cfg, tmp_path / "killed", resume=True, show_progress=False)
    assert log_rows(tmp_path / "killed") == log_rows(tmp_path / "full")


def test_rerender_changes_what_is_asked_and_refuses_bad_tags(tmp_path):
    data = class_folders(tmp_path / "data")
    run = tmp_path / "run"
    train(tiny(data, 20), run, show_progress=False)
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["tag"] < rows[0]["tag"]  # the codes learn their tags
    src = tmp_path / "photo.png"
    Image.fromarray(smooth_image(np.random.default_rng(1), 48, 64)).save(src)
    runner = CliRunner()
    outs = {}
    for value in TAGS["rotation"]:
        out = tmp_path / f"rot{value}.png"
        r = runner.invoke(app, ["rerender", str(src), "-o", str(out), "--model", str(run), "--set", f"rotation={value}"])
        assert r.exit_code == 0, r.output
        outs[value] = np.asarray(Image.open(out)).astype(int)
        assert outs[value].shape == (32, 32, 3)
    assert len({o.tobytes() for o in outs.values()}) == 4  # each value renders differently
    r = runner.invoke(app, ["rerender", str(src), "-o", str(tmp_path / "x.png"), "--model", str(run), "--set", "rotation=45"])
    assert isinstance(r.exception, RetouchError) and "rotation takes" in str(r.exception)
    assert not (tmp_path / "x.png").exists()


def test_eval_rerender_scores_each_tag_on_cifar_test_images(tmp_path, shared_data):
    data = class_folders(tmp_path / "data")
    train(tiny(data, 2), tmp_path / "run", show_progress=False)
    r = CliRunner().invoke(app, ["eval-rerender", str(tmp_path / "run"), "--data", str(shared_data / "cifar10.zip"),
                                 "--per-class", "2", "--json", str(tmp_path / "r.json"), "--sheet", str(tmp_path / "s.png")])
    assert r.exit_code == 0, r.output
    assert np.asarray(Image.open(tmp_path / "s.png")).shape == (10 * 32, 9 * 32, 3)  # a row per class: input, 4 x (re-render, truth)
    report = json.loads((tmp_path / "r.json").read_text())
    rows = report["models"][str(tmp_path / "run")]
    assert report["images"] == 20 and set(NAMES) <= set(rows)
    for name in NAMES:
        assert 0 <= rows[name]["success"] <= 1 and 0 <= rows[name]["moved"] <= 1 and rows[name]["psnr"] > 0
