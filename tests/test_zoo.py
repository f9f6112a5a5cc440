"""Shipped models: each file is present, intact, small, documented, and loads by name."""

import hashlib
from pathlib import Path

import pytest
import torch

from retouch.models.load import load_model
from retouch.models.zoo import WEIGHTS_DIR, ZOO

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(ZOO))
def test_shipped_model_is_intact_documented_and_loads(name):
    entry = ZOO[name]
    path = WEIGHTS_DIR / entry.file
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256
    assert (ROOT / entry.card).exists()
    net, meta = load_model(name)
    assert meta["task"] == entry.task
    two_way = meta["net"]["name"] == "twoway"  # both generators of an unpaired model, one file
    assert path.stat().st_size < (2 if two_way else 1) * 10 * 2**20  # at most 10 MiB a network
    spec = meta["net"]["generator"] if two_way else meta["net"]
    size, scale = meta["size"], spec.get("scale", 1)
    expected = (1, len(meta["classes"])) if entry.task == "classify" else (1, 3, size * scale, size * scale)
    if entry.task == "segment":  # one logit per pixel
        expected = (1, 1, size, size)
    if entry.task == "discriminate":  # a prior's discriminator: image and class in, one logit out
        assert net(torch.zeros(1, 3, size, size), torch.tensor([0])).shape == (1, 1)
        return
    if entry.task == "generate":  # a class-conditional generator: latent and class in, image out
        assert net(torch.randn(1, net.dim_z), torch.tensor([0])).shape == expected
        return
    if entry.task == "complete":  # key patches (three 8 px, no order) in: image, placement mask, corner logits out
        image, mask, logits = net(torch.zeros(1, 3, 3, 8, 8))
        assert image.shape == expected and mask.shape == (1, 1, size, size) and logits.shape == (1, 3, size - 7, size - 7)
        return
    channels = spec.get("in_channels", 3)  # 4 for region restorers: the image and its mask
    assert net(torch.zeros(1, channels, size, size)).shape == expected
