"""Degradation operators: exact values, bit-exact pixels outside the mask, seeds, spec parsing."""

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from retouch.degrade import (
    Compose,
    Downsample,
    EdgeBlur,
    FreeFormHoles,
    GaussianBlur,
    GaussianNoise,
    Greyscale,
    Identity,
    Jpeg,
    Mosaic,
    RectHoles,
    Rescale,
    parse,
)
from retouch.errors import RetouchError
from retouch.io import to_pil, to_tensor
from tests.helpers import smooth_image

RANDOM_SPECS = [
    "mosaic:block=4-12",
    "downsample:scale=2-4,up=1",
    "downsample:scale=2-3,method=lanczos,up=1",
    "holes",
    "freeform:count=2-5",
    "noise:sigma=5-30",
    "jpeg:quality=10-90",
    "blur:sigma=0.5-2",
    "grey+holes:fill=0+noise:sigma=8",
    "mosaic:block=4-32,aspect=0.5-2",
    "mosaic:block=6-12+rescale:factor=0.5-1.5",
    "mosaic:block=8+edge:sigma=0.5-2,width=2",
    "mosaic:block=8+jpeg:quality=40-90,p=0.5",
]


def _photo(h: int = 48, w: int = 64, seed: int = 0) -> torch.Tensor:
    return to_tensor(Image.fromarray(smooth_image(np.random.default_rng(seed), h, w)))


def _box_mask(n: int, h: int, w: int, boxes: list[tuple[int, int, int, int]]) -> torch.Tensor:
    mask = torch.zeros(n, 1, h, w)
    for i, (top, left, bh, bw) in enumerate(boxes):
        mask[i, :, top : top + bh, left : left + bw] = 1
    return mask


def _sample(spec: str, seed: int):
    return parse(spec).sample(torch.Generator().manual_seed(seed))


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


def test_mosaic_family_draws_are_unchanged():
    """Training streams seeded before the other operators existed must degrade as they did."""
    assert _sample("mosaic:block=6-16", 0) == Mosaic(16, (15, 5))
    assert _sample("mosaic:block=6-16", 1) == Mosaic(6, (5, 0))
    assert _sample("mosaic:block=8,jitter=0", 0) == Mosaic(8)


@pytest.mark.parametrize("spec", RANDOM_SPECS + ["grey", "mosaic:block=16"])
def test_every_op_changes_only_its_footprint_inside_the_mask(spec):
    x = torch.cat([_photo(seed=1), _photo(seed=2)])
    mask = _box_mask(2, 48, 64, [(4, 6, 30, 40), (10, 20, 36, 44)])
    op = _sample(spec, 3)
    y, footprint = op(x, mask), op.footprint(x, mask)
    changed = (y != x).any(1, keepdim=True)
    assert changed.any()
    assert torch.equal(y[(mask == 0).expand_as(x)], x[(mask == 0).expand_as(x)])  # bit-exact outside
    assert not (changed & (footprint == 0)).any()  # nothing changes outside the footprint
    assert not ((footprint > 0) & (mask == 0)).any()  # and the footprint lies inside the mask


@pytest.mark.parametrize("spec", RANDOM_SPECS)
def test_same_seed_same_output_and_seeds_vary_it(spec):
    x = _photo()
    mask = _box_mask(1, 48, 64, [(8, 8, 32, 48)])
    assert _sample(spec, 7) == _sample(spec, 7)
    assert torch.equal(_sample(spec, 7)(x, mask), _sample(spec, 7)(x, mask))
    outputs = {_sample(spec, s)(x, mask).sum().item() for s in range(5)}
    assert len(outputs) >= 2


def test_greyscale_is_bt601_luma_in_every_channel():
    x = _photo()
    y = Greyscale()(x)
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    for c in range(3):
        assert torch.allclose(y[:, c], luma, atol=1e-6)
    # on 8-bit values, as the literature's Y channel without the 16-235 offset
    assert abs(float(Greyscale()(torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1))[0, 0]) - (0.299 * 2 - 1)) < 1e-6


