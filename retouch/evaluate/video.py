"""`retouch eval-video`: restoration quality and flicker inside a hidden region of clean films.

Each clip (e.g. made by `retouch data video` from photos never trained on) is decoded, a centred
square is mosaicked in every frame (a fixed box, as an editor hides something; the camera moves
beneath it, so the cells fall on different content every frame) and restored per frame and with
the temporal method. Inside the square:

- PSNR against the clean frame (RGB, 8-bit, averaged over frames);
- flicker: the warping error of Lai et al. (2018; `retouch.metrics.warping_error`, flow on the
  clean frames so every row is aligned the same way), minus the clean film's own. The clean
  film's own change (new content, flow errors) is what a perfect restoration would show; what is
  left is the shimmer the restoration adds. (Until December 2026 this was the mean absolute
  difference in 8-bit levels; docs/notes/benchmarks-history.md has those numbers.)
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from rich.progress import track

from retouch.degrade import Mosaic
from retouch.errors import RetouchError
from retouch.film.temporal import TemporalRestorer
from retouch.geometry import box_mask
from retouch.metrics import psnr, warping_error
from retouch.tasks.restore import load_restorer, restore_region
from retouch.video import VIDEO_EXTENSIONS, read_frames, to_uint8


def _clips(clips: Path, limit: int | None) -> list[Path]:
    paths = sorted(p for p in Path(clips).iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)[:limit] if Path(clips).is_dir() else []
    if not paths:
        raise RetouchError(f"{clips} holds no clips; make some with `retouch data video PHOTOS {clips}`.")
    return paths


def evaluate_video(clips: Path, model: str = "demosaic", box: int = 96, block: int = 8, blend: float = 0.5,
                   limit: int | None = None, device: str = "auto", show_progress: bool = True) -> dict:
    """PSNR and flicker inside a centred `box` square, per clip and on average, for the mosaic,
    per-frame restoration and the temporal method (previous result's weight `blend`)."""
    paths = _clips(clips, limit)
    tr = load_restorer(model, device)
    rows = {"mosaic": [], "per-frame": [], "temporal": []}
    for path in track(paths, description="eval-video", disable=not show_progress):
        clean = list(read_frames(path))
        h, w = clean[0].shape[2:]
        if min(h, w) < box:
            raise RetouchError(f"{path.name} is {w}x{h}, smaller than the {box}px box; pass a smaller --box.")
        top, left = (h - box) // 2, (w - box) // 2
        mask = box_mask(h, w, (left, top, box, box))
        hidden = [Mosaic.aligned_to(block, top, left)(x, mask) for x in clean]
        restore = functools.partial(restore_region, tr, consistent=False)
        per_frame, temporal = TemporalRestorer(restore, blend=0.0), TemporalRestorer(restore, blend=blend)
        outputs = {"mosaic": hidden, "per-frame": [per_frame.step(x, mask) for x in hidden],
                   "temporal": [temporal.step(x, mask) for x in hidden]}
        clean8 = [to_uint8(x) for x in clean]
        region = mask[0, 0].numpy() > 0.5
        clean_change = warping_error(clean8, clean8, region)
        inside = lambda x: x[:, :, top : top + box, left : left + box]  # noqa: E731
        for name, frames in outputs.items():
            out8 = [to_uint8(x) for x in frames]
            rows[name].append({
                "clip": path.name,
                "psnr": float(np.mean([psnr(inside(o), inside(c)) for o, c in zip(frames, clean)])),
                "flicker": warping_error(out8, clean8, region) - clean_change,
            })
    mean = {name: {k: float(np.mean([r[k] for r in rs])) for k in ("psnr", "flicker")} for name, rs in rows.items()}
    pf, tm = mean["per-frame"], mean["temporal"]
    return {"clips": str(clips), "n": len(paths), "model": model, "box": box, "block": block, "blend": blend,
            "mean": mean, "flicker_reduction": 1 - tm["flicker"] / pf["flicker"] if pf["flicker"] > 0 else 0.0,
            "psnr_change_db": tm["psnr"] - pf["psnr"], "per_clip": rows}


def detect_hit_rate(clips: Path, box: int = 96, block: int = 16, crf: int = 18, limit: int | None = None,
                    show_progress: bool = True) -> dict:
    """Share of frames where `--detect` (found and tracked) finds a centred square
    mosaicked into each clip and encoded with H.264 at `crf`: a hit is an intersection over
    union of at least 0.5 between the found mask and the square. Also the share of frames with
    anything found outside the square (false alarms)."""
    import tempfile

    from retouch.film.tracks import Detected, Static
    from retouch.tasks.hide import mosaic_video
    from retouch.video import quantize

    paths = _clips(clips, limit)
    hits = alarms = frames = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in track(paths, description="detect", disable=not show_progress):
            info_h, info_w = next(read_frames(path)).shape[2:]
            square = ((info_w - box) // 2, (info_h - box) // 2, box, box)
            hidden = Path(tmp) / f"{path.stem}.mp4"
            mosaic_video(path, hidden, Static([square]), block=block, crf=crf, show_progress=False)
            truth = box_mask(info_h, info_w, square)[0, 0] > 0.5
            for mask in Detected().masks(quantize(x) for x in read_frames(hidden)):
                found = mask[0, 0] > 0.5
                iou = float((found & truth).sum()) / max(1, int((found | truth).sum()))
                hits += iou >= 0.5
                alarms += bool((found & ~truth).any())
                frames += 1
    return {"clips": len(paths), "frames": frames, "box": box, "block": block, "crf": crf,
            "hit_rate": hits / max(frames, 1), "false_alarm_frames": alarms / max(frames, 1)}
