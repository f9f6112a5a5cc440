"""The studio: upload checks without a browser, then the page end to end in a real headless Chromium.

The browser tests start `retouch studio` on a free localhost port and drive Debian's `chromium`
with Playwright (no browser download); they skip, saying why, when gradio, playwright or chromium
is missing. Boxes are typed into the X, Y, W, H fields, which the tests can compare pixels against
exactly; one test also paints with the mouse, where the editor's zoom decides the exact pixels. Each verb's page is
saved as docs/img/studio-*.png for docs/studio.md.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from retouch.errors import RetouchError
from retouch.io import read_provenance
from retouch.studio import default_box

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "docs" / "img"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 120_000  # a loaded 2-core machine: model loads and the prior take seconds each


def _png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def _bomb(path: Path, side: int = 100_000) -> Path:
    """A valid PNG header claiming side x side pixels, with almost no data behind it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])  # 8-bit greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    """Two real photos (scikit-image's samples, shrunk), a small one for upscaling, and bad uploads."""
    import skimage.data

    root = tmp_path_factory.mktemp("photos")
    astronaut = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((256, 256), Image.BICUBIC))
    chelsea = np.asarray(Image.fromarray(skimage.data.chelsea()).resize((240, 160), Image.BICUBIC))
    coffee = np.asarray(Image.fromarray(skimage.data.coffee()).resize((256, 171), Image.BICUBIC))
    good = _png(root / "astronaut.png", astronaut)
    truncated = root / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = root / "notes.png"
    text.write_text("this is not an image\n")
    return {"astronaut": good, "coffee": _png(root / "coffee.png", coffee), "chelsea": _png(root / "chelsea.png", chelsea),
            "small": _png(root / "small.png", astronaut[96:144, 100:164]), "truncated": truncated, "text": text,
            "bomb": _bomb(root / "bomb.png"), "huge": _bomb(root / "huge.png", 5000)}


# ------------------------------------------------------------------------------------------------
# Without a browser (and without gradio): what the page does with a file


def test_check_upload_names_each_bad_file(photos):
    from retouch.studio import check_upload

    assert check_upload(photos["astronaut"]).size == (256, 256)
    with pytest.raises(RetouchError, match="truncated"):
        check_upload(photos["truncated"])
    with pytest.raises(RetouchError, match="not an image"):
        check_upload(photos["text"])
    with pytest.raises(RetouchError, match="megapixels that guards against decompression bombs"):  # from the header
        check_upload(photos["bomb"])
    with pytest.raises(RetouchError, match="5000x5000 .* over this studio's limit of 1 Mpx"):  # ours, never decoded
        check_upload(photos["huge"], max_pixels=1_000_000)
    with pytest.raises(RetouchError, match="over this studio's limit of 0.06 Mpx"):
        check_upload(photos["astronaut"], max_pixels=60_000)


def test_painted_mask_and_region(tmp_path):
    from retouch.studio import Where, painted_mask, where

    layer = np.zeros((20, 30, 4), np.uint8)
    layer[5:8, 10:15, 3] = 255
    assert painted_mask([layer], 30, 20).sum() == 15
    with pytest.raises(RetouchError, match="Nothing is painted"):
        painted_mask([np.zeros((20, 30, 4), np.uint8)], 30, 20)
    with pytest.raises(RetouchError, match="30x20"):
        painted_mask([layer[:10]], 30, 20)
    region = where("painted", (0, 0, 0, 0), [layer], (30, 20), tmp_path)
    assert np.asarray(Image.open(region.mask).convert("L")).astype(bool).sum() == 15
    assert where("box", (1, 2, 3, 4), None, (30, 20), tmp_path) == Where(box=(1, 2, 3, 4))
    with pytest.raises(RetouchError, match="does not fit"):
        where("box", (25, 2, 10, 4), None, (30, 20), tmp_path)


def test_studio_without_gradio_says_how_to_install(monkeypatch):
    from retouch.studio import build_app

    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    with pytest.raises(RetouchError, match=r'pip install -e "\.\[studio\]"'):
        build_app()


