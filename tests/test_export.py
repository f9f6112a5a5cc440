"""ONNX export: every shipped inference network, weights files and reference .pth, run in
onnxruntime at two input sizes against PyTorch (dynamic axes must really work).

Tolerance: 1e-4 absolute on images in [-1, 1] and on logits (measured: at most 1e-5, fp32 both sides).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from retouch.cli import app
from retouch.errors import RetouchError
from retouch.models.export import export_onnx
from retouch.models.load import load_model
from retouch.train import train
from tests.helpers import basicsr_msrresnet_state

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


ATOL = 1e-4
# (model, direction, two (height, width) input sizes, or two batch sizes for the generator)
SHIPPED = [
    ("demosaic", "AtoB", [(64, 96), (32, 160)]),
    ("demosaic-l1", "AtoB", [(64, 64), (96, 32)]),
    ("srresnet-x4", "AtoB", [(12, 20), (17, 9)]),
    ("srgan-x4", "AtoB", [(12, 20), (9, 13)]),
    ("horse2zebra", "AtoB", [(32, 48), (20, 36)]),
    ("horse2zebra", "BtoA", [(32, 48), (24, 24)]),
    ("cifar10-classifier", "AtoB", [(32, 32), (40, 56)]),
    ("horse2zebra-domain", "AtoB", [(96, 96), (64, 80)]),
    ("cifar10-prior", "AtoB", [(3,), (5,)]),
]


def torch_net(model, direction: str = "AtoB"):
    net, meta = load_model(model)
    return (net.direction(direction) if meta["net"]["name"] == "twoway" else net), meta


def check_parity(path, net, sizes) -> dict[str, str]:
    """Run the ONNX file and the PyTorch net on random inputs of each size; return its metadata."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    torch.manual_seed(0)
    for size in sizes:
        if names == ["z", "class"]:
            z, y = torch.randn(size[0], net.dim_z), torch.arange(size[0]) % 10
            with torch.no_grad():
                expected = net(z, y)
            got = session.run(None, {"z": z.numpy(), "class": y.numpy()})[0]
        else:
            x = torch.rand(2, session.get_inputs()[0].shape[1], *size) * 2 - 1
            with torch.no_grad():
                expected = net(x)
            expected = expected.clamp(-1, 1) if expected.dim() == 4 else expected
            got = session.run(None, {"image": x.numpy()})[0]
        assert got.shape == tuple(expected.shape)
        np.testing.assert_allclose(got, expected.numpy(), atol=ATOL, rtol=0)
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


@pytest.mark.parametrize("model,direction,sizes", SHIPPED, ids=[f"{m}-{d}" for m, d, _ in SHIPPED])
def test_shipped_networks_match_pytorch_in_onnxruntime(tmp_path, model, direction, sizes):
    path = export_onnx(model, tmp_path / "model.onnx", direction=direction)
    net, meta = torch_net(model, direction)
    props = check_parity(path, net, sizes)
    assert props["range"] == "[-1, 1]" and props["layout"] == "NCHW" and props["dtype"] == "float32"
    assert json.loads(props["retouch"])["task"] == meta["task"]
    if model.startswith("demosaic"):  # the masked generator documents its fourth channel
        assert "mask" in props["input"] and "4 channels" in props["input"]


def test_converted_weights_and_reference_pth_export(tmp_path):
    torch.save({"params": basicsr_msrresnet_state(8, 2, 3)}, tmp_path / "MSRResNet_x3.pth")
    result = CliRunner().invoke(app, ["export", str(tmp_path / "MSRResNet_x3.pth"), "-o", str(tmp_path / "sr.onnx"), "--opset", "18"])
    assert result.exit_code == 0, result.output
    net, _ = load_model(tmp_path / "MSRResNet_x3.pth")
    props = check_parity(tmp_path / "sr.onnx", net, [(8, 10), (5, 7)])
    assert props["scale"] == "3"
    assert onnx.load(str(tmp_path / "sr.onnx")).opset_import[0].version == 18


