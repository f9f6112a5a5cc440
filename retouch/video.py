"""Video in and out with PyAV: frames streamed through a task in batches, everything else kept.

A task sees what it sees for a photo: float NCHW tensors in [-1, 1], upright, with a region mask
per frame. This module does the rest of a film: it decodes the video stream as it goes (memory
holds one batch plus what the region source looks ahead, never the film), encodes the task's
frames with each input frame's own timestamp (so frame count, frame rate, time base, duration and
variable frame rates survive), copies audio and subtitle packets unchanged (no re-encoding, so
the sound is bit for bit the input's), keeps the rotation tag and colour range, and writes beside
the output, renaming only once the file is whole (`retouch.atomic`). The container carries the
provenance as its `comment` (JSON) and `description` (plain words) tags, and `--regions-json`
writes every frame's boxes.

Frames are handed over in display orientation (a phone's portrait clip stored sideways with a
rotation tag comes upright, so boxes are what a player shows) and turned back before encoding.
"""

from __future__ import annotations

import contextvars
import dataclasses
import heapq
import json
import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import numpy as np
import torch
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from retouch.atomic import atomic_write
from retouch.defaults import FILM_CRF
from retouch.errors import RetouchError
from retouch.geometry import Box, region_boxes
from retouch.io import Provenance

# Container per extension (animated GIF included); what PyAV/FFmpeg calls each muxer.
FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi", ".gif": "gif"}
VIDEO_EXTENSIONS = frozenset(FORMATS)
# Sound files: read as films, so that one is refused for what it is (no video stream), not as a broken image.
SOUND_EXTENSIONS = frozenset({".wav", ".mka", ".mp3", ".m4a", ".aac", ".ac3", ".flac", ".ogg", ".opus", ".wma"})
DEFAULT_CODEC = "libx264"
DEFAULT_CRF = FILM_CRF  # why this number: retouch.defaults
_CODEC_FOR = {".webm": "libvpx-vp9", ".gif": "gif"}  # containers that cannot hold H.264
_CRF_CODECS = {"libx264", "libx265", "libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1"}
_EVEN_CHROMA = {"libx264", "libx265"}  # refuse a frame whose odd side is chroma-subsampled (161x97 at 4:2:0)

FrameFn = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]


class RegionSource(Protocol):
    """Where to act in each frame: consumes upright 1x3xHxW uint8 frames, yields one 1x1xHxW
    float mask per frame in order (it may read a few frames ahead before yielding, to smooth over time)."""

    description: str

    def masks(self, frames: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]: ...