def test_cli_without_gradio_exits_2_naming_the_extra(tmp_path):
    """`retouch studio` where gradio cannot be imported: one sentence with the install command, exit 2."""
    (tmp_path / "gradio").mkdir()
    (tmp_path / "gradio" / "__init__.py").write_text("raise ImportError('no gradio here')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    r = subprocess.run([sys.executable, "-m", "retouch", "studio", "--port", str(_free_port())], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert 'pip install -e ".[studio]"' in " ".join(r.stderr.split())  # rich may wrap the line


# ------------------------------------------------------------------------------------------------
# The page in a real browser


def _browser_reason() -> str | None:
    for module, extra in (("gradio", "studio"), ("playwright", "e2e")):
        try:
            __import__(module)
        except ImportError:
            return f'{module} is not installed (pip install -e ".[{extra}]")'
    if not Path(CHROMIUM).exists():
        return "no chromium at /usr/bin/chromium (apt-get install -y chromium)"
    return None


browser_test = pytest.mark.skipif(_browser_reason() is not None, reason=f"studio browser tests: {_browser_reason()}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def studio_url():
    """`retouch studio` on a free port, as a user starts it, with a small upload limit for the tests."""
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "retouch", "studio", "--port", str(port), "--device", "cpu",
                             "--max-pixels", "1000000"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"retouch studio did not start:\n{proc.stdout.read().decode()}")
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, studio_url):
    """A fresh browser context (its own Gradio session) on the studio; fails on any request off this machine."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []
    pg.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    pg.goto(studio_url)
    pg.wait_for_selector("#upload")
    yield pg
    context.close()
    assert not outside, f"the page fetched from outside this machine: {outside}"


def _upload(pg, path: Path, expect: str) -> None:
    """Put `path` in the upload box (clearing a previous file) and wait for the status to say `expect`
    about this file: its name too, since the previous upload's message may still say `expect`
    while this one is being checked (the status then shows Gradio's timer)."""
    clear = pg.locator("#upload button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
    pg.locator("#upload input[type=file]").set_input_files(str(path))
    pg.wait_for_function("([want, name]) => { const t = document.querySelector('#status').innerText; "
                         "return t.includes(want) && t.includes(name); }", arg=[expect, path.name])


def _box(pg, box: tuple[int, int, int, int]) -> None:
    for name, value in zip("xywh", box):
        field = pg.locator(f"#box-{name} input")
        field.fill(str(value))
        field.press("Tab")


BOX_FIELDS = "['x', 'y', 'w', 'h'].map(n => document.querySelector('#box-' + n + ' input').value).join()"  # JS: the fields as 'X,Y,W,H'


def _join(box: tuple[int, ...]) -> str:
    return ",".join(map(str, box))


def _run(pg, tab: str, button: str, result: str) -> None:
    """Open the verb's tab, press its button, wait for the result element to show an image."""
    pg.get_by_role("tab", name=tab).click()
    pg.locator(f"#{button}").click()
    pg.locator(f"#{result} img").first.wait_for()


def _download(pg, button: str, dst: Path) -> Path:
    with pg.expect_download() as d:
        pg.locator(f"#{button}").click()
    d.value.save_as(dst)
    return dst


def _shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"studio-{name}.png"), full_page=True)


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.int16)


def _outside(mask_box: tuple[int, int, int, int], shape: tuple[int, ...]) -> np.ndarray:
    x, y, w, h = mask_box
    inside = np.zeros(shape[:2], bool)
    inside[y : y + h, x : x + w] = True
    return ~inside