def test_noise_has_the_requested_sigma_in_8_bit_units():
    x = torch.zeros(1, 3, 128, 128)
    y = GaussianNoise(sigma=20.0, seed=1)(x)
    assert abs(float((y * 127.5).std()) - 20.0) < 0.4
    assert abs(float((y * 127.5).mean())) < 0.3
    assert not torch.equal(y, GaussianNoise(sigma=20.0, seed=2)(x))
    assert torch.equal(GaussianNoise(sigma=0.0, seed=1)(x), x)


@pytest.mark.parametrize("quality", [10, 55, 95])
def test_jpeg_equals_pillow_at_that_quality(quality):
    img = Image.fromarray(smooth_image(np.random.default_rng(4), 40, 56))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    expected = np.asarray(Image.open(buf).convert("RGB"))
    x = torch.cat([to_tensor(img), Greyscale()(to_tensor(img))])
    y = Jpeg(quality)(x)
    assert np.array_equal(np.asarray(to_pil(y[:1])), expected)
    assert not torch.equal(y[0], y[1])  # each image of the batch is encoded on its own


def test_downsample_area_is_the_block_mean_and_area_up_is_a_mosaic():
    x = _photo(48, 64)
    small = Downsample(4, "area")(x)
    assert small.shape == (1, 3, 12, 16)
    assert torch.allclose(small, F.avg_pool2d(x, 4), atol=1e-6)
    assert torch.allclose(Downsample(4, "area", up=True)(x), Mosaic(4)(x), atol=1e-6)


@pytest.mark.parametrize(("method", "resample"), [("bicubic", Image.BICUBIC), ("lanczos", Image.LANCZOS)])
def test_downsample_matches_pillow_within_one_level(method, resample):
    img = Image.fromarray(smooth_image(np.random.default_rng(5), 64, 48))
    ours = np.asarray(to_pil(Downsample(4, method)(to_tensor(img)))).astype(int)
    assert np.abs(ours - np.asarray(img.resize((12, 16), resample)).astype(int)).max() <= 1


def test_downsample_size_errors_say_what_to_do():
    x = _photo(48, 64)
    with pytest.raises(RetouchError, match="up=1"):
        Downsample(2)(x, torch.ones(1, 1, 48, 64))
    with pytest.raises(RetouchError, match="divisible by 5"):
        Downsample(5)(x)
    assert Downsample(5, up=True)(x).shape == x.shape  # down-then-up needs no divisibility


def test_holes_are_filled_inside_the_mask_of_each_image():
    x = torch.cat([_photo(seed=1), _photo(seed=2)])
    mask = _box_mask(2, 48, 64, [(0, 0, 20, 20), (20, 30, 28, 34)])
    for op in (RectHoles(count=3, size=(0.3, 0.6), fill=0, seed=4), FreeFormHoles(count=3, seed=4)):
        holes = op.footprint(x, mask)
        y = op(x, mask)
        fill = op.fill / 127.5 - 1
        for n in range(2):
            inside = holes[n, 0] > 0
            assert inside.any() and not (inside & (mask[n, 0] == 0)).any()
            assert torch.all(y[n][:, inside] == fill)
            assert torch.equal(y[n][:, ~inside], x[n][:, ~inside])
    assert not RectHoles(seed=1).footprint(x, torch.zeros(2, 1, 48, 64)).any()  # empty region, no holes
    solid = _sample("holes:count=1,size=1,fill=0", 0)  # the documented solid black-out
    assert torch.equal(solid.footprint(x, mask), mask) and torch.all(solid(x, mask)[mask.expand_as(x) > 0] == -1)


def test_hole_shapes_follow_the_seed():
    x = _photo()
    a, b = RectHoles(count=2, seed=1), RectHoles(count=2, seed=2)
    assert torch.equal(a.footprint(x), RectHoles(count=2, seed=1).footprint(x))
    assert not torch.equal(a.footprint(x), b.footprint(x))
    free = FreeFormHoles(count=3, seed=1).footprint(x)
    assert 0.01 < float(free.mean()) < 0.9


