"""Mosaic detection: tight masks and the right block size on synthetic mosaics, silence on clean images."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from retouch.degrade import Mosaic
from retouch.errors import RetouchError
from retouch.io import list_images, read_image, to_pil, to_tensor
from retouch.locate.detect import detect_mosaic
from tests.helpers import smooth_image


def as_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1


def mosaicked(x: torch.Tensor, box: tuple[int, int, int, int], op: Mosaic) -> tuple[torch.Tensor, torch.Tensor]:
    """x with box (top, left, h, w) pixelated by op, saved to 8 bits; and the true mask."""
    top, left, h, w = box
    truth = torch.zeros(1, 1, *x.shape[2:])
    truth[..., top : top + h, left : left + w] = 1
    return to_tensor(to_pil(op(x, truth))), truth


def iou(pred: torch.Tensor, truth: torch.Tensor) -> float:
    p, g = pred > 0.5, truth > 0.5
    return float((p & g).sum() / (p | g).sum())


@pytest.mark.parametrize("kind", ["smooth", "texture"])
@pytest.mark.parametrize("op", [Mosaic.aligned_to(8, 20, 36), Mosaic(11, (3, 7))], ids=["aligned", "offset"])
def test_finds_one_mosaic_with_its_block_size(kind, op):
    rng = np.random.default_rng(0)
    a = smooth_image(rng, 120, 160) if kind == "smooth" else rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    y, truth = mosaicked(as_tensor(a), (20, 36, 64, 88), op)
    d = detect_mosaic(y)
    assert d.block == op.block
    assert len(d.boxes) == 1
    # measured 1.0 on both: cut border cells are recovered to the pixel; smooth areas may hide some
    assert iou(d.mask, truth) >= (0.999 if kind == "texture" else 0.95)


def test_two_regions_with_different_blocks():
    rng = np.random.default_rng(1)
    x = as_tensor(rng.integers(0, 256, (100, 200, 3), dtype=np.uint8))
    y, t1 = mosaicked(x, (10, 8, 60, 70), Mosaic(6, (1, 2)))
    y, t2 = mosaicked(y, (30, 110, 56, 80), Mosaic(14, (5, 9)))
    d = detect_mosaic(y)
    assert sorted(zip(d.boxes, d.blocks)) == [((8, 10, 70, 60), 6), ((110, 30, 80, 56), 14)]
    assert iou(d.mask, torch.maximum(t1, t2)) == 1.0


@pytest.mark.parametrize("kind", ["smooth", "texture", "flat", "tiny"])
def test_clean_images_give_nothing(kind):
    rng = np.random.default_rng(2)
    a = {
        "smooth": smooth_image(rng, 120, 160),
        "texture": rng.integers(0, 256, (120, 160, 3), dtype=np.uint8),
        "flat": np.full((120, 160, 3), (40, 120, 200), np.uint8),
        "tiny": np.zeros((1, 1, 3), np.uint8),
    }[kind]
    d = detect_mosaic(as_tensor(a))
    assert d.mask.shape == (1, 1, *a.shape[:2])
    assert d.mask.sum() == 0 and d.boxes == [] and d.block is None


def test_not_an_image_is_a_user_error():
    with pytest.raises(RetouchError, match="1x3xHxW"):
        detect_mosaic(torch.zeros(1, 1, 32, 32))
    with pytest.raises(RetouchError, match="blocks"):
        detect_mosaic(torch.zeros(1, 3, 32, 32), blocks=(8, 4))


def test_real_photos(shared_data):
    """Five BSDS500 val photos: mosaic found tightly with the right block; the clean photo is silent."""
    rng = np.random.default_rng(3)
    for path in list_images(shared_data / "bsds500" / "val")[:5]:
        x = read_image(path)
        h, w = x.shape[2:]
        b = int(rng.integers(6, 17))
        box = (int(rng.integers(0, h - 100)), int(rng.integers(0, w - 120)), 100, 120)
        y, truth = mosaicked(x, box, Mosaic(b, (int(rng.integers(0, b)), int(rng.integers(0, b)))))
        d = detect_mosaic(y)
        assert d.block == b, path.name
        assert iou(d.mask, truth) >= 0.9, path.name  # measured: 1.0, 1.0, 1.0, 1.0, 0.955
        assert detect_mosaic(x).mask.sum() == 0, path.name


@pytest.mark.parametrize("op", [Mosaic.aligned_to(8, 20, 36), Mosaic(11, (3, 7)), Mosaic(6)], ids=["aligned", "offset", "image"])
def test_fit_grid_reads_block_and_offset_off_a_lossless_mosaic(op):
    from retouch.locate.detect import fit_grid

    a = smooth_image(np.random.default_rng(0), 120, 160)
    y, truth = mosaicked(as_tensor(a), (20, 36, 64, 88), op)
    grid = fit_grid(y, truth)
    assert grid is not None and grid.block == op.block and grid.offset == (op.offset[0] % op.block, op.offset[1] % op.block)
    assert fit_grid(as_tensor(a), truth) is None  # not a mosaic
    jpeg = io.BytesIO()
    to_pil(y).save(jpeg, "JPEG", quality=90)
    assert fit_grid(to_tensor(Image.open(jpeg)), truth) is None  # cells no longer flat: no grid is enforced
    assert fit_grid(y, torch.zeros_like(truth)) is None
