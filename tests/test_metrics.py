"""retouch.metrics: PSNR/SSIM on quantised pixels, against hand-computed values."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from retouch.errors import RetouchError
from retouch.io import to_tensor
from retouch.metrics import (
    PSNR_CAP,
    detail_ratio,
    image_metrics,
    mean_metrics,
    psnr,
    rgb_to_y,
    ssim,
)


def _t(a: np.ndarray) -> torch.Tensor:
    return to_tensor(Image.fromarray(a.astype(np.uint8), "RGB"))


@pytest.fixture
def base() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (32, 40, 3)).astype(np.uint8)  # max 254, so +1 never clips


def test_psnr_of_uniform_one_level_offset(base):
    # MSE = 1 exactly, so PSNR = 10 log10(255^2 / 1) = 20 log10(255).
    assert psnr(_t(base + 1), _t(base)) == pytest.approx(20 * math.log10(255), abs=1e-12)
    # On Y an offset of 1 in R, G and B moves Y by (65.481 + 128.553 + 24.966) / 255 = 219 / 255.
    expected_y = 20 * math.log10(255 / (219 / 255))
    assert psnr(_t(base + 1), _t(base), y_channel=True) == pytest.approx(expected_y, abs=1e-9)


def test_psnr_matches_skimage(base):
    rng = np.random.default_rng(1)
    noisy = np.clip(base.astype(int) + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
    ref = peak_signal_noise_ratio(base, noisy, data_range=255)
    assert psnr(_t(noisy), _t(base)) == pytest.approx(ref, abs=1e-9)


def test_identical_images_are_inf_psnr_and_ssim_one(base):
    assert psnr(_t(base), _t(base)) == math.inf
    assert psnr(_t(base), _t(base), y_channel=True) == math.inf
    assert ssim(_t(base), _t(base)) == pytest.approx(1.0)
    assert ssim(_t(base), _t(base), y_channel=True) == pytest.approx(1.0)


def test_ssim_drops_with_noise(base):
    rng = np.random.default_rng(2)
    small = np.clip(base.astype(int) + rng.integers(-5, 6, base.shape), 0, 255)
    large = np.clip(base.astype(int) + rng.integers(-60, 61, base.shape), 0, 255)
    s_small, s_large = ssim(_t(small), _t(base)), ssim(_t(large), _t(base))
    assert 0.0 < s_large < s_small < 1.0
    assert 0.0 < ssim(_t(large), _t(base), y_channel=True) < 1.0


def test_compares_quantised_pixels():
    # A float difference under half a level vanishes in the saved file, so it scores as identical...
    rng = np.random.default_rng(3)
    a = _t(rng.integers(0, 256, (16, 16, 3)))
    assert psnr(a + 0.3 / 127.5, a) == math.inf
    # ...out-of-range values clamp like to_pil, and CHW equals NCHW.
    assert psnr(torch.full((3, 16, 16), 5.0), torch.ones(1, 3, 16, 16)) == math.inf
    assert psnr(a[0], a) == math.inf
    # PIL images are accepted too.
    assert psnr(Image.new("RGB", (16, 16), (255, 255, 255)), torch.ones(3, 16, 16)) == math.inf


def test_rgb_to_y_known_constants():
    px = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    y = rgb_to_y(px)[0]
    assert y == pytest.approx([235.0, 16.0, 16 + 65.481, 16 + 128.553, 16 + 24.966], abs=1e-9)
    assert rgb_to_y(px.astype(np.float64) / 255.0) == pytest.approx(rgb_to_y(px), abs=1e-9)


def test_crop_border_changes_the_area(base):
    changed = base.copy()
    changed[:4, :] = 0  # damage only the top 4 rows
    assert psnr(_t(changed), _t(base)) < 40
    assert psnr(_t(changed), _t(base), crop_border=4) == math.inf
    assert ssim(_t(changed), _t(base)) < 1.0
    assert ssim(_t(changed), _t(base), crop_border=4) == pytest.approx(1.0)
    # An inner change: cropping 1 pixel keeps the same error over 30x38 instead of 32x40 pixels.
    inner = base.copy()
    inner[5:10, 5:10] += 1
    full, cropped = psnr(_t(inner), _t(base)), psnr(_t(inner), _t(base), crop_border=1)
    assert cropped - full == pytest.approx(10 * math.log10((30 * 38) / (32 * 40)), abs=1e-9)


def test_image_metrics_keys_and_values(base):
    m = image_metrics(_t(base + 1), _t(base), crop_border=2)
    assert set(m) == {"psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y"}
    assert m["psnr_rgb"] == pytest.approx(20 * math.log10(255))
    assert m["psnr_y"] == pytest.approx(psnr(_t(base + 1), _t(base), y_channel=True, crop_border=2))
    assert m["ssim_rgb"] == pytest.approx(ssim(_t(base + 1), _t(base), crop_border=2))
    assert 0.99 < m["ssim_y"] <= 1.0


def test_mean_metrics_caps_inf():
    rows = [{"psnr_rgb": 30.0, "ssim_rgb": 0.8}, {"psnr_rgb": math.inf, "ssim_rgb": 1.0}]
    assert mean_metrics(rows) == pytest.approx({"psnr_rgb": (30.0 + PSNR_CAP) / 2, "ssim_rgb": 0.9})
    assert PSNR_CAP == 100.0
    with pytest.raises(ValueError):
        mean_metrics([])
    with pytest.raises(ValueError):
        mean_metrics([{"psnr_rgb": 1.0}, {"ssim_rgb": 1.0}])


def test_size_mismatch_and_tiny_images():
    with pytest.raises(RetouchError, match="same size"):
        psnr(torch.zeros(3, 16, 16), torch.zeros(3, 16, 17))
    with pytest.raises(RetouchError, match="crop_border"):
        psnr(torch.zeros(3, 16, 16), torch.zeros(3, 16, 16), crop_border=8)
    with pytest.raises(RetouchError, match="SSIM needs"):
        ssim(torch.zeros(3, 8, 8), torch.zeros(3, 8, 8))


def test_detail_ratio_is_one_for_the_original_below_for_blur_above_for_noise():
    import skimage.data
    from scipy.ndimage import gaussian_filter

    photo = skimage.data.astronaut()[100:228, 150:278]
    assert detail_ratio(_t(photo), _t(photo)) == pytest.approx(1.0)
    blurred = gaussian_filter(photo.astype(float), sigma=(2, 2, 0)).round()
    assert detail_ratio(_t(blurred), _t(photo)) < 0.7
    noisy = (photo + np.random.default_rng(0).normal(0, 20, photo.shape)).clip(0, 255)
    assert detail_ratio(_t(noisy), _t(photo)) > 1.3
    flat = np.full_like(photo, 128)
    assert detail_ratio(_t(flat), _t(photo)) == 0.0
