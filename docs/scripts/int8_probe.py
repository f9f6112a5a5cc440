"""Would int8 weights make the demosaic U-Net faster on this CPU? Static int8 (QDQ, per-channel
weights, activations calibrated on 16 mosaicked BSDS500 train crops) against fp32, in ONNX
Runtime and in OpenVINO, on one 256 px tile, `--threads` threads, best of 5 after a warm-up,
alternated; and how far int8's output moves from fp32's on a BSDS500 test crop.

    python docs/scripts/int8_probe.py --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from retouch.degrade import Mosaic
from retouch.geometry import box_mask
from retouch.io import list_images, read_image
from retouch.models.backends import _onnx_graph
from retouch.models.load import load_model

DATA = Path("../shared/data/bsds500")


def sample(path: Path) -> np.ndarray:
    """A 256 px crop of the photo with a 128 px box mosaicked (8 px cells), and the mask channel."""
    x = read_image(path)[:, :, :256, :256]
    m = box_mask(256, 256, (64, 64, 128, 128))
    return torch.cat([Mosaic(8)(x, m), m], 1).numpy()


def best_ms(run, repeats: int = 5) -> float:
    run()
    return 1000 * min(_seconds(run) for _ in range(repeats))


def _seconds(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    import onnxruntime as ort
    import openvino as ov
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    net, meta = load_model("demosaic", torch.device("cpu"), None, task="restore")
    proto, name = _onnx_graph(net, meta)
    folder = Path(tempfile.mkdtemp(prefix="int8-"))
    (folder / "fp32.onnx").write_bytes(proto.SerializeToString())
    calibration = [{name: sample(p)} for p in list_images(DATA / "train")[:16]]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.left = iter(calibration)

        def get_next(self) -> dict | None:
            return next(self.left, None)

    with contextlib.chdir(folder):  # the quantiser leaves temporary models in the working folder
        quant_pre_process(folder / "fp32.onnx", folder / "pre.onnx", skip_symbolic_shape=True)
        quantize_static(folder / "pre.onnx", folder / "int8.onnx", Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    x = sample(list_images(DATA / "test")[0])
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": args.threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    runs, outputs = {}, {}
    for precision in ("fp32", "int8"):
        session = ort.InferenceSession(str(folder / f"{precision}.onnx"), options, providers=["CPUExecutionProvider"])
        runs[f"ONNX Runtime {precision}"] = lambda s=session: s.run(None, {name: x})
        outputs[precision] = session.run(None, {name: x})[0]
        request = core.compile_model(core.read_model(folder / f"{precision}.onnx"), "CPU", config).create_infer_request()
        runs[f"OpenVINO {precision}"] = lambda r=request: r.infer([x])
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(2):  # alternated rounds, so a drift of the machine reaches every runtime
        for k, run in runs.items():
            times[k].append(best_ms(run))
    for k, t in times.items():
        print(f"{k}: {min(t):.1f} ms (rounds: {', '.join(f'{v:.1f}' for v in t)})")
    diff = np.abs(outputs["fp32"] - outputs["int8"])
    print(f"int8 against fp32 output (ONNX Runtime, [-1, 1] scale): max {diff.max():.3f}, mean {diff.mean():.4f}")


if __name__ == "__main__":
    main()