@browser_test
def test_hide_then_restore_in_the_browser(page, photos, tmp_path):
    box = (64, 40, 128, 96)
    _upload(page, photos["coffee"], "coffee.png")
    _box(page, box)
    page.locator("#block input[type=number]").fill("8")
    page.locator("#block input[type=number]").press("Tab")
    _run(page, "Hide", "hide-run", "hide-image")
    _shot(page, "hide")
    hidden = _download(page, "hide-download", tmp_path / "hidden.png")
    original, hid = _pixels(photos["coffee"]), _pixels(hidden)
    outside = _outside(box, original.shape)
    assert hid.shape == original.shape
    assert np.array_equal(hid[outside], original[outside])  # only the box changed...
    assert (hid[~outside] != original[~outside]).any(axis=-1).mean() > 0.5  # ...and most of it did
    assert read_provenance(hidden) == {**read_provenance(hidden), "task": "mosaic", "regions": [box]}

    _upload(page, hidden, "hidden.png")
    page.locator("#propose-detect").click()  # the detector finds the mosaic it is shown and fills the box fields
    page.wait_for_function(f"() => {BOX_FIELDS} !== '{_join(default_box(256, 171))}'")  # the upload's default box, replaced
    assert page.evaluate(BOX_FIELDS) == _join(box)
    _run(page, "Restore", "restore-run", "restore-slider")
    _shot(page, "restore")
    restored = _pixels(_download(page, "restore-download", tmp_path / "restored.png"))
    assert np.array_equal(restored[outside], hid[outside])  # outside the box bit-exact
    assert (restored[~outside] != hid[~outside]).any()
    mse = lambda a: ((a[~outside] - original[~outside]).astype(float) ** 2).mean()
    assert mse(restored) < mse(hid)  # the model's guess is closer to the photo than the mosaic was
    prov = read_provenance(tmp_path / "restored.png")
    assert (prov["task"], prov["model"], prov["regions"]) == ("demosaic", "demosaic", [box])


@browser_test
def test_painted_region_in_the_browser(page, photos, tmp_path):
    """A brush stroke across the middle of the photo: only pixels inside what was painted change.

    Where the stroke lands in image pixels depends on the editor's zoom, so the test checks that the
    changed pixels lie inside the painted region's box (the provenance records it) and that the box
    is a part of the photo around its centre."""
    _upload(page, photos["coffee"], "coffee.png")
    page.get_by_label("painted").check()
    editor = page.locator("#editor")
    editor.get_by_label("Brush", exact=True).click()
    frame = editor.locator("canvas").first.bounding_box()
    cx, cy = frame["x"] + frame["width"] / 2, frame["y"] + frame["height"] / 2
    page.mouse.move(cx - 40, cy)
    page.mouse.down()
    page.mouse.move(cx + 40, cy, steps=10)
    page.mouse.up()
    _run(page, "Hide", "hide-run", "hide-image")
    _shot(page, "paint")
    out = _download(page, "hide-download", tmp_path / "painted.png")
    [(x, y, w, h)] = read_provenance(out)["regions"]
    assert x < 128 < x + w and y < 85 < y + h and w * h < 256 * 171 / 2
    changed = (_pixels(out) != _pixels(photos["coffee"])).any(axis=-1)
    assert changed.any() and not changed[_outside((x, y, w, h), changed.shape)].any()


@browser_test
def test_upscale_in_the_browser(page, photos, tmp_path):
    _upload(page, photos["small"], "small.png")
    _run(page, "Upscale", "upscale-run", "upscale-image-bicubic")
    _shot(page, "upscale")
    for model in ("srresnet-x4", "srgan-x4", "bicubic"):
        out = _download(page, f"upscale-download-{model}", tmp_path / f"{model}.png")
        assert Image.open(out).size == (64 * 4, 48 * 4)
        assert read_provenance(out)["task"] == "upscale x4"


@browser_test
def test_bad_uploads_show_a_message_and_the_next_good_one_works(page, photos, tmp_path):
    for bad, words in (("truncated", "truncated"), ("text", "not an image"), ("bomb", "guards against decompression bombs"),
                       ("huge", "over this studio's limit")):
        _upload(page, photos[bad], "Could not use this file")
        message = page.locator("#status").inner_text()
        assert words in message and photos[bad].name in message and f"/{photos[bad].name}" not in message  # no server paths
        if bad == "truncated":
            _shot(page, "bad-upload")
    _upload(page, photos["chelsea"], "chelsea.png")
    _box(page, (10, 10, 40, 40))
    _run(page, "Hide", "hide-run", "hide-image")
    out = _pixels(_download(page, "hide-download", tmp_path / "hidden.png"))
    assert out.shape == (160, 240, 3)


