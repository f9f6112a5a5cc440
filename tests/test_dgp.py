"""The deep generative prior: per-image fits are independent of the batch, the search finds an exact
candidate, stages freeze what they should, the tasks keep what the input knows, manipulations
reproduce their end points, and the command line writes what it says."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2lab
from typer.testing import CliRunner

from retouch.cli import app
from retouch.errors import RetouchError
from retouch.evaluate.dgp import centre_hole, opencv_inpaint, pgd, psnr_inside
from retouch.models.files import companion_path
from retouch.prior import tasks as T
from retouch.prior.engine import DGP, Settings, Stage, generator_parts, load_prior
from retouch.train import train
from tests.helpers import smooth_image
from tests.test_gan_prior import class_folders, tiny_prior

SMALL = Settings((Stage(3, 1, 1e-3, 1e-2, 1.0), Stage(3, 5, 1e-3, 1e-2, 1.0)), candidates=12)


@pytest.fixture(scope="module")
def prior_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dgp")
    train(tiny_prior(class_folders(root / "data"), steps=4), root / "prior", show_progress=False)
    return root / "prior"


@pytest.fixture()
def dgp(prior_run) -> DGP:
    G, D, _ = load_prior(prior_run)
    return DGP(G, D)


def images(n: int, seed: int = 0) -> torch.Tensor:
    """Smooth colour fields in [-1, 1], like the prior's training images."""
    rng = np.random.default_rng(seed)
    return torch.stack([torch.from_numpy(smooth_image(rng, 32, 32).copy()).permute(2, 0, 1).float() / 127.5 - 1 for _ in range(n)])


def test_prior_run_ships_its_discriminator_and_load_prior_says_what_is_missing(prior_run, tmp_path):
    assert companion_path(prior_run / "model.safetensors") == prior_run / "discriminator.safetensors"
    assert companion_path(Path("w/cifar10-prior.safetensors")).name == "cifar10-prior-discriminator.safetensors"
    lone = tmp_path / "lone.safetensors"
    lone.write_bytes((prior_run / "model.safetensors").read_bytes())
    with pytest.raises(RetouchError, match="no discriminator"):
        load_prior(lone)
    with pytest.raises(RetouchError, match="not .generate.: DGP fits a generative prior"):
        load_prior("cifar10-classifier")


def test_parts_run_shallow_to_deep_and_cover_every_weight(dgp):
    parts = generator_parts(dgp.G)
    assert parts[0][0].startswith("linear") and parts[-1][0].startswith("output_layer")
    assert [p[0].split(".")[:2] for p in parts[1:-1]] == [["blocks", str(i)] for i in range(len(dgp.G.blocks))]
    assert sorted(n for p in parts for n in p) == sorted(n for n, _ in dgp.G.named_parameters())


def test_search_finds_the_candidate_that_made_the_image(dgp):
    settings = replace(SMALL, candidates=30, w_nll=0.0)
    zs = torch.randn(30, dgp.G.dim_z, generator=torch.Generator().manual_seed(7))
    k = torch.tensor([4, 17])
    ys = torch.arange(30) % dgp.n_classes
    target = dgp.generate(zs[k], ys[k])
    obs = T.Observation()
    z, y = dgp.search(target, obs, settings, None, torch.Generator().manual_seed(7))
    assert torch.equal(z, zs[k]) and torch.equal(y, ys[k])
    z_given, y_given = dgp.search(target, obs, settings, ys[k], torch.Generator().manual_seed(7))
    assert torch.equal(z_given, zs[k]) and torch.equal(y_given, ys[k])  # each class's draws made once, still exact
    own_masks = T.Observation(mask=torch.stack([centre_hole(32, 8)[0], centre_hole(32, 16)[0]]))
    assert own_masks.per_image
    z_masked, _ = dgp.search(target * own_masks.mask, own_masks, settings, None, torch.Generator().manual_seed(7))
    assert torch.equal(z_masked, zs[k])
    _, y_fixed = dgp.search(target, obs, settings, torch.tensor([1, 0]), torch.Generator().manual_seed(7))
    assert y_fixed.tolist() == [1, 0]  # a given class is kept


def test_a_batch_fits_each_image_as_if_alone(dgp):
    x = images(3)
    obs = T.Observation(mask=centre_hole(32, 12))
    together = dgp.fit(x * obs.mask, obs, SMALL)
    alone = dgp.fit(x[1:2] * obs.mask, obs, SMALL)
    assert torch.allclose(together.image[1:2], alone.image, atol=1e-4)
    assert torch.allclose(together.z[1:2], alone.z, atol=1e-5)


