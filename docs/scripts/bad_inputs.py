"""A seeded corpus of odd and broken image files, and a harness that runs the CLI over it (issue 23).

Every file of the corpus must get, from every image verb, either a correct output or a one-line
error with exit status 2: no traceback, and nothing left at the output path when it fails. The
corpus is made on the fly (never committed): truncated and zero-byte files of every format, wrong
extensions, CMYK / YCCK JPEGs, 16-bit and float TIFFs, palette and grey+alpha PNGs, 1x1 and 1xN
images, every EXIF orientation, animated GIF / APNG / WebP, decompression-bomb headers, odd file
names (non-UTF-8, 250 bytes long, unicode, a leading dash) and things that are not files.

    python docs/scripts/bad_inputs.py make DIR            # write the corpus, print counts per kind
    python docs/scripts/bad_inputs.py run [--verbs ...]   # the full table for docs/benchmarks.md

`run` starts the CLI once per file and verb from a forked copy of a process that has already
imported retouch (the same `retouch.cli.main` a `retouch` command runs, with its own stdout,
stderr and exit status, minus the second of Python start-up), and once per verb on the whole
folder as a real subprocess.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import struct
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

# What a file must give: "ok" = an output, "error" = a clear error, "any" = either (e.g. a PNG cut
# after its pixel data still decodes; a flipped byte may land in a comment).
OK, ERROR, ANY = "ok", "error", "any"


@dataclass
class Entry:
    path: Path
    kind: str
    expect: str
    size: tuple[int, int] | None = None  # upright (w, h) of a readable image, to check outputs


def _photo(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A smooth random colour field, uint8 HxWx3 (compresses and resizes like a photo)."""
    coarse = rng.integers(0, 256, size=(max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC))


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(side: int = 30000) -> bytes:
    """A valid PNG header for a side x side RGB image followed by one tiny IDAT: the decompression-
    bomb shape (a few hundred bytes that claim 2.7 GB of pixels)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (side * 3 + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def jpeg_bomb(side: int = 30000) -> bytes:
    """A small real JPEG whose frame header (SOF0) claims side x side pixels."""
    data = bytearray(_encode(Image.new("RGB", (16, 16), (90, 120, 150)), "JPEG"))
    i = data.index(b"\xff\xc0")
    data[i + 5 : i + 9] = struct.pack(">HH", side, side)
    return bytes(data)


def gif_bomb() -> bytes:
    """A GIF whose logical screen is 65535 x 65535 around a 2x2 frame."""
    data = bytearray(_encode(Image.new("P", (2, 2)), "GIF"))
    data[6:10] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def tiff_bomb(side: int = 30000) -> bytes:
    """A TIFF header for side x side 8-bit RGB with one strip that holds only a few bytes."""
    from tifffile import TiffWriter

    buf = io.BytesIO()
    with TiffWriter(buf) as tw:
        tw.write(np.zeros((4, 4, 3), np.uint8), photometric="rgb")
    data = bytearray(buf.getvalue())
    # patch ImageWidth (256) and ImageLength (257), stored as SHORT or LONG in the first IFD
    ifd = struct.unpack("<I", data[4:8])[0]
    n = struct.unpack("<H", data[ifd : ifd + 2])[0]
    for k in range(n):
        e = ifd + 2 + 12 * k
        tag, typ = struct.unpack("<HH", data[e : e + 4])
        if tag in (256, 257, 278):  # width, length, rows per strip
            data[e + 8 : e + 12] = struct.pack("<HH", side, 0) if typ == 3 else struct.pack("<I", side)
    return bytes(data)


def _ycck(cmyk_jpeg: bytes) -> bytes:
    """A CMYK JPEG re-labelled YCCK: Pillow writes an Adobe APP14 marker whose last byte is the
    colour transform (0 = CMYK, 2 = YCCK); decoders then run the YCCK conversion."""
    data = bytearray(cmyk_jpeg)
    i = data.find(b"\xff\xeeAdobe" if b"\xff\xeeAdobe" in data else b"\xff\xee")
    if i < 0:
        raise RuntimeError("no Adobe marker in Pillow's CMYK JPEG")
    length = struct.unpack(">H", data[i + 2 : i + 4])[0]
    data[i + 2 + length - 1] = 2
    return bytes(data)


def _with_orientation(im: Image.Image, fmt: str, orientation: int, **kw) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(im, fmt, exif=exif.tobytes(), **kw)


def _upright(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def _tiff16_rgb(a: np.ndarray) -> bytes:
    from tifffile import imwrite

    buf = io.BytesIO()
    imwrite(buf, (a.astype(np.uint16) * 257), photometric="rgb")
    return buf.getvalue()


def _tifffile(a: np.ndarray, **kw) -> bytes:
    from tifffile import imwrite

    buf = io.BytesIO()
    imwrite(buf, a, **kw)
    return buf.getvalue()


def make_corpus(root: Path, seed: int = 0) -> list[Entry]:
    """Write the corpus into `root` (created; must be empty) and describe every entry.

    All in one flat folder, so it is also the "mixed good and bad files" folder.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    entries: list[Entry] = []
    counter = iter(range(10**6))

    def put(name: str | bytes, data: bytes, kind: str, expect: str, size: tuple[int, int] | None = None) -> None:
        stem = f"{next(counter):04d}-"
        if isinstance(name, bytes):
            path = Path(os.fsdecode(os.fsencode(str(root) + "/") + stem.encode() + name))
        else:
            path = root / (stem + name)
        path.write_bytes(data)
        entries.append(Entry(path, kind, expect, size))

    sizes = [(1, 1), (1, 2), (2, 1), (1, 9), (9, 1), (2, 3), (7, 7), (17, 13), (48, 40)]
    # 1. ordinary images in every format and small, thin and tiny sizes
    for w, h in sizes:
        rgb = Image.fromarray(_photo(rng, w, h))
        for ext, fmt, kw in [("png", "PNG", {}), ("jpg", "JPEG", {"quality": 90}), ("webp", "WEBP", {}),
                             ("tif", "TIFF", {}), ("bmp", "BMP", {}), ("jpeg", "JPEG", {"progressive": True}),
                             ("webp", "WEBP", {"lossless": True}), ("tiff", "TIFF", {"compression": "tiff_lzw"})]:
            put(f"plain-{w}x{h}.{ext}", _encode(rgb, fmt, **kw), f"plain {fmt}", OK, (w, h))
    # 2. every PNG mode
    for w, h in [(1, 1), (5, 1), (24, 20)]:
        a = _photo(rng, w, h)
        rgb = Image.fromarray(a)
        grey = rgb.convert("L")
        alpha = Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8))
        modes = {
            "mode1": rgb.convert("1"),
            "grey": grey,
            "grey-alpha": Image.merge("LA", (grey, alpha)),
            "palette": rgb.convert("P", palette=Image.ADAPTIVE, colors=16),
            "rgba": Image.merge("RGBA", (*rgb.split(), alpha)),
            "grey16": Image.fromarray(np.asarray(grey).astype(np.uint16) * 257),
        }
        pal_t = rgb.convert("P", palette=Image.ADAPTIVE, colors=8)
        for name, im in modes.items():
            put(f"png-{name}-{w}x{h}.png", _encode(im, "PNG"), f"PNG {name}", OK, (w, h))
        put(f"png-palette-trns-{w}x{h}.png", _encode(pal_t, "PNG", transparency=0), "PNG palette+tRNS", OK, (w, h))
        import cv2

        ok, buf = cv2.imencode(".png", (a[:, :, ::-1].astype(np.uint16) * 257))
        put(f"png-rgb16-{w}x{h}.png", buf.tobytes(), "PNG 16-bit RGB", OK, (w, h))
        ok, buf = cv2.imencode(".png", np.dstack([a[:, :, ::-1], np.asarray(alpha)]).astype(np.uint16) * 257)
        put(f"png-rgba16-{w}x{h}.png", buf.tobytes(), "PNG 16-bit RGBA", OK, (w, h))
    # 3. JPEG colour spaces
    for w, h in [(1, 1), (1, 6), (32, 24)]:
        rgb = Image.fromarray(_photo(rng, w, h))
        cmyk = _encode(rgb.convert("CMYK"), "JPEG", quality=90)
        put(f"jpeg-cmyk-{w}x{h}.jpg", cmyk, "JPEG CMYK", OK, (w, h))
        put(f"jpeg-ycck-{w}x{h}.jpg", _ycck(cmyk), "JPEG YCCK", OK, (w, h))
        put(f"jpeg-grey-{w}x{h}.jpg", _encode(rgb.convert("L"), "JPEG"), "JPEG grey", OK, (w, h))
        put(f"jpeg-444-{w}x{h}.jpg", _encode(rgb, "JPEG", subsampling=0, optimize=True), "JPEG 4:4:4", OK, (w, h))
        put(f"jpeg-icc-{w}x{h}.jpg", _encode(rgb, "JPEG", icc_profile=b"\x00" * 128), "JPEG bogus ICC", OK, (w, h))
    # 4. TIFF sample formats
    for w, h in [(1, 1), (1, 7), (20, 16)]:
        a = _photo(rng, w, h)
        grey = np.asarray(Image.fromarray(a).convert("L"))
        f01 = grey.astype(np.float32) / 255
        tiffs = {
            "grey16": (_encode(Image.fromarray(grey.astype(np.uint16) * 257), "TIFF"), OK),
            "rgb16": (_tiff16_rgb(a), OK),
            "float01": (_encode(Image.fromarray(f01), "TIFF"), OK),
            "float255": (_encode(Image.fromarray(grey.astype(np.float32)), "TIFF"), OK),
            "float-nan": (_encode(Image.fromarray(np.where(grey > 128, np.nan, f01).astype(np.float32)), "TIFF"), OK),
            "float-rgb": (_tifffile(a.astype(np.float32) / 255, photometric="rgb"), ANY),
            "grey32": (_tifffile(grey.astype(np.int32) * 65793), ANY),
            "cmyk": (_encode(Image.fromarray(a).convert("CMYK"), "TIFF"), OK),
            "tiled": (_tifffile(a, photometric="rgb", tile=(16, 16)) if w >= 16 and h >= 16 else _tifffile(a, photometric="rgb"), OK),
            "multipage": (_encode(Image.fromarray(a), "TIFF", save_all=True, append_images=[Image.fromarray(255 - a)]), OK),
            "deflate": (_encode(Image.fromarray(a), "TIFF", compression="tiff_adobe_deflate"), OK),
            "rgba": (_encode(Image.fromarray(a).convert("RGBA"), "TIFF"), OK),
        }
        for name, (data, expect) in tiffs.items():
            put(f"tiff-{name}-{w}x{h}.tif", data, f"TIFF {name}", expect, (w, h))
    # 5. every EXIF orientation (and invalid ones) in JPEG, PNG, WebP and TIFF
    base = Image.fromarray(_photo(rng, 24, 16))
    for orientation in range(0, 10):
        expect_size = _upright(base.size, orientation)
        for ext, fmt in [("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP"), ("tif", "TIFF")]:
            put(f"exif-orient{orientation}.{ext}", _with_orientation(base, fmt, orientation), f"EXIF orientation ({fmt})", OK, expect_size)
    broken_exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12\x00\x03"  # cut inside the IFD
    put("exif-broken.jpg", _encode(base, "JPEG", exif=broken_exif), "EXIF broken", OK, base.size)
    put("exif-loop.jpg", _encode(base, "JPEG", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + b"\x01\x00" + struct.pack("<HHII", 0x8769, 4, 1, 8) + b"\x00\x00\x00\x00"),
        "EXIF broken", OK, base.size)
    # 6. animations: the first frame is the image
    for n_frames in (2, 5):
        frames = [Image.fromarray(_photo(rng, 20, 12)) for _ in range(n_frames)]
        put(f"anim-{n_frames}.gif", _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0), "animated GIF", OK, (20, 12))
        put(f"anim-{n_frames}.png", _encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=50), "APNG", OK, (20, 12))
        put(f"anim-{n_frames}.webp", _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50), "animated WebP", OK, (20, 12))
        put(f"anim-{n_frames}-trns.gif", _encode(frames[0].convert("P"), "GIF", save_all=True, append_images=[f.convert("P") for f in frames[1:]], transparency=0, disposal=2),
            "animated GIF", OK, (20, 12))
    # 7. wrong extensions: every format's bytes under every other extension
    good = Image.fromarray(_photo(rng, 16, 12))
    encoded = {"png": _encode(good, "PNG"), "jpg": _encode(good, "JPEG"), "webp": _encode(good, "WEBP"),
               "tif": _encode(good, "TIFF"), "bmp": _encode(good, "BMP"), "gif": _encode(good, "GIF")}
    for real, data in encoded.items():
        for ext in ["png", "jpg", "webp", "tif", "bmp", "JPG", "PNG"]:
            if ext.lower() != real:
                put(f"wrongext-{real}-as.{ext}", data, "wrong extension", OK, good.size)
    # 8. zero-byte, garbage, text, magic-then-garbage
    exts = ["png", "jpg", "jpeg", "webp", "tif", "tiff", "bmp", "PNG"]
    for ext in exts:
        put(f"empty.{ext}", b"", "zero-byte", ERROR)
        put(f"text.{ext}", b"this is not an image\n" * 3, "text", ERROR)
        for k in range(3):
            put(f"garbage{k}.{ext}", rng.integers(0, 256, 64 + 200 * k, dtype=np.uint8).tobytes(), "random bytes", ERROR)
    for magic, ext in [(b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff\xe0", "jpg"), (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"),
                       (b"II*\x00\x08\x00\x00\x00", "tif"), (b"MM\x00*\x00\x00\x00\x08", "tif"), (b"BM", "bmp"), (b"GIF89a", "png")]:
        for k in range(3):
            put(f"magic-garbage{k}.{ext}", magic + rng.integers(0, 256, 16 + 100 * k, dtype=np.uint8).tobytes(), "magic + garbage", ERROR)
    # 9. truncated files: every format cut at ten places, two images each
    for k, (w, h) in enumerate([(40, 32), (33, 47), (64, 9)]):
        im = Image.fromarray(_photo(rng, w, h))
        for ext, fmt, kw in [("png", "PNG", {}), ("jpg", "JPEG", {"quality": 92}), ("webp", "WEBP", {"quality": 90}),
                             ("tif", "TIFF", {}), ("bmp", "BMP", {}), ("gif", "GIF", {}), ("jpg", "JPEG", {"progressive": True})]:
            data = _encode(im, fmt, **kw)
            for frac in (0.02, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97):
                cut = max(1, int(len(data) * frac))
                put(f"trunc{k}-{int(frac * 100):02d}-{fmt.lower()}{'-prog' if kw.get('progressive') else ''}.{ext}", data[:cut], f"truncated {fmt}", ERROR)
            put(f"trunc{k}-last-byte-{fmt.lower()}.{ext}", data[:-1], f"truncated {fmt} (last byte)", ANY, (w, h))
    # 10. flipped bytes inside otherwise whole files
    for ext, fmt in [("png", "PNG"), ("jpg", "JPEG"), ("webp", "WEBP"), ("tif", "TIFF"), ("gif", "GIF")]:
        data = _encode(Image.fromarray(_photo(rng, 32, 24)), fmt)
        for k in range(6):
            bad = bytearray(data)
            for _ in range(1 + k):
                bad[pyrng.randrange(8, len(bad))] = pyrng.randrange(256)
            put(f"flipped{k}.{ext}", bytes(bad), f"corrupted bytes ({fmt})", ANY, (32, 24))
    # 11. decompression bombs: headers that claim gigapixels
    put("bomb-30000.png", png_bomb(), "decompression-bomb header", ERROR)
    put("bomb-30000.jpg", jpeg_bomb(), "decompression-bomb header", ERROR)
    put("bomb-65535.gif", gif_bomb(), "decompression-bomb header", ERROR)
    put("bomb-30000.tif", tiff_bomb(), "decompression-bomb header", ERROR)
    put("bomb-30000-as.webp", png_bomb(), "decompression-bomb header", ERROR)
    # 12. odd names around a good image
    small = _encode(Image.fromarray(_photo(rng, 12, 10)), "PNG")
    for name in [b"latin1-\xe9t\xe9.png", b"invalid-utf8-\xff\xfe.png", "unicode-日本語-ü.png", "space in name.png",
                 "-leading-dash.png", "x" * 240 + ".png", "semi;colon&amp'quote\".png", "trailing-dot..png",
                 "percent-%s-%d.png", "brackets-[red]-bold.png", "tab\tname.png"]:
        put(name, small, "odd file name", OK, (12, 10))
    # 13. things that are not regular files, named like images
    (root / f"{next(counter):04d}-folder.png").mkdir()
    entries.append(Entry(root / f"{next(counter) - 1:04d}-folder.png", "folder named .png", ERROR))
    dangling = root / f"{next(counter):04d}-dangling.png"
    dangling.symlink_to(root / "does-not-exist.png")
    entries.append(Entry(dangling, "dangling symlink", ERROR))
    link = root / f"{next(counter):04d}-symlink.png"
    link.symlink_to(entries[0].path)
    entries.append(Entry(link, "symlink to an image", OK, entries[0].size))
    fifo = root / f"{next(counter):04d}-fifo.png"
    os.mkfifo(fifo)
    entries.append(Entry(fifo, "FIFO named .png", ERROR))
    return entries


