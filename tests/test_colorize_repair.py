"""The paired models beside demosaic: a chroma U-Net keeps the input's lightness exactly, `retouch
colorize` and `retouch repair` run photos, folders and films with tiny runs trained here, and
`~` chains draw their order per sample."""

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from retouch.cli import app
from retouch.degrade import LUMA, Greyscale
from retouch.degrade import Greyscale
from retouch.errors import RetouchError
from retouch.evaluate.colorize import colourfulness
from retouch.io import read_image, read_provenance
from retouch.nets import build_net
from tests.helpers import photo_folder


def _luma(x: torch.Tensor) -> torch.Tensor:
    return (x * x.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1)


def test_chroma_unet_keeps_the_luma_it_is_given():
    net = build_net({"name": "unet", "num_downs": 5, "in_channels": 3, "out_channels": 3, "ngf": 8, "norm": "none",
                     "dropout": False, "chroma": True})
    x = Greyscale()(torch.rand(2, 3, 64, 64) * 1.6 - 0.8)  # away from the ends, where a channel may clip
    with torch.no_grad():
        y = net(x)
    assert (_luma(y) - _luma(x)).abs().max() < 1e-5
    assert (y - x).abs().max() > 1e-3  # and it did add colour (a fresh net's: faint)


def test_colourfulness_is_zero_for_grey_and_grows_with_saturation():
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert colourfulness(Greyscale()(x)) < 1e-6
    assert colourfulness(x) > colourfulness(x * 0.5) > 0


