"""Where to act in each frame of a film: region sources that turn a stream of frames into masks.

Every source has a `masks(frames)` generator (frames 1x3xHxW upright uint8, masks
1x1xHxW, one per frame, in order) and a `description` for the provenance tag:

- `Static`: boxes or a mask image, the same in every frame;
- `MaskVideo`: a second clip of the same length, white where to act;
- `Tracked`: boxes given on the first frame and followed by OpenCV's template matching
  (normalised cross-correlation in a window around the last position, the template refreshed
  from each frame so slow zooms and lighting changes are followed);
- `Found`: faces or number plates (OpenCV's Haar cascades) detected every few frames and
  tracked in between;
- `Listed`: boxes for every frame, e.g. what `--regions-json` wrote when the film was hidden;
- `Faces`: CenterFace on every other frame, joined into tracks (`_follow`);
- `Detected`: existing mosaics found on every other frame (`retouch.locate.periodic`), joined
  into tracks the same way, so a mosaic moves and changes size as one region and does not blink.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from retouch.errors import RetouchError
from retouch.geometry import (
    Box,
    boxes_mask,
    carry,
    clip_box,
    grown,
    overlap,
    read_mask,
    rounded,
)
from retouch.video import quantize


def follow(before: np.ndarray, now: np.ndarray, box: Box, search: float = 0.5) -> tuple[Box, float]:
    """Where the patch `box` of `before` lies in `now`: the best normalised correlation within
    `search` of the box's side around its last place, and that correlation."""
    x, y, bw, bh = box
    h, w = now.shape
    mx, my = max(4, int(bw * search)), max(4, int(bh * search))
    x0, y0 = max(0, x - mx), max(0, y - my)
    window = now[y0 : min(h, y + bh + my), x0 : min(w, x + bw + mx)]
    score = cv2.matchTemplate(window, before[y : y + bh, x : x + bw], cv2.TM_CCOEFF_NORMED)
    _, best, _, (dx, dy) = cv2.minMaxLoc(score)
    return (x0 + dx, y0 + dy, bw, bh), float(best)


