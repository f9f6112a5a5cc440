"""Region restoration: on-the-fly mosaic pairs, the masked pix2pix, and bit-exact pixels outside the region."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from retouch.data import DataConfig, DegradedDataset
from retouch.errors import RetouchError
from retouch.geometry import box_mask
from retouch.io import read_provenance, to_tensor
from retouch.tasks.restore import demosaic_files, load_restorer, restore_region
from tests.helpers import photo_folder, smooth_image, tiny_masked_run


def degraded_config(root: Path, **kw) -> DataConfig:
    return DataConfig(**{"root": str(root), "degrade": "mosaic:block=4-8", "size": 32, "region_size": [8, 24], **kw})


@pytest.fixture(scope="module")
def masked_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("restore")
    return tiny_masked_run(tmp, photo_folder(tmp / "clean"), steps=6)


def test_degraded_items_are_reproducible_and_only_change_the_region(tmp_path):
    ds = DegradedDataset(degraded_config(photo_folder(tmp_path / "c")))
    a, b = ds[(2, 77)], ds[(2, 77)]
    for k in ("input", "mask", "target"):
        assert torch.equal(a[k], b[k])
    assert not torch.equal(a["mask"], ds[(2, 78)]["mask"])
    m = a["mask"] > 0.5
    assert torch.equal(a["input"][:, ~m[0]], a["target"][:, ~m[0]])
    assert not torch.equal(a["input"][:, m[0]], a["target"][:, m[0]])
    ys, xs = torch.nonzero(m[0], as_tuple=True)
    assert 8 <= int(ys.max() - ys.min()) + 1 <= 24 and 8 <= int(xs.max() - xs.min()) + 1 <= 24


def test_degraded_dataset_skips_photos_smaller_than_the_crop(tmp_path):
    root = photo_folder(tmp_path / "c", n=3)
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(root / "tiny.png")
    assert len(DegradedDataset(degraded_config(root))) == 3
    with pytest.raises(RetouchError, match="smaller than the crop"):
        DegradedDataset(degraded_config(root, size=64))


def test_masked_model_exports_a_restore_model(masked_run):
    tr = load_restorer(masked_run)
    assert tr.meta["task"] == "restore" and tr.meta["degrade"] == "mosaic:block=4-8"
    assert tr.meta["net"]["in_channels"] == 4
    with pytest.raises(RetouchError, match="give it a mask"):
        tr(torch.zeros(1, 3, 32, 32))


def test_demosaic_files_leave_every_pixel_outside_the_box_bit_exact(masked_run, tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(smooth_image(np.random.default_rng(5), 70, 90)).save(src)
    [(out, boxes)] = demosaic_files(src, tmp_path / "out", box=(20, 10, 40, 30), model=str(masked_run), show_progress=False)
    a, b = np.asarray(Image.open(src)), np.asarray(Image.open(out))
    inside = np.zeros(a.shape[:2], bool)
    inside[10:40, 20:60] = True
    assert np.array_equal(a[~inside], b[~inside])
    assert not np.array_equal(a[inside], b[inside])
    assert boxes == [(20, 10, 40, 30)]
    assert [tuple(r) for r in read_provenance(out)["regions"]] == boxes


def test_restoration_runs_on_the_region_plus_context_only(masked_run):
    tr = load_restorer(masked_run)
    seen = []
    real_run = tr._run
    tr._run = lambda x: seen.append(tuple(x.shape)) or real_run(x)  # instance attribute shadows the method
    try:
        x = torch.rand(1, 3, 600, 900) * 2 - 1
        out = restore_region(tr, x, box_mask(600, 900, (400, 300, 40, 20)), context=16)
    finally:
        del tr._run
    assert seen == [(1, 4, 64, 96)]  # (20 + 32) x (40 + 32), padded to multiples of 32, in one tile
    assert torch.equal(out[:, :, :300], x[:, :, :300])


def test_region_must_be_given_exactly_once(masked_run, tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(smooth_image(np.random.default_rng(5), 40, 40)).save(src)
    mask = tmp_path / "m.png"
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(mask)
    with pytest.raises(RetouchError, match="exactly one"):
        demosaic_files(src, tmp_path / "o.png", model=str(masked_run), show_progress=False)
    with pytest.raises(RetouchError, match="exactly one"):
        demosaic_files(src, tmp_path / "o.png", box=(0, 0, 8, 8), mask=mask, model=str(masked_run), show_progress=False)
    with pytest.raises(RetouchError, match="does not fit"):
        demosaic_files(src, tmp_path / "o.png", box=(30, 30, 20, 20), model=str(masked_run), show_progress=False)
    Image.fromarray(np.zeros((10, 40), np.uint8)).save(mask)
    with pytest.raises(RetouchError, match="Mask .* is 40x10"):
        demosaic_files(src, tmp_path / "o.png", mask=mask, model=str(masked_run), show_progress=False)


def test_restored_region_keeps_the_cell_colours_the_mosaic_showed(masked_run):
    from retouch.degrade import Mosaic

    x = to_tensor(Image.fromarray(smooth_image(np.random.default_rng(5), 64, 80)))
    mask = box_mask(64, 80, (12, 9, 48, 40))
    op = Mosaic.aligned_to(8, 9, 12)
    hidden = op(x, mask)
    tr = load_restorer(masked_run, device="cpu")
    raw, kept = restore_region(tr, hidden, mask, consistent=False), restore_region(tr, hidden, mask)
    assert (op(kept, mask) - hidden).abs().max() < 0.5 / 127.5  # mosaicking it again gives what was seen
    assert (op(raw, mask) - hidden).abs().max() > 4 / 127.5  # a barely trained net contradicts it
    assert ((kept - x) ** 2).sum() < ((raw - x) ** 2).sum()
    assert torch.equal(kept[mask.expand_as(x) < 0.5], hidden[mask.expand_as(x) < 0.5])


def test_views_follow_how_the_model_was_trained(masked_run):
    """An L1-trained model is averaged over eight flipped views by default, a GAN (the tiny run,
    trained with its discriminator) runs once: averaging a GAN's guesses would blur them."""
    from retouch.models.runner import SelfEnsemble

    assert not isinstance(load_restorer(masked_run, ensemble=None), SelfEnsemble)
    l1 = load_restorer("demosaic-l1", ensemble=None)
    assert isinstance(l1, SelfEnsemble) and l1.n == 8 and l1.meta["task"] == "restore"
    assert load_restorer("demosaic-l1", ensemble=1) is l1.tr


def test_an_ensemble_changes_only_the_region(masked_run, tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(smooth_image(np.random.default_rng(6), 50, 70)).save(src)
    outs = [demosaic_files(src, tmp_path / f"out{n}.png", box=(20, 10, 24, 30), model=str(masked_run), show_progress=False,
                           ensemble=n)[0][0] for n in (1, 8)]
    a, one, eight = (np.asarray(Image.open(p)) for p in (src, *outs))
    inside = np.zeros(a.shape[:2], bool)
    inside[10:40, 20:44] = True
    assert np.array_equal(a[~inside], eight[~inside])
    assert not np.array_equal(one[inside], eight[inside])
    assert [read_provenance(p)["task"] for p in outs] == ["demosaic", "demosaic (8 views)"]
