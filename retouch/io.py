"""Image IO at the edges of the toolkit: files in any mode in, float tensors out, and back.

Inside retouch an image is a float32 NCHW tensor in [-1, 1]; PIL appears only here. Reading
normalises every PIL mode to 8-bit RGB (EXIF orientation applied, alpha composited over white,
16-bit and float data scaled rather than clipped). Writing is atomic and stamps each file with
provenance metadata saying which regions a model synthesised, because restored detail is
invented, not recovered, and whoever sees the file later deserves to know.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

import retouch
from retouch import limits
from retouch.atomic import atomic_write
from retouch.errors import RetouchError
from retouch.limits import DEFAULT_MAX_PIXELS, set_max_pixels

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})

# Output format per extension; the formats whose files can hold an alpha channel.
_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
_ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}

# EXIF tags used for provenance in JPEG / WebP / TIFF files.
_EXIF_SOFTWARE = 0x0131
_EXIF_IMAGE_DESCRIPTION = 0x010E
_EXIF_IFD = 0x8769  # pointer to the Exif sub-IFD
_EXIF_USER_COMMENT = 0x9286  # in the Exif sub-IFD; holds the provenance JSON
_USER_COMMENT_ASCII = b"ASCII\x00\x00\x00"  # the 8-byte character-code prefix EXIF requires

_WHITE = (255, 255, 255, 255)

log = logging.getLogger(__name__)

def _too_large(path: Path, size: tuple[int, int] | None = None, pixels: int | None = None) -> RetouchError:
    """The `--max-pixels` refusal, saying how to raise the limit for this very file."""
    pixels = size[0] * size[1] if size else pixels
    what = f"is {size[0]}x{size[1]} pixels" if size else f"claims {pixels / 1e6:.0f} megapixels" if pixels else "claims too many pixels"
    need = str(pixels) if pixels else str(4 * limits.max_pixels())
    return RetouchError(
        f"{path} {what}, over the limit of {limits.max_pixels() / 1e6:g} megapixels that guards against decompression bombs; "
        f"if you trust the file, pass --max-pixels {need} (or 0 for no limit)."
    )


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name (hidden files skipped).

    Non-recursive on purpose: a folder is one set of images, and sub-folders (e.g. `trainA/`,
    `trainB/`) usually mean something different.
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise RetouchError(f"{folder} {what}; pass a folder that contains images.")
    images = sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    )
    if not images:
        kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise RetouchError(f"{folder} contains no images; put {kinds} files in it.")
    return images


def file_pairs(inputs: Path, output: Path) -> list[tuple[Path, Path]]:
    """(source, destination) for every command that maps images to images: a file to a file (or
    into a folder), or a folder to a folder with the same file names."""
    if inputs.is_dir():
        if output.suffix.lower() in IMAGE_EXTENSIONS:
            raise RetouchError(f"Input {inputs} is a folder, so the output must be a folder, not {output.name}.")
        return [(p, output / p.name) for p in list_images(inputs)]
    if not inputs.exists():
        raise RetouchError(f"Input {inputs} does not exist.")
    return [(inputs, output / inputs.name if output.is_dir() or not output.suffix else output)]


def _open(path: Path) -> Image.Image:
    """Open and fully decode `path`, turning every way a user's file can fail into RetouchError.

    The header's size is checked against `--max-pixels` before any pixel is decoded. Pillow's
    warnings about malformed metadata are dropped: the pixels are what matters, and a warning
    would break the one-line answer the CLI promises. An animated file gives its first frame.
    """
    path = Path(path)
    if not path.exists():
        raise RetouchError(f"{path} does not exist; check the path.")
    if path.is_dir():
        raise RetouchError(f"{path} is a folder, not an image; pass an image file.")
    if not stat.S_ISREG(path.stat().st_mode):  # a FIFO or device would block or never end
        raise RetouchError(f"{path} is not a regular file; pass an image file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                if limits.max_pixels() and im.size[0] * im.size[1] > limits.max_pixels():
                    raise _too_large(path, im.size)
                if getattr(im, "n_frames", 1) > 1:
                    log.warning("%s has %d frames; using the first.", path, im.n_frames)
                im.load()  # decode now, so truncated files fail here and not deep inside a model
                try:
                    return ImageOps.exif_transpose(im)  # a new (or copied) image; the file can close
                except Exception:  # malformed EXIF must not make a readable image unreadable
                    return im.copy()
    except RetouchError:
        raise
    except UnidentifiedImageError:
        raise RetouchError(f"{path} is not an image Pillow can read; pass a PNG, JPEG, TIFF, WebP or BMP file.") from None
    except Image.DecompressionBombError as e:  # Pillow's own check (twice the limit) fired inside open()
        claimed = re.search(r"\((\d+) pixels\)", str(e))
        raise _too_large(path, pixels=int(claimed.group(1)) if claimed else None) from None
    except PermissionError:
        raise RetouchError(f"{path} cannot be read (permission denied); make it readable or copy it somewhere you own.") from None
    except MemoryError:
        raise RetouchError(f"{path} does not fit in memory once decoded; downscale it or lower --max-pixels to refuse such files.") from None
    except Exception as e:  # any other decoder failure (OSError, SyntaxError, struct.error, ...) is a damaged file
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RetouchError(f"{path} is damaged or truncated ({reason}); re-export or re-download it.") from None


def _has_alpha(im: Image.Image) -> bool:
    return "A" in im.getbands() or "a" in im.getbands() or "transparency" in im.info


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB, as the image looks on a white page.

    - transparency (RGBA, LA, PA, P or L/RGB with a tRNS colour) is composited over white;
    - 16-bit / 32-bit integer greyscale (`I;16*`, `I`) is scaled from 0..65535 to 0..255
      (Pillow's own `convert` clips at 255, which turns most 16-bit images white);
    - float (`F`) is taken as 0..1 when all values lie in [0, 1] (the usual float-TIFF
      convention), else as 0..255 like Pillow's `L`;
    - everything else (1, L, P, CMYK, YCbCr, ...) uses Pillow's conversion.
    """
    if im.mode == "RGB" and "transparency" not in im.info:
        return im
    if im.mode.startswith("I") or im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if im.mode == "F":
            finite = a[np.isfinite(a)]
            in_unit = finite.size == 0 or (finite.min() >= 0.0 and finite.max() <= 1.0)
            a = np.nan_to_num(a) * (255.0 if in_unit else 1.0)
        else:
            a = a * (255.0 / 65535.0)
        grey = Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8), mode="L")
        return grey.convert("RGB")
    if _has_alpha(im):
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE), rgba).convert("RGB")
    try:
        return im.convert("RGB")
    except ValueError:
        raise RetouchError(f"Images in mode {im.mode} are not supported; convert it to RGB first.") from None


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL image as a new 8-bit RGB image, converted as `load_image` converts files."""
    out = _to_rgb(img)
    return out.copy() if out is img else out


def load_image(path: Path | str) -> Image.Image:
    """Read an image file as an upright 8-bit RGB PIL image (see `_to_rgb` for each mode).

    Orientation comes from EXIF so phone photos are not processed sideways.
    """
    return _to_rgb(_open(Path(path)))


def load_alpha(path: Path | str) -> Image.Image | None:
    """The file's alpha channel (mode L, upright like `load_image`), or None when it has none.

    `load_image` flattens transparency; callers that want to keep it pass this to `save_image`.
    """
    im = _open(Path(path))
    if not _has_alpha(im):
        return None
    try:
        return im.convert("RGBA").getchannel("A")
    except ValueError:  # a mode Pillow cannot turn into RGBA: treat as opaque
        return None


# Rows converted at a time between uint8 and float: the float temporaries stay a strip, so a
# 100 MP image costs its buffers and not several float copies of itself.
_STRIP_ROWS = 256


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image to a 1x3xHxW float32 tensor in [-1, 1] (non-RGB modes converted as on load)."""
    im = _to_rgb(img)
    w, h = im.size
    t = torch.empty(1, 3, h, w)
    for top in range(0, h, _STRIP_ROWS):
        strip = np.array(im.crop((0, top, w, min(h, top + _STRIP_ROWS))), dtype=np.uint8)
        t[0, :, top : top + strip.shape[0]] = torch.from_numpy(strip).permute(2, 0, 1)
    return t.div_(127.5).sub_(1.0)


