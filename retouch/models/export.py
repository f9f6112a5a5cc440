"""ONNX export of any inference network: shipped names, weights files, run folders, reference .pth.

The graph keeps the project's convention, NCHW float32 in [-1, 1] in and out, with dynamic batch,
height and width, and says so in its metadata (`metadata_props`), together with the network spec,
what the sides must divide by, the scale, a masked generator's extra channel and a classifier's
class names, so a deployment runtime needs nothing else from us. Image outputs are clamped to
[-1, 1] inside the graph, as `retouch translate` clamps them.

The exporter is torch's TorchScript-based one by default: it exports every network here in about
a second and needs only `onnx`; `dynamo=True` uses the torch.export-based exporter instead (torch's
default since 2.9, about 20x slower here, and needs `onnxscript`).
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from retouch import __version__
from retouch.atomic import atomic_write
from retouch.errors import RetouchError
from retouch.models.load import load_model
from retouch.nets import input_multiple

DEFAULT_OPSET = 17
IMAGE_NETS = ("unet", "resnet", "ffdnet", "srresnet", "msrresnet", "rrdbnet", "srvgg", "latent_path")


class Clamped(nn.Module):
    """The network's output clamped to [-1, 1], as inference clamps it."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).clamp(-1, 1)


def _graph(net: nn.Module, meta: dict[str, Any]) -> tuple[nn.Module, tuple[Tensor, ...], list[str], list[str], dict, dict[str, str]]:
    """What to trace for this kind of network: module, example inputs, names, dynamic axes, and
    the metadata describing its inputs and outputs."""
    spec = meta["net"]
    name = spec["name"]
    image = "NCHW float32 in [-1, 1]"
    dyn = {0: "batch", 2: "height", 3: "width"}
    if name in IMAGE_NETS:
        multiple = input_multiple(spec)
        channels = spec.get("in_channels", 3)
        scale = spec.get("scale", 1)
        info = {"input": f"image: {image}, height and width divisible by {multiple}",
                "output": f"image: {image}, {scale}x the input's height and width", "multiple": str(multiple), "scale": str(scale)}
        if meta.get("method_config", {}).get("masked"):
            info["input"] += (f"; {channels} channels: RGB, then the region mask (1 = restore here, 0 = keep; white in mask "
                              "files); composite outside the mask yourself: out = where(mask > 0.5, output, input)")
        x = torch.zeros(1, channels, 2 * multiple if multiple > 1 else 16, 2 * multiple if multiple > 1 else 16)
        return Clamped(net), (x,), ["image"], ["output"], {"image": dyn, "output": dyn}, info
    if name == "resnet_gap":
        info = {"input": f"image: {image}, any height and width (trained at {meta.get('size')} px)",
                "output": "logits: (N, classes) float32, softmax for probabilities", "classes": json.dumps(meta.get("classes", []))}
        x = torch.zeros(1, spec.get("in_channels", 3), 32, 32)
        return net, (x,), ["image"], ["logits"], {"image": dyn, "logits": {0: "batch"}}, info
    if name == "biggan_g":
        info = {"input": f"z: (N, {net.dim_z}) float32 latent, N(0, 1) (truncate to sample conservatively); "
                         f"class: (N,) int64 class index", "output": f"image: {image}, {spec['resolution']} px",
                "classes": json.dumps(meta.get("classes", []))}
        inputs = (torch.zeros(2, net.dim_z), torch.zeros(2, dtype=torch.long))
        return net, inputs, ["z", "class"], ["output"], {"z": {0: "batch"}, "class": {0: "batch"}, "output": {0: "batch"}}, info
    if name == "cond_translator":
        raise RetouchError("A condgan translator shrinks its input with an antialiased filter, which ONNX has no operator for; "
                           "run it with retouch (--backend torch), or export a unit or cyclegan model.")
    if name == "cogan_g":
        info = {"input": f"z: (N, {spec['z_dim']}) float32 noise, N(0, 1)",
                "output": f"a, b: one image per domain from each z, {image}, {spec['size']} px"}
        return net, (torch.zeros(2, spec["z_dim"]),), ["z"], ["a", "b"], {"z": {0: "batch"}, "a": {0: "batch"}, "b": {0: "batch"}}, info
    raise RetouchError(f"retouch does not export {name!r} networks to ONNX (a discriminator serves training, not inference).")


def export_onnx(model: str | Path, output: Path, opset: int = DEFAULT_OPSET, direction: str = "AtoB", arch: str | None = None,
                dynamo: bool = False) -> Path:
    """Write `model`'s inference network as ONNX at `output` (atomically), metadata included.

    An unpaired (two-way) model exports the generator of `direction`.
    """
    try:
        import onnx
    except ImportError:
        raise RetouchError("ONNX export needs the onnx package: pip install 'retouch[onnx]'.") from None
    net, meta = load_model(model, "cpu", arch)
    if meta["net"]["name"] == "twoway":
        net, meta = net.direction(direction), {**meta, "net": meta["net"]["generator"], "direction": direction}
    elif direction != "AtoB":
        raise RetouchError(f"Model {model} works one way only; --direction {direction} needs an unpaired (two-way) model.")
    module, inputs, in_names, out_names, axes, info = _graph(net.eval(), meta)
    proto = _trace(module, inputs, in_names, out_names, axes, opset, dynamo)
    props = {"retouch": json.dumps(meta), "producer": f"retouch {__version__}", "model": str(model), "task": str(meta.get("task")),
             "layout": "NCHW", "dtype": "float32", "range": "[-1, 1]", **info}
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name, proto.producer_version = "retouch", __version__
    onnx.checker.check_model(proto)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(output) as f:
        f.write(proto.SerializeToString())
    return output


def _trace(module: nn.Module, inputs: tuple[Tensor, ...], in_names: list[str], out_names: list[str], axes: dict, opset: int,
           dynamo: bool):
    """The ONNX ModelProto of `module` traced on `inputs` with the given dynamic axes."""
    import onnx

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on shape checks that inference never takes, and the deprecation notice
        if dynamo:
            try:
                shapes = tuple({i: torch.export.Dim.AUTO for i in axes[n]} for n in in_names)
                program = torch.onnx.export(module, inputs, input_names=in_names, output_names=out_names, dynamo=True,
                                            dynamic_shapes=shapes, opset_version=max(opset, 18), verbose=False)
            except ImportError:
                raise RetouchError("The dynamo exporter needs onnxscript: pip install 'retouch[onnx]' onnxscript.") from None
            return program.model_proto
        buffer = io.BytesIO()
        torch.onnx.export(module, inputs, buffer, input_names=in_names, output_names=out_names, dynamic_axes=axes,
                          opset_version=opset, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())
