"""The GAP classifier, its labelled data, its training through the one loop, and CAM math."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

from retouch.cli import app
from retouch.data import DataConfig
from retouch.errors import RetouchError
from retouch.evaluate.paired import evaluate
from retouch.io import read_provenance, to_tensor
from retouch.labelled import LabelledImages
from retouch.locate.cam import box, cam, heat_map, locate_box, region
from retouch.methods.classifier import Classifier, background_photos
from retouch.models.load import load_model
from retouch.nets import build_net
from retouch.train import CHECKPOINT, RunConfig, train
from tests.helpers import killed_run

SPEC = {"name": "resnet_gap", "num_classes": 5, "width": 4, "blocks": [1, 2], "init": "kaiming"}


def make_zip(path: Path, size: int = 16, per_class: int = 6, seed: int = 0) -> Path:
    """A CIFAR-like zip of PNGs: 'red' images are reddish, 'blue' ones bluish, both noisy."""
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(path, "w") as z:
        for split in ("train", "test"):
            for c, channel in (("red", 0), ("blue", 2)):
                for i in range(per_class):
                    a = rng.integers(0, 120, size=(size, size, 3), dtype=np.uint8)
                    a[..., channel] += 120
                    buf = Image.fromarray(a)
                    with z.open(f"{split}/{c}/{i:04d}.png", "w") as f:
                        buf.save(f, format="PNG")
    return path


def tiny_config(data: Path, steps: int = 40, **model) -> RunConfig:
    return RunConfig(
        method="classifier",
        model={"classes": ["blue", "red"], "width": 4, "blocks": [1, 1], "lr": 0.05, **model},
        data={"root": str(data), "size": 16, "load_size": 20},
        train={"steps": steps, "batch_size": 8, "decay_start": 0.5, "log_every": 1, "sample_every": 1000,
               "ckpt_every": 10, "device": "cpu", "precision": "fp32"},
    )


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, Path]:
    """(data zip, run folder) of a tiny classifier trained for 40 steps: about a second."""
    root = tmp_path_factory.mktemp("classifier")
    data = make_zip(root / "tiny.zip")
    torch.set_num_threads(1)
    train(tiny_config(data), root / "run", show_progress=False)
    return data, root / "run"


def test_net_is_fully_convolutional_with_stride_of_its_stages():
    net = build_net(dict(SPEC)).eval()
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    assert net.features(torch.zeros(2, 3, 32, 32)).shape == (2, 8, 16, 16)  # width 4 doubled once, stride 2
    assert net.features(torch.zeros(1, 3, 40, 56)).shape == (1, 8, 20, 28)
    assert net(torch.zeros(1, 3, 40, 56)).shape == (1, 5)


def test_cam_is_the_fc_weighted_sum_of_features_and_sums_to_the_logit():
    torch.manual_seed(0)
    net = build_net(dict(SPEC)).eval().requires_grad_(False)
    x = torch.randn(1, 3, 24, 40)
    feats, logits = net.features(x), net(x)
    for c in range(5):
        raw = sum(net.fc.weight[c, k] * feats[0, k] for k in range(feats.shape[1]))
        assert float(raw.mean() + net.fc.bias[c]) == pytest.approx(float(logits[0, c]), abs=1e-5)
        up = F.interpolate(raw[None, None], size=(24, 40), mode="bilinear", align_corners=False)[0, 0]
        heat, cls = cam(net, x, c)
        assert cls == c and heat.shape == (24, 40)
        assert torch.allclose(heat, (up - up.min()) / (up.max() - up.min()), atol=1e-5)
        assert float(heat.min()) == 0 and float(heat.max()) == pytest.approx(1)
    assert cam(net, x)[1] == int(logits.argmax())


def two_blobs() -> torch.Tensor:
    """A 40x60 map: a peak of 1 at (x=15, y=10) and a separate bump of 0.7 at (x=45, y=30)."""
    yy, xx = torch.meshgrid(torch.arange(40.0), torch.arange(60.0), indexing="ij")
    blob = lambda cx, cy, s: torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s**2))  # noqa: E731
    return torch.maximum(blob(15, 10, 3), 0.7 * blob(45, 30, 3))


def test_region_is_the_peak_component_and_shrinks_with_the_threshold():
    heat = two_blobs()
    mask = region(heat, 0.5)
    x, y, w, h = box(mask)
    assert x <= 15 < x + w and y <= 10 < y + h
    # exp(-r^2/18) >= 0.5  <=>  r <= 3.53: columns 12..18, rows 7..13; the 0.7 bump is not included
    assert (x, y, w, h) == (12, 7, 7, 7)
    assert not mask[30, 45]
    small = region(heat, 0.9)
    assert bool((small & ~mask).any()) is False and small.sum() < mask.sum()
    assert box(region(heat, 0.0)) == (0, 0, 60, 40)
    with pytest.raises(RetouchError, match="between 0 and 1"):
        region(heat, 1.5)


def test_labelled_zip_decodes_exactly_and_augments_from_the_seed(tmp_path):
    data = make_zip(tmp_path / "d.zip", size=16, per_class=3)
    cfg = DataConfig(root=str(data), split="test", size=16, load_size=20)
    ds = LabelledImages(cfg, train=False)
    assert ds.classes == ["blue", "red"] and len(ds) == 6
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    with zipfile.ZipFile(data) as z:
        first = to_tensor(Image.open(z.open("test/blue/0000.png")))[0]
    assert torch.equal(ds[0]["image"], first)  # no augmentation when not training
    aug = LabelledImages(cfg, train=True)
    a, b = aug[(0, 123)]["image"], aug[(0, 123)]["image"]
    assert torch.equal(a, b) and a.shape == (3, 16, 16)
    views = {aug[(0, s)]["image"].sum().item() for s in range(20)}
    assert len(views) > 5  # crops of the reflect-padded image and flips differ between seeds


def test_labelled_folder_fits_other_sizes_and_rejects_one_class(tmp_path):
    for c in ("cat", "dog"):
        (tmp_path / "set" / c).mkdir(parents=True)
        Image.new("RGB", (40, 20), (200, 10, 10)).save(tmp_path / "set" / c / "a.png")
    ds = LabelledImages(DataConfig(root=str(tmp_path / "set"), size=16), train=False)
    assert ds.images.shape == (2, 3, 16, 16) and ds.classes == ["cat", "dog"]
    assert ds.images[0, :, 8, 8].tolist() == [200, 10, 10]
    (tmp_path / "one" / "cat").mkdir(parents=True)
    with pytest.raises(RetouchError, match="one subfolder per class"):
        LabelledImages(DataConfig(root=str(tmp_path / "one"), size=16))


def test_training_learns_exports_and_evaluates(tiny_run):
    data, run = tiny_run
    log = read_log(run)
    losses = [r["loss"] for r in log]
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])
    net, meta = load_model(run)
    assert meta["task"] == "classify" and meta["classes"] == ["blue", "red"] and meta["size"] == 16
    assert net(torch.zeros(1, 3, 16, 16)).shape == (1, 2)
    report = evaluate(str(run), data, split="test", show_progress=False)
    assert report["task"] == "classify" and report["images"] == 12
    assert report["results"]["top1"] >= 0.9
    assert set(report["results"]["per_class"]) == {"blue", "red"}
    assert (run / "samples" / "step_0000040.png").exists()


@pytest.mark.parametrize("background", [False, True])
def test_killed_run_resumes_exactly(tmp_path, monkeypatch, background):
    data = make_zip(tmp_path / "d.zip")
    cfg = tiny_config(data, steps=20, **(background_options(background_folder(tmp_path / "bg")) if background else {}))
    train(cfg, tmp_path / "full", show_progress=False)

    killed_run(monkeypatch, Classifier, 15, lambda: train(cfg, tmp_path / "killed", show_progress=False))
    assert torch.load(tmp_path / "killed" / CHECKPOINT, weights_only=True)["step"] == 10
    train(cfg, tmp_path / "killed", resume=True, show_progress=False)

    strip = lambda rows: [{k: v for k, v in r.items() if k != "img_per_s"} for r in rows]  # noqa: E731
    assert strip(read_log(tmp_path / "killed")) == strip(read_log(tmp_path / "full"))
    a = torch.load(tmp_path / "full" / CHECKPOINT, weights_only=True)["method"]
    b = torch.load(tmp_path / "killed" / CHECKPOINT, weights_only=True)["method"]
    for k, v in a["nets"]["net"].items():
        assert torch.equal(v, b["nets"]["net"][k]), k
    assert a["schedulers"] == b["schedulers"]


def test_locate_box_and_heat_map_on_a_larger_image(tiny_run):
    _, run = tiny_run
    image = torch.rand(1, 3, 50, 70) * 2 - 1
    heat, name = heat_map(image, str(run), "red", short_side=25)
    assert heat.shape == (50, 70) and name == "red"
    assert float(heat.min()) >= 0 and float(heat.max()) == pytest.approx(1, abs=1e-3)
    x, y, w, h = locate_box(image, str(run), cls=1)
    assert all(isinstance(v, int) for v in (x, y, w, h))
    assert 0 <= x < x + w <= 70 and 0 <= y < y + h <= 50
    with pytest.raises(RetouchError, match="Unknown class 'cat'"):
        locate_box(image, str(run), cls="cat")
    with pytest.raises(RetouchError, match="out of range"):
        locate_box(image, str(run), cls=2)


def test_cli_locate_writes_overlay_with_provenance(tiny_run, tmp_path):
    _, run = tiny_run
    Image.new("RGB", (48, 32), (30, 40, 200)).save(tmp_path / "in.png")
    out = tmp_path / "heat.png"
    result = CliRunner().invoke(app, ["locate", str(tmp_path / "in.png"), "-o", str(out), "--model", str(run), "--class", "blue"])
    assert result.exit_code == 0, result.output
    assert "class: blue" in result.output and "box: x=" in result.output
    assert Image.open(out).size == (48, 32)
    assert "blue" in read_provenance(out)["task"]


def background_folder(path: Path) -> Path:
    path.mkdir()
    rng = np.random.default_rng(1)
    for i, (w, h) in enumerate([(60, 40), (30, 50)]):
        Image.fromarray(rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)).save(path / f"{i}.png")
    return path


def test_background_photos_are_shrunk_to_each_scale_and_never_below_the_crop(tmp_path):
    photos = background_photos([str(background_folder(tmp_path / "bg"))], [20, 32], size=16)
    assert [tuple(p.shape) for p in photos] == [(3, 20, 30), (3, 32, 48), (3, 33, 20), (3, 53, 32)]
    assert all(p.dtype == torch.uint8 for p in photos)


def background_options(folder: Path) -> dict:
    return {"background": [str(folder)], "background_scales": [24], "paste_batch": 6, "paste_canvas": 20,
            "paste_sizes": [8, 12]}


def test_pasted_batch_puts_each_image_whole_on_a_background_crop(tmp_path):
    folder = tmp_path / "bg"
    folder.mkdir()
    Image.new("RGB", (40, 30), (0, 0, 0)).save(folder / "black.png")  # -1 everywhere
    cfg = tiny_config(make_zip(tmp_path / "d.zip"), **background_options(folder)).model
    method = Classifier(cfg, torch.device("cpu"), torch.float32, size=16, steps=30, decay_start=0.5)
    batch = {"image": torch.linspace(0.1, 0.8, 8)[:, None, None, None].expand(8, 3, 16, 16), "label": torch.arange(8) % 2}
    canvases, labels = method._pasted_batch(batch)
    assert canvases.shape == (6, 3, 20, 20) and torch.equal(labels, batch["label"][:6])
    sides = set()
    for canvas, value in zip(canvases, batch["image"][:6, 0, 0, 0]):
        ys, xs = torch.nonzero(canvas[0] > -1, as_tuple=True)
        side = int(ys.max() - ys.min() + 1)
        assert int(xs.max() - xs.min() + 1) == side and 8 <= side <= 12 and len(ys) == side * side  # one whole square
        assert torch.allclose(canvas[:, ys, xs], value, atol=1e-5)  # the image itself, shrunk
        sides.add(side)
    assert len(sides) > 1  # sizes vary
    again, _ = method._pasted_batch(batch)
    assert torch.equal(again, canvases)  # drawn from the step number: a resumed run pastes the same
    method.schedulers["net"].last_epoch += 1
    assert not torch.equal(method._pasted_batch(batch)[0], canvases)


@pytest.mark.parametrize("sizes", [[12, 8], [0, 8], [8, 40]])
def test_paste_sizes_outside_the_canvas_are_a_clear_error(tmp_path, sizes):
    cfg = tiny_config(make_zip(tmp_path / "d.zip"), **{**background_options(background_folder(tmp_path / "bg")), "paste_sizes": sizes}).model
    with pytest.raises(RetouchError, match="paste_sizes"):
        Classifier(cfg, torch.device("cpu"), torch.float32, size=16, steps=30, decay_start=0.5)
