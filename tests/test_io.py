"""retouch.io: every PIL mode to correct RGB, exact tensor round trips, atomic writes with provenance."""

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, features

import retouch
from retouch.errors import RetouchError
from retouch.io import (
    IMAGE_EXTENSIONS,
    Provenance,
    list_images,
    load_alpha,
    load_image,
    read_image,
    read_provenance,
    save_image,
    to_pil,
    to_tensor,
)

W, H = 5, 3


def _px(path: Path, xy=(0, 0)) -> tuple[int, int, int]:
    im = load_image(path)
    assert im.mode == "RGB" and im.size == (W, H)
    return im.getpixel(xy)


# ---------------------------------------------------------------------------------------------
# Modes


@pytest.mark.parametrize(
    "mode, value, ext, expected",
    [
        ("L", 100, "png", (100, 100, 100)),
        ("RGB", (10, 20, 30), "png", (10, 20, 30)),
        ("1", 1, "png", (255, 255, 255)),
        ("1", 0, "png", (0, 0, 0)),
        ("I;16", 65535, "png", (255, 255, 255)),  # 16-bit white must stay white...
        ("I;16", 32896, "png", (128, 128, 128)),  # ...and mid grey mid grey, not clipped to 255
        ("I;16", 1000, "tif", (4, 4, 4)),  # 1000 / 257 = 3.9
        ("I", 65535, "tif", (255, 255, 255)),
        ("I", 32896, "tif", (128, 128, 128)),
        ("F", 1.0, "tif", (255, 255, 255)),  # float in [0, 1]
        ("F", 0.5, "tif", (128, 128, 128)),
        ("F", 200.0, "tif", (200, 200, 200)),  # float beyond 1: the 0..255 scale
        ("CMYK", (255, 0, 0, 0), "tif", (0, 255, 255)),  # pure cyan
        ("CMYK", (0, 0, 0, 0), "tif", (255, 255, 255)),
    ],
)
def test_modes_read_as_rgb(tmp_path, mode, value, ext, expected):
    p = tmp_path / f"im.{ext}"
    Image.new(mode, (W, H), value).save(p)
    assert Image.open(p).mode == mode  # the file really holds that mode
    assert _px(p) == expected


def test_cmyk_jpeg_reads_approximately_cyan(tmp_path):
    p = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (W, H), (255, 0, 0, 0)).save(p, quality=100)
    r, g, b = _px(p)
    assert r < 8 and g > 247 and b > 247


def test_rgba_and_la_composite_over_white(tmp_path):
    rgba = Image.new("RGBA", (W, H), (10, 20, 30, 255))
    rgba.putpixel((1, 0), (10, 20, 30, 0))  # fully transparent
    rgba.putpixel((2, 0), (0, 0, 0, 128))  # half transparent black
    rgba.save(tmp_path / "rgba.png")
    assert _px(tmp_path / "rgba.png", (0, 0)) == (10, 20, 30)
    assert _px(tmp_path / "rgba.png", (1, 0)) == (255, 255, 255)
    half = _px(tmp_path / "rgba.png", (2, 0))
    assert all(abs(c - 127) <= 1 for c in half)

    la = Image.new("LA", (W, H), (100, 255))
    la.putpixel((1, 0), (100, 0))
    la.save(tmp_path / "la.png")
    assert _px(tmp_path / "la.png", (0, 0)) == (100, 100, 100)
    assert _px(tmp_path / "la.png", (1, 0)) == (255, 255, 255)


def _palette_image() -> Image.Image:
    p = Image.new("P", (W, H), 0)
    p.putpalette([0, 0, 255] + [255, 0, 0] + [0] * 254 * 3)
    p.putpixel((1, 0), 1)
    return p


def test_palette_without_transparency(tmp_path):
    _palette_image().save(tmp_path / "p.png")
    assert _px(tmp_path / "p.png", (0, 0)) == (0, 0, 255)
    assert _px(tmp_path / "p.png", (1, 0)) == (255, 0, 0)
    assert load_alpha(tmp_path / "p.png") is None


def test_palette_with_transparent_index(tmp_path):
    p = _palette_image()
    p.info["transparency"] = 1  # the red entry is transparent
    p.save(tmp_path / "pt.png")
    assert Image.open(tmp_path / "pt.png").mode == "P"
    assert _px(tmp_path / "pt.png", (0, 0)) == (0, 0, 255)
    assert _px(tmp_path / "pt.png", (1, 0)) == (255, 255, 255)
    alpha = load_alpha(tmp_path / "pt.png")
    assert alpha.mode == "L" and alpha.getpixel((0, 0)) == 255 and alpha.getpixel((1, 0)) == 0