def sample(entries: list[Entry], n: int, seed: int = 0) -> list[Entry]:
    """`n` entries, one of each kind first (as many kinds as `n` allows), then random others; in
    corpus order."""
    rng = random.Random(seed)
    by_kind: dict[str, list[Entry]] = {}
    for e in entries:
        by_kind.setdefault(e.kind, []).append(e)
    picked = [rng.choice(v) for v in by_kind.values()]
    rng.shuffle(picked)
    picked = picked[:n]
    rest = [e for e in entries if e not in picked]
    picked += rng.sample(rest, max(0, n - len(picked)))
    order = {id(e): i for i, e in enumerate(entries)}
    return sorted(picked, key=lambda e: order[id(e)])


# ----------------------------------------------------------------------------------------------
# Running the CLI


@dataclass
class Outcome:
    entry: Entry
    rc: int
    stderr: str
    output: Path
    outputs: list[str]  # names left in the output folder after the run
    seconds: float

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.stderr

    @property
    def one_line(self) -> bool:
        return len([line for line in self.stderr.splitlines() if line.strip()]) <= 1


def run_forked(argv: list[str], stdout: Path, stderr: Path, timeout: float = 300) -> int:
    """`retouch ARGV` in a forked child of this process (which has imported retouch.cli): the
    child runs the console script's `main()` with its own stdout/stderr files and exit status,
    and an uncaught exception prints its traceback exactly as the interpreter would."""
    import signal

    from retouch.cli import main

    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            fd_out = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            fd_err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd_out, 1)
            os.dup2(fd_err, 2)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            sys.argv = ["retouch", *argv]
            try:
                main()
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                sys.excepthook(*sys.exc_info())
                code = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -9
        time.sleep(0.01)


