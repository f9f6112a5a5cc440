"""The one training loop: config, device and precision, checkpoints and exact resume, logs, samples.

A checkpoint holds the networks, optimisers, schedulers, step and RNG state; the data stream is a
function of the step (see `data.StreamSampler`). Killing a run and resuming it therefore gives
the same losses and weights as never stopping, which `tests/test_train.py` checks with a real kill.
"""

from __future__ import annotations

import copy
import json
import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from torch.utils.data import DataLoader

from retouch import distributed
from retouch.atomic import atomic_write, remove_stale
from retouch.data import DataConfig, StreamSampler
from retouch.device import pick_device, pick_precision
from retouch.errors import RetouchError
from retouch.io import save_image
from retouch.methods import get_method
from retouch.models.files import load_pth, save_weights

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
    # of compiling (docs/notes/benchmarks-history.md), so it pays for runs longer than a few minutes
    compile: bool = False
    log_every: int = 50
    sample_every: int = 1000
    ckpt_every: int = 500
    # Start the inference network from another run (its full-precision checkpoint) or weights
    # file, e.g. a GAN phase after an L1 warm-up; the optimisers start fresh.
    init_from: str = ""
    # With init_from: also start the networks the run exports beside the inference net (a GAN
    # prior's discriminator, which DGP's feature distance reads) from the source's copies, so a
    # continued prior keeps its generator and discriminator in step
    init_extra: bool = False
    # A NaN or inf loss: "stop" the run (its last checkpoint is good), or "skip" the step (undo its
    # update and go on, counted as `skipped` in the log; costs a copy of the training state per step)
    nonfinite: str = "stop"


@dataclass
class RunConfig:
    method: str = "pix2pix"
    model: Any = None  # the method's own config dataclass
    # a dict (YAML, or left out) is built over the method's `data_defaults`; a DataConfig is taken as it is
    data: DataConfig | dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        method = get_method(self.method)
        if self.model is None:
            self.model = method.Config()
        elif isinstance(self.model, dict):
            self.model = _build(method.Config, self.model, "model")
        if isinstance(self.data, dict):
            self.data = _build(DataConfig, {**copy.deepcopy(method.data_defaults), **self.data}, "data")
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


