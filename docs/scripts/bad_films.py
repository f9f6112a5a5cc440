"""A corpus of bad and unusual films, made with PyAV alone, for the film verbs (issue 47).

Every film must get, from `retouch mosaic` and `retouch demosaic`, either a correct output (a film
with the frames, frame size and sound that the input decodes to) or a one-line error with exit
status 2: no traceback, and nothing left in the output folder when it fails. The corpus is made on
the fly in about a second (tiny clips, never committed): truncated, empty and corrupted files, a
text file named .mp4, variable frame rates and late timestamps, rotation tags, 10-bit and H.265 video, odd
frame sizes, a size change mid-film, sound without video, a single frame, DivX-style MPEG-4 with
B-frames in AVI, camera MJPEG and a subtitle track.

    python docs/scripts/bad_films.py DIR     # write the corpus, list what each file should give

tests/test_bad_films.py runs both verbs over it.
"""

from __future__ import annotations

import argparse
import io
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

OUTPUT, REFUSED = "output", "refused"
W, H, FRAMES, FPS = 96, 64, 8, 10
SAMPLE_RATE = 48_000


@dataclass
class Film:
    """One file of the corpus and what a film verb must make of it."""

    path: Path
    kind: str
    expect: str  # OUTPUT or REFUSED
    says: str = ""  # words a refusal must contain, where it must say what is wrong and not only "cannot read"


@dataclass
class Decoded:
    """What a film holds, as a player sees it: what a verb's output must keep."""

    frames: int
    size: tuple[int, int] | None  # upright (width, height) of the first frame
    audio_packets: int
    subtitle_packets: int


def decoded(path: Path) -> Decoded:
    """Decode every frame of `path`'s first video stream and count its sound and subtitle packets."""
    with av.open(str(path)) as c:
        shown = [(f.width, f.height)[:: -1 if f.rotation % 180 else 1] for f in c.decode(c.streams.video[0])]
    with av.open(str(path)) as c:
        copied = [p.stream.type for p in c.demux(*c.streams.audio, *c.streams.subtitles) if p.size]
    return Decoded(len(shown), shown[0] if shown else None, copied.count("audio"), copied.count("subtitle"))


def frames(n: int = FRAMES, w: int = W, h: int = H, seed: int = 0) -> Iterator[np.ndarray]:
    """`n` HxWx3 uint8 frames of a colour gradient with a square moving across it: enough
    structure and motion for an encoder to make real P- and B-frames."""
    rng = np.random.default_rng(seed)
    base = np.stack([*np.meshgrid(np.linspace(0, 200, w), np.linspace(40, 160, h)), np.full((h, w), 90.0)], -1)
    colour = rng.integers(0, 256, 3)
    for i in range(n):
        f = base.copy()
        x, y = (i * 7) % max(1, w - 16), (i * 3) % max(1, h - 16)
        f[y : y + 16, x : x + 16] = colour
        yield f.astype(np.uint8)


def _tone(stream: av.audio.stream.AudioStream, seconds: float) -> Iterator[av.Packet]:
    """Packets of a 440 Hz tone `seconds` long in 1024-sample frames, flushed."""
    total, done = int(seconds * SAMPLE_RATE), 0
    ctx = stream.codec_context
    while done < total:
        size = min(1024, total - done)
        wave = 0.3 * np.sin(2 * math.pi * 440.0 * (done + np.arange(size)) / SAMPLE_RATE)
        if ctx.format.is_planar:  # float planes (AAC, AC-3)
            data = np.repeat(wave.astype(np.float32)[None], ctx.layout.nb_channels, 0)
        else:  # interleaved 16-bit (WAV)
            data = np.repeat((wave * 32767).astype(np.int16), ctx.layout.nb_channels)[None]
        frame = av.AudioFrame.from_ndarray(data, format=ctx.format.name, layout=ctx.layout.name)
        frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, done, Fraction(1, SAMPLE_RATE)
        yield from stream.encode(frame)
        done += size
    yield from stream.encode(None)


def _subtitles(stream: av.subtitles.stream.SubtitleStream) -> Iterator[av.Packet]:
    """Two ASS events, as Matroska stores them (FFmpeg's SubRip encoder will not open without a header)."""
    for i, line in enumerate(["Hello.", "Goodbye."]):
        packet = av.Packet(f"{i},0,Default,,0,0,0,,{line}".encode())
        packet.stream, packet.time_base = stream, Fraction(1, 1000)
        packet.pts = packet.dts = i * 400
        packet.duration = 300
        yield packet


