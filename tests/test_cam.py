"""The issue's acceptance test: the shipped classifier's CAM finds CIFAR-10 objects pasted on photos.

The issue asks for a hit rate of at least 80%. The shipped model (trained with copy-paste
localisation on BSDS500 train/test photos; the objects here are pasted on `val` photos it never
saw) reaches 92.5% on 200 samples (docs/benchmarks.md); a border blended over 32 px, which
hides any cue from the paste's sharp edge, still gives 85.5%.
"""

import importlib.util
from pathlib import Path

import pytest

from retouch.locate.cam import box, heat_map, locate_box, region

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("cam_hit_rate", ROOT / "docs" / "scripts" / "cam_hit_rate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report():
    """100 CIFAR-10 test images enlarged to 96 px, pasted at random places on BSDS500 val photos."""
    from tests.conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return load_script().hit_rate(data=SHARED_DATA, n=100, size=96)


def test_cam_peak_lands_on_pasted_cifar_objects_at_the_issue_bar(report):
    assert report["true class"]["hit"] >= 0.8
    assert report["true class"]["box_overlap"] >= 0.9


def test_cam_still_finds_objects_whose_paste_border_is_blended_away(shared_data):
    assert load_script().hit_rate(data=shared_data, n=100, size=96, feather=32)["true class"]["hit"] >= 0.75


def test_locate_box_on_one_pasted_object(shared_data):
    script = load_script()
    photo, label, obj = next(script.pasted(*script.test_sets(shared_data), size=96, n=1, seed=1))
    heat, name = heat_map(photo, cls=label)
    assert heat.shape == photo.shape[2:] and name == "frog"
    found = locate_box(photo, cls=label)
    assert found == box(region(heat)) and script.iou(found, obj) > 0.5
    x, y, w, h = obj
    assert heat[y : y + h, x : x + w].mean() > heat.mean() + 0.1  # the object is warmer than the photo
