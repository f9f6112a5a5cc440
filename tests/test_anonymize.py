"""`retouch anonymize`: faces found by the shipped CenterFace, concealed for good, in photos and films.

Real faces: scikit-image's astronaut (a NASA portrait) and, when ../shared/data is there, a group
photo of the ImageNet samples and the real Megamind clip; tracks are checked with a detector the
test controls, so gaps, cuts and fast moves are exact.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from typer.testing import CliRunner

from retouch.cli import app
from retouch.film.cuts import CutDetector
from retouch.film.tracks import Faces
from retouch.io import read_provenance, to_tensor
from retouch.locate import faces as faces_module
from retouch.locate.faces import MODEL, SHA256, face_boxes
from retouch.tasks.anonymize import conceal
from retouch.tasks.clips import write_clip

ASTRONAUT_FACE = (180, 70, 90, 115)  # forehead to chin in the 512x512 photo
ROOT = Path(__file__).resolve().parents[1]


def covered(box, changed: np.ndarray) -> float:
    x, y, w, h = box
    return float(changed[y : y + h, x : x + w].mean())


def test_the_shipped_detector_is_the_published_file_with_a_card():
    assert hashlib.sha256(MODEL.read_bytes()).hexdigest() == SHA256
    card = (ROOT / "docs" / "models" / "centerface.md").read_text()
    assert SHA256 in card and "MIT" in card


def test_photo_hides_the_face_and_nothing_else(tmp_path):
    Image.fromarray(skimage.data.astronaut()).save(tmp_path / "astronaut.png")
    r = CliRunner().invoke(app, ["anonymize", str(tmp_path / "astronaut.png"), "-o", str(tmp_path / "out.png")])
    assert r.exit_code == 0, r.output
    before, after = skimage.data.astronaut(), np.asarray(Image.open(tmp_path / "out.png"))
    changed = np.any(before != after, axis=2)
    assert covered(ASTRONAUT_FACE, changed) > 0.95
    assert changed.mean() < 0.08  # the face (grown 1.3x), not the photo
    assert read_provenance(tmp_path / "out.png")["task"].startswith("anonymize (faces; mosaic")


@pytest.mark.parametrize("style", ["mosaic", "blur", "solid"])
def test_styles_change_only_the_region_and_leave_little_of_the_face(style):
    x = to_tensor(Image.fromarray(skimage.data.astronaut()))
    mask = torch.zeros(1, 1, 512, 512)
    fx, fy, fw, fh = ASTRONAUT_FACE
    mask[:, :, fy : fy + fh, fx : fx + fw] = 1
    out = conceal(x, mask, style)
    assert torch.equal(out[:, :, mask[0, 0] == 0], x[:, :, mask[0, 0] == 0])
    face = out[:, :, fy : fy + fh, fx : fx + fw]
    detail = face[..., 1:, :] - face[..., :-1, :]  # vertical gradients inside the face
    original = x[:, :, fy : fy + fh, fx : fx + fw]
    assert detail.abs().mean() < 0.2 * (original[..., 1:, :] - original[..., :-1, :]).abs().mean()
    if style == "mosaic":  # three cells across the longer side: 39 px cells on a 115 px box
        assert len(torch.unique(face[0, 0].flatten())) <= 3 * 3


def test_a_group_photo_has_every_face_hidden(shared_data, tmp_path):
    photo = shared_data / "imagenet-samples" / "n10148035_groom.jpg"
    if not photo.exists():
        pytest.skip("no ImageNet samples")
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    found = face_boxes(rgb, grow=1.0)
    assert len(found) >= 5  # the groom, the bride and three guests
    r = CliRunner().invoke(app, ["anonymize", str(photo), "-o", str(tmp_path / "out.png")])
    assert r.exit_code == 0, r.output
    changed = np.any(rgb != np.asarray(Image.open(tmp_path / "out.png")), axis=2)
    assert all(covered(b, changed) > 0.9 for b in found)


def test_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path):
    import subprocess
    import sys

    Image.fromarray(skimage.data.astronaut()).save(tmp_path / "a.png")
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    for src, dst, argv, words in (("a.png", "o.png", ["--what", "eyes"], "Unknown --what"),
                                  ("a.png", "o.png", ["--style", "pixelate"], "Unknown --style"),
                                  ("a.png", "o.png", ["--cells", "0"], "--cells"),
                                  ("broken.mp4", "o.mp4", [], "broken.mp4")):
        p = subprocess.run([sys.executable, "-m", "retouch", "anonymize", str(tmp_path / src), "-o", str(tmp_path / dst), *argv],
                           capture_output=True, text=True)
        assert p.returncode == 2 and words in p.stderr and len(p.stderr.strip().splitlines()) == 1, (argv, p.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "broken.mp4"]


def test_a_missing_detector_is_one_sentence(tmp_path):
    from retouch.errors import RetouchError

    with pytest.raises(RetouchError, match="missing.onnx is missing; reinstall retouch"):
        faces_module.FaceDetector(tmp_path / "missing.onnx")


class Scripted:
    """A face detector whose answer per frame the test gives: {frame index: [(x, y, w, h), ...]}; the
    frame's index is written in its first pixel, and the frames it was asked about are kept."""

    def __init__(self, script: dict[int, list]) -> None:
        self.script, self.asked = script, []

    def __call__(self, rgb: np.ndarray, scale: float = 1.0) -> np.ndarray:
        i = int(rgb[0, 0, 0])
        self.asked.append(i)
        return np.array([[*b, 0.9] for b in self.script.get(i, [])], np.float32).reshape(-1, 5)