# verb name -> argv given (input, output); the output is always a fresh PNG path
VERBS: dict[str, callable] = {
    "mosaic": lambda src, dst: ["mosaic", src, "-o", dst, "--block", "4"],
    "demosaic": lambda src, dst: ["demosaic", src, "-o", dst, "--box", "0,0,1,1", "--device", "cpu"],
    "upscale": lambda src, dst: ["upscale", src, "-o", dst, "--device", "cpu"],
    "translate": lambda src, dst: ["translate", src, "-o", dst, "--model", "horse2zebra", "--device", "cpu"],
    "locate": lambda src, dst: ["locate", src, "-o", dst],
    "prior": lambda src, dst: ["prior", "reconstruct", src, "-o", dst, "--fit", "--device", "cpu", "--precision", "fp32"],
}
SCALE = {"upscale": 4}


def check_output(entry: Entry, verb: str, path: Path) -> str | None:
    """Why the output of a successful run is wrong, or None when it is right."""
    if not path.is_file():
        return "exit 0 without an output"
    try:
        with Image.open(path) as im:
            im.load()
            size = im.size
    except Exception as e:  # noqa: BLE001 - any failure to read back is the finding
        return f"output unreadable: {e}"
    if verb == "prior":
        return None  # the prior's outputs have the prior's size
    if entry.size is not None:
        s = SCALE.get(verb, 1)
        want = (entry.size[0] * s, entry.size[1] * s)
        if verb == "locate":
            want = entry.size
        if size != want:
            return f"output is {size}, expected {want}"
    return None


