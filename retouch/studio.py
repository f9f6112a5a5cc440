"""`retouch studio`: the toolkit's verbs on one local web page (Gradio, an optional extra).

The page holds one photo at a time. Each button calls the file-level task the CLI calls
(`mosaic_files`, `demosaic_files`, `upscale_files`, `translate_files`, `run_prior`) on the uploaded
file and serves the file that task wrote, so a download carries the same provenance metadata as a
CLI output. Nothing here hides, restores or upscales anything itself: it turns what the page holds
(a box typed or proposed, a painted mask, a model choice) into a task's arguments, and the task's
file into something to show.

An upload is checked once, before any task sees it (`check_upload`: retouch.io's reader, which
names truncated files, non-images and decompression bombs, plus a pixel limit); a bad file is a
message on the page and the server keeps serving. Gradio's queue runs one call at a time (the CPU
is the bottleneck) and keeps each browser session's photo and results its own. The page binds to
127.0.0.1 and loads no fonts or scripts from elsewhere: nothing leaves the machine.

Films have their own tab (`film`): Hide, Restore and Upscale through the same tasks the CLI
streams a film with (`mosaic_video`, `demosaic_video`, `upscale_files`), so the sound, timing and
the container's provenance tags survive as on the command line; the page's progress bar follows
the frames (`retouch.video.listening`).

The handlers below are plain functions (paths and numbers in, paths and images out, RetouchError
for what the user can fix), so they are tested without a browser; `build_app` wires them to Gradio.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from retouch.errors import RetouchError
from retouch.io import load_image, read_image, save_image, to_pil
from retouch.models.zoo import ZOO

DEFAULT_MAX_PIXELS = 50_000_000  # a 50 Mpx photo: above any phone's, far below Pillow's bomb limit
UPSCALE_MAX_PIXELS = 1_000_000  # x4 of 1 Mpx is 16 Mpx out, tens of seconds per model on a CPU
RESTORE_MODELS = tuple(name for name, e in ZOO.items() if e.task == "restore")
UPSCALE_MODELS = tuple(name for name, e in ZOO.items() if e.task == "upscale") + ("bicubic",)
TRANSLATE_MODELS = tuple(name for name, e in ZOO.items() if e.task == "translate")
PRIOR_MODEL = "cifar10-prior"
PRIOR_TASKS = ("inpaint", "colorize")
REGIONS = ("box", "painted", "detect")  # how the user says where: typed/proposed box, brush, the detector
OUTLINE = (255, 40, 40)
VIEW_ONLY = ["fullscreen"]  # no share button (it would upload), no download of the on-page copy: downloads are the task's file


# ------------------------------------------------------------------------------------------------
# Uploads


def check_upload(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The upload as an upright RGB image, or a RetouchError saying what is wrong with the file.

    The size is read from the header first, so an image over `max_pixels` is refused before it is
    decoded; `load_image` then names truncated files, non-images and decompression bombs.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        w = h = 0  # not readable as an image: load_image below says why, in its words
    if w * h > max_pixels:
        raise RetouchError(f"{path.name} is {w}x{h} ({w * h / 1e6:.0f} Mpx), over this studio's limit of "
                           f"{max_pixels / 1e6:g} Mpx; downscale it, or restart the studio with a larger --max-pixels.")
    return load_image(path)


def check_film(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS):
    """The upload's `VideoInfo`, or a RetouchError naming what is wrong (not a film, damaged, no
    video stream, frames over `max_pixels`)."""
    from retouch.video import VIDEO_EXTENSIONS, probe

    path = Path(path)
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise RetouchError(f"{path.name} is not a film this studio reads ({', '.join(sorted(e[1:] for e in VIDEO_EXTENSIONS))}).")
    info = probe(path)
    if info.width * info.height > max_pixels:
        raise RetouchError(f"{path.name}'s frames are {info.width}x{info.height}, over this studio's limit of "
                           f"{max_pixels / 1e6:g} Mpx; restart the studio with a larger --max-pixels.")
    return info


UPLOAD_CHECKS: dict[str, Callable[[Path, int], object]] = {"image": check_upload, "film": check_film}


def upload_status(path: Path, image: Image.Image) -> str:
    return f"**{path.name}**: {image.width}x{image.height}. Say where (box, brush or detector), then pick a verb."


def default_box(w: int, h: int) -> tuple[int, int, int, int]:
    """A centred box half the photo's sides: somewhere to start before the user moves it."""
    return w // 4, h // 4, max(1, w // 2), max(1, h // 2)


