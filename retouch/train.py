"""The one training loop: config, device and precision, checkpoints and exact resume, logs, samples.

A checkpoint holds the networks, optimisers, schedulers, step and RNG state; the data stream is a
function of the step (see `data.StreamSampler`). Killing a run and resuming it therefore gives
the same losses and weights as never stopping, which `tests/test_train.py` checks with a real kill.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.utils.data import DataLoader

from retouch.atomic import atomic_write
from retouch.data import DataConfig, StreamSampler
from retouch.device import pick_device, pick_precision
from retouch.errors import RetouchError
from retouch.io import save_image
from retouch.methods import get_method
from retouch.zoo import save_weights

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainConfig:
    """How long and how: steps, batch, schedule, devices, and how often to log, preview and save."""

    steps: int = 20000
    batch_size: int = 1
    decay_start: float = 0.5  # fraction of steps at constant LR before the linear decay to zero
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    # torch.compile every network: pix2pix U-Net 256 steps 1.2x faster on CPU after about a minute
    # of compiling (docs/benchmarks.md), so it pays for runs longer than a few minutes
    compile: bool = False
    log_every: int = 50
    sample_every: int = 1000
    ckpt_every: int = 500
    # Start the inference network from another run (its full-precision checkpoint) or weights
    # file, e.g. a GAN phase after an L1 warm-up; the optimisers start fresh.
    init_from: str = ""


@dataclass
class RunConfig:
    method: str = "pix2pix"
    model: Any = None  # the method's own config dataclass
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        cls = get_method(self.method).Config
        if self.model is None:
            self.model = cls()
        elif isinstance(self.model, dict):
            self.model = _build(cls, self.model, "model")
        if isinstance(self.data, dict):
            self.data = _build(DataConfig, self.data, "data")
        if isinstance(self.train, dict):
            self.train = _build(TrainConfig, self.train, "train")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_yaml(cls, path: Path) -> "RunConfig":
        if not path.exists():
            raise RetouchError(f"Config file {path} does not exist.")
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise RetouchError(f"{path} must hold a mapping with method/model/data/train sections.")
        return _build(cls, raw, str(path))


def _build(cls: type, values: dict, where: str):
    """A dataclass from a dict, naming any unknown key instead of failing obscurely."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise RetouchError(f"Unknown keys in {where}: {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
    return cls(**values)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """Write to a temporary file beside `path`, then rename: a kill never leaves half a checkpoint."""
    with atomic_write(path) as f:
        torch.save(obj, f)


def build_method(cfg: RunConfig, device: torch.device, dtype: torch.dtype):
    t = cfg.train
    return get_method(cfg.method)(cfg.model, device, dtype, size=cfg.data.size, steps=t.steps, decay_start=t.decay_start)


def train(cfg: RunConfig, out: Path, resume: bool = False, show_progress: bool = True) -> Path:
    """Train `cfg` into the run folder `out`; returns the exported weights file."""
    ckpt_path = out / CHECKPOINT
    if ckpt_path.exists() and not resume:
        raise RetouchError(f"{out} already holds a run; add --resume to continue it or choose another --out.")
    if resume:
        if not ckpt_path.exists():
            raise RetouchError(f"Nothing to resume in {out}: it has no {CHECKPOINT}.")
        cfg = RunConfig.from_yaml(out / "config.yaml")  # a resumed run is the run that was started
    out.mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    t = cfg.train
    device = pick_device(t.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick its fastest kernels once
    dtype = pick_precision(t.precision, device)
    torch.manual_seed(t.seed)
    dataset = get_method(cfg.method).dataset(cfg.data, train=True)
    _check_masks(cfg, dataset)
    method = build_method(cfg, device, dtype)
    start = 0
    if resume:
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        method.load_state_dict(state["method"])
        start = state["step"]
        torch.set_rng_state(state["rng"]["torch"])
        if device.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    elif t.init_from:
        _init_from(method, t.init_from, device)
    if t.compile:
        method.compile()
    _truncate_log(out / "log.jsonl", start)

    sampler = StreamSampler(len(dataset), t.seed, start=start * t.batch_size)
    workers = cfg.data.resolved_workers()
    # The loader draws its workers' base seed when an iterator is made; from its own generator, that
    # draw leaves the global RNG (dropout, latents) exactly where the checkpoint saved it.
    loader = DataLoader(dataset, batch_size=t.batch_size, sampler=sampler, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                        generator=torch.Generator().manual_seed(t.seed))
    preview = _preview_batch(dataset, t.seed)

    from torch.utils.tensorboard import SummaryWriter  # heavy import, only when training

    writer = SummaryWriter(str(out / "logs"), purge_step=start)
    weights = out / "model.safetensors"

    def checkpoint(step: int) -> None:
        rng = {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else None}
        atomic_torch_save({"step": step, "method": method.state_dict(), "rng": rng}, ckpt_path)
        net, meta = method.export()
        info = {"method": cfg.method, "direction": cfg.data.direction, "size": cfg.data.size, "steps": step}
        if cfg.data.degrade:
            info["degrade"] = cfg.data.degrade  # what the model learned to invert
        save_weights(net, {**meta, **info}, weights)
        for name, (extra, extra_meta) in method.export_extra().items():
            save_weights(extra, {**extra_meta, **info}, out / f"{name}.safetensors")

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]} img/s"),
               TextColumn("{task.fields[losses]}"), TimeRemainingColumn()]
    progress = Progress(*columns, disable=not show_progress)
    with progress, (out / "log.jsonl").open("a") as log:
        bar = progress.add_task(f"{cfg.method}", total=t.steps, completed=start, rate="-", losses="")
        it, tick, tick_step = iter(loader), time.perf_counter(), start
        for step in range(start, t.steps):
            losses = method.step(next(it))
            done = step + 1
            if done % t.log_every == 0 or done == t.steps:
                values = {k: float(v) for k, v in losses.items()}
                now = time.perf_counter()
                rate = (done - tick_step) * t.batch_size / max(now - tick, 1e-9)
                tick, tick_step = now, done
                log.write(json.dumps({"step": done, **values, "img_per_s": rate}) + "\n")
                log.flush()
                for k, v in values.items():
                    writer.add_scalar(f"loss/{k}", v, done)
                writer.add_scalar("speed/img_per_s", rate, done)
                progress.update(bar, rate=f"{rate:.1f}", losses=" ".join(f"{k} {v:.3f}" for k, v in values.items()))
            if done % t.sample_every == 0 or done == t.steps:
                grid = method.sample(preview)
                save_image(_stack_rows(grid), out / "samples" / f"step_{done:07d}.png")
                writer.add_image("samples", (grid[0].clamp(-1, 1) + 1) / 2, done)
            if done % t.ckpt_every == 0 or done == t.steps:
                checkpoint(done)
            progress.update(bar, completed=done)
    writer.close()
    return weights