def _picture(rgb: np.ndarray, pts: int, pix_fmt: str, time_base: Fraction = Fraction(1, FPS)) -> av.VideoFrame:
    """An HxWx3 uint8 frame as the encoder takes it."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
    frame.pts, frame.time_base = pts, time_base
    return frame


def write_film(path: Path, pictures: Sequence[np.ndarray] | None = None, *, codec: str | None = "libx264",
               pix_fmt: str = "yuv420p", pts: Sequence[int] | None = None, time_base: Fraction = Fraction(1, FPS),
               audio: str | None = "aac", rotation: int = 0, subtitles: bool = False, fmt: str | None = None,
               muxer_options: dict[str, str] | None = None, options: dict[str, str] | None = None,
               setup: Callable[[av.video.stream.VideoStream], None] | None = None) -> Path:
    """A film at `path`: `pictures` (default `frames()`) encoded with `codec` (None: no video
    stream) in `pix_fmt`, stamped `pts` in `time_base` (default one per frame), with a tone in
    `audio`'s codec, a display-rotation tag, and an ASS subtitle track when asked."""
    pictures = list(frames() if pictures is None else pictures) if codec else []
    stamps = list(range(len(pictures)) if pts is None else pts)
    with av.open(str(path), "w", format=fmt, options=muxer_options or {}) as out:
        video = out.add_stream(codec, rate=FPS) if codec else None
        if video is not None:
            video.height, video.width = pictures[0].shape[:2]
            video.pix_fmt = pix_fmt
            video.codec_context.time_base = time_base
            video.codec_context.options = dict(options or {})
            video.codec_context.thread_count = 1  # the same bytes on every machine (x264's output depends on its threads)
            if setup is not None:
                setup(video)
            if rotation:
                video.set_display_rotation(rotation)
        sound = out.add_stream(audio, rate=SAMPLE_RATE, layout="stereo" if audio == "ac3" else "mono") if audio else None
        text = out.add_stream("ass") if subtitles else None
        for rgb, stamp in zip(pictures, stamps):
            out.mux(video.encode(_picture(rgb, stamp, pix_fmt, time_base)))
        if video is not None:
            out.mux(video.encode(None))
        if sound is not None:
            out.mux(list(_tone(sound, float((stamps[-1] + 1) * time_base) if stamps else FRAMES / FPS)))
        if text is not None:
            text.codec_context.time_base = Fraction(1, 1000)
            out.mux(list(_subtitles(text)))
    return path


def write_size_change(path: Path) -> Path:
    """An MKV whose H.264 stream changes frame size mid-film (96x64, then 128x96), as a recorded
    live stream does when its bit rate adapts: the second half comes from a second encoder whose
    parameter sets travel inside the stream."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        second = av.codec.CodecContext.create("libx264", "w")
        second.width, second.height, second.pix_fmt = 128, 96, "yuv420p"
        second.time_base, second.framerate = Fraction(1, FPS), Fraction(FPS)
        for i, rgb in enumerate(frames(4)):
            out.mux(video.encode(_picture(rgb, i, "yuv420p")))
        out.mux(video.encode(None))
        for i, rgb in enumerate(frames(4, 128, 96), start=4):
            out.mux(_retag(second.encode(_picture(rgb, i, "yuv420p")), video))
        out.mux(_retag(second.encode(None), video))
    return path


def _retag(packets: list[av.Packet], stream: av.video.stream.VideoStream) -> list[av.Packet]:
    """`packets` of a stand-alone encoder, put on `stream` of a container."""
    for p in packets:
        p.stream = stream
    return packets


def write_junk_video(path: Path) -> Path:
    """An MKV with a proper H.264 stream header whose packets hold random bytes: a video stream
    from which no frame decodes."""
    rng = np.random.default_rng(1)
    with av.open(str(write_film(path.with_suffix(".tmp.mkv"), audio=None))) as good, av.open(str(path), "w") as out:
        video = out.add_stream_from_template(good.streams.video[0])
        for p in good.demux(good.streams.video[0]):
            if p.dts is not None:
                junk = av.Packet(rng.integers(0, 256, p.size, dtype=np.uint8).tobytes())
                junk.pts, junk.dts, junk.time_base, junk.stream = p.pts, p.dts, p.time_base, video
                out.mux(junk)
    path.with_suffix(".tmp.mkv").unlink()
    return path


def write_empty(path: Path) -> Path:
    """An MP4 written with a video stream and no frame: the muxer leaves out the empty track."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        out.start_encoding()
    return path


def _divx(stream: av.video.stream.VideoStream) -> None:
    """MPEG-4 Part 2 with B-frames, tagged XVID, as DivX/Xvid AVIs are (AVI keeps no presentation
    times: frames come out of the demuxer in decoding order)."""
    stream.codec_context.max_b_frames = 2
    stream.codec_tag = "XVID"


def _cut(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


def _corrupt(data: bytes, frame: int, part: float = 1.0, seed: int = 0) -> bytes:
    """`data` (an MP4) with random bytes over the last `part` of video packet `frame`, as a bad
    disk sector or a broken download leaves them. The whole packet (its NAL length prefix too) is
    an error the decoder reports; only the picture data after the slice header, it conceals.
    Aimed at a packet rather than at a byte offset, so it hits the same thing whatever the encoder made."""
    with av.open(io.BytesIO(data)) as c:
        pos, size = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size][frame]
    start = pos + size - int(size * part)
    hit = np.random.default_rng(seed).integers(0, 256, pos + size - start, dtype=np.uint8).tobytes()
    return data[:start] + hit + data[pos + size :]