def config_conflicts(saved: RunConfig, requested: RunConfig) -> list[str]:
    """Dotted keys where a resumed run's request differs from the run as it was started; the step
    count is not one of them: `--resume --steps N` continues a run to N steps."""
    def flat(d: dict, prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    a, b = flat(saved.to_dict()), flat(requested.to_dict())
    return [k for k in a if k != "train.steps" and a[k] != b.get(k)]


class FiniteLosses:
    """Stops a run at its first NaN or inf loss, naming the step and the loss.

    Checked every step on the CPU, where reading a loss costs nothing, and at log and checkpoint
    steps elsewhere, so a GPU is not made to wait every step; a checkpoint is only written after
    the check, so the last one on disk is always from finite steps."""

    def __init__(self) -> None:
        self.pending: list[tuple[int, dict[str, torch.Tensor]]] = []

    def add(self, step: int, losses: dict[str, torch.Tensor]) -> None:
        self.pending.append((step, losses))

    @staticmethod
    def first_bad(losses: dict[str, torch.Tensor]) -> str | None:
        return next((name for name, value in losses.items() if not math.isfinite(float(value))), None)

    def check(self, last_checkpoint: int) -> None:
        for step, losses in self.pending:
            name = self.first_bad(losses)
            if name is not None:
                value = losses[name]
                raise RetouchError(f"Step {step}: loss {name} is {float(value)}; the run stops here and keeps its last "
                                       f"good checkpoint (step {last_checkpoint}). Lower the learning rate or use "
                                       "--precision fp32, then --resume.")
        self.pending.clear()


def atomic_torch_save(obj: Any, path: Path) -> None:
    """Write to a temporary file beside `path`, then rename: a kill never leaves half a checkpoint."""
    with atomic_write(path) as f:
        torch.save(obj, f)


def build_method(cfg: RunConfig, device: torch.device, dtype: torch.dtype):
    t = cfg.train
    return get_method(cfg.method)(cfg.model, device, dtype, size=cfg.data.size, steps=t.steps, decay_start=t.decay_start)


def train(cfg: RunConfig, out: Path, resume: bool = False, show_progress: bool = True) -> Path:
    """Train `cfg` into the run folder `out`; returns the exported weights file.

    Under torchrun (WORLD_SIZE > 1) every process runs this with its slice of each global batch of
    `train.batch_size` images and the gradients averaged before each step (`retouch.distributed`);
    only rank 0 writes the run folder, which on several machines must be one shared folder.
    """
    t = cfg.train
    if t.nonfinite not in ("stop", "skip"):
        raise RetouchError(f"train.nonfinite is {t.nonfinite!r}; use stop or skip.")
    device = distributed.local_device(pick_device(t.device))
    ranks = distributed.init(device)
    local_batch = ranks.local_batch(t.batch_size)
    if ranks.main:
        _prepare_folder(cfg, out, resume)
    ranks.barrier()  # the run folder is ready (or the job failed) before any rank reads it
    ckpt_path = out / CHECKPOINT
    if t.nonfinite == "skip" and ranks.world > 1:
        raise RetouchError("--nonfinite skip runs in one process (ranks could disagree on which steps to undo); use stop under torchrun.")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick its fastest kernels once
    dtype = pick_precision(t.precision, device)
    torch.manual_seed(t.seed)
    dataset = get_method(cfg.method).dataset(cfg.data, train=True)
    _check_masks(cfg, dataset)
    method = build_method(cfg, device, dtype)
    start = skipped = 0
    if resume and ckpt_path.exists():  # killed before its first checkpoint: it starts again from step 0
        state = load_pth(ckpt_path, device)
        method.load_state_dict(state["method"])
        start, skipped = state["step"], state.get("skipped", 0)
        if start > t.steps:
            raise RetouchError(f"{out} is already at step {start}; --steps must be at least that to continue it.")
        method.sync_learning_rates()  # the schedule of this run's step count, if --steps changed it
        rng = state["rng"]
        if len(state.get("rng_ranks", [])) == ranks.world:  # each rank's own stream (dropout, latents)
            rng = state["rng_ranks"][ranks.rank]
        torch.set_rng_state(rng["torch"])
        if device.type == "cuda" and rng.get("cuda") is not None:
            torch.cuda.set_rng_state_all(rng["cuda"])
    else:
        if t.init_from:
            _init_from(method, t.init_from, device, t.init_extra)
        if ranks.world > 1:  # ranks draw their own dropout masks and latents, not copies of rank 0's
            torch.manual_seed(t.seed + 1_000_003 * ranks.rank)
    distributed.broadcast_nets(method.nets, ranks)
    distributed.average_gradients_before_steps(method.optimizers, ranks)
    if t.compile:
        method.compile()
    if ranks.main:
        _truncate_log(out / "log.jsonl", start)

    sampler = StreamSampler(len(dataset), t.seed, start=start * t.batch_size, rank=ranks.rank, world=ranks.world,
                            global_batch=t.batch_size)
    workers = cfg.data.resolved_workers()
    # The loader draws its workers' base seed when an iterator is made; from its own generator, that
    # draw leaves the global RNG (dropout, latents) exactly where the checkpoint saved it.
    loader = DataLoader(dataset, batch_size=local_batch, sampler=sampler, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                        generator=torch.Generator().manual_seed(t.seed))
    preview = _preview_batch(dataset, t.seed)

    from torch.utils.tensorboard import (
        SummaryWriter,  # heavy import, only when training
    )

    writer = SummaryWriter(str(out / "logs"), purge_step=start) if ranks.main else None
    weights = out / "model.safetensors"

    saved_at = start

    def checkpoint(step: int) -> None:
        nonlocal saved_at
        if not all(torch.isfinite(p).all() for net in method.nets.values() for p in net.parameters()):
            raise RetouchError(f"Step {step}: the weights hold NaN or inf; the run stops here and keeps its last good "
                               f"checkpoint (step {saved_at}). Lower the learning rate or use --precision fp32, then --resume.")
        rng = {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else None}
        rng_ranks = ranks.gather(rng)  # a collective: every rank takes part, rank 0 writes
        if not ranks.main:
            saved_at = step
            return
        with _rng_kept(device):
            net, meta = method.export()
            extras = method.export_extra()
        info = {"method": cfg.method, "direction": cfg.data.direction, "size": cfg.data.size, "steps": step}
        if cfg.data.degrade:
            info["degrade"] = cfg.data.degrade  # what the model learned to invert
        try:
            per_rank = {"rng_ranks": rng_ranks} if ranks.world > 1 else {}
            atomic_torch_save({"step": step, "method": method.state_dict(), "rng": rng, "skipped": skipped, **per_rank}, ckpt_path)
            save_weights(net, {**meta, **info}, weights)
            for name, (extra, extra_meta) in extras.items():
                save_weights(extra, {**extra_meta, **info}, out / f"{name}.safetensors")
        except (OSError, RuntimeError) as e:  # a full disk or a file-size limit; torch wraps the OSError
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            kept = f"its checkpoint of step {saved_at} is kept" if saved_at else "no checkpoint was written yet"
            raise RetouchError(f"Cannot write the checkpoint of step {step} in {out} ({first}); the run stops and {kept}. "
                               "Free some disk space, then --resume.") from None
        saved_at = step

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]} img/s"),
               TextColumn("{task.fields[losses]}"), TimeRemainingColumn()]
    progress = Progress(*columns, disable=not show_progress or not ranks.main)
    # the event writer closes with the loop, also on Ctrl-C or an error: its flushing thread would
    # otherwise outlive the run (one per interrupted run in a long-lived process, as the tests are)
    with progress, (out / "log.jsonl").open("a") if ranks.main else nullcontext() as log, writer if writer is not None else nullcontext():
        bar = progress.add_task(f"{cfg.method}", total=t.steps, completed=start, rate="-", losses="")
        it, tick, tick_step = iter(loader), time.perf_counter(), start
        finite, skipping = FiniteLosses(), t.nonfinite == "skip"
        for step in range(start, t.steps):
            before = copy.deepcopy(method.state_dict()) if skipping else None
            losses = method.step(next(it))
            done = step + 1
            if skipping and FiniteLosses.first_bad(losses) is not None:
                method.load_state_dict(before)  # undo the update; the schedule still moves on a step
                for sched in method.schedulers.values():
                    sched.step()
                skipped += 1
            elif not skipping:
                finite.add(done, losses)
            sync = done % t.log_every == 0 or done % t.ckpt_every == 0 or done == t.steps
            if device.type == "cpu" or sync:
                finite.check(saved_at)
            logging = done % t.log_every == 0 or done == t.steps
            if logging:
                values = ranks.mean({k: float(v) for k, v in losses.items()})  # the global batch's: a collective
                values |= {"skipped": skipped} if skipping else {}
            if ranks.main and logging:
                now = time.perf_counter()
                rate = (done - tick_step) * t.batch_size / max(now - tick, 1e-9)
                tick, tick_step = now, done
                log.write(json.dumps({"step": done, **values, "img_per_s": rate}) + "\n")
                log.flush()
                for k, v in values.items():
                    writer.add_scalar(f"loss/{k}", v, done)
                writer.add_scalar("speed/img_per_s", rate, done)
                progress.update(bar, rate=f"{rate:.1f}", losses=" ".join(f"{k} {v:.3f}" for k, v in values.items()))
            if ranks.main and (done % t.sample_every == 0 or done == t.steps):
                with _rng_kept(device):
                    grid = method.sample(preview)
                save_image(_stack_rows(grid), out / "samples" / f"step_{done:07d}.png")
                writer.add_image("samples", (grid[0].clamp(-1, 1) + 1) / 2, done)
            if done % t.ckpt_every == 0 or done == t.steps:
                checkpoint(done)
            progress.update(bar, completed=done)
    ranks.barrier()  # rank 0's last checkpoint is on disk before any rank reports the run done
    distributed.shutdown(ranks)
    return weights


