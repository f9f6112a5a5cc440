"""The README's main job: runs offline on bundled photos and leaves the outside of the box untouched."""

import json

import numpy as np
from PIL import Image

from retouch.demo import BOX, TEST_PHOTO, run_demo
from retouch.io import read_provenance


def test_demo_writes_page_sheet_and_honest_metrics(tmp_path):
    report = run_demo(tmp_path, steps=10, show_progress=False)
    assert {p.name for p in tmp_path.iterdir()} >= {"index.html", "sheet.png", "metrics.json", "restored.png"}
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads(json.dumps(report))
    rows = report["inside_box"]
    assert set(rows) == {"mosaic", "bicubic of block means", "retouch (pix2pix, L1)"}
    assert rows["bicubic of block means"]["psnr_rgb"] > rows["mosaic"]["psnr_rgb"]  # a real, known-good baseline

    import skimage.data

    clean = getattr(skimage.data, TEST_PHOTO)()
    restored = np.asarray(Image.open(tmp_path / "restored.png"))
    left, top, w, h = report["box"]
    outside = np.ones(clean.shape[:2], bool)
    outside[top : top + h, left : left + w] = False
    assert w == h == BOX
    assert np.array_equal(restored[outside], clean[outside])
    assert not np.array_equal(restored[~outside], clean[~outside])
    assert read_provenance(tmp_path / "restored.png")["regions"] == [tuple(report["box"])]
    assert "does not recover" in (tmp_path / "index.html").read_text()