def test_colorize_photos_and_film_with_a_tiny_run(tmp_path):
    from retouch.train import RunConfig, train

    clean = photo_folder(tmp_path / "photos", n=4, h=40, w=48)
    cfg = RunConfig(method="pix2pix",
                    model={"ngf": 4, "ndf": 4, "norm": "none", "dropout": False, "chroma": True, "unet_downs": 5, "lambda_l1": 10,
                           "chroma_side": 36},
                    data={"root": str(clean), "degrade": "grey", "region": "full", "size": 32},
                    train={"steps": 3, "batch_size": 2, "log_every": 1, "sample_every": 3, "ckpt_every": 3, "device": "cpu",
                           "precision": "fp32"})
    train(cfg, tmp_path / "run", show_progress=False)
    runner = CliRunner()
    r = runner.invoke(app, ["colorize", str(clean), "-o", str(tmp_path / "out"), "--model", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    for src in sorted(clean.iterdir()):
        x, y = read_image(src), read_image(tmp_path / "out" / src.name)
        assert y.shape == x.shape
        assert (_luma(y) - _luma(x)).abs().max() < 3 / 127.5  # the photo's lightness, up to 8-bit rounding of three channels
        assert read_provenance(tmp_path / "out" / src.name)["task"] == "colorize"
    from retouch.tasks.clips import write_clip
    from retouch.video import probe

    frames = [np.asarray(Image.open(p)) for p in sorted(clean.iterdir())] * 2
    clip = write_clip(tmp_path / "grey.mp4", frames, fps=5)
    r = runner.invoke(app, ["colorize", str(clip), "-o", str(tmp_path / "colour.mp4"), "--model", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    assert probe(tmp_path / "colour.mp4").frames == 8

    masked = tmp_path / "masked"  # a restoration run is not a colourisation model: one line, exit 2
    from tests.helpers import tiny_masked_run

    run = tiny_masked_run(masked, clean, 1)
    r = runner.invoke(app, ["colorize", str(clean / "0.png"), "-o", str(tmp_path / "x.png"), "--model", str(run)])
    assert isinstance(r.exception, RetouchError) and "does the task 'restore', not 'colorize'" in str(r.exception)  # exit 2 in main()


def test_a_colorizer_with_chroma_side_colours_a_shrunk_copy_and_keeps_full_size_luma():
    from retouch.tasks.colorize import Colorizer

    seen = []

    class Orange:  # a "model" that paints everything orange, at whatever size it gets
        name, meta = "orange", {"method_config": {"chroma_side": 16}}

        def __call__(self, x):
            seen.append(tuple(x.shape[2:]))
            return torch.cat([x[:, :1] + 0.3, x[:, 1:2], x[:, 2:] - 0.3], 1).clamp(-1, 1)

    colorizer = Colorizer(Orange())
    x = torch.rand(1, 3, 40, 64) * 1.2 - 0.6
    y = colorizer(x)
    assert seen == [(16, 26)]  # the short side brought to 16, aspect kept
    assert y.shape == x.shape and (_luma(y) - _luma(x)).abs().max() < 1e-5
    assert (y[:, 0] - y[:, 2]).mean() > 0.3  # the small copy's colour, brought up to full size
    small = torch.rand(1, 3, 12, 20)
    colorizer(small)
    assert seen[-1] == (12, 20)  # already small: colours at its own size
    assert torch.allclose(Colorizer(Orange(), saturation=0)(x), Greyscale()(x).expand_as(x), atol=1e-5)  # grey
    mid = x * 0.5  # no channel clips at twice the colour
    vivid, plain = Colorizer(Orange(), saturation=2)(mid), Colorizer(Orange())(mid)
    assert (_luma(vivid) - _luma(mid)).abs().max() < 1e-5
    assert torch.allclose(vivid - Greyscale()(mid), 2 * (plain - Greyscale()(mid)), atol=1e-5)
    with pytest.raises(RetouchError, match="--saturation 5: use 0"):
        Colorizer(Orange(), saturation=5)


def test_degraded_data_reads_a_zip_and_shrinks_photos_to_load_size(tmp_path):
    from retouch.data import DataConfig, make_dataset

    photos = photo_folder(tmp_path / "photos", n=2, h=80, w=120)
    with zipfile.ZipFile(tmp_path / "set.zip", "w") as z:
        for i, cls in enumerate(["cat", "dog", "cat"]):
            z.write(photos / f"{i % 2}.png", f"train/{cls}/{i}.png")
        z.write(photos / "0.png", "test/cat/9.png")  # another split: not read
    cfg = DataConfig(root=[str(tmp_path / "set.zip"), str(photos)], degrade="grey", region="full", size=32, load_size=40)
    ds = make_dataset(cfg)
    assert [ds.name(i) for i in range(len(ds))] == ["train/cat/0.png", "train/cat/2.png", "train/dog/1.png", "0.png", "1.png"]
    assert all(im.shape[1:] == (40, 60) for im in ds._images)  # short side 80 -> 40, aspect kept
    item = ds[(0, 0)]
    assert item["input"].shape == (3, 32, 32) and (item["input"][0] - item["input"][2]).abs().max() < 1e-6
    with pytest.raises(RetouchError, match="no images under 'val/'"):
        make_dataset(DataConfig(root=str(tmp_path / "set.zip"), split="val", degrade="grey", region="full", size=32))


def test_chroma_needs_an_rgb_unet_without_a_mask():
    from retouch.methods.pix2pix import Pix2Pix, Pix2PixConfig

    with pytest.raises(RetouchError, match="chroma"):
        Pix2Pix(Pix2PixConfig(chroma=True, masked=True), torch.device("cpu"), torch.float32, 32, 1, 0.5)


@pytest.mark.parametrize("net", [{"netG": "unet", "unet_downs": 5}, {"netG": "ffdnet", "n_convs": 2}])
def test_repair_photos_at_each_scale_with_a_tiny_run(tmp_path, net):
    """`retouch repair` with a run trained here on shuffled degradation chains (the U-Net of the
    first `repair` and the FFDNet-style net of the shipped one): same size at --scale 1, twice the
    size at --scale 2; a scale it does not offer is one line."""
    from retouch.train import RunConfig, train

    clean = photo_folder(tmp_path / "photos", n=3, h=48, w=64)
    cfg = RunConfig(method="pix2pix", model={"ngf": 4, "norm": "none", "dropout": False, "gan_weight": 0.0, "lambda_l1": 1, **net},
                    data={"root": str(clean), "degrade": "blur:sigma=0.5-2,p=0.5~downsample:scale=2,up=1,p=0.5~noise:sigma=5-20~jpeg:quality=40-90",
                          "region": "full", "preprocess": "crop", "size": 32},
                    train={"steps": 2, "batch_size": 2, "log_every": 1, "sample_every": 2, "ckpt_every": 2, "device": "cpu",
                           "precision": "fp32"})
    train(cfg, tmp_path / "run", show_progress=False)
    runner = CliRunner()
    for scale in (1, 2):
        out = tmp_path / f"x{scale}.png"
        r = runner.invoke(app, ["repair", str(clean / "0.png"), "-o", str(out), "--model", str(tmp_path / "run"), "--scale", str(scale)])
        assert r.exit_code == 0, r.output
        assert Image.open(out).size == (64 * scale, 48 * scale)
        assert read_provenance(out)["task"] == f"repair x{scale}"
    r = runner.invoke(app, ["repair", str(clean / "0.png"), "-o", str(tmp_path / "x3.png"), "--model", str(tmp_path / "run"), "--scale", "3"])
    assert isinstance(r.exception, RetouchError) and "--scale 3" in str(r.exception)
    from retouch.tasks.repair import load_repairer

    assert load_repairer(tmp_path / "run", 1, "cpu")(torch.zeros(1, 3, 47, 63)).shape == (1, 3, 47, 63)  # odd sides


def test_pix2pix_names_its_generators():
    from retouch.methods.pix2pix import Pix2Pix, Pix2PixConfig

    with pytest.raises(RetouchError, match="use unet, resnet or ffdnet"):
        Pix2Pix(Pix2PixConfig(netG="dncnn"), torch.device("cpu"), torch.float32, 32, 1, 0.5)


def test_shuffled_chains_draw_their_order_per_sample():
    from retouch.degrade import ComposeFamily, parse

    family = parse("blur:sigma=1~noise:sigma=5~jpeg:quality=50")
    assert isinstance(family, ComposeFamily) and family.shuffled
    gen = torch.Generator().manual_seed(0)
    orders = {tuple(type(op).__name__ for op in family.sample(gen).parts) for _ in range(30)}
    assert len(orders) > 3  # 6 orders exist; a fixed chain would give one
    assert len({tuple(type(op).__name__ for op in parse("blur:sigma=1+noise:sigma=5").sample(gen).parts) for _ in range(10)}) == 1
    with pytest.raises(RetouchError, match="mixes"):
        parse("blur:sigma=1+noise:sigma=5~jpeg")


def test_chroma_bins_encode_decode_and_rebalance():
    """Soft targets put a colour on its four nearest bin centres and decode back to it; the
    rebalanced loss weighs a rare bin above a common one, by a bounded factor."""
    from retouch.losses import RebalancedBins
    from retouch.nets.unet import bin_centres, decode_bins, soft_bins

    n = 8
    cbcr = torch.tensor([[0.13, -0.42], [0.0, 0.0], [-0.85, 0.77]]).T.reshape(1, 2, 3, 1)
    q = soft_bins(cbcr, n)
    assert torch.allclose(q.sum(1), torch.ones(1, 3, 1)) and int((q > 0).sum()) <= 12
    assert torch.allclose(torch.einsum("nkhw,kc->nchw", q, bin_centres(n)), cbcr, atol=1e-6)  # bilinear weights are exact
    assert torch.allclose(decode_bins(torch.log(q.clamp(min=1e-9)), n, 1.0), cbcr, atol=1e-5)  # T = 1: the plain mean
    loss = RebalancedBins(n, mix=0.5)
    common = soft_bins(torch.zeros(4, 2, 8, 8) + 0.06, n)  # near grey, everywhere
    loss(torch.zeros_like(common), common)
    w = loss.weights()
    seen = int(common.argmax(1).flatten()[0])
    assert int(w.argmin()) == seen and w[seen] < w[bin_centres(n).norm(dim=1).argmax()]  # the common bin weighs least
    assert float(w.max() / w.min()) <= 1 + (1 - 0.5) * n * n / 0.5  # mixing with uniform bounds the spread


def test_chroma_bins_colouriser_trains_resumes_exactly_and_colours(tmp_path, monkeypatch):
    from retouch.methods.pix2pix import Pix2Pix
    from retouch.train import CHECKPOINT, RunConfig, train
    from tests.helpers import assert_same_nets, killed_run

    clean = photo_folder(tmp_path / "photos", n=4, h=40, w=48)
    cfg = RunConfig(method="pix2pix",
                    model={"ngf": 4, "ndf": 4, "norm": "none", "dropout": False, "chroma": True, "chroma_bins": 6, "unet_downs": 5,
                           "lambda_l1": 1, "gan_weight": 0},
                    data={"root": str(clean), "degrade": "grey", "region": "full", "size": 32},
                    train={"steps": 8, "batch_size": 2, "log_every": 1, "sample_every": 8, "ckpt_every": 2, "device": "cpu",
                           "precision": "fp32"})
    train(cfg, tmp_path / "full", show_progress=False)
    killed_run(monkeypatch, Pix2Pix, 6, lambda: train(cfg, tmp_path / "killed", show_progress=False))
    train(cfg, tmp_path / "killed", resume=True, show_progress=False)
    a, b = (torch.load(tmp_path / run / CHECKPOINT, weights_only=True) for run in ("full", "killed"))
    assert_same_nets(a, b, nets=("G",), why="differs after resume")
    assert torch.equal(a["method"]["bins"]["counts"], b["method"]["bins"]["counts"])  # the bin prior is in the checkpoint
    r = CliRunner().invoke(app, ["colorize", str(clean / "0.png"), "-o", str(tmp_path / "c.png"), "--model", str(tmp_path / "full")])
    assert r.exit_code == 0, r.output
    x, y = read_image(clean / "0.png"), read_image(tmp_path / "c.png")
    assert (_luma(y) - _luma(x)).abs().max() < 3 / 127.5
    with pytest.raises(RetouchError, match="chroma_bins"):
        from retouch.methods.pix2pix import Pix2PixConfig

        Pix2Pix(Pix2PixConfig(chroma_bins=6), torch.device("cpu"), torch.float32, 32, 1, 0.5)


def test_class_head_learns_zip_labels_beside_the_colours_and_resumes_exactly(tmp_path, monkeypatch):
    """With data.classes, on-the-fly items carry the index of their zip class folder (-1 for a
    folder of unlabelled photos); pix2pix's class_head learns them from G's bottleneck (a real
    loss that falls on a separable toy), resumes exactly, and leaves G's export as it was."""
    from retouch.data import DataConfig, DegradedDataset
    from retouch.methods.pix2pix import Pix2Pix
    from retouch.train import CHECKPOINT, RunConfig, train
    from tests.helpers import assert_same_nets, killed_run

    archive = tmp_path / "toy.zip"
    with zipfile.ZipFile(archive, "w") as z:  # two classes a classifier can tell apart: dark and bright
        for c, level in (("dark", 40), ("bright", 215)):
            for i in range(6):
                buf = io.BytesIO()
                Image.fromarray(np.full((32, 32, 3), level + 3 * i, np.uint8)).save(buf, "PNG")
                z.writestr(f"train/{c}/{i}.png", buf.getvalue())
    photos = photo_folder(tmp_path / "photos", n=2, h=32, w=32)
    data = {"root": [str(archive), str(photos)], "degrade": "grey", "region": "full", "size": 32, "classes": ["bright", "dark"]}
    items = DegradedDataset(DataConfig(**data))
    assert sorted(items[i]["label"] for i in range(len(items))) == [-1] * 2 + [0] * 6 + [1] * 6
    with pytest.raises(RetouchError, match="data.classes"):
        DegradedDataset(DataConfig(**{**data, "root": str(photos)}))
    cfg = RunConfig(method="pix2pix",
                    model={"ngf": 4, "norm": "none", "dropout": False, "chroma": True, "unet_downs": 5, "gan_weight": 0,
                           "lambda_l1": 1, "class_head": 2, "lr": 0.01},
                    data=data,
                    train={"steps": 30, "batch_size": 4, "log_every": 1, "sample_every": 30, "ckpt_every": 4, "device": "cpu",
                           "precision": "fp32"})
    train(cfg, tmp_path / "full", show_progress=False)
    logged = [json.loads(line) for line in (tmp_path / "full" / "log.jsonl").read_text().splitlines()]
    first, last = (sum(r["G_class"] for r in part) / len(part) for part in (logged[:5], logged[-5:]))
    assert first > 0.5 and last < 0.5 * first, (first, last)  # ln 2 = 0.69 is a guess; brightness is in the luma G sees
    killed_run(monkeypatch, Pix2Pix, 10, lambda: train(cfg, tmp_path / "killed", show_progress=False))
    train(cfg, tmp_path / "killed", resume=True, show_progress=False)
    a, b = (torch.load(tmp_path / run / CHECKPOINT, weights_only=True) for run in ("full", "killed"))
    assert_same_nets(a, b, nets=("G", "C"), why="differs after resume")
    from safetensors import safe_open

    with safe_open(str(tmp_path / "full" / "model.safetensors"), "pt") as f:
        assert not any(k.startswith("fc.") for k in f.keys())  # the head trains, it does not ship
    r = CliRunner().invoke(app, ["colorize", str(photos / "0.png"), "-o", str(tmp_path / "c.png"), "--model", str(tmp_path / "full")])
    assert r.exit_code == 0, r.output


def test_paired_test_counts_only_the_disagreements():
    """McNemar's exact test: 10 images only the second gets right and none the other way is
    p = 2 / 2**10; agreements do not move it; equal splits give p = 1."""
    from retouch.evaluate.colorize import paired_test

    a = torch.tensor([True] * 50 + [False] * 10 + [False] * 40)
    b = torch.tensor([True] * 50 + [True] * 10 + [False] * 40)
    assert paired_test(a, b) == {"only_first_right": 0, "only_second_right": 10, "p_value": pytest.approx(2 / 2**10)}
    assert paired_test(torch.cat([a, b]), torch.cat([b, a]))["p_value"] == 1.0
    assert paired_test(a, a) == {"only_first_right": 0, "only_second_right": 0, "p_value": 1.0}