def _prepare_folder(cfg: RunConfig, out: Path, resume: bool) -> None:
    """Check that `out` may be started or resumed as asked, and write its config (rank 0 only)."""
    ckpt_path = out / CHECKPOINT
    if ckpt_path.exists() and not resume:
        raise RetouchError(f"{out} already holds a run; add --resume to continue it or choose another --out.")
    if resume:
        if not (out / "config.yaml").exists():
            raise RetouchError(f"Nothing to resume in {out}: it has no config.yaml; start the run without --resume.")
        conflicts = config_conflicts(RunConfig.from_yaml(out / "config.yaml"), cfg)
        if conflicts:
            raise RetouchError(f"{out} was started with other settings ({', '.join(conflicts)}); resume it as it was "
                               "configured (only the step count may change), or choose another --out.")
    out.mkdir(parents=True, exist_ok=True)
    remove_stale(out)  # temporary files of writes a kill interrupted
    (out / "samples").mkdir(exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def _check_masks(cfg: RunConfig, dataset) -> None:
    """Pairs with a mask/ folder (`retouch data pairs` writes one) are pairs for a region: an
    unmasked model would learn to translate whole images and ignore it, which no one wants
    silently, so say at the start what to add."""
    if getattr(dataset, "masks", None) is not None and getattr(cfg.model, "masked", True) is False:
        raise RetouchError(f"The pairs in {dataset.masks.parent} have a mask/ folder: add --masked (model.masked: true) to train a model that "
                           "restores inside the mask (for retouch demosaic), or remove mask/ to translate whole images.")


def _rng_kept(device: torch.device):
    """Random draws inside (a preview's noise, fresh nets an export builds) leave the training stream
    as it was: they happen on rank 0 only, and after the checkpoint's RNG state is taken, so a
    resumed run or another rank would otherwise draw differently from then on."""
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


def _init_from(method, source: str | Path, device: torch.device, extra: bool = False) -> None:
    """Load the generator(s) from a run folder's checkpoint, a weights file or a shipped name: the
    inference network (and the nets in `method.init_copies`), or both generators of an unpaired
    (two-way) model; with `extra`, also the exported companions (`export_extra`: a prior's
    discriminator); other discriminators and the optimisers start fresh."""
    from retouch.models.load import load_model, read_meta, resolve

    ckpt = Path(source) / CHECKPOINT
    meta = read_meta(resolve(source))
    two_way = meta["net"]["name"] == "twoway"
    names = ["G_A", "G_B"] if two_way else [method.inference_net]
    spec = meta["net"]["generator"] if two_way else meta["net"]
    nets = load_pth(ckpt, device)["method"]["nets"] if ckpt.exists() else None
    if nets is not None:
        states = {n: nets[n] for n in names}
    else:
        net, _ = load_model(source, device)
        states = {n: (getattr(net, n) if two_way else net).state_dict() for n in names}
    for name, state in states.items():
        if name not in method.nets or spec != method.specs[name]:
            raise RetouchError(f"init_from {source}: its network {name} {spec} differs from this run's {method.specs.get(name)}.")
        for target in [name, *([] if two_way else method.init_copies)]:
            method.nets[target].load_state_dict(state)
    if extra:
        _init_extra(method, source, device, nets)


def _init_extra(method, source: str | Path, device: torch.device, nets: dict | None) -> None:
    """The companions a run exports (`discriminator`), each into the net of that role: from the run's
    checkpoint (`nets`, already read), else from the weights file beside the source's
    (`companion_path`: `discriminator.safetensors`, `<name>-discriminator.safetensors`)."""
    from retouch.models.files import companion_path
    from retouch.models.load import load_model, resolve

    with _rng_kept(device):
        roles = {name: extra for name, (extra, _) in method.export_extra().items()}
    for name, exported in roles.items():
        target = next(k for k, net in method.nets.items() if net is exported)
        if nets is not None:
            state = nets[target]
        else:
            sibling = companion_path(resolve(source), name)
            if not sibling.exists():
                raise RetouchError(f"init_extra: {source} has no {name} beside it ({sibling.name}); drop train.init_extra to start it fresh.")
            state = load_model(sibling, device)[0].state_dict()
        method.nets[target].load_state_dict(state)


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from, so the log reads as one run."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if _logged_step(line) <= step]
    path.write_text("".join(line + "\n" for line in keep))


def _logged_step(line: str) -> float:
    """A log line's step; a line a kill cut short (or an empty one) sorts after every step."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf


def _preview_batch(dataset, seed: int) -> dict:
    """A fixed batch of up to 4 training items with fixed augmentation: comparable across steps."""
    items = [dataset[(i, seed + i)] for i in range(min(4, len(dataset)))]
    return {k: torch.stack([it[k] for it in items]) for k, v in items[0].items() if isinstance(v, torch.Tensor)}


def _stack_rows(grid: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W rows into one 1 x 3 x NH x W image."""
    return torch.cat(list(grid), dim=1)[None]