def run_verb(verb: str, entries: list[Entry], out: Path, timeout: float = 300) -> list[Outcome]:
    """Each entry through `retouch VERB` (forked), each into its own fresh output folder."""
    outcomes = []
    for i, e in enumerate(entries):
        d = out / verb / f"{i:04d}"
        d.mkdir(parents=True)
        dst = d / "out.png"
        t = time.monotonic()
        rc = run_forked([str(a) for a in VERBS[verb](e.path, dst)], d.parent / f"{i:04d}.stdout", d.parent / f"{i:04d}.stderr", timeout)
        outcomes.append(Outcome(e, rc, (d.parent / f"{i:04d}.stderr").read_text(errors="replace"), dst,
                                sorted(os.listdir(d)), time.monotonic() - t))
    return outcomes


def judge(verb: str, o: Outcome) -> list[str]:
    """Everything wrong with one outcome (empty = as the issue asks)."""
    problems = []
    if o.traceback:
        problems.append("traceback")
    if o.rc == 0:
        why = check_output(o.entry, verb, o.output)
        if why:
            problems.append(why)
        if o.entry.expect == ERROR:
            problems.append("bad file accepted")
        if [n for n in o.outputs if n != "out.png"]:
            problems.append(f"stray files {o.outputs}")
    elif o.rc == 2:
        if not o.one_line:
            problems.append("error is not one line")
        if o.outputs:
            problems.append(f"partial output {o.outputs}")
        if o.entry.expect == OK:
            problems.append("good file refused")
    else:
        problems.append(f"exit status {o.rc}")
    return problems


