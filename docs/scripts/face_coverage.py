"""How often does `retouch mosaic FILM --locate faces` cover the face?

Clips of a camera panning and zooming over scikit-image's `astronaut` (one per seed: each seed
pans in another direction), written as H.264 with sound like `retouch data video`. The face's box
in the photo (`FACE`: forehead to chin, cheek to cheek, read off the photo by eye) is carried into
every frame by the clip's known camera path. A frame counts as covered when at least `--cover`
of the face box's pixels lie inside the hidden boxes. Frames that show the whole face and frames
where the pan has cut part of it off (a frontal-face cascade cannot see half a face; those
frames are covered only when tracking carried the box there) are counted apart. Reported per setting of `--every`
(detections every N frames, tracked between) with the frames/s of the whole `retouch mosaic`.

Usage (the table in docs/benchmarks.md):
    python docs/scripts/face_coverage.py --size 1280x720 --seconds 10 --seeds 0 1 2 --every 1 5 10
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
import torch
from PIL import Image

from retouch.film.tracks import Found
from retouch.tasks.clips import camera_frames, camera_path, write_clip
from retouch.tasks.hide import mosaic_video

FACE = (180, 70, 90, 115)  # x, y, w, h in the 512x512 astronaut photo


def face_in_frame(scale: float, x0: float, y0: float, width: int, height: int) -> tuple[tuple[int, int, int, int], bool]:
    """The face box in a frame's pixels, clipped to the frame, and whether all of it is in view."""
    fx, fy, fw, fh = FACE
    u0, v0, u1, v1 = (fx - x0) / scale, (fy - y0) / scale, (fx + fw - x0) / scale, (fy + fh - y0) / scale
    whole = u0 >= 0 and v0 >= 0 and u1 <= width and v1 <= height
    u0, v0, u1, v1 = max(0.0, u0), max(0.0, v0), min(float(width), u1), min(float(height), v1)
    return (round(u0), round(v0), max(0, round(u1 - u0)), max(0, round(v1 - v0))), whole


def covered(face: tuple[int, int, int, int], boxes: list, width: int, height: int) -> float:
    """Share of the face box's pixels inside the union of `boxes`."""
    x, y, w, h = face
    if w * h == 0:
        return 1.0
    hidden = np.zeros((height, width), bool)
    for bx, by, bw, bh in boxes:
        hidden[by : by + bh, bx : bx + bw] = True
    return float(hidden[y : y + h, x : x + w].mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--every", type=int, nargs="+", default=[1, 5, 10])
    ap.add_argument("--cover", type=float, default=0.95)
    ap.add_argument("--zoom", type=float, default=1.25, help="The camera's zoom-in over the clip (retouch data video's --zoom).")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    n = round(args.seconds * args.fps)
    photo = Image.fromarray(skimage.data.astronaut())
    with tempfile.TemporaryDirectory() as tmp:
        clips = []
        for seed in args.seeds:
            clip = write_clip(Path(tmp) / f"astronaut-{seed}.mp4",
                              camera_frames(photo, width, height, n, args.zoom, gen=torch.Generator().manual_seed(seed)), fps=args.fps)
            faces = [face_in_frame(*p, width, height) for p in camera_path(photo.size, width, height, n, args.zoom, gen=torch.Generator().manual_seed(seed))]
            clips.append((clip, faces))
        print(f"| detect every | whole face in view: covered (>= {args.cover:.0%}) | mean share hidden "
              f"| face cut by the frame: covered | mean share hidden | frames/s |")
        print("|---|---|---|---|---|---|")
        for every in args.every:
            shares, whole, seconds = [], [], 0.0
            for clip, faces in clips:
                start = time.perf_counter()
                boxes = mosaic_video(clip, Path(tmp) / "hidden.mp4", Found("faces", every=every), block=16, show_progress=False)
                seconds += time.perf_counter() - start
                shares += [covered(f, b, width, height) for (f, _), b in zip(faces, boxes)]
                whole += [w for _, w in faces]
            shares, whole = np.array(shares), np.array(whole)
            cut = shares[~whole]
            print(f"| {every} | {np.mean(shares[whole] >= args.cover):.1%} of {whole.sum()} | {shares[whole].mean():.1%} | "
                  + (f"{np.mean(cut >= args.cover):.1%} of {len(cut)} | {cut.mean():.1%}" if len(cut) else "none | -")
                  + f" | {len(shares) / seconds:.1f} |")


if __name__ == "__main__":
    main()