def _check_masks(cfg: RunConfig, dataset) -> None:
    """Pairs with a mask/ folder (`retouch data pairs` writes one) are pairs for a region: an
    unmasked model would learn to translate whole images and ignore it, which no one wants
    silently, so say at the start what to add."""
    if getattr(dataset, "masks", None) is not None and getattr(cfg.model, "masked", True) is False:
        raise RetouchError(f"The pairs in {dataset.masks.parent} have a mask/ folder: add --masked (model.masked: true) to train a model that "
                           "restores inside the mask (for retouch demosaic), or remove mask/ to translate whole images.")


def _init_from(method, source: str | Path, device: torch.device) -> None:
    """Load the generator(s) from a run folder's checkpoint, a weights file or a shipped name: the
    inference network (and the nets in `method.init_copies`), or both generators of an unpaired
    (two-way) model; discriminators and optimisers start fresh."""
    from retouch.zoo import load_model, read_meta, resolve

    ckpt = Path(source) / CHECKPOINT
    meta = read_meta(resolve(source))
    two_way = meta["net"]["name"] == "twoway"
    names = ["G_A", "G_B"] if two_way else [method.inference_net]
    spec = meta["net"]["generator"] if two_way else meta["net"]
    if ckpt.exists():
        nets = torch.load(ckpt, map_location=device, weights_only=True)["method"]["nets"]
        states = {n: nets[n] for n in names}
    else:
        net, _ = load_model(source, device)
        states = {n: (getattr(net, n) if two_way else net).state_dict() for n in names}
    for name, state in states.items():
        if name not in method.nets or spec != method.specs[name]:
            raise RetouchError(f"init_from {source}: its network {name} {spec} differs from this run's {method.specs.get(name)}.")
        for target in [name, *([] if two_way else method.init_copies)]:
            method.nets[target].load_state_dict(state)


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from, so the log reads as one run."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in keep))


def _preview_batch(dataset, seed: int) -> dict:
    """A fixed batch of up to 4 training items with fixed augmentation: comparable across steps."""
    items = [dataset[(i, seed + i)] for i in range(min(4, len(dataset)))]
    return {k: torch.stack([it[k] for it in items]) for k, v in items[0].items() if isinstance(v, torch.Tensor)}


def _stack_rows(grid: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W rows into one 1 x 3 x NH x W image."""
    return torch.cat(list(grid), dim=1)[None]
