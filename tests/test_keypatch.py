"""Key patches: patches and their mask are cut exactly, the method trains and resumes exactly, the
placement is learnt (spatial loss falls), `retouch complete` writes completion | placement, and
`eval-keypatch` scores IoU against the centre baseline on CIFAR-10 test photos."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from retouch.cli import app
from retouch.data import DataConfig
from retouch.errors import RetouchError
from retouch.evaluate.keypatch import iou
from retouch.methods.keypatch import KeyPatch
from retouch.patches import KeyPatchImages, centre_mask, cut_patches, strongest_patches
from retouch.train import RunConfig, train
from tests.helpers import killed_run, photo_folder
from tests.test_classifier import make_zip
from tests.test_cyclegan import log_rows
from tests.test_tdgan import class_folders


def tiny(data, steps: int) -> RunConfig:
    return RunConfig(method="keypatch", model={"ngf": 8, "ndf": 8, "code": 16, "z_dim": 4},
                     data={"root": str(data), "size": 32, "regions": [3, 3], "region_size": [8, 8]},
                     train={"steps": steps, "batch_size": 4, "log_every": 1, "sample_every": 1000, "ckpt_every": 4,
                            "device": "cpu", "precision": "fp32"})


def test_patches_come_from_where_the_mask_says():
    x = torch.rand(3, 32, 32)
    patches, mask, corners = cut_patches(x, 3, 8, torch.Generator().manual_seed(4))
    assert patches.shape == (3, 3, 8, 8) and 64 <= mask.sum() <= 192
    for p, (t, l) in zip(patches, corners.tolist()):  # each patch is the photo at its corner, inside the mask
        assert torch.equal(x[:, t : t + 8, l : l + 8], p) and mask[0, t : t + 8, l : l + 8].all()
    c = centre_mask(3, 8, 32)
    assert c.sum() == 64 and c[0, 12:20, 12:20].all()
    assert float(iou(c[None], c[None])) == 1.0 and float(iou(c[None], 1 - c[None])) == 0.0


def test_cam_proposal_takes_the_strongest_squares_without_overlap():
    """The squares where the heat sums highest, greedily: the hottest 8x8 first, then the best
    square that does not overlap it (not the one shifted by a pixel), all in the mask, shuffled."""
    x = torch.rand(3, 32, 32)
    heat = torch.zeros(32, 32)
    heat[4:12, 20:28] = 1.0  # the hottest square
    heat[20:28, 2:10] = 0.6  # the second
    heat[12:16, 20:28] = 0.9  # hot, but every 8x8 window over it overlaps the first square more than it gains
    patches, mask, corners = strongest_patches(x, heat, 2, 8, torch.Generator().manual_seed(0))
    assert set(map(tuple, corners.tolist())) == {(4, 20), (20, 2)}
    assert all(torch.equal(x[:, t : t + 8, l : l + 8], p) for p, (t, l) in zip(patches, corners.tolist()))  # shuffled together
    assert mask.sum() == 128 and mask[0, 4:12, 20:28].all() and mask[0, 20:28, 2:10].all()
    orders = {tuple(map(tuple, strongest_patches(x, heat, 2, 8, torch.Generator().manual_seed(s))[0][:, 0, 0, :1].tolist())) for s in range(8)}
    assert len(orders) == 2  # shuffled: the model must not read the rank from the order


def test_cam_proposal_data_and_unknown_proposal(tmp_path):
    data = class_folders(tmp_path / "data")
    item = KeyPatchImages(DataConfig(root=str(data), size=32, regions=[3, 3], region_size=[8, 8], proposal="cam"))[(0, 1)]
    assert item["patches"].shape == (3, 3, 8, 8) and item["mask"].sum() == 3 * 64  # three squares, none overlapping
    with pytest.raises(RetouchError, match="proposal"):
        KeyPatchImages(DataConfig(root=str(data), size=32, regions=[3, 3], region_size=[8, 8], proposal="saliency"))


def test_key_patch_data_need_one_count_and_one_side(tmp_path):
    data = class_folders(tmp_path / "data")
    ds = KeyPatchImages(DataConfig(root=str(data), size=32, regions=[2, 2], region_size=[6, 6]))
    item = ds[(1, 5)]
    assert item["patches"].shape == (2, 3, 6, 6) and item["mask"].shape == (1, 32, 32)
    with pytest.raises(RetouchError, match="one count and one side"):
        KeyPatchImages(DataConfig(root=str(data), size=32, regions=[1, 3], region_size=[8, 8]))


@pytest.mark.parametrize("kind", ["cifar-zip", "photo-folder"])
def test_train_keypatch_with_no_config_trains(tmp_path, kind):
    """`retouch train keypatch --data D` alone trains (issue 44), on a CIFAR-like zip and on a plain
    folder of photos larger than the model: the method's data defaults (the shipped recipe's 32 px,
    three 8 px patches) replace the paired-translation box ranges, which are no key-patch setting."""
    data = make_zip(tmp_path / "c.zip", size=32, per_class=2) if kind == "cifar-zip" else photo_folder(tmp_path / "photos", n=3)
    r = CliRunner().invoke(app, ["train", "keypatch", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "2", "--batch-size", "2"])
    assert r.exit_code == 0, r.output
    saved = RunConfig.from_yaml(tmp_path / "run" / "config.yaml").data
    assert (saved.size, saved.regions, saved.region_size) == (32, [3, 3], [8, 8])
    assert len(log_rows(tmp_path / "run")) == 1


def test_method_data_defaults_fill_only_what_a_config_leaves_out():
    cfg = RunConfig(method="keypatch", data={"root": "x", "size": 64, "region_size": [16, 16]})
    assert (cfg.data.size, cfg.data.regions, cfg.data.region_size) == (64, [3, 3], [16, 16])
    assert RunConfig(method="pix2pix").data.region_size == [32, 112]  # other methods keep the generic defaults


def test_cam_proposal_on_unlabelled_photos_takes_the_predicted_class(tmp_path):
    data = photo_folder(tmp_path / "photos", n=2)
    ds = KeyPatchImages(DataConfig(root=str(data), size=32, regions=[2, 2], region_size=[8, 8], proposal="cam"))
    item = ds[(0, 0)]
    assert int(item["label"]) == -1 and ds.photos.classes == []
    assert item["patches"].shape == (2, 3, 8, 8) and item["mask"].sum() == 2 * 64


def test_a_killed_run_resumes_exactly_and_learns_placement(tmp_path, monkeypatch):
    data = class_folders(tmp_path / "data")
    cfg = tiny(data, 10)
    train(cfg, tmp_path / "full", show_progress=False)
    killed_run(monkeypatch, KeyPatch, 7, lambda: train(cfg, tmp_path / "killed", show_progress=False))
    train(cfg, tmp_path / "killed", resume=True, show_progress=False)
    rows = log_rows(tmp_path / "killed")
    assert rows == log_rows(tmp_path / "full")
    assert rows[-1]["spatial"] < rows[0]["spatial"]


def test_complete_writes_completion_and_placement(tmp_path):
    data = class_folders(tmp_path / "data")
    train(tiny(data, 2), tmp_path / "run", show_progress=False)
    rng = np.random.default_rng(0)
    files = []
    for i, side in enumerate((8, 20)):
        files.append(tmp_path / f"p{i}.png")
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(files[-1])
    r = CliRunner().invoke(app, ["complete", *map(str, files), "-o", str(tmp_path / "out.png"), "--model", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    assert np.asarray(Image.open(tmp_path / "out.png")).shape == (32, 64, 3)
    wrong = CliRunner().invoke(app, ["complete", str(files[0]), "-o", str(tmp_path / "x.png"), "--model", "demosaic"])
    assert isinstance(wrong.exception, RetouchError) and "keypatch run" in str(wrong.exception)


def test_eval_keypatch_reports_iou_against_the_centre_baseline(tmp_path, shared_data):
    data = class_folders(tmp_path / "data")
    train(tiny(data, 2), tmp_path / "run", show_progress=False)
    r = CliRunner().invoke(app, ["eval-keypatch", str(tmp_path / "run"), "--data", str(shared_data / "cifar10.zip"), "--per-class", "2",
                                 "--json", str(tmp_path / "r.json"), "--sheet", str(tmp_path / "s.png")])
    assert r.exit_code == 0, r.output
    assert np.asarray(Image.open(tmp_path / "s.png")).shape == (10 * 32, 3 * 32, 3)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["images"] == 20 and 0 <= report["mask_iou"] <= 1 and 0 < report["pasted_iou"] < 1 and 0 < report["mask_iou_centre"] < 1
    assert report["appearance_psnr"] > 0 and 0 < report["mask_iou_centre_area_matched"] < 1


def test_area_matched_masks_take_the_top_pixels():
    from retouch.evaluate.keypatch import top_area

    scores = torch.arange(16.0).view(1, 1, 4, 4)
    like = torch.zeros(1, 1, 4, 4)
    like[..., :2, :] = 1  # 8 pixels
    got = top_area(scores, like)
    assert got.sum() == 8 and got[..., 2:, :].all() and not got[..., :2, :].any()


def test_paste_lays_each_patch_at_its_corner():
    from retouch.nets.keypatch import one_hot_places, paste

    patches = torch.rand(2, 3, 3, 8, 8)
    corners = torch.tensor([[[0, 0], [10, 3], [24, 24]], [[5, 5], [5, 5], [1, 20]]])
    laid = paste(one_hot_places(corners, 25), patches)
    assert laid.shape == (2, 3, 3, 32, 32)
    for n in range(2):
        for k, (t, l) in enumerate(corners[n].tolist()):
            alone = torch.zeros(3, 32, 32)
            alone[:, t : t + 8, l : l + 8] = patches[n, k]
            assert torch.allclose(laid[n, k], alone)


def test_image_losses_leave_placement_to_the_spatial_loss():
    """Pasted at the true corners, as in training, the image losses cannot move placement: only the
    spatial loss (on the logits) does."""
    from retouch.nets.keypatch import KeyPatchNet

    torch.manual_seed(0)
    net = KeyPatchNet(size=32, ngf=8, code=16, z_dim=4)
    patches = torch.randn(2, 3, 3, 8, 8)
    corners = torch.tensor([[[0, 0], [10, 3], [24, 24]]] * 2)
    image, mask, logits = net(patches, positions=corners)
    assert image.shape == (2, 3, 32, 32) and mask.shape == (2, 1, 32, 32) and logits.shape == (2, 3, 25, 25)
    assert 0 <= float(mask.detach().min()) and float(mask.detach().max()) <= 1
    image.square().mean().backward()  # an image-only loss
    assert all(p.grad is None or not p.grad.any() for p in net.place.parameters())
    logits.sum().backward()
    assert any(p.grad.any() for p in net.place.parameters())


def test_decoded_places_do_not_overlap_and_follow_confidence():
    from retouch.nets.keypatch import decode_places

    logits = torch.full((1, 3, 25, 25), -10.0)
    logits[0, :, 12, 12] = 5.0  # all three like the centre best
    logits[0, 0, 12, 12] = 9.0  # patch 0 most of all: it gets it
    logits[0, 1, 12, 15] = 4.0  # overlaps the centre square: not allowed
    logits[0, 1, 2, 2] = 3.0
    logits[0, 2, 20, 12] = 2.0
    assert decode_places(logits, 8).tolist() == [[[12, 12], [2, 2], [20, 12]]]
    crowded = decode_places(torch.zeros(2, 5, 2, 2), 8)  # 9 px image, five 8 px patches: no clear corner after the first
    assert crowded.shape == (2, 5, 2) and (crowded >= 0).all() and (crowded < 2).all()