def is_video(path: Path | str) -> bool:
    """Whether `path` names a video by its extension (how every verb decides photo or film)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def is_film(src: Path | str, dst: Path | str) -> bool:
    """Whether a verb should treat `src` as a film (how every verb decides photo or film): a video
    by its extension, except that an animated GIF written as a still image (`anim.gif -o out.png`)
    is an image whose first frame is used, as every image verb reads it. A sound file counts too, so
    that it is refused as sound (`open_video`) rather than as an image Pillow cannot read."""
    suffix = Path(src).suffix.lower()
    return suffix in SOUND_EXTENSIONS or (is_video(src) and (suffix != ".gif" or is_video(dst)))


@dataclass
class VideoInfo:
    """What a clip is: size as displayed, frame count (0 when the container does not say), rate, time base..."""

    width: int
    height: int
    frames: int
    rate: Fraction | None
    time_base: Fraction
    duration: float | None
    rotation: int
    codec: str
    audio: int
    subtitles: int


def _fail(path: Path, e: Exception) -> RetouchError:
    return RetouchError(f"{path} is not a video FFmpeg can read, or it is damaged or truncated ({type(e).__name__}); "
                        "pass an mp4, mkv, mov, webm, avi or animated gif file.")


def _damaged(path: Path, good: int, e: av.FFmpegError) -> RetouchError:
    """A film that opened but stops decoding part-way (a corrupted or cut stream): say where, since
    the advice to pass another kind of file (`_fail`) would be wrong for it."""
    where = f"after frame {good}" if good else "at its first frame"
    return RetouchError(f"{path} is damaged or truncated: decoding fails {where} ({e.strerror or type(e).__name__}); "
                        "re-export or re-download it.")


def _resized(path: Path, good: int, size: tuple[int, int], frame: av.VideoFrame) -> RetouchError:
    """A film whose frame size changes part-way (a recorded adaptive stream, clips joined without
    re-encoding): an output stream has one size, and cropping or scaling the rest would be a guess."""
    return RetouchError(f"{path} changes frame size at frame {good + 1}, from {size[0]}x{size[1]} to {frame.width}x{frame.height}; "
                        "split it there or scale it to one size first.")


_STREAM_WORDS = {"audio": "sound", "subtitle": "subtitles"}


def _holds(container: av.container.InputContainer) -> str:
    """What a file without a video stream holds, in words ("only sound")."""
    kinds = dict.fromkeys(_STREAM_WORDS.get(s.type, s.type) for s in container.streams)
    return f"it holds only {' and '.join(kinds)}" if kinds else "it holds no streams at all"


def open_video(path: Path | str) -> av.container.InputContainer:
    """Open `path` for reading; every way a user's file can fail is a RetouchError."""
    path = Path(path)
    if not path.is_file():
        raise RetouchError(f"{path} {'is a folder' if path.is_dir() else 'does not exist'}; pass a video file.")
    try:
        container = av.open(str(path))
    except av.FFmpegError as e:
        raise _fail(path, e) from None
    if not container.streams.video:
        holds = _holds(container)
        container.close()
        raise RetouchError(f"{path} has no video stream: {holds}; pass a film.")
    return container


def _rotation(frame: av.VideoFrame) -> int:
    """Quarter turns (counter-clockwise) that make a decoded frame upright; other angles are refused."""
    degrees = int(round(frame.rotation or 0)) % 360
    if degrees % 90:
        raise RetouchError(f"The video's rotation tag says {degrees} degrees; only multiples of 90 are supported.")
    return degrees // 90


def probe(path: Path | str) -> VideoInfo:
    """A clip's properties, read from the container and its first frame (rotation is a frame property)."""
    with open_video(path) as c:
        v = c.streams.video[0]
        rotation = 0
        try:
            rotation = _rotation(next(c.decode(v)))
        except (StopIteration, av.FFmpegError):
            pass
        w, h = (v.codec_context.width, v.codec_context.height)
        if rotation % 2:
            w, h = h, w
        duration = float(v.duration * v.time_base) if v.duration else (c.duration / 1e6 if c.duration else None)
        return VideoInfo(w, h, v.frames, v.average_rate or v.guessed_rate, v.time_base, duration, rotation * 90, v.codec_context.name,
                         len(c.streams.audio), len(c.streams.subtitles))


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame to an upright HxWx3 uint8 array (colour range and matrix as tagged)."""
    rgb = frame.to_ndarray(format="rgb24", src_color_range=frame.color_range or None)
    turns = _rotation(frame)
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def chw(rgb: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 array to a 1x3xHxW uint8 tensor view (no copy)."""
    return torch.from_numpy(rgb).permute(2, 0, 1)[None]


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW to float in [-1, 1], the tensors every task takes."""
    return x.float().div_(127.5).sub_(1.0)


def frame_to_tensor(frame: av.VideoFrame) -> torch.Tensor:
    """A decoded frame to an upright 1x3xHxW float tensor in [-1, 1]."""
    return to_float(chw(frame_to_rgb(frame)))


def read_frames(path: Path | str) -> Iterator[torch.Tensor]:
    """Every frame of a clip's first video stream, upright, as 1x3xHxW tensors, one at a time."""
    with open_video(path) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        good = 0
        try:
            for frame in c.decode(v):
                yield frame_to_tensor(frame)
                good += 1
        except av.FFmpegError as e:
            raise _damaged(Path(path), good, e) from None


def default_codec(dst: Path) -> str:
    return _CODEC_FOR.get(dst.suffix.lower(), DEFAULT_CODEC)


