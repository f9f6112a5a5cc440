"""`retouch mosaic`: only the region changes in the written file, for every way of naming it."""

import sys
import types

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from retouch.cli import app
from retouch.errors import RetouchError
from retouch.io import read_provenance
from retouch.tasks.hide import mosaic_files
from tests.helpers import smooth_image


def _photo(path, h=60, w=80, seed=0):
    img = smooth_image(np.random.default_rng(seed), h, w)
    Image.fromarray(img).save(path)
    return img


def _outside(img, x, y, w, h):
    keep = np.ones(img.shape[:2], bool)
    keep[y : y + h, x : x + w] = False
    return img[keep]


def test_box_changes_only_the_box_and_records_it(tmp_path):
    clean = _photo(tmp_path / "in.png")
    result = CliRunner().invoke(app, ["mosaic", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"),
                                      "--box", "10,5,40,30", "--block", "8"])
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    assert np.array_equal(_outside(out, 10, 5, 40, 30), _outside(clean, 10, 5, 40, 30))
    inside = out[5:35, 10:50].astype(int)
    # region-aligned grid: the first 8x8 cell is one colour, the mean of the clean cell
    assert (inside[:8, :8] == inside[0, 0]).all()
    assert np.abs(inside[0, 0] - clean[5:13, 10:18].reshape(-1, 3).mean(0)).max() <= 0.5 + 1e-9
    assert not np.array_equal(inside, clean[5:35, 10:50])
    prov = read_provenance(tmp_path / "out.png")
    assert prov["task"] == "mosaic" and prov["regions"] == [(10, 5, 40, 30)]


def test_whole_image_when_no_region_is_given(tmp_path):
    clean = _photo(tmp_path / "in.png", 32, 32)
    [(path, boxes)] = mosaic_files(tmp_path / "in.png", tmp_path / "out.png", block=32, show_progress=False)
    out = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert boxes is None and read_provenance(path)["regions"] is None
    assert (out == out[0, 0]).all()  # one cell: the image's mean colour
    assert np.abs(out[0, 0] - clean.reshape(-1, 3).mean(0)).max() <= 0.5 + 1e-9


def test_folder_with_a_mask_folder_keeps_names(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "masks").mkdir()
    cleans = {}
    for i, name in enumerate(["a.png", "b.png"]):
        cleans[name] = _photo(tmp_path / "in" / name, seed=i)
        m = np.zeros((60, 80), np.uint8)
        m[20 + i * 10 : 40 + i * 10, 30:60] = 255
        Image.fromarray(m).save(tmp_path / "masks" / name)
    written = mosaic_files(tmp_path / "in", tmp_path / "out", mask=tmp_path / "masks", block=10, show_progress=False)
    assert [p.name for p, _ in written] == ["a.png", "b.png"]
    assert [b for _, b in written] == [[(30, 20, 30, 20)], [(30, 30, 30, 20)]]
    for (path, [(x, y, w, h)]) in written:
        out = np.asarray(Image.open(path).convert("RGB"))
        assert np.array_equal(_outside(out, x, y, w, h), _outside(cleans[path.name], x, y, w, h))


def test_cam_box_comes_from_the_locator(tmp_path, monkeypatch):
    calls = []

    def locate_box(image, model, cls):
        calls.append((tuple(image.shape), model, cls))
        return (4, 8, 24, 16)

    monkeypatch.setitem(sys.modules, "retouch.locate.cam", types.SimpleNamespace(locate_box=locate_box))
    _photo(tmp_path / "in.png")
    [(_, boxes)] = mosaic_files(tmp_path / "in.png", tmp_path / "o.png", locate="cam:cat", show_progress=False)
    assert boxes == [(4, 8, 24, 16)]
    assert calls == [((1, 3, 60, 80), "cifar10-classifier", "cat")]
    mosaic_files(tmp_path / "in.png", tmp_path / "o.png", locate="cam", show_progress=False)
    assert calls[-1][2] is None


def test_user_errors_are_clear(tmp_path, caplog):
    _photo(tmp_path / "in.png")
    Image.new("L", (10, 10)).save(tmp_path / "small_mask.png")
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    with pytest.raises(RetouchError, match="at most one"):
        mosaic_files(src, out, box=(0, 0, 4, 4), locate="cam", show_progress=False)
    with pytest.raises(RetouchError, match="does not fit"):
        mosaic_files(src, out, box=(70, 0, 20, 20), show_progress=False)
    with pytest.raises(RetouchError, match="10x10 but the image is 80x60"):
        mosaic_files(src, out, mask=tmp_path / "small_mask.png", show_progress=False)
    with pytest.raises(RetouchError, match="--align"):
        mosaic_files(src, out, align="cells", show_progress=False)
    with pytest.raises(RetouchError, match="--locate"):
        mosaic_files(src, out, locate="yolo", show_progress=False)
    assert not out.exists()
    mosaic_files(src, tmp_path / "out.jpg", box=(0, 0, 16, 16), show_progress=False)
    assert "lossy" in caplog.text