# ------------------------------------------------------------------------------------------------
# Where: a box, a painted mask, or the detector


@dataclass(frozen=True)
class Where:
    """The region as a task's keyword arguments: exactly one of a box, a mask file, detection."""

    box: tuple[int, int, int, int] | None = None
    mask: Path | None = None
    detect: bool = False


def painted_mask(layers: list[np.ndarray] | None, w: int, h: int) -> np.ndarray:
    """HxW bool: where any brush layer of the editor has paint (alpha > 0)."""
    painted = np.zeros((h, w), bool)
    for layer in layers or []:
        a = np.asarray(layer)
        if a.ndim != 3 or a.shape[2] != 4:
            continue  # a layer without alpha carries no strokes the editor made
        if a.shape[:2] != (h, w):
            raise RetouchError(f"The painted layer is {a.shape[1]}x{a.shape[0]} but the photo is {w}x{h}; upload the photo again and repaint.")
        painted |= a[:, :, 3] > 0
    if not painted.any():
        raise RetouchError("Nothing is painted: paint over the region with the brush, or choose 'box'.")
    return painted


def where(mode: str, box: tuple[float, ...], layers: list[np.ndarray] | None, size: tuple[int, int], workdir: Path) -> Where:
    """The page's region inputs as a `Where`; a painted mask is written to `workdir` (white = act here)."""
    if mode == "box":
        from retouch.geometry import box_mask, parse_box

        parsed = parse_box(",".join(str(int(v or 0)) for v in box))
        box_mask(size[1], size[0], parsed)  # raises when the box leaves the photo
        return Where(box=parsed)
    if mode == "painted":
        mask = painted_mask(layers, *size)
        folder = Path(tempfile.mkdtemp(prefix="mask-", dir=workdir))  # one per call: sessions never share a mask
        return Where(mask=save_image(Image.fromarray(mask.astype(np.uint8) * 255).convert("RGB"), folder / "mask.png"))
    if mode == "detect":
        return Where(detect=True)
    raise RetouchError(f"Unknown region {mode!r}; use one of {', '.join(REGIONS)}.")


def propose_cam(path: Path) -> tuple[int, int, int, int]:
    """The box the shipped classifier's class activation map points at."""
    from retouch.locate.cam import locate_box

    return tuple(int(v) for v in locate_box(read_image(path)))


def propose_detect(path: Path) -> tuple[int, int, int, int]:
    """The largest mosaicked region the detector finds."""
    from retouch.locate.detect import detect_mosaic

    boxes = detect_mosaic(read_image(path)).boxes
    if not boxes:
        raise RetouchError("The detector found no mosaic in this photo; type a box or paint the region.")
    return max(boxes, key=lambda b: b[2] * b[3])


# ------------------------------------------------------------------------------------------------
# The verbs: each calls the CLI's file task and returns what the page shows


def _out(workdir: Path, src: Path, verb: str) -> Path:
    """A fresh folder per call (two sessions never share a file), a lossless name that says the verb."""
    return Path(tempfile.mkdtemp(prefix=f"{verb}-", dir=workdir)) / f"{src.stem}-{verb}.png"


def outline(path: Path, boxes: list[tuple[int, int, int, int]]) -> Image.Image:
    """The image with each box drawn around (for the page only; downloads stay untouched)."""
    return _drawn(load_image(path), boxes)