def make_corpus(root: Path) -> list[Film]:
    """Write the corpus into `root` (created); one Film per file, in a fixed order."""
    root.mkdir(parents=True, exist_ok=True)
    films: list[Film] = []

    def add(name: str, kind: str, expect: str, says: str = "", **film) -> None:
        films.append(Film(write_film(root / name, **film), kind, expect, says))

    def put(name: str, data: bytes, kind: str, expect: str, says: str = "") -> None:
        (root / name).write_bytes(data)
        films.append(Film(root / name, kind, expect, says))

    def made(name: str, **film) -> bytes:
        """The bytes of a good film (written, read back and removed): what a broken one is cut from."""
        data = write_film(root / name, **film).read_bytes()
        (root / name).unlink()
        return data

    plain, faststart, mkv = made(".plain.mp4"), made(".faststart.mp4", muxer_options={"movflags": "faststart"}), made(".plain.mkv")
    put("zero-byte.mp4", b"", "zero-byte .mp4", REFUSED)
    put("text.mp4", b"This is not a film.\n" * 20, "text file named .mp4", REFUSED)
    put("truncated.mp4", _cut(plain, 0.5), "truncated H.264 MP4 (index at the end, lost)", REFUSED)
    put("truncated-faststart.mp4", _cut(faststart, 0.6), "truncated H.264 MP4 (index first, frames lost)", OUTPUT)
    put("truncated.mkv", _cut(mkv, 0.6), "truncated MKV", OUTPUT)
    put("corrupted.mp4", _corrupt(plain, 4), "random bytes over the 5th frame", REFUSED, "decoding fails")
    put("corrupted-hidden.mp4", _corrupt(plain, 2, part=0.5), "random picture data in the 3rd frame (concealed)", OUTPUT)
    films.append(Film(write_empty(root / "no-frames.mp4"), "MP4 whose video track has no frames", REFUSED, "no streams"))
    films.append(Film(write_junk_video(root / "junk-video.mkv"), "video stream of random bytes", REFUSED, "at its first frame"))
    add("sound-only.mp4", "AAC sound only in .mp4", REFUSED, "only sound", codec=None)
    add("sound-only.wav", "sound-only .wav", REFUSED, "only sound", codec=None, audio="pcm_s16le")
    add("sound-only.mka", "sound-only .mka (AC-3)", REFUSED, "only sound", codec=None, audio="ac3", fmt="matroska")
    add("one-frame.mp4", "single frame", OUTPUT, pictures=list(frames(1)))
    add("vfr.mp4", "variable frame rate MP4", OUTPUT, pts=[0, 40, 120, 130, 200, 330, 360, 500], time_base=Fraction(1, 1000))
    add("vfr.mkv", "variable frame rate MKV", OUTPUT, pts=[0, 33, 100, 117, 250, 251, 400, 433], time_base=Fraction(1, 1000))
    add("late-start.mkv", "timestamps starting at 10 s", OUTPUT, pts=[100 + i for i in range(FRAMES)])
    add("rotated-90.mp4", "rotation tag 90 degrees", OUTPUT, rotation=90)
    add("rotated-180.mp4", "rotation tag 180 degrees", OUTPUT, rotation=180)
    add("rotated-270.mp4", "rotation tag 270 degrees", OUTPUT, rotation=270)
    add("rotated-45.mp4", "rotation tag 45 degrees", REFUSED, "45 degrees", rotation=45)
    add("10bit-h264.mp4", "10-bit H.264 (yuv420p10le)", OUTPUT, pix_fmt="yuv420p10le")
    add("10bit-h265.mkv", "10-bit H.265 (yuv420p10le) MKV", OUTPUT, codec="libx265", pix_fmt="yuv420p10le",
        options={"x265-params": "log-level=none"})
    add("h265.mp4", "H.265 MP4 (hvc1)", OUTPUT, codec="libx265", options={"x265-params": "log-level=none"},
        setup=lambda s: setattr(s, "codec_tag", "hvc1"))
    add("odd-size.mp4", "odd size 161x97, H.264 4:4:4", OUTPUT, pictures=list(frames(w=161, h=97)), pix_fmt="yuv444p")
    add("odd-size.mkv", "odd size 161x97, FFV1 4:2:0", OUTPUT, pictures=list(frames(w=161, h=97)), codec="ffv1")
    add("odd-size.webm", "odd size 161x97, VP9 4:2:0", OUTPUT, pictures=list(frames(w=161, h=97)), codec="libvpx-vp9",
        audio="libopus")
    films.append(Film(write_size_change(root / "size-change.mkv"), "frame size changes mid-film", REFUSED, "96x64"))
    add("divx-bframes.avi", "MPEG-4 Part 2 AVI with B-frames (Xvid)", OUTPUT, codec="mpeg4", audio="ac3", setup=_divx)
    add("mjpeg.avi", "camera MJPEG AVI (yuvj422p)", OUTPUT, codec="mjpeg", pix_fmt="yuvj422p", audio="pcm_s16le")
    add("subtitles.mkv", "MKV with an ASS subtitle track", OUTPUT, subtitles=True)
    return films


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    args = ap.parse_args()
    for film in make_corpus(args.folder):
        print(f"{film.path.name:26} {film.expect:8} {film.kind}")


if __name__ == "__main__":
    main()