def camera_motion(before: np.ndarray, now: np.ndarray, known: np.ndarray | None = None) -> np.ndarray | None:
    """The 2x3 similarity transform (shift, zoom, turn) taking `before`'s pixels to `now`'s: corners
    found where `known` (uint8, non-zero = real pixels; default everywhere) holds, followed by
    pyramidal Lucas-Kanade flow, fitted with RANSAC; None when too few points agree (a flat or
    cut scene)."""
    points = cv2.goodFeaturesToTrack(before, maxCorners=200, qualityLevel=0.01, minDistance=5, mask=known)
    if points is None or len(points) < 8:
        return None
    moved, ok, _ = cv2.calcOpticalFlowPyrLK(before, now, points, None, winSize=(21, 21), maxLevel=3)
    ok = ok.ravel() == 1
    if ok.sum() < 8:
        return None
    transform, inliers = cv2.estimateAffinePartial2D(points[ok], moved[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0)
    if transform is None or inliers.sum() < 8:
        return None
    return transform






def grey(frame: torch.Tensor) -> np.ndarray:
    """1x3xHxW (uint8, or float in [-1, 1]) to HxW uint8 luma for OpenCV."""
    if frame.dtype != torch.uint8:
        frame = quantize(frame)
    return cv2.cvtColor(np.ascontiguousarray(frame[0].permute(1, 2, 0).numpy()), cv2.COLOR_RGB2GRAY)


@dataclass
class Static:
    """The same boxes, or the same mask image, in every frame."""

    boxes: list[Box] = field(default_factory=list)
    mask_path: Path | None = None

    @property
    def description(self) -> str:
        if self.mask_path is not None:
            return f"mask {self.mask_path.name} (every frame)"
        return "boxes " + "; ".join("x={} y={} w={} h={}".format(*b) for b in self.boxes) + " (every frame)"

    def masks(self, frames: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        mask = None
        for x in frames:
            if mask is None:
                h, w = x.shape[2:]
                mask = read_mask(self.mask_path, h, w) if self.mask_path is not None else boxes_mask(h, w, self.boxes)
            yield mask


@dataclass
class MaskVideo:
    """Masks read from a clip of the same frame count and size (white = act; lossy clips are thresholded at mid-grey)."""

    path: Path

    @property
    def description(self) -> str:
        return f"mask video {self.path.name}"

    def masks(self, frames: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        from retouch.video import read_frames

        masks = read_frames(self.path)
        for i, x in enumerate(frames):
            m = next(masks, None)
            if m is None:
                raise RetouchError(f"Mask video {self.path} ends at frame {i}, before the film; give one mask frame per frame.")
            if m.shape[2:] != x.shape[2:]:
                raise RetouchError(f"Mask video {self.path} is {m.shape[3]}x{m.shape[2]} but the film is {x.shape[3]}x{x.shape[2]}.")
            yield (m.mean(1, keepdim=True) > 0).float()


@dataclass
class Tracked:
    """Boxes given on the first frame, each followed through the film by template matching; at a
    scene cut they stay where they were (what they followed is gone) and are followed on from there."""

    boxes: list[Box]
    search: float = 0.5  # the search window extends this share of the box's side around its last place

    @property
    def description(self) -> str:
        return "tracked from " + "; ".join("x={} y={} w={} h={}".format(*b) for b in self.boxes) + " (OpenCV template matching)"

    def masks(self, frames: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        from retouch.film.cuts import CutDetector

        boxes: list[Box] = list(self.boxes)
        previous, cuts = None, CutDetector()
        for x in frames:
            h, w = x.shape[2:]
            luma = grey(x)
            cut = cuts.is_cut(np.ascontiguousarray(x[0].permute(1, 2, 0).numpy()))
            if previous is not None and not cut:  # across a cut, matching would latch onto anything: the boxes stay
                boxes = [follow(previous, luma, b, self.search)[0] for b in boxes]
            previous = luma
            yield boxes_mask(h, w, boxes)  # on the first frame: checks the boxes fit




@dataclass
class Found:
    """Faces or number plates (`retouch.locate.cascade`), detected every `every` frames and
    tracked by template matching in between, so a face stays hidden on the frames the cascade
    misses (a turned head, motion blur, a face the frame's edge cuts).

    A track a detection confirms takes the detected box; a detection no track explains starts
    one, and is also followed backwards through the `behind` frames not yet handed on, so a face
    entering the picture is hidden before the cascade first sees it whole. A track is dropped
    when no detection has confirmed it for `keep` rounds, unless it touches the frame's edge
    (half a face, which a frontal cascade cannot see) and still matches (correlation >= `hold`).
    A track at the edge moves with the camera (`camera_motion`: shift and zoom fitted to the whole
    frame) and may leave the frame, so the part of a face still in view stays hidden while the pan
    carries it out and the zoom grows it; template matching would pin the box inside the frame at
    its old size (measured: 44% of such faces hidden, docs/notes/benchmarks-history.md). It is dropped once none
    of it is in view. A scene cut ends every track, and nothing is followed back across one. The source hands each frame on `behind` frames late; memory holds that many
    grey frames.
    """

    kind: str
    every: int = 5
    keep: int = 2
    behind: int = 25
    hold: float = 0.5

    @property
    def description(self) -> str:
        from retouch.locate.cascade import CASCADES

        return (f"{self.kind}: OpenCV Haar cascade {CASCADES[self.kind]} every {self.every} frames, "
                f"tracked by template matching forwards and {self.behind} frames backwards")

    def masks(self, frames: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        from retouch.film.cuts import CutDetector
        from retouch.locate.cascade import cascade, find

        cascade(self.kind)  # an unknown kind or missing cascade fails before the first frame
        tracks: list[list] = []  # [box, detection rounds since confirmed]
        waiting: deque[tuple[int, np.ndarray, list[Box]]] = deque()  # frames not yet handed on: index, grey, boxes
        back: dict[int, np.ndarray | None] = {}  # camera motion from frame k + 1 to frame k, fitted once
        cuts, start = CutDetector(), 0  # first frame of the shot: nothing is followed back across a cut
        for i, x in enumerate(frames):
            luma = grey(x)
            h, w = luma.shape
            if cuts.is_cut(np.ascontiguousarray(x[0].permute(1, 2, 0).numpy())):
                tracks, start = [], i
            elif waiting:
                before = waiting[-1][1]
                motion = camera_motion(before, luma) if any(self._at_edge(t[0], w, h) for t in tracks) else None
                kept = []
                for t in tracks:
                    if self._at_edge(t[0], w, h) and motion is not None:
                        box = carry(t[0], motion)
                        if clip_box(box, w, h) is not None:
                            kept.append([box, t[1]])
                        continue
                    box, score = follow(before, luma, clip_box(t[0], w, h) or t[0])
                    if t[1] <= self.keep or (self._at_edge(box, w, h) and score >= self.hold):
                        kept.append([box, t[1]])
                tracks = kept
            if i % self.every == 0:
                found = find(self.kind, luma)
                for t in tracks:
                    match = max(found, key=lambda b: overlap(t[0], b), default=None)
                    if match is not None and overlap(t[0], match) > 0.3:
                        t[0], t[1] = match, 0
                        found.remove(match)
                    else:
                        t[1] += 1
                tracks += [[b, 0] for b in found]
                for box in found:
                    self._back(box, luma, [f for f in waiting if f[0] >= start], back)
            waiting.append((i, luma, [t[0] for t in tracks]))
            if len(waiting) > self.behind:
                gone, _, boxes = waiting.popleft()
                back.pop(gone, None)
                yield self._mask(h, w, boxes)
        while waiting:
            _, luma, boxes = waiting.popleft()
            yield self._mask(*luma.shape, boxes)

    @staticmethod
    def _at_edge(box: Box, w: int, h: int) -> bool:
        """Whether a box touches or crosses the frame's border."""
        return box[0] <= 0 or box[1] <= 0 or box[0] + box[2] >= w or box[1] + box[3] >= h

    @staticmethod
    def _mask(h: int, w: int, boxes: list[Box]) -> torch.Tensor:
        """The boxes' parts inside the frame, as a mask."""
        return boxes_mask(h, w, [c for b in boxes if (c := clip_box(b, w, h)) is not None])

    def _back(self, box: Box, luma: np.ndarray, waiting: list, back: dict[int, np.ndarray | None]) -> None:
        """Follow a new detection backwards through the frames not yet handed on, while it matches;
        at the frame's edge with the camera, as forwards, until none of it is in view. Each pair of
        frames' motion is fitted once (`back`), however many detections walk back through it."""
        now = luma
        for k, before, boxes in reversed(waiting):
            h, w = before.shape
            motion = None
            if self._at_edge(box, w, h):
                if k not in back:
                    back[k] = camera_motion(now, before)
                motion = back[k]
            if motion is not None:
                box = carry(box, motion)
                if clip_box(box, w, h) is None:
                    return
            else:
                box, score = follow(now, before, clip_box(box, w, h) or box)
                if score < self.hold:
                    return
            if not any(overlap(box, b) > 0.3 for b in boxes):
                boxes.append(box)
            now = before


@dataclass
class Faces:
    """Faces found by CenterFace (`retouch.locate.faces`), joined into tracks, so that a face stays
    hidden on the frames the detector misses and no track outlives its shot. The detector runs on
    every `every`-th frame of a shot, and on every frame while a face of the shot is under `small`
    pixels (small faces are the ones it finds only now and then).

    Each frame's detections (boxes grown by `grow` about their centres) are matched to the tracks of
    the same shot by the Hungarian method on the overlap with where each track is heading (its last
    box moved by its last velocity; SciPy's `linear_sum_assignment`). A frame a track was not
    detected on gets a box when the track was detected on both sides within `gap` frames
    (interpolated), or within `persist` frames after its last or before its first detection (held,
    and also moved on at the track's velocity):
    short misses are bridged forwards and backwards, and a face is hidden a little before it is first
    found whole. Each frame's mask is the union of every track's boxes on that frame and its two
    neighbours, so a box keeps up with a fast head turn. Scene cuts (`retouch.film.cuts`) end every
    track. The source hands each frame on `gap + persist + 2` frames late; memory holds only boxes.
    """

    threshold: float = 0.2
    grow: float = 1.3
    gap: int = 12
    persist: int = 4
    scale: float = 1.0
    every: int = 2  # run the detector on every `every`-th frame of a shot (its first always); tracks fill the rest ...
    small: int = 64  # ... except while a face of the shot is smaller than this (px, longer side): then on every frame

    def __post_init__(self) -> None:
        if not 1 <= self.every <= self.gap:
            raise RetouchError(f"--every {self.every} must lie between 1 and the gap a track may bridge ({self.gap}).")

    @property
    def description(self) -> str:
        often = "every frame" if self.every == 1 else f"every {self.every} frames (every frame while a face is under {self.small} px)"
        return (f"faces: CenterFace (threshold {self.threshold}) on {often}, boxes grown {self.grow}x, tracks bridged over "
                f"{self.gap} frames and held {self.persist} frames either side, never across a scene cut")

    @property
    def lookahead(self) -> int:
        return max(self.gap + 1, self.persist) + 2

    def masks(self, frames: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        from retouch.locate.faces import detector

        find = detector(self.threshold)

        def detect(i: int, rgb: np.ndarray, shot: int, start: int, tracks: list[_Track]) -> list[np.ndarray] | None:
            if (i - start) % self.every == 0 or any(t.shot == shot and i - t.last <= self.every and max(t.found[t.last][2:]) < self.small
                                                    for t in tracks):
                return [grown(b, self.grow) for b in find(rgb, self.scale)]
            return None

        yield from _follow(frames, detect, self.gap, self.persist, self.lookahead, spread=1)


def _follow(frames: Iterator[torch.Tensor], detect, gap: int, persist: int, lookahead: int, spread: int = 0,
            min_hits: int = 1) -> Iterator[torch.Tensor]:
    """Masks from detections joined into tracks (`_Track`), one per frame, `lookahead` frames late.

    `detect(i, rgb, shot, start of shot, tracks)` gives frame `i`'s boxes (x, y, w, h as floats), or
    None where it did not look. Each frame's detections go to the tracks of the same shot
    (`_associate`); a frame's mask is the union of every track's boxes (`_Track.boxes_at`) on it and
    its `spread` neighbours either side, counting only tracks detected on at least `min_hits` frames
    by the time the mask is handed on. Scene cuts (`retouch.film.cuts`) end every track.
    """
    from retouch.film.cuts import CutDetector

    cuts = CutDetector()
    tracks: list[_Track] = []
    shots: deque[tuple[int, int, int, int]] = deque()  # frames not yet handed on: index, shot, h, w
    shot = start = 0

    def mask(k: int, shot: int, h: int, w: int) -> torch.Tensor:
        boxes = [b for t in tracks if t.shot == shot and len(t.found) >= min_hits
                 for j in range(k - spread, k + spread + 1) for b in t.boxes_at(j, gap, persist)]
        return boxes_mask(h, w, [c for b in boxes if (c := clip_box(rounded(b), w, h)) is not None])

    for i, x in enumerate(frames):
        rgb = np.ascontiguousarray(x[0].permute(1, 2, 0).numpy())
        if cuts.is_cut(rgb):
            shot, start = shot + 1, i
        found = detect(i, rgb, shot, start, tracks)
        if found is not None:
            _associate(tracks, found, i, shot, gap)
        shots.append((i, shot, *rgb.shape[:2]))
        while shots and shots[0][0] <= i - lookahead:
            yield mask(*shots.popleft())
        horizon = i - lookahead - gap - persist - 2
        tracks = [t for t in tracks if t.last >= horizon]
    while shots:
        yield mask(*shots.popleft())


@dataclass
class _Track:
    """One face through one shot: its detected boxes (x, y, w, h as floats) by frame."""

    shot: int
    found: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def last(self) -> int:
        return max(self.found)

    def heading(self, i: int) -> np.ndarray:
        """Where the face should be on frame `i`: its last box moved on by its last velocity."""
        return self._moved(sorted(self.found)[-2:], i)

    def _moved(self, frames: list[int], i: int) -> np.ndarray:
        """The box of `frames[-1]` (or `frames[0]` for `i` before it) moved to frame `i` at the velocity
        between the two `frames`; held still when there is only one."""
        end = frames[-1] if i >= frames[-1] else frames[0]
        box = self.found[end]
        if len(frames) == 2:
            step = (self.found[frames[1]] - self.found[frames[0]]) / (frames[1] - frames[0])
            box = box + step * (i - end) * np.array([1, 1, 0, 0])
        return box

    def boxes_at(self, k: int, gap: int, persist: int) -> list[np.ndarray]:
        """The track's boxes on frame `k`: the detected one; one interpolated across a gap of at most
        `gap` frames; within `persist` frames after (before) a detection with none close enough on the
        other side, that box both held and moved on (back) at the track's velocity there; else none."""
        if k in self.found:
            return [self.found[k]]
        found = sorted(self.found)
        before = max((j for j in found if j < k), default=None)
        after = min((j for j in found if j > k), default=None)
        if before is not None and after is not None and after - before <= gap + 1:
            t = (k - before) / (after - before)
            return [self.found[before] * (1 - t) + self.found[after] * t]
        if before is not None and k - before <= persist:
            return [self.found[before], self._moved([j for j in found if j <= before][-2:], k)]
        if after is not None and after - k <= persist:
            return [self.found[after], self._moved([j for j in found if j >= after][:2], k)]
        return []


def _associate(tracks: list[_Track], found: list[np.ndarray], i: int, shot: int, gap: int) -> None:
    """Give each detection of frame `i` to the track of this shot heading nearest it (overlap, or for a
    small fast face a centre within half its side), or start a track with it."""
    from scipy.optimize import linear_sum_assignment

    live = [t for t in tracks if t.shot == shot and i - t.last <= gap + 1]
    cost = np.full((len(live), len(found)), 9.0)
    for a, t in enumerate(live):
        head = t.heading(i)
        for b, box in enumerate(found):
            iou = overlap(rounded(head), rounded(box))
            near = np.hypot(*(head[:2] + head[2:] / 2 - box[:2] - box[2:] / 2)) / max(box[2], box[3])
            cost[a, b] = 1 - iou if iou > 0 else (1.5 + near if near < 0.5 else 9.0)
    taken = set()
    if live and found:
        for a, b in zip(*linear_sum_assignment(cost)):
            if cost[a, b] < 9.0:
                live[a].found[i] = found[b]
                taken.add(b)
    tracks += [_Track(shot, {i: box}) for b, box in enumerate(found) if b not in taken]


@dataclass
class Union:
    """Several region sources over the same frames (faces and plates): one mask, their union."""

    sources: list

    @property
    def description(self) -> str:
        return "; ".join(s.description for s in self.sources)

    def masks(self, frames: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        import itertools

        streams = itertools.tee(frames, len(self.sources))  # each source reads ahead as far as it needs
        for masks in zip(*(s.masks(f) for s, f in zip(self.sources, streams))):
            yield torch.stack(masks).amax(0)


@dataclass
class Listed:
    """Boxes given for every frame, e.g. the `--regions-json` another run wrote (its "boxes" list)."""

    boxes: list[list[Box]]
    source: str = "a list"

    @classmethod
    def from_json(cls, path: Path) -> "Listed":
        import json

        try:
            frames = json.loads(Path(path).read_text())["boxes"]
            return cls([[tuple(int(v) for v in b) for b in frame] for frame in frames], Path(path).name)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RetouchError(f"{path} is not a regions file written by --regions-json ({type(e).__name__}).") from None

    @property
    def description(self) -> str:
        return f"boxes per frame from {self.source}"

    def masks(self, frames: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        for i, x in enumerate(frames):
            if i >= len(self.boxes):
                raise RetouchError(f"The boxes from {self.source} end at frame {i}, before the film; give boxes for every frame.")
            yield boxes_mask(*x.shape[2:], self.boxes[i])


@dataclass
class Detected:
    """Existing mosaics found on every `every`-th frame (`retouch.locate.periodic`: periodic cell
    edges around flat cells, what survives a video codec) and joined into tracks, so a mosaic is one region that
    moves and changes size with the film rather than a fresh guess per frame: a miss of up to `gap`
    frames inside a track is bridged, a track is held `persist` frames past its ends, a track
    found on fewer than `min_hits` frames (a passing texture) restores nothing, and no track
    crosses a scene cut. Hands each frame on `gap + persist + 2` frames late; memory holds boxes.
    """

    gap: int = 6
    persist: int = 2
    min_hits: int = 3
    every: int = 2  # look on every `every`-th frame of a shot (its first always); tracks fill the rest (the same
    # share found on the 720p tuning film, half the detection time: docs/notes/films.md)

    @property
    def description(self) -> str:
        often = "every frame" if self.every == 1 else f"every {self.every} frames"
        return (f"mosaics found on {often} (periodic cell edges), tracked: gaps <= {self.gap} frames bridged, "
                f"tracks held {self.persist} frames, found on >= {self.min_hits} frames, never across a scene cut")

    def masks(self, frames: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        from retouch.locate.periodic import find_mosaics, luma

        def detect(i: int, rgb: np.ndarray, shot: int, start: int, tracks: list[_Track]) -> list[np.ndarray] | None:
            if (i - start) % self.every:
                return None
            return [np.array(b, np.float64) for b in find_mosaics(luma(rgb))]

        yield from _follow(frames, detect, self.gap, self.persist, max(self.gap + 1, self.persist) + 2, min_hits=self.min_hits)


def region_source(boxes: list[Box] | None = None, mask: Path | None = None, mask_video: Path | None = None,
                  track: list[Box] | None = None, detect: bool = False, boxes_json: Path | None = None,
                  found: str | None = None):
    """The one region source the options name (None: the whole frame); more than one is an error."""
    given = [name for name, v in (("--box", boxes), ("--mask", mask), ("--mask-video", mask_video), ("--track", track),
                                  ("--detect", detect or None), ("--boxes-json", boxes_json), ("--locate", found)) if v]
    if len(given) > 1:
        raise RetouchError(f"Give one way of saying where, not {' and '.join(given)}.")
    if boxes:
        return Static(boxes=list(boxes))
    if mask is not None:
        if mask.is_dir():
            raise RetouchError(f"--mask {mask} is a folder; a film takes one mask image (or --mask-video).")
        return Static(mask_path=mask)
    if mask_video is not None:
        return MaskVideo(mask_video)
    if track:
        return Tracked(list(track))
    if detect:
        return Detected()
    if boxes_json is not None:
        return Listed.from_json(boxes_json)
    if found == "faces":
        return Faces()
    if found is not None:
        return Found(found.removeprefix("haar-"))
    return None
