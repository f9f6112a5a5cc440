"""Faces and number plates, found by the Haar cascades OpenCV distributes: `--locate faces|plates`.

Hiding faces and plates is what people most often need to anonymise a photo or a film. These are
Viola-Jones cascades, old and fast (a 720p frame in tens of milliseconds on one core) rather than
the best detectors: frontal faces only, and plates of the Russian training set's shape. That is
why a found box is grown (`PAD`) before it is hidden, why films track each face between
detections (`retouch.film.tracks.Found`), and why a photo where nothing was found says so:
anonymisation must be checked by a person, never assumed.

The cascades ship inside the opencv-python 4.x wheels (`cv2.data.haarcascades`) and in Debian's
`opencv-data` package; the 5.x wheels dropped them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np

from retouch.errors import RetouchError

Box = tuple[int, int, int, int]
CASCADES = {"faces": "haarcascade_frontalface_default.xml", "plates": "haarcascade_russian_plate_number.xml"}
# A frontal-face box runs from the eyebrows to the mouth: grown to take in hair, ears and chin.
PAD = {"faces": 0.3, "plates": 0.15}
WIDTH = 640  # the longest side the cascade searches (see `find`)
SEARCH = ("/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades")  # Debian's opencv-data


@cache
def cascade(kind: str) -> cv2.CascadeClassifier:
    """The loaded cascade for `kind` (faces or plates), from the OpenCV wheel or Debian's opencv-data."""
    if kind not in CASCADES:
        raise RetouchError(f"Unknown --locate {kind!r}; use cam, cam:CLASS, faces or plates.")
    folders = [getattr(getattr(cv2, "data", None), "haarcascades", None), *SEARCH]
    for folder in filter(None, folders):
        path = Path(folder) / CASCADES[kind]
        if path.is_file():
            found = cv2.CascadeClassifier(str(path))
            if not found.empty():
                return found
    raise RetouchError(f"--locate {kind} needs OpenCV's Haar cascades ({CASCADES[kind]}): "
                       "pip install 'opencv-python-headless<5', or apt install opencv-data.")


def find(kind: str, luma: np.ndarray, min_side: int = 20) -> list[Box]:
    """Boxes (x, y, w, h) of the faces or plates in an HxW uint8 image, grown by `PAD` and
    clipped to the image, largest first.

    The search runs on a copy at most `WIDTH` pixels wide (a 720p frame took 0.5 s at full size,
    on a 2-core EPYC), so the smallest face found is `min_side` pixels of that copy.
    """
    h, w = luma.shape
    f = min(1.0, WIDTH / max(h, w))
    small = cv2.resize(luma, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA) if f < 1 else luma
    found = cascade(kind).detectMultiScale(cv2.equalizeHist(small), scaleFactor=1.1, minNeighbors=5,
                                           minSize=(min_side, min_side))
    boxes = []
    for x, y, bw, bh in (np.asarray(found, float) / f if len(found) else []):
        px, py = bw * PAD[kind], bh * PAD[kind]
        x0, y0 = max(0, int(x - px)), max(0, int(y - py))
        x1, y1 = min(w, int(np.ceil(x + bw + px))), min(h, int(np.ceil(y + bh + py)))
        boxes.append((x0, y0, x1 - x0, y1 - y0))
    return sorted(boxes, key=lambda b: -b[2] * b[3])
