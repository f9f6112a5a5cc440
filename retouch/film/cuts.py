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

from collections import deque

import cv2
import numpy as np

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