def test_stages_train_only_their_parts_and_the_fit_gets_closer(dgp):
    x = images(2)
    obs = T.Observation()
    parts = generator_parts(dgp.G)
    first = dgp.fit(x, obs, Settings((Stage(4, 1, 1e-3, 1e-2, 1.0),), candidates=12))
    base = dict(dgp.G.named_parameters())
    assert all(torch.equal(first.params[n][0], base[n]) for p in parts[1:] for n in p)  # frozen
    assert any(not torch.equal(first.params[n][0], base[n]) for n in parts[0])
    start = dgp.fit(x, obs, Settings((Stage(0, 0),), candidates=12))
    longer = dgp.fit(x, obs, replace(SMALL, stages=(Stage(30, 5, 5e-3, 1e-2, 1.0),)))
    mse = lambda f: float(((f.image - x) ** 2).mean())  # noqa: E731
    assert mse(longer) < 0.9 * mse(start)
    assert (longer.steps_run == 30).all()


def test_defence_stops_each_image_once_it_fits_to_the_threshold(dgp):
    x = images(2)
    stopped = dgp.fit(x, T.Observation(), replace(SMALL, early_stop_mse=10.0))  # every image fits that at once
    start = dgp.fit(x, T.Observation(), Settings((replace(SMALL.stages[0], steps=0),), candidates=12))
    assert (stopped.steps_run == 0).all()
    assert torch.allclose(stopped.image, start.image, atol=1e-6)


def test_observations_compose_and_inputs_of_the_wrong_size_are_refused():
    x = images(2)
    mask = centre_hole(32, 8)
    obs = T.observation_for("upscale", mask=mask, grey=True)
    out = obs(x, torch.arange(2))
    assert out.shape == x.shape
    assert torch.all(out[:, :, 14:18, 14:18] == 0)  # the hole
    assert torch.allclose(out[:, 0], out[:, 1])  # grey
    assert T.observe_input(x[:, :, :8, :8], obs, 32).shape == x.shape  # an 8 px input for x4
    with pytest.raises(RetouchError, match="8x8"):
        T.observe_input(x[:, :, :16, :16], obs, 32)
    with pytest.raises(RetouchError, match="needs a mask"):
        T.observation_for("inpaint")


def test_inpainting_keeps_known_pixels_and_colourisation_keeps_lightness(dgp):
    x = images(2)
    mask = centre_hole(32, 12)
    out, _ = T.restore(dgp, "inpaint", x * mask, mask=mask, settings=SMALL)
    known = mask.expand_as(x) > 0.5
    assert torch.equal(out[known], (x * mask)[known])
    grey = T.Greyscale()(x)
    coloured, fit = T.restore(dgp, "colorize", grey, settings=SMALL)
    lab = lambda t: rgb2lab(((t + 1) / 2).permute(0, 2, 3, 1).numpy())  # noqa: E731
    assert np.abs(lab(coloured)[..., 0] - lab(grey)[..., 0]).mean() < 0.5  # not exact: out-of-gamut colours clip
    assert np.abs(lab(coloured)[..., 1:] - lab(fit.image)[..., 1:]).mean() < 3.0


def test_manipulations_start_and_end_at_the_reconstructions(dgp):
    x = images(2)
    _, fit = T.restore(dgp, "reconstruct", x, settings=SMALL, y=torch.tensor([0, 1]))
    frames = T.morph(dgp, fit, 0, 1, frames=5)
    assert frames.shape == (5, 3, 32, 32)
    assert torch.allclose(frames[0], fit.image[0], atol=1e-5) and torch.allclose(frames[-1], fit.image[1], atol=1e-5)
    assert not torch.allclose(frames[2], frames[0], atol=1e-3)
    sheet = T.transfer(dgp, fit)
    assert sheet.shape == (2, dgp.n_classes, 3, 32, 32)
    assert torch.allclose(sheet[1, 1], fit.image[1], atol=1e-5)  # its own class is its reconstruction
    assert torch.allclose(T.jitter(dgp, fit, count=3, sigma=0.0)[0, 2], fit.image[0], atol=1e-5)
    assert T.jitter(dgp, fit, count=3).shape == (2, 3, 3, 32, 32)


def test_baselines_opencv_fills_a_flat_hole_and_pgd_fools_a_classifier():
    flat = torch.full((1, 3, 32, 32), 0.2)
    mask = centre_hole(32, 12)
    assert psnr_inside(opencv_inpaint(flat * mask, mask), flat, 1 - mask)[0] > 40
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 2))
    torch.nn.init.normal_(net[1].weight, std=0.05)
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    labels = net(x).argmax(1)
    adv = pgd(net, x, labels)
    assert (adv - x).abs().max() <= 16 / 255 + 1e-6
    assert (net(adv).argmax(1) == labels).float().mean() < 0.5