def _quantize(t: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """1x3xHxW or 3xHxW in [-1, 1] to a 3xHxW (or HxWx3) uint8 CPU tensor, exactly as a saved file
    holds it; converted a strip of rows at a time.

    Shared with `retouch.metrics`, which compares images the way they are saved.
    """
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected one image (1x3xHxW), got a batch of shape {tuple(t.shape)}")
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"expected a 1x3xHxW or 3xHxW image tensor, got shape {tuple(t.shape)}")
    _, h, w = t.shape
    out = torch.empty((h, w, 3) if channels_last else (3, h, w), dtype=torch.uint8)
    for top in range(0, h, _STRIP_ROWS):
        strip = torch.nan_to_num(t[:, top : top + _STRIP_ROWS].detach().to("cpu", torch.float32))
        strip = strip.clamp_(-1.0, 1.0).add_(1.0).mul_(127.5).round_()  # whole numbers in 0..255: the cast is exact
        if channels_last:
            out[top : top + _STRIP_ROWS] = strip.permute(1, 2, 0)
        else:
            out[:, top : top + _STRIP_ROWS] = strip
    return out


def to_pil(t: torch.Tensor) -> Image.Image:
    """A 1x3xHxW or 3xHxW tensor in [-1, 1] to an RGB PIL image (clamped, rounded to nearest)."""
    return Image.fromarray(_quantize(t, channels_last=True).numpy(), mode="RGB")


