"""Films in, films out: the sound, the timing and the pixels outside the regions survive; bad input fails cleanly."""

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from retouch.errors import RetouchError
from retouch.film.tracks import Detected, Tracked, region_source
from retouch.tasks.clips import camera_frames, make_clips, write_clip
from retouch.tasks.hide import mosaic_video
from retouch.tasks.upscale import upscale_files
from retouch.video import probe, quantize, read_frames
from tests.helpers import smooth_image

W, H, N = 64, 48, 8


def _frames(n=N, seed=0) -> list[np.ndarray]:
    """A camera moving over scikit-image's astronaut photo (bundled with the package)."""
    photo = Image.fromarray(skimage.data.astronaut()).resize((2 * W, 2 * W), Image.BICUBIC)
    return list(camera_frames(photo, W, H, n, gen=torch.Generator().manual_seed(seed)))


def _clip(path: Path, audio: bool = True, codec: str | None = None, frames=None) -> Path:
    return write_clip(path, frames or _frames(), fps=10, codec=codec, audio=audio)


def _audio_packets(path: Path) -> list[list[bytes]]:
    with av.open(str(path)) as c:
        return [[bytes(p) for p in c.demux(s) if p.size] for s in c.streams.audio]


def _video_pts(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [round(f.pts * f.time_base * 1000) for f in c.decode(s)]  # milliseconds: time bases may differ


def _upright(path: Path) -> np.ndarray:
    return np.stack([((x[0].permute(1, 2, 0) + 1) * 127.5).round().numpy() for x in read_frames(path)])


def _mosaic(src, dst, boxes, **kw):
    return mosaic_video(src, dst, region_source(boxes=boxes), block=8, show_progress=False, **kw)


def test_sound_is_copied_bit_for_bit_and_timing_kept(tmp_path):
    src = _clip(tmp_path / "in.mp4")
    boxes = _mosaic(src, tmp_path / "out.mp4", [(8, 8, 24, 16)], regions_json=tmp_path / "r.json")
    a, b = probe(src), probe(tmp_path / "out.mp4")
    assert (b.frames, b.rate, b.width, b.height, b.audio) == (a.frames, a.rate, a.width, a.height, 1) == (N, 10, W, H, 1)
    assert abs(b.duration - a.duration) < 1e-3
    assert _audio_packets(tmp_path / "out.mp4") == _audio_packets(src) and len(_audio_packets(src)[0]) > 3
    assert _video_pts(tmp_path / "out.mp4") == _video_pts(src)
    assert boxes == [[(8, 8, 24, 16)]] * N
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames_with_regions"] == f"0-{N - 1}" and report["boxes"][3] == [[8, 8, 24, 16]]
    with av.open(str(tmp_path / "out.mp4")) as c:
        tag = json.loads(c.metadata["comment"])
    assert tag["task"] == "mosaic" and "x=8 y=8 w=24 h=16" in tag["regions_from"]


def test_lossless_codec_keeps_outside_exact_and_h264_close(tmp_path):
    src = _clip(tmp_path / "in.mkv", codec="ffv1")
    _mosaic(src, tmp_path / "out.mkv", [(8, 8, 24, 16), (40, 24, 16, 16)], codec="ffv1")
    a, b = _upright(src), _upright(tmp_path / "out.mkv")
    outside = np.ones((H, W), bool)
    outside[8:24, 8:32] = outside[24:40, 40:56] = False
    assert np.array_equal(a[:, outside], b[:, outside])
    for y, x in ((8, 8), (24, 40)):  # both regions hidden: one flat colour per 8x8 cell
        cell = b[:, y : y + 8, x : x + 8]
        assert (cell == cell[:, :1, :1]).all() and not (a[:, y : y + 8, x : x + 8] == a[:, y : y + 1, x : x + 1]).all()
    # H.264 (crf 18, yuv420p) is lossy: outside the region, the error is what one more trip through
    # 4:2:0 chroma costs (measured on the same frames, 1.4 levels) plus a second crf-18 generation
    # (1.5 measured on these 64x48 frames): at most 2.5 levels above the chroma trip on average
    src = _clip(tmp_path / "in.mp4")
    _mosaic(src, tmp_path / "out.mp4", [(8, 8, 24, 16)])
    a, b = _upright(src), _upright(tmp_path / "out.mp4")
    outside = np.ones((H, W), bool)
    outside[4:28, 4:36] = False  # chroma subsampling spreads the edge a little
    chroma = np.stack([av.VideoFrame.from_ndarray(f.astype(np.uint8), format="rgb24").reformat(format="yuv420p")
                       .to_ndarray(format="rgb24") for f in a]).astype(np.float32)
    assert np.abs(a[:, outside] - b[:, outside]).mean() < np.abs(a[:, outside] - chroma[:, outside]).mean() + 2.5


def test_no_audio_and_two_audio_tracks(tmp_path):
    silent = _clip(tmp_path / "silent.mp4", audio=False)
    _mosaic(silent, tmp_path / "out_silent.mp4", [(0, 0, 16, 16)])
    assert probe(tmp_path / "out_silent.mp4").audio == 0 and probe(tmp_path / "out_silent.mp4").frames == N
    one = _clip(tmp_path / "one.mp4")
    two = tmp_path / "two.mkv"
    with av.open(str(one)) as inp, av.open(str(two), "w") as out:  # the same sound twice: two tracks
        streams = {s: out.add_stream_from_template(s) for s in inp.streams}
        extra = out.add_stream_from_template(inp.streams.audio[0])
        for p in inp.demux():
            if p.dts is None:
                continue
            if p.stream.type == "audio":
                q = av.Packet(bytes(p))
                q.pts, q.dts, q.time_base, q.stream = p.pts, p.dts, p.time_base, extra
                out.mux(q)
            p.stream = streams[p.stream]
            out.mux(p)
    _mosaic(two, tmp_path / "out_two.mkv", [(0, 0, 16, 16)])
    assert _audio_packets(tmp_path / "out_two.mkv") == _audio_packets(two)
    assert probe(tmp_path / "out_two.mkv").audio == 2


def test_rotation_tag_kept_and_boxes_are_upright(tmp_path):
    src = tmp_path / "rot.mp4"
    stored = _frames()  # landscape as stored; a player shows it turned 90 degrees
    with av.open(str(src), "w") as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.set_display_rotation(90)
        for i, rgb in enumerate(stored):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            f.pts = i
            out.mux(s.encode(f))
        out.mux(s.encode())
    info = probe(src)
    assert (info.rotation, info.width, info.height) == (90, H, W)  # upright: portrait
    _mosaic(src, tmp_path / "out.mp4", [(0, 40, 48, 24)])  # fits only the upright frame (48 wide, 64 high)
    out = probe(tmp_path / "out.mp4")
    assert (out.rotation, out.width, out.height, out.frames) == (90, H, W, N)
    a, b = _upright(src), _upright(tmp_path / "out.mp4")
    # upright = the stored frame turned 90 degrees counter-clockwise, as FFmpeg's player shows it
    assert np.abs(a[0] - np.rot90(stored[0]).astype(np.float32)).mean() < 8  # one crf-23 generation; turned the other way: ~50
    above, inside = np.abs(a[:, :32] - b[:, :32]).mean(), np.abs(a[:, 40:] - b[:, 40:]).mean()
    assert above < 3.5 and inside > 3 * above  # only the box (the bottom of the upright frame) is mosaicked


def test_variable_frame_rate_keeps_every_timestamp(tmp_path):
    src = tmp_path / "vfr.mkv"
    pts = [0, 40, 80, 200, 240, 400, 440, 480]  # milliseconds, irregular
    with av.open(str(src), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        for t, rgb in zip(pts, _frames()):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = t, Fraction(1, 1000)
            out.mux(s.encode(f))
        out.mux(s.encode())
    _mosaic(src, tmp_path / "out.mkv", [(0, 0, 16, 16)])
    assert _video_pts(src) == pts
    assert _video_pts(tmp_path / "out.mkv") == pts


def test_demosaic_restores_several_regions_in_a_frame(tmp_path):
    from retouch.tasks.restore import demosaic_video

    src = _clip(tmp_path / "in.mkv", codec="ffv1")
    boxes = [(4, 4, 24, 16), (36, 24, 24, 16)]
    _mosaic(src, tmp_path / "hidden.mkv", boxes, codec="ffv1")
    for temporal in (False, True):
        dst = tmp_path / f"restored{temporal}.mkv"
        found = demosaic_video(tmp_path / "hidden.mkv", dst, region_source(boxes=boxes), device="cpu", temporal=temporal,
                               codec="ffv1", show_progress=False)
        assert found == [boxes] * N
        hidden, restored = _upright(tmp_path / "hidden.mkv"), _upright(dst)
        for x, y, w, h in boxes:  # each region changed (no longer flat cells), outside exact
            assert np.abs(restored[:, y : y + h, x : x + w] - hidden[:, y : y + h, x : x + w]).mean() > 0.5
        keep = np.ones((H, W), bool)
        for x, y, w, h in boxes:
            keep[y : y + h, x : x + w] = False
        assert np.array_equal(restored[:, keep], hidden[:, keep])


def test_tracker_follows_a_moving_square(tmp_path):
    rng = np.random.default_rng(0)
    frames = []
    for i in range(N):
        f = np.full((H, W, 3), 90, np.uint8) + rng.integers(0, 8, (H, W, 3), dtype=np.uint8)
        f[10 + i : 22 + i, 5 + 3 * i : 17 + 3 * i] = rng.integers(150, 255, (12, 12, 3), dtype=np.uint8) if i == 0 else square
        square = f[10 + i : 22 + i, 5 + 3 * i : 17 + 3 * i].copy()
        frames.append(f)
    src = _clip(tmp_path / "in.mkv", codec="ffv1", frames=frames)
    boxes = mosaic_video(src, tmp_path / "out.mkv", Tracked([(5, 10, 12, 12)]), block=4, codec="ffv1", show_progress=False)
    assert boxes == [[(5 + 3 * i, 10 + i, 12, 12)] for i in range(N)]


def test_detect_finds_a_lossless_mosaic_in_every_frame(tmp_path):
    photo = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((160, 128)))
    src = _clip(tmp_path / "in.mkv", codec="ffv1", frames=[photo] * N)
    _mosaic(src, tmp_path / "hidden.mkv", [(16, 24, 64, 48)], codec="ffv1")
    frames = [quantize(x) for x in read_frames(tmp_path / "hidden.mkv")]
    masks = list(Detected().masks(iter(frames)))
    assert len(masks) == N
    truth = torch.zeros(1, 1, 128, 160)
    truth[..., 24:72, 16:80] = 1
    assert all(((m > 0.5) == (truth > 0.5)).float().mean() > 0.99 for m in masks)


def test_data_video_makes_moving_clips_with_sound(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(np.random.default_rng(i), 120, 160)).save(photos / f"p{i}.png")
    clips = make_clips(photos, tmp_path / "clips", seconds=0.5, size=(W, H), fps=20, show_progress=False)
    assert [c.name for c in clips] == ["p0.mp4", "p1.mp4"]
    info = probe(clips[0])
    assert (info.frames, info.rate, info.width, info.height, info.audio, info.codec) == (10, 20, W, H, 1, "h264")
    frames = _upright(clips[0])
    assert np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3)).min() > 0.5  # the camera moves every frame


def test_upscale_and_gif_input(tmp_path):
    gif = tmp_path / "in.gif"
    frames = [Image.fromarray(f) for f in _frames(4)]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    upscale_files(gif, tmp_path / "big.mp4", model="bicubic", scale=2, show_progress=False)
    info = probe(tmp_path / "big.mp4")
    assert (info.frames, info.width, info.height) == (4, 2 * W, 2 * H)


def _cli(*args, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "retouch", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd, env={"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PATH": "/usr/bin:/bin",
                                                     "OMP_NUM_THREADS": "1"})


def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path):
    clip = _clip(tmp_path / "in.mp4")
    (tmp_path / "text.mp4").write_text("not a film")
    data = clip.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    sound = tmp_path / "sound.mp4"
    with av.open(str(clip)) as inp, av.open(str(sound), "w") as out:
        a = out.add_stream_from_template(inp.streams.audio[0])
        for p in inp.demux(inp.streams.audio[0]):
            if p.dts is not None:
                p.stream = a
                out.mux(p)
    for name, codec in (("cut.mp4", None), ("in.mp4", "no-such-codec")):  # in this process: each CLI start costs seconds
        with pytest.raises(RetouchError):
            _mosaic(tmp_path / name, tmp_path / "out.mp4", [(0, 0, 8, 8)], codec=codec)
        assert not (tmp_path / "out.mp4").exists()
    cases = [("text.mp4", ["--box", "0,0,8,8"]), ("sound.mp4", ["--box", "0,0,8,8"]), ("in.mp4", ["--box", "40,40,32,32"])]
    runs = [(name, extra, tmp_path / f"out-{name}") for name, extra in cases]
    procs = [_cli("mosaic", tmp_path / name, "-o", out, *extra, cwd=tmp_path) for name, extra, out in runs]  # at once: each starts Python
    for (name, extra, out), proc in zip(runs, procs):
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 2, (name, extra, stderr)
        assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("error:"), stderr
        assert not out.exists() and not list(tmp_path.glob(".out-*"))


def test_photos_take_several_boxes_too(tmp_path):
    from typer.testing import CliRunner

    from retouch.cli import app

    img = smooth_image(np.random.default_rng(0), 48, 64)
    Image.fromarray(img).save(tmp_path / "in.png")
    r = CliRunner().invoke(app, ["mosaic", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--box", "0,0,16,16",
                                 "--box", "40,24,16,16", "--block", "8"])
    assert r.exit_code == 0, r.output
    assert "x=0 y=0 w=16 h=16, x=40 y=24 w=16 h=16" in r.output
    out = np.asarray(Image.open(tmp_path / "out.png"))
    for y, x in ((0, 0), (24, 40)):
        assert (out[y : y + 8, x : x + 8] == out[y, x]).all()
    assert np.array_equal(out[20:24], img[20:24])


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RetouchError])
def test_interrupted_film_leaves_nothing_and_no_thread(tmp_path, failure):
    """Ctrl-C (or a failing model) mid-film, while the reader thread decodes ahead and the writer
    thread encodes behind: the error comes out, no file or temporary is left, both threads end."""
    import threading

    from retouch.io import Provenance
    from retouch.video import process_video

    clip = _clip(tmp_path / "in.mp4")
    calls = []

    def dies_on_third_batch(frames, masks):
        calls.append(len(frames))
        if len(calls) == 3:
            raise failure("stop")
        return frames

    before = threading.active_count()
    with pytest.raises(failure):
        process_video(clip, tmp_path / "out.mp4", dies_on_third_batch, Provenance(task="test"),
                      region_source(boxes=[(8, 8, 16, 16)]), batch=2, show_progress=False)
    assert calls == [2, 2, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
    assert threading.active_count() == before


def test_locate_faces_hides_the_astronaut_in_photos_and_films(tmp_path):
    """OpenCV's frontal-face cascade finds the astronaut's face: a photo's face box is hidden
    (everything else exact), a photo with no face says so, and in a film panning over the photo
    the face (carried into each frame by the known camera path) is hidden in every frame that
    shows it whole."""
    from typer.testing import CliRunner

    from retouch.cli import app
    from retouch.film.tracks import Found
    from retouch.tasks.clips import camera_path

    face = (180, 70, 90, 115)  # forehead to chin in the 512x512 photo
    photo = Image.fromarray(skimage.data.astronaut())
    photo.save(tmp_path / "astronaut.png")
    Image.fromarray(smooth_image(np.random.default_rng(0), 96, 128)).save(tmp_path / "plain.png")
    runner = CliRunner()
    r = runner.invoke(app, ["mosaic", str(tmp_path / "astronaut.png"), "-o", str(tmp_path / "hidden.png"), "--locate", "faces"])
    assert r.exit_code == 0, r.output
    before, after = np.asarray(photo), np.asarray(Image.open(tmp_path / "hidden.png"))
    changed = np.any(before != after, axis=2)
    x, y, w, h = face
    assert changed[y : y + h, x : x + w].mean() > 0.9
    assert changed.mean() < 0.15  # the face, not the photo
    r = runner.invoke(app, ["mosaic", str(tmp_path / "plain.png"), "-o", str(tmp_path / "plain-out.png"), "--locate", "faces"])
    assert r.exit_code == 0 and "no faces found" in r.output, r.output

    n, W2, H2 = 30, 240, 240
    gen = torch.Generator().manual_seed(1)
    clip = write_clip(tmp_path / "astronaut.mp4", list(camera_frames(photo, W2, H2, n, zoom=1.1, gen=gen)), fps=10)
    boxes = mosaic_video(clip, tmp_path / "faces.mp4", Found("faces"), block=16, show_progress=False)
    whole = 0
    for (scale, x0, y0), frame_boxes in zip(camera_path(photo.size, W2, H2, n, 1.1, torch.Generator().manual_seed(1)), boxes):
        u0, v0, u1, v1 = (x - x0) / scale, (y - y0) / scale, (x + w - x0) / scale, (y + h - y0) / scale
        if u0 < 0 or v0 < 0 or u1 > W2 or v1 > H2:
            continue
        whole += 1
        hidden = np.zeros((H2, W2), bool)
        for bx, by, bw, bh in frame_boxes:
            hidden[by : by + bh, bx : bx + bw] = True
        assert hidden[round(v0) : round(v1), round(u0) : round(u1)].mean() > 0.9
    assert whole > n // 2


def test_camera_motion_carries_an_edge_box_out_of_the_frame():
    """A pan fitted from the whole frame moves a box at the edge past it (shift and zoom), and the
    mask keeps the part still in view; template matching would pin it inside at its old size."""
    import cv2

    from retouch.film.tracks import Found, camera_motion
    from retouch.geometry import carry, clip_box

    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (300, 400), dtype=np.uint8), (0, 0), 2)
    before, now = scene[50:250, 50:350], scene[50:250, 62:362]  # the camera pans 12 px right
    m = camera_motion(before, now)
    assert m is not None and np.allclose(m[:, :2], np.eye(2), atol=0.02) and abs(m[0, 2] + 12) < 0.5 and abs(m[1, 2]) < 0.5
    box = carry((4, 60, 40, 50), m)
    assert box[0] in (-9, -8, -7) and box[2] in (40, 41, 42)  # past the left edge, its size kept
    assert clip_box(box, 300, 200) == (0, box[1], box[0] + box[2], box[3]) and clip_box((-50, 0, 20, 20), 300, 200) is None
    mask = Found._mask(200, 300, [box, (-50, 0, 20, 20)])
    assert int(mask.sum()) == (box[0] + box[2]) * box[3]
    zoom = cv2.resize(before, None, fx=1.1, fy=1.1)[10:210, 15:315]  # the camera zooms in 1.1x
    z = camera_motion(before, zoom)
    assert abs(np.hypot(*z[:, 0]) - 1.1) < 0.02
    grown = carry((0, 60, 40, 50), z)
    assert grown[2] >= 43 and grown[3] >= 54  # the box grows with the face