def test_composition_samples_each_part_from_the_same_generator():
    family = parse("mosaic:block=8-16 + jpeg:quality=40-70")
    op = family.sample(torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(0)
    parts = (parse("mosaic:block=8-16").sample(gen), parse("jpeg:quality=40-70").sample(gen))
    assert op == Compose(parts)
    x = _photo()
    assert torch.equal(op(x), parts[1](parts[0](x)))
    assert 8 <= parts[0].block <= 16 and 40 <= parts[1].quality <= 70


def test_downsample_without_up_returns_the_small_image_from_a_spec():
    op = _sample("downsample:scale=4,method=area", 0)
    assert op == Downsample(4, "area") and op(_photo()).shape == (1, 3, 12, 16)


def test_blur_keeps_flat_colour_and_mean_and_softens_detail():
    flat = torch.full((1, 3, 20, 24), 0.3)
    assert torch.allclose(GaussianBlur(1.5)(flat), flat)
    assert torch.equal(GaussianBlur(0.0)(_photo()), _photo())
    noise = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    blurred = GaussianBlur(1.0)(noise)
    assert blurred.mean().item() == pytest.approx(noise.mean().item(), abs=5e-3)  # reflect padding keeps the mass
    assert blurred.std() < 0.5 * noise.std()  # white noise loses most of its energy


def test_blur_then_downsample_then_noise_and_jpeg_makes_a_real_world_sr_input():
    op = _sample("blur:sigma=0.5-1.5+downsample:scale=4+noise:sigma=2-8+jpeg:quality=60-95", 0)
    assert op(_photo()).shape == (1, 3, 12, 16)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("blur:radius=2", "Unknown blur option"),
        ("sharpen", "Unknown degradation 'sharpen'"),
        ("", "empty degradation"),
        ("mosaic+", "empty degradation"),
        ("mosaic:size=4", "Unknown mosaic option"),
        ("grey:strength=1", "known: none"),
        ("mosaic:block=16-8", "lo <= hi"),
        ("mosaic:block=x", "must be a number"),
        ("jpeg:quality=50-120", "<= 100"),
        ("downsample:method=nearest", "Unknown downsample method"),
        ("downsample:scale=1", "2 <= lo"),
        ("holes:fill=300", "fill"),
        ("holes:fill=0-255", "one value"),
        ("holes:size=0.5-2", "size"),
        ("mosaic:jitter=maybe", "1 or 0"),
    ],
)
def test_bad_specs_are_clear_errors(spec, message):
    with pytest.raises(RetouchError, match=message):
        parse(spec)


@pytest.mark.parametrize("op", [Mosaic.aligned_to(8, 10, 14), Mosaic(12, (5, 7)), Mosaic(16)], ids=["aligned", "offset", "image"])
def test_projection_makes_the_estimate_mosaic_back_to_what_was_seen_and_only_gets_closer(op):
    x = to_tensor(Image.fromarray(smooth_image(np.random.default_rng(3), 90, 120)))
    mask = torch.zeros(1, 1, 90, 120)
    mask[..., 10:70, 14:100] = 1
    hidden = op(x, mask)
    for inside in [torch.zeros_like(x), op.bicubic(x), hidden, (x + 0.3 * torch.randn_like(x)).clamp(-1, 1)]:
        estimate = torch.where(mask > 0.5, inside, x)  # what a restorer returns: the input outside the region
        projected = op.project(estimate, hidden, mask)
        assert (op(projected, mask) - hidden).abs().max() < 0.5 / 127.5  # the same cells, to half an 8-bit level
        assert torch.equal(projected[mask.expand_as(x) < 0.5], estimate[mask.expand_as(x) < 0.5])  # outside untouched
        assert ((projected - x) ** 2).sum() <= ((estimate - x) ** 2).sum() + 1e-6
    assert torch.allclose(op.project(x, hidden, mask), x, atol=1e-5)  # the truth is already consistent


def test_non_square_cells_hold_their_mean_and_project_back():
    x = to_tensor(Image.fromarray(smooth_image(np.random.default_rng(4), 60, 80)))
    op = Mosaic(6, (2, 3), block_w=10)
    y = op(x)
    # the cell at rows 2-7, columns 3-12 is one flat colour: its mean
    assert torch.allclose(y[:, :, 2:8, 3:13], x[:, :, 2:8, 3:13].mean((2, 3), keepdim=True).expand(-1, -1, 6, 10))
    assert not torch.allclose(y[:, :, 2:8, 3:13], y[:, :, 2:8, 13:23])
    mask = torch.zeros(1, 1, 60, 80)
    mask[..., 5:50, 7:70] = 1
    hidden = op(x, mask)
    projected = op.project(op.bicubic(x, mask), hidden, mask)
    assert (op(projected, mask) - hidden).abs().max() < 0.5 / 127.5
    assert _sample("mosaic:block=8,aspect=2", 0).cell == (8, 16)