def check_output(dst: Path, codec: str | None) -> str:
    """The codec to write `dst` with, after checking that the extension and codec exist."""
    if dst.suffix.lower() not in FORMATS:
        raise RetouchError(f"Output {dst.name} is not a video file name; end it with one of {', '.join(sorted(FORMATS))}.")
    codec = codec or default_codec(dst)
    try:
        av.codec.Codec(codec, "w")
    except (av.FFmpegError, ValueError):
        raise RetouchError(f"Unknown --codec {codec!r}; use libx264 (H.264), libx265, libvpx-vp9, ffv1 (lossless) or mpeg4.") from None
    return codec


def _fits(pix_fmt: str, width: int, height: int) -> bool:
    """Whether a frame of this size fits `pix_fmt` for x264/x265: an odd side needs full-resolution
    colour on that side, so an odd-size film stays odd-size (at 4:4:4) instead of failing to encode."""
    f = av.VideoFormat(pix_fmt)
    return (width % 2 == 0 or f.chroma_width(2) == 2) and (height % 2 == 0 or f.chroma_height(2) == 2)


@dataclass
class Encoder:
    """An open output video stream: takes upright uint8 HxWx3 frames with their timestamps."""

    stream: av.video.stream.VideoStream
    pix_fmt: str
    quarter_turns: int
    color_range: int | None
    colorspace: int | None

    @classmethod
    def add(cls, out: av.container.OutputContainer, codec: str, width: int, height: int, rate: Fraction | None,
            time_base: Fraction | None, crf: int | None = None, like: av.VideoFrame | None = None, quarter_turns: int = 0,
            options: dict[str, str] | None = None) -> "Encoder":
        """A video stream on `out` of the coded (stored) size, its pixel format, range and matrix
        those of `like` (the first input frame) when the codec takes them."""
        s = out.add_stream(codec, rate=rate if rate else None)
        s.width, s.height = width, height
        formats = [f.name for f in s.codec_context.codec.video_formats or ()]
        wanted = like.format.name if like is not None else "bgr0" if "bgr0" in formats else "yuv420p"  # RGB where lossless
        if s.codec_context.codec.name in _EVEN_CHROMA:
            formats = [f for f in formats if _fits(f, width, height)]
        full = wanted.replace("420", "444").replace("422", "444")  # the same depth without subsampling, for odd sizes
        s.pix_fmt = next(f for f in (wanted, full, "yuv420p", "yuv444p", *formats) if f in formats)
        if time_base:
            s.codec_context.time_base = time_base
        opts = dict(options or {})
        if codec in _CRF_CODECS and crf is not None:
            opts.setdefault("crf", str(crf))
            if codec.startswith("libvpx"):
                opts.setdefault("b", "0")  # constant quality, not a bit-rate target
        s.codec_context.options = opts
        color_range = colorspace = None
        if like is not None:
            color_range, colorspace = like.color_range or None, like.colorspace or None
            if color_range:
                s.codec_context.color_range = color_range
            if colorspace:
                s.codec_context.colorspace = colorspace
            if like.color_primaries:
                s.codec_context.color_primaries = like.color_primaries
            if like.color_trc:
                s.codec_context.color_trc = like.color_trc
        if quarter_turns:
            s.set_display_rotation(quarter_turns * 90)
        s.thread_type = "AUTO"
        return cls(s, s.pix_fmt, quarter_turns, color_range, colorspace)

    def encode(self, rgb: np.ndarray | None, pts: int | None = None, time_base: Fraction | None = None) -> list[av.Packet]:
        """Packets for one upright HxWx3 uint8 frame (None flushes the encoder)."""
        if rgb is None:
            return self.stream.encode(None)
        if self.quarter_turns:
            rgb = np.rot90(rgb, -self.quarter_turns)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(format=self.pix_fmt, dst_colorspace=self.colorspace, dst_color_range=self.color_range)
        frame.pts, frame.time_base = pts, time_base
        return self.stream.encode(frame)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """NCHW float in [-1, 1] to uint8, rounded to nearest as a saved image is (`retouch.io`)."""
    return torch.nan_to_num(x).add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """1x3xHxW in [-1, 1] to HxWx3 uint8."""
    return quantize(x)[0].permute(1, 2, 0).numpy()