def read_image(path: Path | str) -> torch.Tensor:
    """Read an image file straight to a 1x3xHxW float32 tensor in [-1, 1]."""
    return to_tensor(load_image(path))


# ----------------------------------------------------------------------------------------------
# Provenance


@dataclass(kw_only=True)
class Provenance:
    """What retouch did to an image, written into every file it saves.

    `regions` are the synthesised boxes (x, y, w, h) in output pixels; None means the whole image.
    """

    model: str | None = None
    task: str | None = None
    regions: list[tuple[int, int, int, int]] | None = None
    tool: str = "retouch"
    version: str = retouch.__version__

    def description(self) -> str:
        """One plain-language paragraph for the file's Description / ImageDescription."""
        hiding = self.task == "mosaic"  # anonymising: nothing was invented, something was removed
        by = f"model '{self.model}'" if self.model else "a retouch model"
        if self.task and not hiding:
            by += f" (task: {self.task})"
        done = "hidden behind a mosaic" if hiding else f"synthesised by {by}"
        if self.regions is None:
            where = "The whole image was"
        elif not self.regions:
            return f"Processed by {self.tool} {self.version}; no region was {done}."
        else:
            boxes = "; ".join(f"x={x}, y={y}, w={w}, h={h}" for x, y, w, h in self.regions)
            n = len(self.regions)
            where = f"{n} region{'s' if n > 1 else ''} ({boxes}) {'were' if n > 1 else 'was'}"
        if hiding:
            return f"{where} {done} with {self.tool} {self.version}; the rest of the image is unchanged."
        return (
            f"{where} {done} with {self.tool} {self.version}. "
            "Restoration invents plausible detail: it does not recover what was hidden."
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=True, sort_keys=True)


def _provenance_dict(text: str | bytes | None) -> dict[str, Any] | None:
    if text is None:
        return None
    if isinstance(text, bytes):
        if text.startswith(_USER_COMMENT_ASCII):
            text = text[len(_USER_COMMENT_ASCII) :]
        text = text.decode("utf-8", "replace")
    try:
        d = json.loads(text.rstrip("\x00"))
    except ValueError:
        return None
    if not isinstance(d, dict):
        return None
    if isinstance(d.get("regions"), list):
        d["regions"] = [tuple(r) for r in d["regions"]]
    return d