def warm(verbs: list[str]) -> None:
    """Import what the verbs import and load their models through the same caches the CLI calls
    hit, so each forked run costs its own work and not Python's and torch's start-up."""
    import retouch.cli  # noqa: F401
    from retouch.locate.cam import load_classifier
    from retouch.models.runner import load_translator
    from retouch.tasks import hide  # noqa: F401
    from retouch.tasks.restore import load_restorer
    from retouch.tasks.upscale import load_upscaler

    if "demosaic" in verbs:
        load_restorer("demosaic", "cpu", "auto")
    if "upscale" in verbs:
        load_upscaler("srresnet-x4", None, "cpu", "auto")
    if "translate" in verbs:
        load_translator("horse2zebra", "cpu", "auto", direction="AtoB")
    if "locate" in verbs:
        load_classifier("cifar10-classifier")
    if "prior" in verbs:
        import retouch.prior.run  # noqa: F401
    # one real run of each verb in this process, so the CLI's lazy set-up (Typer, Rich, first torch
    # calls) is done once here and not again in every forked child
    import contextlib

    from retouch.cli import main as cli_main

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "warm.png"
        Image.new("RGB", (8, 8), (120, 60, 30)).save(src)
        for verb in verbs:
            sys.argv = ["retouch", *[str(a) for a in VERBS[verb](src, Path(tmp) / f"{verb}.png")]]
            with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
                with contextlib.suppress(SystemExit):
                    cli_main()