@browser_test
def test_translate_and_prior_in_the_browser(page, photos, tmp_path):
    _upload(page, photos["small"], "small.png")
    assert page.evaluate(BOX_FIELDS) == _join(default_box(64, 48))
    page.locator("#propose-cam").click()  # the classifier's activation map proposes another box
    page.wait_for_function(f"() => {BOX_FIELDS} !== '{_join(default_box(64, 48))}'")
    _run(page, "Translate", "translate-run-button", "translate-image")
    _shot(page, "translate")
    out = _download(page, "translate-download", tmp_path / "zebra.png")
    assert Image.open(out).size == (64, 48)
    assert read_provenance(out)["model"] == "horse2zebra"

    page.get_by_role("tab", name="Prior").click()
    page.get_by_label("colorize").check()
    _run(page, "Prior", "prior-run", "prior-image")
    _shot(page, "prior")
    out = _download(page, "prior-download", tmp_path / "prior.png")
    assert Image.open(out).size == (32, 32)
    assert read_provenance(out)["task"] == "deep generative prior: colorize"


@browser_test
def test_two_sessions_each_get_their_own_result(browser, studio_url, photos, tmp_path):
    """Two browser contexts (two users) press Hide at once: the queue serves both, each its own photo."""
    pages, boxes = [], {"astronaut": (20, 20, 64, 64), "chelsea": (100, 40, 80, 64)}
    contexts = [browser.new_context(accept_downloads=True) for _ in boxes]
    try:
        for context, (name, box) in zip(contexts, boxes.items()):
            pg = context.new_page()
            pg.set_default_timeout(TIMEOUT_MS)
            pg.goto(studio_url)
            _upload(pg, photos[name], f"{name}.png")
            _box(pg, box)
            pages.append(pg)
        for pg in pages:  # both clicks before either result is awaited
            pg.locator("#hide-run").click()
        for pg, (name, box) in zip(pages, boxes.items()):
            pg.locator("#hide-image img").wait_for()
            out = _pixels(_download(pg, "hide-download", tmp_path / f"{name}.png"))
            original = _pixels(photos[name])
            outside = _outside(box, original.shape)
            assert out.shape == original.shape
            assert np.array_equal(out[outside], original[outside])
            assert (out[~outside] != original[~outside]).any()
    finally:
        for context in contexts:
            context.close()


def _film_clip(path: Path) -> Path:
    """12 frames, 96x64, of a camera over scikit-image's astronaut, with a sine sound track."""
    import skimage.data
    import torch

    from retouch.tasks.clips import camera_frames, write_clip

    photo = Image.fromarray(skimage.data.astronaut()).resize((192, 192), Image.BICUBIC)
    return write_clip(path, list(camera_frames(photo, 96, 64, 12, gen=torch.Generator().manual_seed(0))), fps=10)