class _Stamps:
    """Timestamps handed to frames in rising order.

    Packed B-frames (DivX/Xvid in AVI, as in the real Megamind clip) label each decoded frame with
    its packet's pts, so frames come out in the right order but their stamps shuffled within a few
    frames (1, 2, 3, 5, 4, 6, 8, 7, ...), which a muxer refuses. The stamps of the frames decoded so
    far but not yet encoded are kept in a heap, and each frame encoded takes the smallest: a
    well-stamped film keeps its own, a shuffled one gets them back in order.
    """

    def __init__(self) -> None:
        self.heap: list[int] = []

    def seen(self, pts: int | None) -> None:
        if pts is not None:
            heapq.heappush(self.heap, pts)

    def next(self, pts: int | None) -> int | None:
        return heapq.heappop(self.heap) if pts is not None and self.heap else pts


REORDER = 4  # frames a plain re-encode holds back so that `_Stamps` sees the shuffled ones together


@dataclass
class _Pending:
    frame: np.ndarray  # HxWx3 uint8, upright; regions are written into it in place
    pts: int | None
    time_base: Fraction | None


def window(masks: torch.Tensor, context: int) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) around every region of N x 1 x H x W masks with `context`
    pixels of surroundings, or None when no frame has a region (or `context` is None)."""
    if context is None:
        return None
    rows, cols = masks.amax((0, 1, 3)) > 0.5, masks.amax((0, 1, 2)) > 0.5
    if not bool(rows.any()):
        return None
    ys, xs = torch.nonzero(rows).flatten(), torch.nonzero(cols).flatten()
    h, w = masks.shape[2:]
    return (max(0, int(ys[0]) - context), min(h, int(ys[-1]) + 1 + context),
            max(0, int(xs[0]) - context), min(w, int(xs[-1]) + 1 + context))


_listener: contextvars.ContextVar[Callable[[int, int], None] | None] = contextvars.ContextVar("retouch_video_listener", default=None)


@contextmanager
def listening(callback: Callable[[int, int], None]) -> Iterator[None]:
    """Within this block, every film a task streams calls `callback(frames done, frames in all or 0)`
    after each batch: how `retouch studio` shows a film's progress without each task taking a callback."""
    token = _listener.set(callback)
    try:
        yield
    finally:
        _listener.reset(token)