def _drawn(im: Image.Image, boxes: list[tuple[int, int, int, int]]) -> Image.Image:
    draw = ImageDraw.Draw(im)
    for x, y, w, h in boxes:
        draw.rectangle([x - 1, y - 1, x + w, y + h], outline=OUTLINE, width=max(2, min(im.size) // 200))
    return im


def enlarged(paths: list[Path], side: int, scale: int = 8) -> Image.Image:
    """Images side by side, each centre-cropped to `side` (as `prior --fit` does) and enlarged
    `scale` times with nearest neighbours, so a 32 px result can be seen on the page."""
    ims = [ImageOps.fit(load_image(p), (side, side), Image.BICUBIC).resize((side * scale,) * 2, Image.NEAREST) for p in paths]
    sheet = Image.new("RGB", (sum(im.width for im in ims), side * scale), "white")
    for i, im in enumerate(ims):
        sheet.paste(im, (i * side * scale, 0))
    return sheet


def hide(src: Path, region: Where, block: int, workdir: Path) -> Path:
    """`retouch mosaic`: the region behind a mosaic of `block` px cells; the rest bit-exact."""
    from retouch.tasks.hide import mosaic_files

    if region.detect:
        raise RetouchError("The detector finds mosaics already there; to hide something, type or propose a box, or paint it.")
    [(path, _)] = mosaic_files(src, _out(workdir, src, "hidden"), box=region.box, mask=region.mask, block=int(block), show_progress=False)
    return path


def restore(src: Path, region: Where, model: str, device: str, workdir: Path) -> tuple[Path, list[tuple[int, int, int, int]]]:
    """`retouch demosaic`: the region restored by `model`; returns the file and the restored boxes."""
    from retouch.tasks.restore import demosaic_files

    [(path, boxes)] = demosaic_files(src, _out(workdir, src, "restored"), box=region.box, mask=region.mask, detect=region.detect,
                                     model=model, device=device, show_progress=False)
    return path, boxes


def upscale(src: Path, model: str, device: str, workdir: Path) -> Path:
    """`retouch upscale` with one model (or bicubic), for photos up to `UPSCALE_MAX_PIXELS`."""
    from retouch.tasks.upscale import upscale_files

    with Image.open(src) as im:
        w, h = im.size
    if w * h > UPSCALE_MAX_PIXELS:
        raise RetouchError(f"Upscaling here takes photos up to {UPSCALE_MAX_PIXELS / 1e6:g} Mpx (this one is {w}x{h}); "
                           "crop it first, or run `retouch upscale` on the command line.")
    [path] = upscale_files(src, _out(workdir, src, f"x4-{model}"), model=model, device=device, show_progress=False)
    return path


def translate(src: Path, model: str, run: str, direction: str, device: str, workdir: Path) -> Path:
    """`retouch translate` with a shipped model, or the run folder / weights file typed in `run`."""
    from retouch.tasks.translate import translate_files

    chosen = run.strip() or model
    if run.strip() and not Path(chosen).expanduser().exists():
        raise RetouchError(f"{chosen} does not exist on this machine; type a run folder or a .safetensors file, or clear the field.")
    [path] = translate_files(src, _out(workdir, src, "translated"), str(Path(chosen).expanduser()) if run.strip() else chosen,
                             device=device, show_progress=False, direction=direction)
    return path


def prior(src: Path, task: str, region: Where, device: str, workdir: Path) -> Path:
    """`retouch prior inpaint|colorize --fit` with the shipped CIFAR-10 prior: a 32x32 result.

    For inpainting the region is the hole; `run_prior` wants the known pixels white, so the
    region's mask is written inverted.
    """
    from retouch.geometry import box_mask, read_mask
    from retouch.prior.run import run_prior

    if task not in PRIOR_TASKS:
        raise RetouchError(f"Unknown prior task {task!r}; use one of {', '.join(PRIOR_TASKS)}.")
    dst, keep = _out(workdir, src, f"prior-{task}"), None
    if task == "inpaint":
        if region.detect or (region.box is None and region.mask is None):
            raise RetouchError("Inpainting fills the region you give: type or propose a box, or paint it.")
        with Image.open(src) as im:
            w, h = im.size
        hole = box_mask(h, w, region.box) if region.box else read_mask(region.mask, h, w)
        keep = save_image((1 - hole).expand(-1, 3, -1, -1) * 2 - 1, dst.parent / "keep.png")
    [path] = run_prior(task, src, dst, mask=keep, model=PRIOR_MODEL, fit_size=True, batch=1, device=device, show_progress=False)
    return path


FILM_VERBS = ("anonymize", "hide", "restore", "upscale")
FILM_REGIONS = ("box", "tracked box", "faces", "detect")  # every frame / followed from the first / faces tracked / the mosaic detector


def film(src: Path, verb: str, region: str, box: tuple[float, ...], block: int, model: str, device: str, workdir: Path) -> Path:
    """A film through `retouch anonymize`, `mosaic`, `demosaic` or `upscale`: an H.264 mp4 with the
    input's sound, timing and the provenance tags the CLI writes. `region` says where
    (`FILM_REGIONS`; anonymize always finds the faces itself); the box is X, Y, W, H on the first frame."""
    from retouch.film.tracks import Faces, region_source
    from retouch.geometry import parse_box

    if verb not in FILM_VERBS:
        raise RetouchError(f"Unknown verb {verb!r}; use one of {', '.join(FILM_VERBS)}.")
    out = _film_out(workdir, src, verb)
    if verb == "anonymize":
        from retouch.tasks.anonymize import anonymize_video

        anonymize_video(src, out, show_progress=False)
        return out
    if verb == "upscale":
        from retouch.tasks.upscale import upscale_files

        info = check_film(src)
        if info.width * info.height > UPSCALE_MAX_PIXELS:
            raise RetouchError(f"Upscaling here takes frames up to {UPSCALE_MAX_PIXELS / 1e6:g} Mpx (this film's are "
                               f"{info.width}x{info.height}); run `retouch upscale` on the command line.")
        if model not in UPSCALE_MODELS[:-1]:
            raise RetouchError(f"Pick an upscaling model ({', '.join(UPSCALE_MODELS[:-1])}) to upscale a film.")
        upscale_files(src, out, model=model, device=device, show_progress=False)
        return out
    if region not in FILM_REGIONS:
        raise RetouchError(f"Unknown region {region!r}; use one of {', '.join(FILM_REGIONS)}.")
    if verb == "hide" and region == "detect":
        raise RetouchError("The detector finds mosaics already there; to hide something, give a box or choose faces.")
    if verb == "restore" and region == "faces":
        raise RetouchError("retouch does not restore hidden faces; give the mosaic's box or let the detector find it.")
    boxed = [parse_box(",".join(str(int(v or 0)) for v in box))] if region in ("box", "tracked box") else None
    regions = Faces() if region == "faces" else region_source(
        boxes=boxed if region == "box" else None, track=boxed if region == "tracked box" else None, detect=region == "detect")
    if verb == "hide":
        from retouch.tasks.hide import mosaic_video

        mosaic_video(src, out, regions, int(block), show_progress=False)
    else:
        from retouch.tasks.restore import demosaic_video

        demosaic_video(src, out, regions, model=model, device=device, show_progress=False)
    return out


def _film_out(workdir: Path, src: Path, verb: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"film-{verb}-", dir=workdir)) / f"{src.stem}-{verb}.mp4"


def find_film_faces(src: Path) -> list[list[tuple[int, int, int, int]]]:
    """Every frame's face boxes, found and tracked as `retouch anonymize` finds them, nothing rendered:
    what the review shows a person before the film is hidden."""
    from retouch.film.tracks import Faces
    from retouch.geometry import region_boxes
    from retouch.video import quantize, read_frames

    check_film(src)
    return [region_boxes(m) for m in Faces().masks(quantize(x) for x in read_frames(src))]


def film_frame(src: Path, index: int, boxes: list[tuple[int, int, int, int]]) -> Image.Image:
    """Frame `index` of the film with `boxes` drawn around (decoded from the start: review is for short films)."""
    from retouch.video import read_frames

    for i, x in enumerate(read_frames(src)):
        if i == index:
            return _drawn(to_pil(x), boxes)
    raise RetouchError(f"The film has no frame {index}.")


def parse_frame_boxes(text: str) -> list[tuple[int, int, int, int]]:
    """One box X,Y,W,H a line (blank lines ignored), as the review's text field holds them."""
    from retouch.geometry import parse_box

    return [parse_box(line.strip()) for line in text.splitlines() if line.strip()]


def hide_reviewed(src: Path, boxes: list[list[tuple[int, int, int, int]]], workdir: Path) -> Path:
    """The film with exactly the reviewed boxes concealed (`retouch anonymize --boxes-json`)."""
    from retouch.tasks.anonymize import anonymize_video

    out = _film_out(workdir, src, "anonymize")
    reviewed = out.with_name("reviewed-regions.json")
    reviewed.write_text(json.dumps({"boxes": [[list(b) for b in frame] for frame in boxes]}))
    anonymize_video(src, out, boxes_json=reviewed, show_progress=False)
    return out


# ------------------------------------------------------------------------------------------------
# The page


def _gradio():
    """Gradio, or a RetouchError that says how to install it (the studio is an optional extra)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine
    try:
        import gradio as gr
    except ImportError:
        raise RetouchError('The studio needs Gradio: pip install -e ".[studio]" (or pip install "retouch[studio]").') from None
    return gr


def build_app(device: str = "auto", max_pixels: int = DEFAULT_MAX_PIXELS, workdir: Path | None = None):
    """The studio as a `gradio.Blocks`: upload, region, and one tab per verb."""
    gr = _gradio()
    if workdir is None:  # the tasks' outputs, gone when the server stops (Gradio keeps its own served copies)
        workdir = Path(tempfile.mkdtemp(prefix="retouch-studio-"))
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)

    def user_errors(fn):
        """RetouchError -> gr.Error: the message appears on the page; the server carries on."""
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except RetouchError as e:
                raise gr.Error(str(e), duration=None) from None
        return wrapped

    def photo(state: dict | None) -> Path:
        if not state:
            raise RetouchError("Upload a photo first.")
        return Path(state["path"])

    def region_of(state, mode, x, y, w, h, editor) -> Where:
        photo(state)  # a photo first, then a region on it
        return where(mode, (x, y, w, h), (editor or {}).get("layers"), tuple(state["size"]), workdir)

    def on_upload(file):
        if file is None:
            return None, None, "", *[gr.update()] * 4
        path = Path(file)
        try:
            image = UPLOAD_CHECKS["image"](path, max_pixels)
        except RetouchError as e:  # the server's upload folder is no business of the page's
            return None, None, f"**Could not use this file.** {str(e).replace(str(path), path.name)}", *[gr.update()] * 4
        state = {"path": str(path), "size": image.size}
        editor = {"background": image, "layers": [], "composite": None}
        return state, editor, upload_status(path, image), *default_box(*image.size)

    @user_errors
    def on_propose(kind, state, progress=gr.Progress()):
        progress(0, desc=f"{kind} proposing a box")
        box = (propose_cam if kind == "CAM" else propose_detect)(photo(state))
        return "box", *box

    @user_errors
    def on_hide(state, mode, x, y, w, h, editor, block, progress=gr.Progress()):
        progress(0, desc="hiding")
        path = hide(photo(state), region_of(state, mode, x, y, w, h, editor), block, workdir)
        return str(path), str(path)

    @user_errors
    def on_restore(state, mode, x, y, w, h, editor, model, progress=gr.Progress()):
        progress(0, desc=f"restoring with {model}")
        src = photo(state)
        path, boxes = restore(src, region_of(state, mode, x, y, w, h, editor), model, device, workdir)
        return (outline(src, boxes), outline(path, boxes)), str(path)

    @user_errors
    def on_upscale(state, progress=gr.Progress()):
        src, out = photo(state), []
        for i, model in enumerate(UPSCALE_MODELS):
            progress(i / len(UPSCALE_MODELS), desc=f"upscaling with {model}")
            out.append(str(upscale(src, model, device, workdir)))
        return *out, *out

    @user_errors
    def on_translate(state, model, run, direction, progress=gr.Progress()):
        progress(0, desc="translating")
        path = translate(photo(state), model, run or "", direction, device, workdir)
        return str(path), str(path)

    def on_film_upload(file):
        if file is None:
            return None, ""
        path = Path(file)
        try:
            info = UPLOAD_CHECKS["film"](path, max_pixels)
        except RetouchError as e:
            return None, f"**Could not use this file.** {str(e).replace(str(path), path.name)}"
        seconds = f", {info.duration:.1f} s" if info.duration else ""
        sound = f", {info.audio} sound track{'s' * (info.audio != 1)}" if info.audio else ", no sound"
        return str(path), f"**{path.name}**: {info.width}x{info.height}, {info.frames or '?'} frames{seconds}{sound}."

    @user_errors
    def on_film(film_path, verb, region, x, y, w, h, block, model, progress=gr.Progress()):
        from retouch.video import listening

        if not film_path:
            raise RetouchError("Upload a film first.")
        progress(0, desc=f"{verb}: starting")

        def frames(done: int, total: int) -> None:
            progress((done, total) if total else None, desc=f"{verb}: {done} frames", unit="frames")

        with listening(frames):
            path = film(Path(film_path), verb, region, (x, y, w, h), block, model, device, workdir)
        return str(path), str(path)

    def _review_line(boxes: list[list]) -> str:
        faces = sum(map(len, boxes))
        return f"{len(boxes)} frames, {sum(1 for f in boxes if f)} with faces, {faces} boxes in all."

    @user_errors
    def on_find_faces(film_path, progress=gr.Progress()):
        if not film_path:
            raise RetouchError("Upload a film first.")
        progress(0, desc="finding faces")
        boxes = find_film_faces(Path(film_path))
        state = {"film": film_path, "boxes": [[list(b) for b in f] for f in boxes]}
        image, text, _ = on_frame(state, 0)
        return state, gr.update(maximum=max(1, len(boxes) - 1), value=0), image, text, _review_line(state["boxes"])

    @user_errors
    def on_frame(state, index):
        if not state:
            raise RetouchError("Find the faces first.")
        k = min(int(index), len(state["boxes"]) - 1)
        boxes = state["boxes"][k]
        return (film_frame(Path(state["film"]), k, boxes), "\n".join(",".join(map(str, b)) for b in boxes),
                f"Frame {k}: {len(boxes)} box{'es' * (len(boxes) != 1)}.")

    @user_errors
    def on_keep(state, index, text):
        if not state:
            raise RetouchError("Find the faces first.")
        k = min(int(index), len(state["boxes"]) - 1)
        state["boxes"][k] = [list(b) for b in parse_frame_boxes(text)]
        image, shown, _ = on_frame(state, k)
        return state, image, shown, _review_line(state["boxes"]) + f" Frame {k} now has {len(state['boxes'][k])}."

    @user_errors
    def on_hide_reviewed(state, progress=gr.Progress()):
        if not state:
            raise RetouchError("Find the faces first.")
        progress(0, desc="hiding the reviewed boxes")
        path = hide_reviewed(Path(state["film"]), [[tuple(b) for b in f] for f in state["boxes"]], workdir)
        return str(path), str(path)

    @user_errors
    def on_prior(state, task, mode, x, y, w, h, editor, progress=gr.Progress()):
        progress(0, desc=f"fitting the prior ({task})")
        region = region_of(state, mode, x, y, w, h, editor) if task == "inpaint" else Where()
        src = photo(state)
        path = prior(src, task, region, device, workdir)
        return enlarged([src, path], load_image(path).width), str(path)

    with gr.Blocks(title="retouch studio", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        state = gr.State(None)
        gr.Markdown("## retouch studio\nOne photo at a time, on this machine only. Restoration invents plausible "
                    "detail: it does not recover what was hidden. Every download records what was done to it.")
        with gr.Row():
            upload = gr.File(label="Photo (PNG, JPEG, TIFF, WebP, BMP)", type="filepath", elem_id="upload", scale=1, height=140)
            status = gr.Markdown("Upload a photo to start.", elem_id="status")
        with gr.Row():
            editor = gr.ImageEditor(label="Paint the region (brush) when 'painted' is chosen", type="numpy", sources=(),
                                    transforms=(), layers=False, format="png", buttons=VIEW_ONLY, elem_id="editor", scale=2, height=460,
                                    brush=gr.Brush(colors=["rgba(255, 40, 40, 0.6)"], color_mode="fixed"))
            with gr.Column(scale=1):
                mode = gr.Radio(list(REGIONS), value="box", label="Where", elem_id="region",
                                info="box: the fields below; painted: the brush strokes; detect: find an existing mosaic (Restore)")
                with gr.Row():
                    bx, by, bw, bh = (gr.Number(label=n, precision=0, minimum=0, elem_id=f"box-{n.lower()}") for n in "XYWH")
                with gr.Row():
                    cam_button = gr.Button("CAM proposes a box", size="sm", elem_id="propose-cam")
                    detect_button = gr.Button("Detector proposes a box", size="sm", elem_id="propose-detect")
        region_inputs = [mode, bx, by, bw, bh, editor]
        with gr.Tabs():
            with gr.Tab("Hide", id="hide"):
                block = gr.Slider(4, 64, value=16, step=1, label="Block size (px): fewer cells across hide more", elem_id="block")
                hide_button = gr.Button("Hide", variant="primary", elem_id="hide-run")
                hide_image = gr.Image(label="Hidden", type="filepath", interactive=False, buttons=VIEW_ONLY, elem_id="hide-image")
                hide_file = gr.DownloadButton("Download (PNG with provenance)", elem_id="hide-download")
            with gr.Tab("Restore", id="restore"):
                restore_model = gr.Dropdown(list(RESTORE_MODELS), value=RESTORE_MODELS[0], label="Model", elem_id="restore-model")
                restore_button = gr.Button("Restore", variant="primary", elem_id="restore-run")
                restore_slider = gr.ImageSlider(label="Before / after (region outlined)", type="pil", interactive=False, buttons=VIEW_ONLY,
                                                elem_id="restore-slider")
                restore_file = gr.DownloadButton("Download (PNG with provenance)", elem_id="restore-download")
            with gr.Tab("Upscale", id="upscale"):
                upscale_button = gr.Button("Upscale x4 with each", variant="primary", elem_id="upscale-run")
                with gr.Row():
                    up_images = [gr.Image(label=m, type="filepath", interactive=False, buttons=VIEW_ONLY, elem_id=f"upscale-image-{m}")
                                 for m in UPSCALE_MODELS]
                with gr.Row():
                    up_files = [gr.DownloadButton(f"Download {m}", elem_id=f"upscale-download-{m}") for m in UPSCALE_MODELS]
            with gr.Tab("Translate", id="translate"):
                with gr.Row():
                    tr_model = gr.Dropdown(list(TRANSLATE_MODELS), value=TRANSLATE_MODELS[0], label="Shipped model", elem_id="translate-model")
                    tr_run = gr.Textbox(label="…or a run folder / .safetensors on this machine", elem_id="translate-run")
                    tr_dir = gr.Radio(["AtoB", "BtoA"], value="AtoB", label="Direction (horse2zebra: AtoB = horse to zebra)",
                                      elem_id="translate-direction")
                tr_button = gr.Button("Translate", variant="primary", elem_id="translate-run-button")
                tr_image = gr.Image(label="Translated", type="filepath", interactive=False, buttons=VIEW_ONLY, elem_id="translate-image")
                tr_file = gr.DownloadButton("Download (PNG with provenance)", elem_id="translate-download")
            with gr.Tab("Prior", id="prior"):
                gr.Markdown(f"Deep generative prior with `{PRIOR_MODEL}`: the photo is centre-cropped to 32x32, "
                            "the prior's size. Inpainting fills the region chosen above.")
                pr_task = gr.Radio(list(PRIOR_TASKS), value=PRIOR_TASKS[0], label="Task", elem_id="prior-task")
                pr_button = gr.Button("Run the prior", variant="primary", elem_id="prior-run")
                pr_image = gr.Image(label="Input cropped to 32x32 | result (shown 8x)", type="pil", format="png",
                                    interactive=False, buttons=VIEW_ONLY, elem_id="prior-image")
                pr_file = gr.DownloadButton("Download (PNG with provenance)", elem_id="prior-download")
            with gr.Tab("Film", id="film"):
                film_state = gr.State(None)
                with gr.Row():
                    film_upload = gr.File(label="Film (mp4, mkv, mov, webm, avi, gif)", type="filepath", elem_id="film-upload",
                                          scale=1, height=140)
                    film_status = gr.Markdown("Upload a film: the sound and timing are kept.", elem_id="film-status")
                with gr.Row():
                    film_verb = gr.Radio(list(FILM_VERBS), value="anonymize", label="Verb", elem_id="film-verb")
                    film_region = gr.Radio(list(FILM_REGIONS), value="box", label="Where", elem_id="film-region",
                                           info="anonymize finds every face itself; box: every frame; tracked box: followed from "
                                                "the first frame; faces: faces found and tracked (hide); detect: existing mosaics (restore)")
                with gr.Row():
                    fx, fy, fw, fh = (gr.Number(label=n, precision=0, minimum=0, value=v, elem_id=f"film-box-{n.lower()}")
                                      for n, v in zip("XYWH", (0, 0, 64, 64)))
                with gr.Row():
                    film_block = gr.Slider(4, 64, value=16, step=1, label="Block size (px, hide)", elem_id="film-block")
                    film_model = gr.Dropdown(list(RESTORE_MODELS) + list(UPSCALE_MODELS[:-1]), value=RESTORE_MODELS[0],
                                             label="Model (restore or upscale)", elem_id="film-model")
                film_button = gr.Button("Run on the film", variant="primary", elem_id="film-run")
                with gr.Accordion("Review the faces before hiding them", open=False, elem_id="review"):
                    gr.Markdown("Find the faces of every frame, look through the frames, add a box where a face was "
                                "missed or delete a false one (one X,Y,W,H a line), then hide exactly these boxes.")
                    review = gr.State(None)
                    find_button = gr.Button("Find faces", elem_id="review-find")
                    review_status = gr.Markdown("", elem_id="review-status")
                    frame_slider = gr.Slider(0, 1, value=0, step=1, label="Frame", elem_id="review-frame")
                    with gr.Row():
                        frame_image = gr.Image(label="Frame with its boxes", type="pil", interactive=False, buttons=VIEW_ONLY,
                                               elem_id="review-image", scale=2)
                        with gr.Column(scale=1):
                            frame_status = gr.Markdown("", elem_id="review-frame-status")
                            frame_boxes = gr.Textbox(label="Boxes of this frame (X,Y,W,H a line)", lines=6, elem_id="review-boxes")
                            keep_button = gr.Button("Keep these boxes for this frame", size="sm", elem_id="review-keep")
                    reviewed_button = gr.Button("Hide the reviewed boxes", variant="primary", elem_id="review-run")
                film_video = gr.Video(label="Result", interactive=False, elem_id="film-video")
                film_file = gr.DownloadButton("Download (mp4 with provenance tags)", elem_id="film-download")

        upload.change(on_upload, upload, [state, editor, status, bx, by, bw, bh])
        for button, kind in ((cam_button, "CAM"), (detect_button, "Detector")):
            button.click(functools.partial(on_propose, kind), state, [mode, bx, by, bw, bh])
        hide_button.click(on_hide, [state, *region_inputs, block], [hide_image, hide_file])
        restore_button.click(on_restore, [state, *region_inputs, restore_model], [restore_slider, restore_file])
        upscale_button.click(on_upscale, state, [*up_images, *up_files])
        tr_button.click(on_translate, [state, tr_model, tr_run, tr_dir], [tr_image, tr_file])
        pr_button.click(on_prior, [state, pr_task, *region_inputs], [pr_image, pr_file])
        film_upload.change(on_film_upload, film_upload, [film_state, film_status])
        film_button.click(on_film, [film_state, film_verb, film_region, fx, fy, fw, fh, film_block, film_model], [film_video, film_file])
        find_button.click(on_find_faces, film_state, [review, frame_slider, frame_image, frame_boxes, review_status])
        frame_slider.change(on_frame, [review, frame_slider], [frame_image, frame_boxes, frame_status])
        keep_button.click(on_keep, [review, frame_slider, frame_boxes], [review, frame_image, frame_boxes, review_status])
        reviewed_button.click(on_hide_reviewed, review, [film_video, film_file])
    app.queue(default_concurrency_limit=1)
    app.studio_workdir = workdir
    return app


def warm_restorer(device: str) -> None:
    """Load the default restoration model while the user picks a photo, so the first Restore answers
    as fast as the next (loading it took ~2.5 s of a first 512x512 Restore here). A failure is left
    for the Restore button to report."""
    from retouch.tasks.restore import DEFAULT_MODEL, load_restorer

    try:
        load_restorer(DEFAULT_MODEL, device)
    except RetouchError:
        pass


def serve(host: str = "127.0.0.1", port: int = 7860, device: str = "auto", max_pixels: int = DEFAULT_MAX_PIXELS,
          block: bool = True):
    """Build the page and serve it; returns the app (with `block=False`, the server runs in a thread)."""
    gr = _gradio()
    app = build_app(device, max_pixels)
    # System fonts, so the browser fetches nothing from outside (the default theme loads web fonts)
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    app.launch(server_name=host, server_port=port, prevent_thread_lock=True, theme=theme, show_error=True,
               allowed_paths=[str(app.studio_workdir)], footer_links=[], ssr_mode=False, quiet=False)
    threading.Thread(target=warm_restorer, args=(device,), daemon=True).start()  # after the page is up
    if block:
        app.block_thread()
    return app
