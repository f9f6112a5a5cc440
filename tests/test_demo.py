"""The README's main job: runs offline on bundled photos with the shipped models, touches only the square."""

import json

import numpy as np
import pytest
import skimage.data
from PIL import Image

from retouch.demo import BOX, PHOTOS, box_around, run_demo
from retouch.io import read_provenance


def test_box_around_stays_inside_the_image():
    assert box_around((100, 80), 300, 400) == (36, 16, BOX, BOX)
    assert box_around((5, 290), 300, 400) == (0, 300 - BOX, BOX, BOX)  # pushed back in from the corner
    assert box_around((399, 0), 300, 400) == (400 - BOX, 0, BOX, BOX)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out)


def test_demo_writes_page_sheet_and_metrics(demo):
    out, report = demo
    assert {p.name for p in out.iterdir()} >= {"index.html", "sheet.png", "metrics.json"}
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(report))
    assert set(report["photos"]) == set(PHOTOS)
    assert report["photos"]["chelsea"]["class"] == "cat"  # the class we asked the map for
    page = (out / "index.html").read_text()
    assert "does not recover" in page and "sheet.png" in page
    assert Image.open(out / "sheet.png").size[1] > 3 * 300  # one row per photo


def test_demo_restores_better_than_the_mosaic_and_touches_only_the_square(demo):
    out, report = demo
    for name, photo in report["photos"].items():
        rows = photo["inside_box"]
        assert rows["bicubic"]["psnr_rgb"] > rows["mosaic"]["psnr_rgb"]  # a known-good baseline
        assert rows["retouch"]["psnr_rgb"] > rows["mosaic"]["psnr_rgb"] + 0.5  # the shipped model does real work
        clean = getattr(skimage.data, name)()
        restored = np.asarray(Image.open(out / f"{name}-restored.png"))
        left, top, w, h = photo["box"]
        outside = np.ones(clean.shape[:2], bool)
        outside[top : top + h, left : left + w] = False
        assert w == h == BOX
        assert np.array_equal(restored[outside], clean[outside])
        assert not np.array_equal(restored[~outside], clean[~outside])
        assert read_provenance(out / f"{name}-restored.png")["regions"] == [tuple(photo["box"])]


def test_video_demo_hides_a_tracked_box_and_restores_it(tmp_path):
    from retouch.demo import run_video_demo
    from retouch.video import probe

    report = run_video_demo(tmp_path, seconds=0.4, fps=20)
    assert {"clean.mp4", "hidden.mp4", "restored.mp4", "boxes.json", "video.json"} <= {p.name for p in tmp_path.iterdir()}
    assert probe(tmp_path / "restored.mp4").frames == report["frames"] == 8 and probe(tmp_path / "restored.mp4").audio == 1
    rows = report["rows"]
    assert rows["restored"]["psnr_in_boxes"] > rows["hidden"]["psnr_in_boxes"]  # the model beats the mosaic it was given
    assert "<video" in (tmp_path / "index.html").read_text()
