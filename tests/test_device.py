"""Device and precision choice: auto never picks emulated bf16 on a CPU."""

import pytest
import torch

from retouch import device as dev
from retouch.errors import RetouchError


def test_auto_precision_on_cpu_follows_native_bf16(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: False)
    assert dev.pick_precision("auto", cpu) == torch.float32
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: True)
    assert dev.pick_precision("auto", cpu) == torch.bfloat16
    assert dev.pick_precision("fp32", cpu) == torch.float32 and dev.pick_precision("bf16", cpu) == torch.bfloat16


def test_unknown_or_unavailable_choices_are_clear_errors():
    with pytest.raises(RetouchError, match="precision"):
        dev.pick_precision("fp8", torch.device("cpu"))
    with pytest.raises(RetouchError, match="device"):
        dev.pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RetouchError, match="CUDA"):
            dev.pick_device("cuda")
        assert dev.pick_device("auto").type in ("cpu", "mps")


def test_autocast_is_a_no_op_in_fp32():
    with dev.autocast(torch.device("cpu"), torch.float32):
        assert not torch.is_autocast_enabled("cpu")
    with dev.autocast(torch.device("cpu"), torch.bfloat16):
        assert torch.is_autocast_enabled("cpu")
