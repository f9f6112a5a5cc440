"""`retouch data pairs`: the A/B/mask layout, determinism, and reading it back with masks."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import default_collate
from typer.testing import CliRunner

from retouch.cli import app
from retouch.data import DataConfig, PairedDataset
from retouch.errors import RetouchError
from retouch.tasks.pairs import build_pairs
from tests.helpers import smooth_image


def _photos(folder, sizes=((48, 64), (56, 40), (40, 40))):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(smooth_image(rng, h, w)).save(folder / f"p{i}.png")
    return folder


def _arr(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_pairs_differ_from_the_clean_photo_only_inside_a_random_box(tmp_path):
    src = _photos(tmp_path / "clean")
    written = build_pairs(src, tmp_path / "pairs", "mosaic:block=8", size_range=(16, 32), show_progress=False)
    assert [p.name for p in written] == ["p0.png", "p1.png", "p2.png"]
    for name in ["p0.png", "p1.png", "p2.png"]:
        a, b = _arr(tmp_path / "pairs" / "A" / name), _arr(tmp_path / "pairs" / "B" / name)
        mask = _arr(tmp_path / "pairs" / "mask" / name)[:, :, 0] > 127
        assert np.array_equal(b, _arr(src / name))  # the clean photo, losslessly
        assert np.array_equal(a[~mask], b[~mask]) and not np.array_equal(a[mask], b[mask])
        ys, xs = np.nonzero(mask)
        h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert mask.sum() == h * w and 16 <= h <= 32 and 16 <= w <= 32  # a box with sides in range


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    src = _photos(tmp_path / "clean")
    for out, seed in [("one", 3), ("two", 3), ("three", 4)]:
        build_pairs(src, tmp_path / out, "holes+noise:sigma=10", seed=seed, show_progress=False)
    for name in ["p0.png", "p1.png"]:
        assert np.array_equal(_arr(tmp_path / "one" / "A" / name), _arr(tmp_path / "two" / "A" / name))
        assert not np.array_equal(_arr(tmp_path / "one" / "A" / name), _arr(tmp_path / "three" / "A" / name))


def test_hole_specs_write_the_holes_as_the_mask(tmp_path):
    src = _photos(tmp_path / "clean")
    build_pairs(src, tmp_path / "pairs", "holes:fill=0", locate="full", show_progress=False)
    a, b = _arr(tmp_path / "pairs" / "A" / "p0.png"), _arr(tmp_path / "pairs" / "B" / "p0.png")
    holes = _arr(tmp_path / "pairs" / "mask" / "p0.png")[:, :, 0] > 127
    assert 0 < holes.mean() < 1
    assert (a[holes] == 0).all() and np.array_equal(a[~holes], b[~holes])


def test_super_resolution_pairs_keep_the_small_image(tmp_path):
    src = _photos(tmp_path / "clean", sizes=((48, 64),))
    build_pairs(src, tmp_path / "sr", "downsample:scale=4", locate="full", show_progress=False)
    assert _arr(tmp_path / "sr" / "A" / "p0.png").shape == (12, 16, 3)
    assert (_arr(tmp_path / "sr" / "mask" / "p0.png") == 255).all()
    with pytest.raises(RetouchError, match="up=1"):
        build_pairs(src, tmp_path / "bad", "downsample:scale=4", locate="random", show_progress=False)


def test_paired_dataset_reads_the_mask_cropped_and_flipped_with_the_pair(tmp_path):
    src = _photos(tmp_path / "clean", sizes=((48, 64), (40, 56)))
    build_pairs(src, tmp_path / "pairs", "mosaic:block=6", size_range=(20, 30), seed=1, show_progress=False)
    exact = PairedDataset(DataConfig(root=str(tmp_path / "pairs"), size=32, preprocess="none", flip=False))
    mask_file = _arr(tmp_path / "pairs" / "mask" / "p0.png")[:, :, 0] > 127
    assert torch.equal(exact[(0, 0)]["mask"][0], torch.from_numpy(mask_file).float())
    cfg = DataConfig(root=str(tmp_path / "pairs"), size=32, preprocess="crop")
    ds, unflipped = PairedDataset(cfg), PairedDataset(DataConfig(**{**vars(cfg), "flip": False}))
    flipped = set()
    for seed in range(12):
        item, plain = ds[(seed % 2, seed)], unflipped[(seed % 2, seed)]
        mask = item["mask"]
        assert mask.shape == (1, 32, 32) and set(mask.unique().tolist()) <= {0.0, 1.0}
        outside = (mask == 0).expand(3, -1, -1)
        assert torch.equal(item["input"][outside], item["target"][outside])  # same crop and flip
        flip = not torch.equal(item["input"], plain["input"])
        assert torch.equal(mask, plain["mask"].flip(-1) if flip else plain["mask"])
        flipped.add(flip)
    assert flipped == {True, False}
    batch = default_collate([ds[(0, 1)], ds[(1, 2)]])
    assert batch["mask"].shape == (2, 1, 32, 32)


def test_cli_writes_pairs_and_rejects_bad_options(tmp_path):
    src = _photos(tmp_path / "clean")
    ok = CliRunner().invoke(app, ["data", "pairs", str(src), str(tmp_path / "out"), "--degrade", "grey", "--size-range", "8-16"])
    assert ok.exit_code == 0, ok.output
    assert "3 pairs" in ok.output and len(list((tmp_path / "out" / "mask").iterdir())) == 3
    bad = CliRunner().invoke(app, ["data", "pairs", str(src), str(tmp_path / "x"), "--degrade", "grey", "--locate", "corner"])
    assert isinstance(bad.exception, RetouchError) and "--locate" in str(bad.exception)
    bad = CliRunner().invoke(app, ["data", "pairs", str(src), str(tmp_path / "x"), "--degrade", "grey", "--size-range", "9-3"])
    assert isinstance(bad.exception, RetouchError) and "--size-range" in str(bad.exception)
    Image.new("RGB", (8, 8)).save(src / "p0.jpg")
    with pytest.raises(RetouchError, match="p0.png"):
        build_pairs(src, tmp_path / "y", "grey", show_progress=False)
