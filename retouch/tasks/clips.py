"""`retouch data video`: short clips with clean ground truth, a camera moving over real photos.

Each photo becomes one clip: a window of the output's aspect ratio pans from one side of the
photo to the other and zooms in by `zoom`, resampled with sub-pixel precision (an affine
transform per frame, bicubic), so consecutive frames differ the way a real camera's do and
optical flow can align them. A sine tone (440 Hz, AAC) gives the clip a sound track whose
packets the video verbs must copy unchanged. Seeded: the same arguments write the same clips.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image
from rich.progress import track

from retouch.atomic import atomic_write
from retouch.errors import RetouchError
from retouch.io import list_images, load_image
from retouch.video import DEFAULT_CRF, FORMATS, Encoder, check_output

SAMPLE_RATE = 48_000
TONE_HZ = 440.0


def camera_path(size: tuple[int, int], width: int, height: int, frames: int, zoom: float = 1.25,
                gen: torch.Generator | None = None) -> Iterator[tuple[float, float, float]]:
    """Per frame, (scale, x0, y0): output pixel (u, v) shows the photo (of `size`) at
    (x0 + u * scale, y0 + v * scale). A pan across the photo (random direction) with a zoom-in;
    tests map a known box of the photo into every frame with it."""
    W, H = size
    base = min(W / width, H / height) * 0.9  # source pixels per output pixel at the widest view
    angle = float(torch.rand((), generator=gen)) * 2 * math.pi
    for i in range(frames):
        s = i / max(1, frames - 1)
        scale = base / (1 + (zoom - 1) * s)
        vw, vh = width * scale, height * scale
        free_x, free_y = (W - vw) / 2, (H - vh) / 2  # how far the window's centre may move
        cx = W / 2 + free_x * 0.8 * math.cos(angle) * (2 * s - 1)
        cy = H / 2 + free_y * 0.8 * math.sin(angle) * (2 * s - 1)
        yield scale, cx - vw / 2, cy - vh / 2


def camera_frames(photo: Image.Image, width: int, height: int, frames: int, zoom: float = 1.25,
                  gen: torch.Generator | None = None) -> Iterator[np.ndarray]:
    """`frames` HxWx3 uint8 views of `photo` along `camera_path`, one at a time (a minute of
    1080p never sits in memory)."""
    for scale, x0, y0 in camera_path(photo.size, width, height, frames, zoom, gen):
        data = (scale, 0, x0, 0, scale, y0)
        yield np.asarray(photo.transform((width, height), Image.Transform.AFFINE, data, Image.Resampling.BICUBIC))


def write_clip(path: Path, frames: Iterable[np.ndarray], fps: int = 25, codec: str | None = None, crf: int = DEFAULT_CRF,
               audio: bool = True) -> Path:
    """Frames (HxWx3 uint8, streamed) to a clip at `fps` with a sine tone as long as the video,
    written as it goes (sound interleaved with the frames), atomically."""
    codec = check_output(path, codec)
    with atomic_write(path) as f, av.open(f, "w", format=FORMATS[path.suffix.lower()]) as out:
        sound = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono") if audio else None
        enc = None
        samples = 0  # tone written so far

        def tone(until: int) -> None:
            """The sine up to sample `until`, in AAC's 1024-sample frames (only the last may be shorter)."""
            nonlocal samples
            while samples < until:
                size = min(1024, until - samples)
                t = (samples + np.arange(size)) / SAMPLE_RATE
                chunk = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * math.pi * TONE_HZ * t)).astype(np.float32)[None],
                                                   format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = SAMPLE_RATE, samples, Fraction(1, SAMPLE_RATE)
                out.mux(sound.encode(chunk))
                samples += size

        n = 0
        for n, rgb in enumerate(frames, start=1):
            if enc is None:
                h, w = rgb.shape[:2]
                enc = Encoder.add(out, codec, w, h, Fraction(fps), Fraction(1, fps), crf)
            out.mux(enc.encode(rgb, n - 1, Fraction(1, fps)))
            if sound is not None:
                tone(n * SAMPLE_RATE // fps // 1024 * 1024)  # whole chunks up to this frame's time
        if enc is None:
            raise RetouchError(f"No frames to write to {path}.")
        out.mux(enc.encode(None))
        if sound is not None:
            tone(n * SAMPLE_RATE // fps)  # the rest, to the video's length
            out.mux(sound.encode(None))
    return path


def make_clips(src: Path, dst: Path, seconds: float = 2.0, size: tuple[int, int] = (320, 240), fps: int = 25,
               zoom: float = 1.25, limit: int | None = None, codec: str | None = None, crf: int = DEFAULT_CRF,
               ext: str = ".mp4", seed: int = 0, show_progress: bool = True) -> list[Path]:
    """One clip per photo in `src` (name order, the first `limit`), written as `dst/<stem><ext>`."""
    if seconds <= 0 or fps <= 0:
        raise RetouchError(f"--seconds and --fps must be positive, got {seconds} and {fps}.")
    photos = list_images(src)[:limit]
    dst.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    n = max(2, round(seconds * fps))
    written = []
    for photo in track(photos, description="clips", disable=not show_progress or len(photos) < 2):
        frames = camera_frames(load_image(photo), size[0], size[1], n, zoom, gen)
        written.append(write_clip(dst / f"{photo.stem}{ext}", frames, fps, codec, crf))
    return written
