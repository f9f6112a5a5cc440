"""Scene cuts: where a film jumps from one shot to another, so no track, blend or smoothing crosses one.

A cut is a frame whose picture differs from the previous one far more than the film's frames
usually do: the mean absolute difference of two 64x36 thumbnails (0-255 levels) above `LEVEL` and
above `RATIO` times the median of the recent differences. Measured on the two real clips in
../shared/data/films (docs/benchmarks.md, "Scene cuts"): Megamind's four cuts differ by 32-42
levels, its other frames by at most 3.9 (camera moves and explosions included); the street
footage, which has none, by at most 3.3.

Written here rather than taken from PySceneDetect, whose wheel requires the full opencv-python
(it would replace the headless OpenCV this package depends on); the measure is its content
detector's idea on a thumbnail.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Iterator

import cv2
import numpy as np
import torch

THUMB = (64, 36)
LEVEL = 12.0  # mean absolute difference (0-255) a cut must exceed
RATIO = 4.0  # ... and this many times the median of the last `HISTORY` differences
HISTORY = 30


class CutDetector:
    """Feed frames in order (`is_cut(rgb)`); True where a new shot begins. The first frame is not a cut."""

    def __init__(self, level: float = LEVEL, ratio: float = RATIO) -> None:
        self.level, self.ratio = level, ratio
        self.previous: np.ndarray | None = None
        self.recent: deque[float] = deque(maxlen=HISTORY)

    def is_cut(self, rgb: np.ndarray) -> bool:
        """Whether `rgb` (HxWx3 uint8) starts a new shot after the frame fed before it."""
        thumb = cv2.resize(rgb, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)
        previous, self.previous = self.previous, thumb
        if previous is None or previous.shape != thumb.shape:
            return False
        change = float(np.abs(thumb - previous).mean())
        usual = float(np.median(self.recent)) if self.recent else 0.0
        cut = change > self.level and change > self.ratio * usual
        if cut:
            self.recent.clear()  # the new shot's own motion sets what is usual from here
        else:
            self.recent.append(change)
        return cut


class Shots:
    """The shots of one film, found once as its frames stream past (`watch`), for every per-film
    state that must not cross a cut but sees only part of each frame (the temporal blend sees the
    window around the regions; a cut is a property of the whole picture)."""

    def __init__(self) -> None:
        self.detector = CutDetector()
        self.starts: list[int] = [0]  # first frame of each shot
        self.seen = 0

    def watch(self, frames: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        """`frames` (1x3xHxW uint8) passed on unchanged, each one's cut noted before it is."""
        for x in frames:
            if self.detector.is_cut(np.ascontiguousarray(x[0].permute(1, 2, 0).numpy())):
                self.starts.append(self.seen)
            self.seen += 1
            yield x

    def shot(self, i: int) -> int:
        """The shot frame `i` (already watched) belongs to, counted from 0."""
        return bisect_right(self.starts, i) - 1


class Watched:
    """A region source whose frames pass `shots.watch` on their way in, so the film's cuts are known
    for each frame by the time its mask is (a source reads a frame before yielding its mask)."""

    def __init__(self, source, shots: Shots) -> None:
        self.source, self.shots = source, shots
        self.description = source.description

    def masks(self, frames: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        return self.source.masks(self.shots.watch(frames))