def test_prior_command_restores_files_and_writes_sheets(prior_run, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        Image.fromarray(((images(1, i)[0].permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)).save(src / f"{i}.png")
    known = centre_hole(32, 12)[0, 0].numpy() > 0
    Image.fromarray(np.where(known, 0, 255).astype(np.uint8)).save(tmp_path / "mask.png")  # white = fill, every verb
    run = CliRunner().invoke
    common = ["--model", str(prior_run), "--device", "cpu"]
    result = run(app, ["prior", "inpaint", str(src), "-o", str(tmp_path / "out"), "--mask", str(tmp_path / "mask.png"), "--steps-gif", *common])
    assert result.exit_code == 0, result.output
    filled, given = np.asarray(Image.open(tmp_path / "out" / "0.png")), np.asarray(Image.open(src / "0.png"))
    assert filled.shape == (32, 32, 3)
    assert np.array_equal(filled[known], given[known]) and not np.array_equal(filled[~known], given[~known])
    Image.new("L", (33, 32)).save(tmp_path / "wrong.png")
    result = run(app, ["prior", "inpaint", str(src), "-o", str(tmp_path / "w"), "--mask", str(tmp_path / "wrong.png"), "--fit", *common])
    assert "The mask is 33x32" in str(result.exception) and not (tmp_path / "w").exists()
    assert Image.open(tmp_path / "out" / "1.gif").n_frames > 1
    result = run(app, ["prior", "morph", str(src / "0.png"), str(src / "1.png"), "-o", str(tmp_path / "m.png"), "--class", "b", *common])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "m.png").size == (8 * 32, 32)
    result = run(app, ["prior", "transfer", str(src / "0.png"), "-o", str(tmp_path / "t.png"), *common])
    assert Image.open(tmp_path / "t.png").size == (3 * 32, 32)  # reconstruction + two classes
    Image.new("RGB", (40, 30)).save(tmp_path / "big.png")
    result = run(app, ["prior", "reconstruct", str(tmp_path / "big.png"), "-o", str(tmp_path / "r.png"), *common])
    assert result.exit_code != 0 and "--fit" in str(result.exception)
    result = run(app, ["prior", "reconstruct", str(tmp_path / "big.png"), "-o", str(tmp_path / "r.png"), "--fit", "--class", "zebra", *common])
    assert "Unknown class 'zebra'" in str(result.exception)


def test_a_released_style_biggan_runs_through_the_same_engine():
    """Shared class embedding, hierarchical z and self-attention (the ImageNet releases' layout),
    small and random: fits stay per image, and morphs end where they should.

    Per image is checked at one batch shape (another first image and class leave the second's fit
    exactly as it was), not against a fit of the second alone: the attention's batched products take
    shape-dependent kernels on some CPUs (MKL on a Sapphire Rapids Xeon: 2.5e-3 apart after 6 steps,
    Adam turning rounding-level gradients into whole steps), so "alone" there differs by rounding,
    not by any coupling between the images."""
    from retouch.nets.biggan import BigGANDiscriminator, BigGANGenerator

    torch.manual_seed(0)
    G = BigGANGenerator(resolution=64, ch=8, dim_z=20, n_classes=3, attention=32).eval()
    D = BigGANDiscriminator(resolution=64, ch=8, n_classes=3, attention=32).eval()
    for p in [*G.parameters(), *D.parameters()]:
        p.requires_grad_(False)
    big = DGP(G, D)
    assert big.size == 64 and big.n_classes == 3 and "shared.weight" in big.class_tables
    x = torch.nn.functional.interpolate(images(2), size=64, mode="bilinear")
    settings = replace(SMALL, candidates=6)
    together = big.fit(x, T.Observation(), settings, y=torch.tensor([0, 2]))
    other = torch.cat([x[:1].flip(-1) * 0.5, x[1:]])
    beside_another = big.fit(other, T.Observation(), settings, y=torch.tensor([1, 2]))
    assert not torch.allclose(together.image[0], beside_another.image[0], atol=1e-2)
    assert torch.equal(together.image[1], beside_another.image[1]) and torch.equal(together.z[1], beside_another.z[1])
    frames = T.morph(big, together, 0, 1, frames=3)
    assert torch.allclose(frames[0], together.image[0], atol=1e-5) and torch.allclose(frames[-1], together.image[1], atol=1e-5)


def test_a_prior_folder_run_fits_the_good_files_and_lists_the_bad_ones(prior_run, tmp_path):
    from retouch.tasks.files import FilesFailed

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(((images(1)[0].permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)).save(src / "good.png")
    (src / "empty.png").write_bytes(b"")
    result = CliRunner().invoke(app, ["prior", "reconstruct", str(src), "-o", str(tmp_path / "out"), "--model", str(prior_run),
                                      "--device", "cpu"])
    assert isinstance(result.exception, FilesFailed) and "empty.png" in str(result.exception)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.png"]