def read_provenance(path: Path | str) -> dict[str, Any] | None:
    """The provenance retouch wrote into `path`, as a dict (`Provenance(**d)` rebuilds it).

    None when the file carries none (not written by retouch, or a BMP). Regions come back as
    tuples so the dict compares equal to `dataclasses.asdict(provenance)`.
    """
    path = Path(path)
    if not path.is_file():
        raise RetouchError(f"{path} does not exist; check the path.")
    try:
        with Image.open(path) as im:
            if im.format == "PNG":
                im.load()  # text chunks after the image data are read on load
                return _provenance_dict(getattr(im, "text", {}).get("retouch"))
            exif = im.getexif()
            return _provenance_dict(exif.get_ifd(_EXIF_IFD).get(_EXIF_USER_COMMENT))
    except UnidentifiedImageError:
        raise RetouchError(f"{path} is not an image Pillow can read; pass an image retouch wrote.") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise RetouchError(f"{path} is damaged or truncated ({e}); re-export or re-download it.") from None


# ----------------------------------------------------------------------------------------------
# Writing


def _metadata(fmt: str, provenance: Provenance | None) -> dict[str, Any]:
    """Pillow `save` keyword arguments that embed the provenance for format `fmt`."""
    software = f"{retouch.__name__} {retouch.__version__}"
    if fmt == "BMP":
        return {}
    if fmt == "PNG":
        info = PngInfo()
        info.add_text("Software", software)
        if provenance is not None:
            info.add_text("Description", provenance.description())  # iTXt if not Latin-1
            info.add_text("retouch", provenance.to_json())
        return {"pnginfo": info}
    exif = Image.Exif()
    exif[_EXIF_SOFTWARE] = software
    if provenance is not None:
        exif[_EXIF_IMAGE_DESCRIPTION] = provenance.description()
        exif.get_ifd(_EXIF_IFD)[_EXIF_USER_COMMENT] = _USER_COMMENT_ASCII + provenance.to_json().encode("ascii")
    # Bytes, not the Exif object: TIFF only writes the Exif sub-IFD from serialised EXIF.
    kwargs: dict[str, Any] = {"exif": exif.tobytes()}
    if fmt == "JPEG":
        kwargs["quality"] = 95
    return kwargs


def save_image(
    image: Image.Image | torch.Tensor,
    path: Path | str,
    provenance: Provenance | None = None,
    alpha: Image.Image | None = None,
) -> Path:
    """Write `image` to `path` atomically, with provenance metadata, and return the path.

    The format follows the extension. The file appears complete or not at all (a temporary file
    in the same folder is renamed over it), so a crash never leaves a half-written image or
    clobbers an existing one. A PIL image that is not RGB is converted as `load_image` would
    (alpha composited over white); pass `alpha` (mode L, same size) to keep transparency in
    PNG, WebP and TIFF; other formats ignore it. BMP cannot hold metadata, so saving a BMP with
    a provenance raises rather than silently dropping the record of what was synthesised.
    """
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise RetouchError(f"Cannot save {path}: unknown extension {path.suffix!r}; use one of {kinds}.")
    if fmt == "BMP" and provenance is not None:
        raise RetouchError(
            f"Cannot save {path}: BMP files cannot record which regions were synthesised; save as .png, .jpg, .webp or .tif."
        )
    im = to_pil(image) if isinstance(image, torch.Tensor) else _to_rgb(image)
    if alpha is not None and fmt in _ALPHA_FORMATS:
        if alpha.size != im.size:
            raise ValueError(f"alpha is {alpha.size[0]}x{alpha.size[1]} but the image is {im.size[0]}x{im.size[1]}")
        im = im.copy()
        im.putalpha(alpha.convert("L"))
    kwargs = _metadata(fmt, provenance)

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RetouchError(f"Cannot create the folder {path.parent} ({e.strerror}); choose an output folder you can write to.") from None
    # Pillow's encoders read settings from `info` (a source TIFF's compression, a JPEG's EXIF offsets,
    # ...) that describe the file an image was read from, not the one written now: save without them.
    info, im.info = im.info, {}
    try:
        with atomic_write(path) as f:
            im.save(f, format=fmt, **kwargs)
    except OSError as e:
        if e.errno is None:  # the encoder failed, not the filesystem
            raise
        raise RetouchError(f"Cannot write {path} ({e}); choose an output folder you can write to with free space.") from None
    finally:
        im.info = info
    return path


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "Provenance",
    "list_images",
    "load_alpha",
    "load_image",
    "read_image",
    "read_provenance",
    "save_image",
    "set_max_pixels",
    "to_pil",
    "to_rgb",
    "to_tensor",
]