def _progress(total: int, what: str, show: bool) -> Progress:
    columns = [TextColumn(what), BarColumn(), MofNCompleteColumn(), TextColumn("frames  {task.fields[fps]:.1f} fps"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    return Progress(*columns, disable=not show, transient=False)


def describe(provenance: Provenance, regions: RegionSource | None) -> str:
    """The plain-language provenance of a film (its `description` tag)."""
    where = "The whole of every frame was" if regions is None else f"The regions ({regions.description}) were"
    if provenance.task == "mosaic":
        return f"{where} hidden behind a mosaic with {provenance.tool} {provenance.version}; the rest of each frame is unchanged."
    return (f"{where} synthesised by model '{provenance.model}' (task: {provenance.task}) with {provenance.tool} "
            f"{provenance.version}. Synthesised pixels are the model's invention, not a recovery of what was there.")


def _runs(indices: list[int]) -> str:
    """Frame numbers as ranges ("0-11,15-20") for the provenance tag."""
    parts, start = [], None
    for i, n in enumerate(indices):
        if start is None:
            start = n
        if i + 1 == len(indices) or indices[i + 1] != n + 1:
            parts.append(f"{start}-{n}" if n > start else str(start))
            start = None
    return ",".join(parts)


class _Writer:
    """Encodes and muxes on a thread of its own, in the order jobs are submitted.

    x264 works on its own threads but takes frames only as fast as it finishes them; run in
    line, the model waits for the encoder and the encoder idles while the model runs. Here the
    model restores the next batch while the last one is encoded (PyAV and torch both release
    the GIL). The queue is bounded, so memory holds a few frames more, never the film.
    """

    def __init__(self, depth: int) -> None:
        self.jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(depth)
        self.error: BaseException | None = None
        self.abandoned = False
        self.thread = threading.Thread(target=self._run, name="retouch-video-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            if self.error is None and not self.abandoned:  # after a failure the rest is drained, not run
                try:
                    job()
                except BaseException as e:  # handed to the main thread at its next submit
                    self.error = e

    def submit(self, job: Callable[[], None]) -> None:
        if self.error is not None:
            raise self.error
        self.jobs.put(job)

    def close(self, finished: bool) -> None:
        """Wait for every job (`finished`) or only the one running (after a failure elsewhere)."""
        self.abandoned = not finished
        self.jobs.put(None)
        self.thread.join()
        if finished and self.error is not None:
            raise self.error


def _ahead(items: Generator[torch.Tensor, None, None], depth: int) -> Iterator[torch.Tensor]:
    """`items`, produced on a thread of their own up to `depth` ahead: the decoder and its
    colour conversion run while the model works. Errors come out where the item would have."""
    done = object()
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        """Hand over `item` unless the consumer has gone (a failure or Ctrl-C on its side)."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as e:
            put(e)
        finally:
            items.close()

    thread = threading.Thread(target=produce, name="retouch-video-reader", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


@contextmanager
def _writing(depth: int) -> Iterator[_Writer]:
    """A `_Writer` that is done with the output container before it closes, whatever happens."""
    writer = _Writer(depth)
    try:
        yield writer
    except BaseException:
        writer.close(finished=False)
        raise
    writer.close(finished=True)


def process_video(src: Path, dst: Path, fn: FrameFn, provenance: Provenance, regions: RegionSource | None = None,
                  codec: str | None = None, crf: int | None = DEFAULT_CRF, batch: int = 8, scale: int = 1,
                  regions_json: Path | None = None, context: int | None = 64, show_progress: bool = True) -> list[list[Box]]:
    """Stream `src` through `fn` into `dst`; returns every frame's boxes (empty lists without regions).

    `fn(frames N x 3 x H x W, masks N x 1 x H x W or None)` returns N x 3 x (scale H) x (scale W).
    With regions and a `context`, `fn` sees only the window around the batch's regions with
    `context` pixels of real surroundings (what a region task reads), and the rest of each frame
    is passed through untouched, so a 128 px region costs the same in a 4K film as in a
    thumbnail; `context=None` hands over whole frames. Torch gets half the threads while the
    film streams: the decoder and the encoder (x264 is frame-threaded) work on the others, and
    on a 2-core CPU a second torch thread only fights them (measured: 0.57x against 0.75-0.85x
    of a plain re-encode's speed for `retouch mosaic --box` on a 720p clip).
    Decoding and encoding run on threads of their own beside the model (`_ahead`, `_Writer`):
    on a 2-core AVX2 EPYC this took the 720p film case of `retouch bench` from 8.2 to 10.1-11.1
    frames/s.
    Audio and subtitle streams are copied packet for packet; the output video stream takes every
    input frame's timestamp. The container's `comment` tag holds the provenance as JSON
    (model, task, where the regions came from), `description` says it in words.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // 2))  # the decoder's and encoder's threads work alongside on the other cores
    try:
        return _process(Path(src), Path(dst), fn, provenance, regions, codec, crf, batch, scale, regions_json, context, show_progress)
    finally:
        torch.set_num_threads(threads)


def _process(src: Path, dst: Path, fn: FrameFn, provenance: Provenance, regions: RegionSource | None, codec: str | None,
             crf: int | None, batch: int, scale: int, regions_json: Path | None, context: int | None,
             show_progress: bool) -> list[list[Box]]:

    all_boxes: list[list[Box]] = []
    with open_video(src) as inp:  # before the output's name is checked: a sound file is refused as sound
        codec = check_output(dst, codec)
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        copies = [s for s in inp.streams if s.type in ("audio", "subtitle")]
        info_total = vin.frames or (int(vin.duration * vin.time_base * vin.average_rate) if vin.duration and vin.average_rate else 0)
        dst.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(dst) as f, av.open(f, "w", format=FORMATS[dst.suffix.lower()]) as out, \
                _progress(info_total, provenance.task or "video", show_progress) as bar, _writing(2 * batch) as writer:
            meta = {**dataclasses.asdict(provenance), "regions_from": regions.description if regions else "whole frames"}
            out.metadata["comment"] = json.dumps(meta, sort_keys=True)
            out.metadata["description"] = describe(provenance, regions)
            try:
                mapping = {s: out.add_stream_from_template(s) for s in copies}
            except (av.FFmpegError, ValueError) as e:
                raise RetouchError(f"{dst.suffix} cannot hold the input's audio or subtitle codec ({e}); write .mkv instead.") from None
            task = bar.add_task("frames", total=info_total or None, fps=0.0)
            enc: Encoder | None = None
            waiting: list[av.Packet] = []  # copied packets demuxed before the output header can be written
            pending: deque[_Pending] = deque()
            stamps = _Stamps()

            def mux(packets: Iterable[av.Packet]) -> None:
                try:
                    out.mux(list(packets))
                except av.FFmpegError as e:
                    raise RetouchError(f"Could not write {dst.name} ({e}); try another container such as .mkv.") from None

            def encode(rgb: np.ndarray | None, pts: int | None = None, time_base: Fraction | None = None) -> None:
                writer.submit(lambda: mux(enc.encode(rgb, pts, time_base)))

            def decoded() -> Iterator[torch.Tensor]:
                nonlocal enc
                size, good = None, 0  # the first frame's stored size; frames decoded
                try:
                    for packet in inp.demux(vin, *copies):
                        if packet.stream is not vin:
                            if packet.dts is None:
                                continue
                            packet.stream = mapping[packet.stream]
                            if enc is None:
                                waiting.append(packet)
                            else:
                                writer.submit(lambda p=packet: mux([p]))
                            continue
                        for frame in packet.decode():
                            size = size or (frame.width, frame.height)
                            if (frame.width, frame.height) != size:
                                raise _resized(src, good, size, frame)
                            if enc is None:
                                turns = _rotation(frame)
                                w, h = frame.width * scale, frame.height * scale
                                enc = Encoder.add(out, codec, w, h, vin.average_rate or vin.guessed_rate, vin.time_base, crf, frame, turns)
                                writer.submit(lambda held=list(waiting): mux(held))
                                waiting.clear()
                            rgb = frame_to_rgb(frame)
                            if not rgb.flags.writeable:
                                rgb = rgb.copy()
                            pts = frame.pts if frame.pts is not None else frame.dts
                            stamps.seen(pts)
                            pending.append(_Pending(rgb, pts, frame.time_base))
                            good += 1
                            yield chw(rgb)
                except av.FFmpegError as e:
                    raise _damaged(src, good, e) from None

            seen: dict[int, tuple[torch.Tensor, list[Box], tuple[int, int, int, int] | None]] = {}
            listener = _listener.get()

            def regions_of(m: torch.Tensor) -> tuple[list[Box], tuple[int, int, int, int] | None]:
                """Boxes and context window of a mask; a static source hands over one mask object, measured once."""
                if id(m) not in seen:
                    seen.clear()
                    seen[id(m)] = (m, region_boxes(m), window(m, context))
                return seen[id(m)][1:]

            def flush(items: list[tuple[_Pending, torch.Tensor | None]]) -> None:
                if regions is not None and context is not None:
                    found = [regions_of(m) for _, m in items]
                    windows = [w for _, w in found if w is not None]
                    all_boxes.extend(b for b, _ in found)
                    if windows:  # one window around every region of the batch
                        t0, l0 = min(w[0] for w in windows), min(w[2] for w in windows)
                        t1, l1 = max(w[1] for w in windows), max(w[3] for w in windows)
                        frames = torch.cat([chw(p.frame[t0:t1, l0:l1]) for p, _ in items])
                        masks = torch.cat([m[:, :, t0:t1, l0:l1] for _, m in items])
                        crops = quantize(fn(to_float(frames), masks)).permute(0, 2, 3, 1).numpy()
                        for (p, _), crop in zip(items, crops):
                            p.frame[t0:t1, l0:l1] = crop
                    outputs = [p.frame for p, _ in items]
                else:
                    frames = to_float(torch.cat([chw(p.frame) for p, _ in items]))
                    masks = None if regions is None else torch.cat([m for _, m in items])
                    outputs = list(quantize(fn(frames, masks)).permute(0, 2, 3, 1).numpy())
                    all_boxes.extend(regions_of(m)[0] if m is not None else [] for _, m in items)
                for (p, _), rgb in zip(items, outputs):
                    encode(rgb, stamps.next(p.pts), p.time_base)
                bar.update(task, advance=len(items))
                elapsed = bar.tasks[0].elapsed or 0
                bar.update(task, fps=len(all_boxes) / elapsed if elapsed else 0.0)
                if listener is not None:
                    listener(len(all_boxes), info_total)

            stream = _ahead(decoded(), batch)
            masks = regions.masks(stream) if regions else (None for _ in stream)
            items: list[tuple[_Pending, torch.Tensor | None]] = []
            try:
                for mask in masks:
                    items.append((pending.popleft(), mask))
                    if len(items) == batch:
                        flush(items)
                        items = []
                if items:
                    flush(items)
            finally:  # the reader thread stops before the input closes, also when this raised
                stream.close()
            if enc is None:
                raise RetouchError(f"{src} has a video stream but no frame could be decoded; it is empty or damaged.")
            encode(None)
    if regions_json is not None:
        write_regions_json(regions_json, all_boxes, provenance, regions)
    return all_boxes


def reencode(src: Path, dst: Path, codec: str | None = None, crf: int | None = DEFAULT_CRF) -> int:
    """A plain decode and re-encode of `src` (same encoder settings as `process_video`, no RGB
    round trip, sound copied): the baseline a video task's speed is measured against. Returns
    the frame count."""
    src, dst = Path(src), Path(dst)
    codec = check_output(dst, codec)
    frames = 0
    with open_video(src) as inp, atomic_write(dst) as f, av.open(f, "w", format=FORMATS[dst.suffix.lower()]) as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        copies = {s: out.add_stream_from_template(s) for s in inp.streams if s.type in ("audio", "subtitle")}
        enc = None
        waiting: list[av.Packet] = []
        held: deque[av.VideoFrame] = deque()
        stamps = _Stamps()

        def encode(frame: av.VideoFrame) -> None:
            frame.pts = stamps.next(frame.pts)
            frame.pict_type = av.video.frame.PictureType.NONE  # let the encoder choose, as it does for new frames
            out.mux(enc.stream.encode(frame))

        for packet in inp.demux(vin, *copies):
            if packet.stream is not vin:
                if packet.dts is not None:
                    packet.stream = copies[packet.stream]
                    waiting.append(packet) if enc is None else out.mux(packet)
                continue
            for frame in packet.decode():
                if enc is None:
                    enc = Encoder.add(out, codec, frame.width, frame.height, vin.average_rate or vin.guessed_rate, vin.time_base,
                                      crf, frame, _rotation(frame))
                    out.mux(waiting)
                stamps.seen(frame.pts)
                held.append(frame)
                if len(held) > REORDER:
                    encode(held.popleft())
                frames += 1
        while held:
            encode(held.popleft())
        out.mux(enc.stream.encode(None))
    return frames


def write_regions_json(path: Path, boxes: list[list[Box]], provenance: Provenance, regions: RegionSource | None) -> Path:
    """Every frame's boxes (x, y, w, h, upright pixels) with the provenance, written atomically."""
    report = {**dataclasses.asdict(provenance), "regions_from": regions.description if regions else "whole frames",
              "frames_with_regions": _runs([i for i, b in enumerate(boxes) if b]),
              "boxes": [[list(b) for b in frame] for frame in boxes]}
    with atomic_write(Path(path)) as f:
        f.write(json.dumps(report).encode())
    return Path(path)


def per_frame(fn: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]) -> FrameFn:
    """A FrameFn from a function of one frame (1x3xHxW) and its mask (1x1xHxW or None)."""
    def run(frames: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([fn(frames[i : i + 1], None if masks is None else masks[i : i + 1]) for i in range(len(frames))])
    return run