def test_rescale_alone_resizes_and_inside_a_mask_moves_cell_edges_off_the_pixel_grid():
    x = _photo(48, 64)
    assert Rescale(0.75)(x).shape[2:] == (36, 48)
    assert Rescale(1.5)(x).shape[2:] == (72, 96)
    mask = _box_mask(1, 48, 64, [(8, 8, 32, 48)])
    y = Compose((Mosaic(8, (0, 0)), Rescale(1.5)))(x, mask)
    assert y.shape == x.shape and torch.equal(y * (1 - mask), x * (1 - mask))
    # 8 px cells seen 1.5x larger: an edge every 12 px, spread over two or three pixels
    steps = (y[0, 0, 20, 8:56].diff().abs() * 127.5).round()
    edges = torch.nonzero(steps > 3).flatten()
    starts = edges[torch.cat([torch.tensor([True]), edges.diff() > 1])]
    assert len(starts) >= 3 and (starts.diff().float().mean() - 12).abs() <= 1
    assert ((edges.diff() == 1).sum() >= 2)  # soft: consecutive steps, not one jump
    with pytest.raises(RetouchError, match="0.1-10"):
        Rescale(0)


def test_edge_blur_changes_only_a_band_inside_the_region_border():
    x = Mosaic(8)(_photo(48, 64))
    mask = _box_mask(1, 48, 64, [(8, 8, 32, 48)])
    y = EdgeBlur(1.5, 3)(x, mask)
    changed = (y != x).any(1, keepdim=True)
    assert torch.equal(changed & (mask < 0.5), torch.zeros_like(changed))
    assert not changed[..., 14:34, 14:50].any()  # deeper than 3 px inside: untouched
    assert changed[..., 8:11, 8:56].any()


def test_an_optional_part_is_applied_to_about_that_share_of_samples():
    family = parse("jpeg:quality=50,p=0.3")
    drawn = [family.sample(torch.Generator().manual_seed(s)) for s in range(400)]
    share = sum(not isinstance(op, Identity) for op in drawn) / len(drawn)
    assert 0.24 <= share <= 0.36
    x = _photo()
    assert torch.equal(Identity()(x), x)


def test_robust_soft_projection_reads_jpeg_cells_by_their_median_and_moves_part_way():
    x = _photo(64, 64, seed=5)
    op = Mosaic(8)
    mask = torch.ones(1, 1, 64, 64)
    seen = Jpeg(60)(op(x))
    medians = op.cell_medians(seen, mask)
    assert (medians - op.cell_means(op(x))).abs().mean() < (seen - op(x)).abs().mean()
    estimate = op.bicubic(seen)
    full = op.project(estimate, seen, mask, robust=True)
    half = op.project(estimate, seen, mask, robust=True, weight=0.5)
    assert torch.allclose(half, estimate + 0.5 * (full - estimate), atol=1e-6)


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_a_video_codec_re_encodes_a_frame_and_keeps_the_rest_exact(codec):
    pytest.importorskip("av")
    x = Mosaic(8)(_photo(47, 66))  # odd sides: padded for 4:2:0 and cropped back
    mask = _box_mask(1, 47, 66, [(5, 6, 30, 40)])
    op = _sample(f"{codec}:crf=35", 0)
    y = op(x, mask)
    assert y.shape == x.shape and torch.equal(y * (1 - mask), x * (1 - mask))
    err = (y - x).abs()[mask.expand_as(x) > 0.5].mean()
    assert 0 < err < 0.1  # visibly lossy, still the same picture
    assert torch.equal(op(x, mask), y)  # deterministic
    assert _sample(f"{codec}:crf=10", 0)(x).sub(x).abs().mean() < err