def folder_run(verb: str, corpus: Path, out: Path) -> dict:
    """`retouch VERB CORPUS -o OUT` as a real subprocess: the good files written, the bad ones
    listed once each in the summary, exit 2, one line per failed file, no temporary files."""
    import subprocess

    from retouch.io import list_images

    argv = [str(a) for a in VERBS[verb](corpus, out)]
    t = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "retouch", *argv], capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    stderr = p.stderr.decode(errors="replace")
    tried = list_images(corpus)
    written = {n for n in os.listdir(out)} if out.exists() else set()
    listed = [line for line in stderr.splitlines() if line.startswith("  ")]
    failed_names = {line.split(": ", 1)[0].strip() for line in listed}
    return {
        "verb": verb, "rc": p.returncode, "tried": len(tried), "written": len(written - {n for n in written if n.endswith(".tmp")}),
        "listed": len(listed), "temp files": sum(n.endswith(".tmp") for n in written), "traceback": "Traceback" in stderr,
        "every file answered": all(os.fsdecode(q.name) in written or os.fsdecode(q.name).replace("\n", "?") in failed_names
                                   or q.name in stderr for q in tried),
        "seconds": time.monotonic() - t,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make", help="write the corpus")
    mk.add_argument("dir", type=Path)
    mk.add_argument("--seed", type=int, default=0)
    rn = sub.add_parser("run", help="run the verbs over the corpus and print the table")
    rn.add_argument("--verbs", default="mosaic,demosaic,upscale,translate,locate")
    rn.add_argument("--sample", type=int, default=0, help="only N files (every kind kept), e.g. for prior")
    rn.add_argument("--seed", type=int, default=0)
    rn.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary folder)")
    rn.add_argument("--folders", default=None, help="verbs to also run once on the whole folder (default: all but locate and prior, when not sampling)")
    args = ap.parse_args()
    if args.cmd == "make":
        entries = make_corpus(args.dir, args.seed)
        kinds: dict[str, int] = {}
        for e in entries:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        for k, n in sorted(kinds.items()):
            print(f"{n:4d}  {k}")
        print(f"{len(entries):4d}  files in {args.dir}")
        return
    import torch

    torch.set_num_threads(1)
    verbs = args.verbs.split(",")
    warm(verbs)
    work = args.keep or Path(tempfile.mkdtemp(prefix="retouch-bad-"))
    entries = make_corpus(work / "corpus", args.seed)
    if args.sample:
        entries = sample(entries, args.sample, args.seed)
    print(f"{len(entries)} files; CPU: {_cpu()}", flush=True)
    rows, folders = [], []
    for verb in verbs:
        t = time.monotonic()
        outcomes = run_verb(verb, entries, work / "out")
        problems = {i: judge(verb, o) for i, o in enumerate(outcomes)}
        bad = {i: p for i, p in problems.items() if p}
        for i, p in bad.items():
            print(f"  {verb} {outcomes[i].entry.path.name!r} ({outcomes[i].entry.kind}): {'; '.join(p)}", flush=True)
            print("    " + outcomes[i].stderr.strip().replace("\n", "\n    ")[-800:], flush=True)
        rows.append((verb, len(outcomes), sum(o.rc == 0 for o in outcomes), sum(o.rc == 2 for o in outcomes),
                     sum(o.rc not in (0, 2) for o in outcomes), sum(o.traceback for o in outcomes),
                     sum(bool(o.outputs) and o.rc != 0 for o in outcomes) + sum(any(n != "out.png" for n in o.outputs) for o in outcomes),
                     sum(not o.one_line for o in outcomes if o.rc == 2), len(bad), time.monotonic() - t))
        print(rows[-1], flush=True)
    folder_verbs = args.folders.split(",") if args.folders is not None else [] if args.sample else [v for v in verbs if v not in ("prior", "locate")]
    for verb in filter(None, folder_verbs):  # locate reads one image; the prior takes minutes an image
        folders.append(folder_run(verb, work / "corpus", work / "folder" / verb))
        print(folders[-1], flush=True)
    print("\n| verb | files | output (exit 0) | clear error (exit 2) | other exit | tracebacks | partial outputs | multi-line errors | wrong outcomes | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| `{r[0]}` | " + " | ".join(str(v) for v in r[1:-1]) + f" | {r[-1]:.0f} |")
    if folders:
        print("\n| folder run | exit | images tried | written | listed as failed | every file answered | temp files | traceback | seconds |")
        print("|---|---:|---:|---:|---:|---|---:|---|---:|")
        for f in folders:
            print(f"| `{f['verb']}` | {f['rc']} | {f['tried']} | {f['written']} | {f['listed']} | {f['every file answered']} | "
                  f"{f['temp files']} | {f['traceback']} | {f['seconds']:.0f} |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def _cpu() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "unknown")
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return f"{name}, {os.cpu_count()} cores, " + ("AVX-512" if "avx512f" in flags else "AVX2, no AVX-512" if "avx2" in flags else "no AVX2")


if __name__ == "__main__":
    main()