def test_load_alpha(tmp_path):
    Image.new("RGB", (W, H)).save(tmp_path / "rgb.png")
    assert load_alpha(tmp_path / "rgb.png") is None
    rgba = Image.new("RGBA", (W, H), (1, 2, 3, 200))
    rgba.save(tmp_path / "rgba.png")
    a = load_alpha(tmp_path / "rgba.png")
    assert a.mode == "L" and a.size == (W, H) and a.getpixel((0, 0)) == 200


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_exif_orientation_6_rotates(tmp_path, ext):
    a = np.zeros((8, 16, 3), dtype=np.uint8)
    a[:, :8] = (255, 0, 0)  # left half red, right half black
    im = Image.fromarray(a).convert("RGBA" if ext == "png" else "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display after turning 90 degrees clockwise
    p = tmp_path / f"rot.{ext}"
    im.save(p, exif=exif.tobytes())
    out = load_image(p)
    assert out.size == (8, 16)  # width and height swapped
    # The left half becomes the top half after a clockwise turn.
    top, bottom = out.getpixel((4, 3)), out.getpixel((4, 12))
    assert top[0] > 200 and top[1] < 40 and top[2] < 40
    assert max(bottom) < 40
    if ext == "png":
        assert load_alpha(p).size == (8, 16)


# ---------------------------------------------------------------------------------------------
# Tensors


def test_to_tensor_to_pil_exact_on_all_uint8_values():
    a = np.arange(256 * 3, dtype=np.int64).reshape(16, 16, 3) % 256
    a = np.stack([a[..., 0], a[..., 1][::-1], 255 - a[..., 2]], -1).astype(np.uint8)
    img = Image.fromarray(a, "RGB")
    t = to_tensor(img)
    assert t.shape == (1, 3, 16, 16) and t.dtype == torch.float32
    assert t.min() == -1.0 and t.max() == 1.0
    assert np.array_equal(np.asarray(to_pil(t)), a)
    assert np.array_equal(np.asarray(to_pil(t[0])), a)  # CHW is accepted too


def test_to_pil_rounds_to_nearest_and_clamps():
    level = lambda v: v / 127.5 - 1.0  # noqa: E731
    t = torch.tensor([level(10.6), level(10.4), 5.0, -7.0, float("nan")]).reshape(1, 1, 5)
    t = t.expand(3, 1, 5)
    assert list(np.asarray(to_pil(t))[0, :, 0]) == [11, 10, 255, 0, 128]  # nan -> 0.0 -> 127.5 -> 128


def test_to_pil_rejects_batches():
    with pytest.raises(ValueError):
        to_pil(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError):
        to_pil(torch.zeros(1, 4, 4))


def test_read_image(tmp_path):
    Image.new("L", (W, H), 255).save(tmp_path / "w.png")
    t = read_image(tmp_path / "w.png")
    assert t.shape == (1, 3, H, W) and torch.all(t == 1.0)


# ---------------------------------------------------------------------------------------------
# Errors


def test_missing_file(tmp_path):
    with pytest.raises(RetouchError, match="does not exist"):
        load_image(tmp_path / "nope.png")


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(RetouchError, match="folder"):
        load_image(tmp_path)


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("hello, I am text")
    with pytest.raises(RetouchError, match="not an image") as e:
        load_image(p)
    assert str(p) in str(e.value)


def test_truncated_image(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "big.png"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(RetouchError, match="damaged or truncated"):
        load_image(p)


def test_list_images(tmp_path):
    for name in ["b.png", "a.JPG", "c.webp", "notes.txt", ".hidden.png"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.png").write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png", "c.webp"]
    assert {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"} == set(IMAGE_EXTENSIONS)


def test_list_images_errors(tmp_path):
    with pytest.raises(RetouchError, match="does not exist"):
        list_images(tmp_path / "missing")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(RetouchError, match="no images"):
        list_images(tmp_path)


# ---------------------------------------------------------------------------------------------
# Saving and provenance


PROV = Provenance(model="pix2pix-demosaic", task="demosaic", regions=[(1, 2, 3, 4), (10, 0, 5, 5)])


def test_description_says_what_was_synthesised():
    d = PROV.description()
    assert "pix2pix-demosaic" in d and "x=1, y=2, w=3, h=4" in d and "x=10, y=0, w=5, h=5" in d
    assert "does not recover what was hidden" in d
    whole = Provenance(model="srgan").description()
    assert "whole image" in whole.lower() and "srgan" in whole
    assert PROV.tool == "retouch" and PROV.version == retouch.__version__


def test_description_of_a_mosaic_says_hidden_not_synthesised():
    d = Provenance(task="mosaic", regions=[(5, 6, 7, 8)]).description()
    assert "hidden behind a mosaic" in d and "x=5, y=6, w=7, h=8" in d
    assert "synthesised" not in d and "invents" not in d


_EXTS = ["png", "jpg", "tif"] + (["webp"] if features.check("webp") else [])


@pytest.mark.parametrize("ext", _EXTS)
def test_provenance_round_trip(tmp_path, ext):
    p = save_image(Image.new("RGB", (W, H), (1, 2, 3)), tmp_path / f"out.{ext}", provenance=PROV)
    assert p == tmp_path / f"out.{ext}"
    got = read_provenance(p)
    assert got == dataclasses.asdict(PROV)
    assert Provenance(**got) == PROV
    with Image.open(p) as im:
        if ext == "png":
            assert im.text["Software"].startswith("retouch")
            assert im.text["Description"] == PROV.description()
        else:
            exif = im.getexif()
            assert exif[0x0131].startswith("retouch")
            assert exif[0x010E] == PROV.description()


def test_no_provenance_reads_none(tmp_path):
    Image.new("RGB", (W, H)).save(tmp_path / "plain.png")
    assert read_provenance(tmp_path / "plain.png") is None
    save_image(Image.new("RGB", (W, H)), tmp_path / "noprov.jpg")
    assert read_provenance(tmp_path / "noprov.jpg") is None


def test_save_png_is_lossless_from_tensor_and_creates_folders(tmp_path):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    p = save_image(to_tensor(Image.fromarray(a)), tmp_path / "deep" / "er" / "x.png", provenance=PROV)
    assert np.array_equal(np.asarray(load_image(p)), a)


def test_save_jpeg_quality_95(tmp_path):
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    p = save_image(Image.fromarray(a), tmp_path / "q.jpg")
    q95 = tmp_path / "ref95.jpg"
    Image.fromarray(a).save(q95, quality=95)
    assert np.array_equal(np.asarray(load_image(p)), np.asarray(load_image(q95)))


@pytest.mark.parametrize("ext", ["png", "tif"] + (["webp"] if features.check("webp") else []))
def test_alpha_is_reattached(tmp_path, ext):
    alpha = Image.new("L", (W, H), 255)
    alpha.putpixel((2, 1), 0)
    p = save_image(Image.new("RGB", (W, H), (9, 9, 9)), tmp_path / f"a.{ext}", PROV, alpha=alpha)
    got = load_alpha(p)
    assert got is not None and got.getpixel((2, 1)) == 0 and got.getpixel((0, 0)) == 255
    assert read_provenance(p) == dataclasses.asdict(PROV)


def test_alpha_ignored_for_jpeg(tmp_path):
    p = save_image(Image.new("RGB", (W, H)), tmp_path / "a.jpg", alpha=Image.new("L", (W, H), 0))
    assert load_alpha(p) is None


def test_unknown_extension(tmp_path):
    with pytest.raises(RetouchError, match="unknown extension"):
        save_image(Image.new("RGB", (W, H)), tmp_path / "x.gif")
    assert list(tmp_path.iterdir()) == []


def test_bmp_refuses_provenance_but_saves_plain(tmp_path):
    with pytest.raises(RetouchError, match="BMP"):
        save_image(Image.new("RGB", (W, H)), tmp_path / "x.bmp", provenance=PROV)
    assert list(tmp_path.iterdir()) == []
    p = save_image(Image.new("RGB", (W, H), (7, 8, 9)), tmp_path / "x.bmp")
    assert _px(p) == (7, 8, 9)


def test_save_leaves_no_temp_files(tmp_path):
    save_image(Image.new("RGB", (W, H)), tmp_path / "a.png", PROV)
    save_image(Image.new("RGB", (W, H)), tmp_path / "a.png", PROV)  # overwrite
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_failing_write_leaves_nothing_and_keeps_old_file(tmp_path, monkeypatch):
    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"half an image")
        raise OSError("disk on fire")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError):
        save_image(Image.new("RGB", (W, H)), tmp_path / "new.png")
    assert list(tmp_path.iterdir()) == []

    old = tmp_path / "old.png"
    old.write_bytes(b"previous content")
    with pytest.raises(OSError):
        save_image(Image.new("RGB", (W, H)), old)
    assert old.read_bytes() == b"previous content"
    assert [p.name for p in tmp_path.iterdir()] == ["old.png"]


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(RetouchError, match="output folder"):
        save_image(Image.new("RGB", (W, H)), blocker / "out.png")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(RetouchError, match="output folder"):
            save_image(Image.new("RGB", (W, H)), ro / "out.png")
    finally:
        ro.chmod(0o700)


def test_saved_file_has_normal_permissions(tmp_path):
    p = save_image(Image.new("RGB", (W, H)), tmp_path / "perm.png")
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask


def test_disk_full_is_a_retouch_error(tmp_path, monkeypatch):
    import errno

    def full_disk(self, fp, *args, **kwargs):
        fp.write(b"part")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(RetouchError, match="free space"):
        save_image(Image.new("RGB", (W, H)), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []
