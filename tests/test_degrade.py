"""Degradation operators: exact values of the mosaic and bit-exact pixels outside the mask."""

import torch

from retouch.degrade import Mosaic


def test_mosaic_cells_hold_their_mean_colour():
    x = torch.arange(2 * 3 * 6 * 5, dtype=torch.float32).reshape(2, 3, 6, 5) / 100 - 0.8
    y = Mosaic(block=4)(x)
    assert y.shape == x.shape
    assert torch.allclose(y[:, :, :4, :4], x[:, :, :4, :4].mean((2, 3), keepdim=True).expand(-1, -1, 4, 4))
    # the border cell (rows 4-5, column 4) averages only the pixels inside the image
    assert torch.allclose(y[:, :, 4:, 4:], x[:, :, 4:, 4:].mean((2, 3), keepdim=True).expand(-1, -1, 2, 1))


def test_mosaic_inside_a_mask_leaves_the_rest_bit_exact():
    x = torch.rand(1, 3, 32, 40) * 2 - 1
    mask = torch.zeros(1, 1, 32, 40)
    mask[:, :, 8:24, 8:32] = 1
    y = Mosaic(block=8)(x, mask)
    assert torch.equal(y * (1 - mask), x * (1 - mask))
    assert not torch.equal(y[:, :, 8:24, 8:32], x[:, :, 8:24, 8:32])
    assert torch.equal(Mosaic(block=1)(x), x)