@browser_test
def test_film_hide_in_the_browser(page, tmp_path):
    """A film through the Film tab: a bad file is a message, then Hide on a box gives a film with
    the same frames and sound, changed inside the box only (up to H.264's re-encoding), tagged."""
    import av

    from retouch.video import probe, read_frames

    clip = _film_clip(tmp_path / "walk.mp4")
    (tmp_path / "fake.mp4").write_text("not a film\n")
    page.get_by_role("tab", name="Film").click()
    page.locator("#film-upload input[type=file]").set_input_files(str(tmp_path / "fake.mp4"))
    page.locator("#film-status").get_by_text("Could not use this file").wait_for()
    assert "fake.mp4" in page.locator("#film-status").inner_text()
    page.locator("#film-upload button[aria-label='Clear']").first.click()
    page.locator("#film-upload input[type=file]").set_input_files(str(clip))
    page.locator("#film-status").get_by_text("walk.mp4: 96x64, 12 frames").wait_for()
    page.locator("#film-verb label", has_text="hide").click()
    box = (24, 16, 40, 32)
    for name, value in zip("xywh", box):
        field = page.locator(f"#film-box-{name} input")
        field.fill(str(value))
        field.press("Tab")
    page.locator("#film-block input[type=number]").fill("8")
    page.locator("#film-block input[type=number]").press("Tab")
    page.locator("#film-run").click()
    page.locator("#film-video video").wait_for()
    _shot(page, "film")
    out = _download(page, "film-download", tmp_path / "hidden.mp4")
    before, after = probe(clip), probe(out)
    assert (after.frames, after.rate, after.audio) == (before.frames, before.rate, 1)
    with av.open(str(clip)) as a, av.open(str(out)) as b:
        assert [bytes(p) for p in a.demux(a.streams.audio[0]) if p.size] == [bytes(p) for p in b.demux(b.streams.audio[0]) if p.size]
        assert '"task": "mosaic"' in b.metadata["comment"]
    x, y, w, h = box
    for f0, f1 in zip(read_frames(clip), read_frames(out)):
        diff = (f0 - f1).abs()[0].mean(0) * 127.5  # 8-bit levels
        inside = diff[y : y + h, x : x + w].mean()
        diff[y : y + h, x : x + w] = 0
        outside = diff.sum() / (96 * 64 - w * h)
        assert outside < 6 and inside > 4 * outside  # H.264's second generation outside (2-4 levels here), the mosaic inside (~30)


@browser_test
def test_film_faces_reviewed_then_hidden_in_the_browser(page, tmp_path):
    """The Film tab's review: the faces of every frame are found, a person looks at frame 2, replaces
    its box by another, and the film hidden with the reviewed boxes changes exactly those."""
    import skimage.data

    from retouch.tasks.clips import write_clip
    from retouch.video import read_frames

    face = Image.fromarray(skimage.data.astronaut()).crop((130, 30, 322, 222)).resize((128, 128), Image.BICUBIC)
    clip = write_clip(tmp_path / "face.mp4", [np.asarray(face)] * 6, fps=10)
    page.get_by_role("tab", name="Film").click()
    page.locator("#film-upload input[type=file]").set_input_files(str(clip))
    page.locator("#film-status").get_by_text("face.mp4: 128x128, 6 frames").wait_for()
    page.locator("#review").get_by_text("Review the faces before hiding them").click()
    page.locator("#review-find").click()
    page.locator("#review-status").get_by_text("6 frames, 6 with faces").wait_for()
    found = page.locator("#review-boxes textarea").input_value()
    x, y, w, h = (int(v) for v in found.splitlines()[0].split(","))
    assert w > 40 and h > 40  # the astronaut's face, grown
    page.locator("#review-frame input[type=number]").fill("2")
    page.locator("#review-frame input[type=number]").press("Enter")
    page.locator("#review-frame-status").get_by_text("Frame 2: 1 box").wait_for()  # the frame's own boxes have arrived
    page.locator("#review-boxes textarea").fill("0,0,24,24")
    page.locator("#review-keep").click()
    page.locator("#review-status").get_by_text("Frame 2 now has 1").wait_for()
    _shot(page, "film-review")
    page.locator("#review-run").click()
    page.locator("#film-video video").wait_for()
    out = _download(page, "film-download", tmp_path / "reviewed.mp4")
    for i, (f0, f1) in enumerate(zip(read_frames(clip), read_frames(out))):
        diff = (f0 - f1).abs()[0].mean(0) * 127.5  # 8-bit levels; H.264 alone moves a few
        face, corner = float(diff[y + 8 : y + h - 8, x + 8 : x + w - 8].mean()), float(diff[:24, :24].mean())
        if i == 2:  # the reviewed frame: its face left as it was, the corner (flat background) hidden instead
            assert face < 8 and corner > 4, (i, face, corner)
        else:
            assert face > 20 and corner < 3, (i, face, corner)