def _masks(monkeypatch, frames: list[np.ndarray], script: dict[int, list], **kw) -> tuple[list[np.ndarray], list[int]]:
    scripted = Scripted(script)
    monkeypatch.setattr(faces_module, "detector", lambda threshold: scripted)
    source = Faces(grow=1.0, **kw)
    numbered = [f.copy() for f in frames]
    for i, f in enumerate(numbered):
        f[0, 0, 0] = i
    tensors = (torch.from_numpy(f).permute(2, 0, 1)[None] for f in numbered)
    return [m[0, 0].numpy() > 0.5 for m in source.masks(tensors)], scripted.asked


def test_tracks_bridge_missed_frames_both_ways_and_stop_at_a_cut(monkeypatch):
    rng = np.random.default_rng(0)
    shot_a = np.full((64, 96, 3), 60, np.uint8)
    shot_b = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)  # a new shot: nothing like the first
    frames = [shot_a.copy() for _ in range(20)] + [shot_b.copy() for _ in range(10)]
    face = lambda i: (10 + i, 20, 16, 16)  # moving right a pixel a frame  # noqa: E731
    seen = {i: [face(i)] for i in range(20) if i not in (5, 6, 7, 8, 15)}  # a 4-frame gap and a single miss
    seen[19] = []  # the last frame before the cut: missed, held from 18
    masks, _ = _masks(monkeypatch, frames, seen, gap=6, persist=3, every=1)
    assert len(masks) == 30
    for i in range(20):  # every frame of the first shot has the face, interpolated or held
        x, y, w, h = face(i)
        assert masks[i][y : y + h, x : x + w].all(), i
    assert not any(m.any() for m in masks[20:])  # nothing carried across the cut
    begins, _ = _masks(monkeypatch, frames[:20], {10: [face(10)], 11: [face(11)]}, gap=6, persist=3, every=1)
    # found on frames 10 and 11: boxes on 7-14 (held 3 frames either side), masks on 6-15 (each mask joins its neighbours)
    assert [bool(m.any()) for m in begins] == [False] * 6 + [True] * 10 + [False] * 4


def test_the_detector_skips_frames_only_while_every_face_is_large(monkeypatch):
    frames = [np.full((160, 160, 3), 60, np.uint8) for _ in range(12)]
    big, small = (20, 20, 80, 80), (100, 100, 20, 20)
    masks, asked = _masks(monkeypatch, frames, {i: [big] for i in range(12)}, every=2, small=64)
    assert asked == [0, 2, 4, 6, 8, 10] and all(m[20:100, 20:100].all() for m in masks)  # the frames between: interpolated
    masks, asked = _masks(monkeypatch, frames, {i: [big, small] for i in range(12)}, every=2, small=64)
    assert asked == list(range(12))  # a small face: the detector on every frame


def test_the_cut_detector_finds_megamind_s_four_cuts_and_none_in_the_street(shared_data):
    import av

    found = {}
    for name in ("Megamind.avi", "vtest.avi"):
        path = shared_data / "films" / name
        if not path.exists():
            pytest.skip("no films")
        detector = CutDetector()
        with av.open(str(path)) as c:
            found[name] = [i for i, f in enumerate(c.decode(video=0)) if detector.is_cut(f.to_ndarray(format="rgb24"))]
    assert found == {"Megamind.avi": [1, 98, 154, 200], "vtest.avi": []}


def test_film_keeps_every_frame_and_the_sound_and_the_regions_round_trip(tmp_path):
    import av

    photo = Image.fromarray(skimage.data.astronaut()).crop((120, 20, 360, 260))  # the face, 240 px
    frames = [np.asarray(photo.transform(photo.size, Image.AFFINE, (1, 0, 2 * i - 10, 0, 1, 0))) for i in range(12)]
    clip = write_clip(tmp_path / "in.mp4", frames, fps=10)
    r = CliRunner().invoke(app, ["anonymize", str(clip), "-o", str(tmp_path / "out.mp4"), "--regions-json", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    with av.open(str(clip)) as a, av.open(str(tmp_path / "out.mp4")) as b:
        assert b.streams.video[0].frames == a.streams.video[0].frames == 12
        assert len([p for p in b.demux(audio=0) if p.size]) == len([p for p in a.demux(audio=0) if p.size]) > 0
    boxes = json.loads((tmp_path / "r.json").read_text())["boxes"]
    assert len(boxes) == 12 and all(len(f) >= 1 for f in boxes)
    for i, frame_boxes in enumerate(boxes):  # the face (60..150 x 50..165 in the crop) moves with the pan
        x, y, w, h = max(frame_boxes, key=lambda b: b[2] * b[3])
        assert x <= 60 - (2 * i - 10) + 5 and x + w >= 150 - (2 * i - 10) - 5 and y <= 55 and y + h >= 160, (i, frame_boxes)
    edited = {"boxes": [[] for _ in boxes]}  # a person drops every region: nothing is hidden
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    r = CliRunner().invoke(app, ["anonymize", str(clip), "-o", str(tmp_path / "none.mp4"), "--boxes-json", str(tmp_path / "edited.json"),
                                 "--regions-json", str(tmp_path / "again.json")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "again.json").read_text())["boxes"] == edited["boxes"]
