"""Paired datasets: layouts, directions, preprocess modes, determinism, errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from retouch.data import DataConfig, PairedDataset, StreamSampler
from retouch.errors import RetouchError
from tests.helpers import make_ab_folder, smooth_image


def test_ab_files_split_into_input_and_target(tmp_path):
    root = make_ab_folder(tmp_path, n=2, size=32)
    ds = PairedDataset(DataConfig(root=str(root), size=32, preprocess="none", flip=False))
    x, y = ds.pair(0)
    assert x.shape == y.shape == (3, 32, 32)
    assert torch.allclose(x, -y, atol=1e-6)  # B was made as 255 - A
    back = PairedDataset(DataConfig(root=str(root), direction="BtoA", size=32, preprocess="none", flip=False))
    assert torch.equal(back.pair(0)[0], y)


def test_two_folder_layout_pairs_by_name(tmp_path):
    rng = np.random.default_rng(1)
    for side in "AB":
        (tmp_path / side).mkdir()
    for name in ["b.png", "a.png"]:
        img = smooth_image(rng, 40, 24)
        Image.fromarray(img).save(tmp_path / "A" / name)
        Image.fromarray(img[:, ::-1].copy()).save(tmp_path / "B" / name)
    ds = PairedDataset(DataConfig(root=str(tmp_path), size=16, preprocess="none", flip=False))
    assert [ds.name(i) for i in range(len(ds))] == ["a.png", "b.png"]
    x, y = ds.pair(1)
    assert torch.equal(x.flip(-1), y)


def test_two_folder_layout_reports_missing_partner(tmp_path):
    for side in "AB":
        (tmp_path / side).mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "A" / "only.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "B" / "other.png")
    with pytest.raises(RetouchError, match="only.png"):
        PairedDataset(DataConfig(root=str(tmp_path)))


@pytest.mark.parametrize(
    ("preprocess", "load_size", "expected"),
    [("resize_and_crop", 40, (32, 32)), ("crop", None, (32, 32)), ("scale_width", None, (49, 36)),
     ("scale_width_and_crop", 40, (32, 32)), ("none", None, (60, 44))],
)
def test_preprocess_shapes(tmp_path, preprocess, load_size, expected):
    rng = np.random.default_rng(0)
    (tmp_path / "train").mkdir()
    a = smooth_image(rng, 60, 44)  # H=60, W=44 per side
    Image.fromarray(np.concatenate([a, a], 1)).save(tmp_path / "train" / "x.png")
    ds = PairedDataset(DataConfig(root=str(tmp_path), preprocess=preprocess, size=32, load_size=load_size))
    item = ds[(0, 123)]
    assert tuple(item["input"].shape[1:]) == expected and item["target"].shape == item["input"].shape
    assert torch.equal(item["input"], item["target"])  # the pair is cropped and flipped together


def test_same_seed_same_sample_and_seeds_vary_crops(tmp_path):
    root = make_ab_folder(tmp_path, n=1, size=48)
    ds = PairedDataset(DataConfig(root=str(root), size=32, load_size=40))
    assert torch.equal(ds[(0, 5)]["input"], ds[(0, 5)]["input"])
    crops = {ds[(0, s)]["input"].sum().item() for s in range(12)}
    assert len(crops) > 6


def test_stream_sampler_resumes_mid_stream():
    full = StreamSampler(5, seed=3)
    it = iter(full)
    stream = [next(it) for _ in range(17)]
    assert sorted(i for i, _ in stream[:5]) == list(range(5))  # each epoch is a permutation
    assert stream[:5] != stream[5:10]
    tail = iter(StreamSampler(5, seed=3, start=7))
    assert [next(tail) for _ in range(10)] == stream[7:]


def test_crop_larger_than_image_is_a_clear_error(tmp_path):
    root = make_ab_folder(tmp_path, n=1, size=24)
    ds = PairedDataset(DataConfig(root=str(root), preprocess="crop", size=32))
    with pytest.raises(RetouchError, match="--size"):
        ds[(0, 0)]


def test_unknown_options_and_missing_folder(tmp_path):
    with pytest.raises(RetouchError, match="does not exist"):
        PairedDataset(DataConfig(root=str(tmp_path / "nope")))
    root = make_ab_folder(tmp_path / "d", n=1)
    with pytest.raises(RetouchError, match="preprocess"):
        PairedDataset(DataConfig(root=str(root), preprocess="zoom"))
    with pytest.raises(RetouchError, match="direction"):
        PairedDataset(DataConfig(root=str(root), direction="AtoC"))


def test_holdout_is_a_contiguous_tail_in_natural_name_order(tmp_path):
    root = make_ab_folder(tmp_path / "d", n=12, size=16)
    for i, path in enumerate(sorted((root / "train").iterdir())):  # 1.png ... 12.png: "10" sorts after "9"
        path.rename(path.with_name(f"{i + 1}.png"))
    cfg = DataConfig(root=str(root), holdout=3)
    fit, held = PairedDataset(cfg), PairedDataset(cfg, train=False, held_out=True)
    assert len(fit) + len(held) == 12
    assert {p.name for p in fit.paths_a}.isdisjoint(p.name for p in held.paths_a)
    assert [held.name(0), held.name(2)] == ["10.png", "12.png"]
    x, y = held.pair(0)
    assert x.shape == y.shape and x.shape[0] == 3