def test_discriminators_are_refused_and_nothing_is_written(tmp_path):
    with pytest.raises(RetouchError, match="does not export"):
        export_onnx("cifar10-prior-discriminator", tmp_path / "d.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_dynamo_exporter(tmp_path):
    pytest.importorskip("onnxscript")
    torch.save(basicsr_msrresnet_state(4, 1, 2), tmp_path / "x2.pth")
    export_onnx(tmp_path / "x2.pth", tmp_path / "x2.onnx", dynamo=True)
    net, _ = load_model(tmp_path / "x2.pth")
    check_parity(tmp_path / "x2.onnx", net, [(8, 10), (5, 7)])


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("verb, extra", [("demosaic", ["--box", "16,8,40,32"]), ("upscale", []), ("translate", ["--model", "horse2zebra"])])
def test_backend_runtimes_give_the_torch_backends_output(tmp_path, verb, extra, runtime):
    """`--backend onnxruntime|openvino` runs the same verbs through that runtime: the written images
    equal the torch backend's up to one 8-bit level (float32 rounding either side of a .5). Both in
    fp32: the torch backend's `auto` precision is bf16 on CPUs with bf16 units (3 levels apart)."""
    pytest.importorskip(runtime)
    from PIL import Image

    from retouch.io import read_provenance

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    outs = {}
    for backend in ("torch", runtime):
        out = tmp_path / f"{backend}.png"
        r = CliRunner().invoke(app, [verb, str(tmp_path / "in.png"), "-o", str(out), "--backend", backend, "--device", "cpu",
                                      "--precision", "fp32", *extra])
        assert r.exit_code == 0, r.output
        outs[backend] = np.asarray(Image.open(out)).astype(int)
    assert outs["torch"].shape == outs[runtime].shape
    assert np.abs(outs["torch"] - outs[runtime]).max() <= 1
    assert read_provenance(tmp_path / f"{runtime}.png")["task"] == read_provenance(tmp_path / "torch.png")["task"]


@pytest.mark.parametrize("model, task, channels", [("demosaic", "restore", 4), ("srresnet-x4", "upscale", 3), ("horse2zebra", "translate", 3)])
def test_openvino_runs_bf16_at_bf16_precision_as_close_as_torch_bf16(model, task, channels):
    """At bf16 precision (`auto`'s on CPUs with bf16 units) OpenVINO compiles the network in bf16 and
    lands within bf16 rounding of torch fp32, no farther than torch's own bf16 autocast (measured on a
    Sapphire Rapids Xeon: at most 2.7 levels of 255 on srresnet-x4, mean 0.28; torch bf16 2.6 and 0.31)."""
    pytest.importorskip("openvino")
    from retouch.models.backends import OvNet
    from retouch.models.runner import load_translator

    x = torch.rand(1, channels, 64, 96, generator=torch.Generator().manual_seed(0)) * 2 - 1
    reference = load_translator(model, "cpu", "fp32", task=task, backend="torch").net
    ov = load_translator(model, "cpu", "bf16", task=task, backend="openvino").net
    assert isinstance(ov, OvNet) and str(ov.compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'bfloat16'>"
    with torch.no_grad():
        exact = reference(x).clamp(-1, 1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            autocast = reference(x).float().clamp(-1, 1)
    levels = (ov(x) - exact).abs() * 127.5
    assert levels.max() <= 4 and levels.mean() <= 0.5
    assert levels.mean() <= 1.5 * (autocast - exact).abs().mean() * 127.5


def test_unknown_backend_is_one_line(tmp_path):
    r = CliRunner().invoke(app, ["upscale", str(tmp_path / "x.png"), "-o", str(tmp_path / "y.png"), "--backend", "tensorrt"])
    assert isinstance(r.exception, RetouchError) and "Unknown --backend 'tensorrt'" in str(r.exception)


def test_backend_auto_times_once_and_caches_the_choice(tmp_path, monkeypatch):
    """`auto` times torch and every installed runtime on the model's network once per machine and
    model, writes the choice and the times to the cache, and reads it back the next time untimed."""
    import retouch.measured as measured
    import retouch.models.backends as backends
    from retouch.models.runner import load_translator

    monkeypatch.setenv(measured.CACHE_ENV, str(tmp_path))
    tr = load_translator("demosaic", "cpu", "fp32", task="restore", backend="auto", tile=64)
    cache = json.loads((tmp_path / "backends.json").read_text())
    [(key, entry)] = cache.items()
    assert key.startswith("demosaic|(1, 4, 64, 64)|float32|") and set(entry["seconds"]) == {"torch", *backends.installed()}
    seconds = entry["seconds"]
    best = min(seconds, key=seconds.get)
    assert entry["backend"] == (best if seconds[best] < backends.MARGIN * seconds["torch"] else "torch")
    kinds = {"torch": torch.nn.Module} | {name: cls for name, (_, cls) in backends.RUNTIMES.items()}
    assert isinstance(tr.net, kinds[entry["backend"]])
    built = []
    monkeypatch.setattr(backends, "runtime_net", lambda name, net, meta, dtype=None: built.append(name) or "stub")
    from retouch.models.runner import _load_translator

    _load_translator.cache_clear()  # load again from scratch: the choice must come from the file, untimed
    again = load_translator("demosaic", "cpu", "fp32", task="restore", backend="auto", tile=64)
    assert built == ([] if entry["backend"] == "torch" else [entry["backend"]])  # timing would have built every runtime
    assert (again.net == "stub") == (entry["backend"] != "torch")
    _load_translator.cache_clear()  # no stub left for later tests in this worker


def test_shared_latent_runs_export_and_match_pytorch(tmp_path):
    from tests.test_cyclegan import tiny_domains
    from tests.test_shared_latent import tiny

    data = tiny_domains(tmp_path / "data")
    for method in ("unit", "cogan"):
        train(tiny(method, data, steps=2), tmp_path / method, show_progress=False)
    path = export_onnx(str(tmp_path / "unit"), tmp_path / "unit.onnx", direction="BtoA")
    check_parity(path, torch_net(str(tmp_path / "unit"), "BtoA")[0], [(32, 48), (20, 36)])
    path = export_onnx(str(tmp_path / "cogan"), tmp_path / "cogan.onnx")
    net, _ = load_model(str(tmp_path / "cogan"))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    z = torch.randn(3, 16)
    with torch.no_grad():
        a, b = net(z)
    got_a, got_b = session.run(None, {"z": z.numpy()})
    np.testing.assert_allclose(got_a, a.numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(got_b, b.numpy(), atol=ATOL, rtol=0)
    train(tiny("condgan", data, steps=2), tmp_path / "condgan", show_progress=False)
    with pytest.raises(RetouchError, match="antialiased"):
        export_onnx(str(tmp_path / "condgan"), tmp_path / "condgan.onnx")
    assert not (tmp_path / "condgan.onnx").exists()
