"""The interface every training method implements, and the registry it registers in.

A method owns its networks and optimisers, does one optimisation step on a batch, makes preview
images, and names the network that inference uses. The training loop knows nothing else about it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar

import torch
from torch import nn

from retouch.device import autocast
from retouch.losses import GANObjective
from retouch.nets import build_net

FUSED_ADAM_DEVICES = ("cpu", "cuda")


def linear_decay(steps: int, decay_start: float):
    """The reference schedule: constant LR, then linear decay to zero over the last part of training."""
    start = int(steps * decay_start)

    def factor(step: int) -> float:
        if step < start:
            return 1.0
        return max(0.0, 1.0 - (step - start) / max(1, steps - start))

    return factor


class Method:
    """Shared plumbing: device, precision, optimiser/scheduler bookkeeping and state for checkpoints."""

    Config: ClassVar[type]
    #: the network that inference uses, and the task it performs
    inference_net: ClassVar[str]
    task: ClassVar[str]
    #: nets that `train.init_from` also fills with the inference weights (a GAN prior's G beside G_ema)
    init_copies: ClassVar[tuple[str, ...]] = ()
    #: `DataConfig` fields this method needs other than paired translation's defaults, taken where a
    #: config leaves them out: `retouch train METHOD --data D` with no config must train (keypatch's
    #: one patch count and side, which the generic box ranges are not)
    data_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, cfg: Any, device: torch.device, dtype: torch.dtype):
        self.cfg, self.device, self.dtype = cfg, device, dtype
        self.nets: dict[str, nn.Module] = {}
        self.specs: dict[str, dict] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}

    @classmethod
    def dataset(cls, data: Any, train: bool = True):
        """The training data this method reads; paired (or on-the-fly degraded) images by default."""
        from retouch.data import make_dataset

        return make_dataset(data, train)

    def autocast(self):
        return autocast(self.device, self.dtype)

    def add_net(self, name: str, spec: dict, memory_format: torch.memory_format = torch.preserve_format) -> None:
        """Build the network `spec` describes on the device; the spec goes into exported weights."""
        self.specs[name] = spec
        self.nets[name] = build_net(dict(spec)).to(self.device, memory_format=memory_format)

    def add_optimizer(self, name: str, params, lr: float, betas: tuple[float, float], steps: int, decay_start: float) -> None:
        """Adam with the reference's schedule; fused (one kernel for the whole update) where torch has
        it: the same update, 1.3x faster steps for a pix2pix U-Net 256 on CPU (docs/notes/benchmarks-history.md)."""
        opt = torch.optim.Adam(params, lr=lr, betas=betas, fused=self.device.type in FUSED_ADAM_DEVICES)
        self.optimizers[name] = opt
        self.schedulers[name] = torch.optim.lr_scheduler.LambdaLR(opt, linear_decay(steps, decay_start))

    def add_adversary(self, params, lr: float, beta1: float, steps: int, decay_start: float, gan_mode: str) -> None:
        """The discriminator's optimiser ("D": Adam, betas (beta1, 0.999), the schedule of its generator's)
        and the GAN objective its losses use: what every adversarial method here sets up."""
        self.add_optimizer("D", params, lr, (beta1, 0.999), steps, decay_start)
        self.objective = GANObjective(gan_mode)

    def update(self, name: str, loss: torch.Tensor) -> None:
        """One step of optimiser `name` on `loss`. Its gradients are cleared just before the
        backward pass, so whatever an earlier backward left on these parameters (a discriminator
        loss that reached the generator) never leaks into the step."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def advance(self) -> None:
        """Every learning-rate schedule one step on: once per training step, after the updates."""
        for scheduler in self.schedulers.values():
            scheduler.step()

    def compile(self) -> None:
        """torch.compile every network in place: parameter names, checkpoints and exports stay as they are."""
        for net in self.nets.values():
            net.compile()

    def step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One optimisation step; returns detached scalar losses (no host sync here)."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, batch: dict) -> torch.Tensor:
        """Preview rows (N x 3 x H x kW) for the sample grid."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        for group in ("nets", "optimizers", "schedulers"):
            mine = getattr(self, group)
            if set(mine) != set(state[group]):
                raise ValueError(f"checkpoint {group} {sorted(state[group])} do not match {sorted(mine)}")
            for k, v in state[group].items():
                mine[k].load_state_dict(v)

    def sync_learning_rates(self) -> None:
        """Set each optimiser's learning rate from its schedule at the current step.

        A checkpoint restores the rate its schedule had reached; when a resumed run changes its step
        count the schedule is this run's, so the rate must come from it (equal when nothing changed)."""
        for sched in self.schedulers.values():
            for group, base, fn in zip(sched.optimizer.param_groups, sched.base_lrs, sched.lr_lambdas, strict=True):
                group["lr"] = base * fn(sched.last_epoch)

    def export(self) -> tuple[nn.Module, dict]:
        """The inference network and the metadata that rebuilds it without the training code."""
        return self.nets[self.inference_net], {"net": self.specs[self.inference_net], "task": self.task, "method_config": asdict(self.cfg)}

    def export_extra(self) -> dict[str, tuple[nn.Module, dict]]:
        """Other networks a later tool needs beside the inference one, written as `<name>.safetensors`
        in the run folder at every checkpoint (a prior's discriminator, for DGP's feature loss)."""
        return {}


def set_requires_grad(net: nn.Module, flag: bool) -> None:
    for p in net.parameters():
        p.requires_grad_(flag)


METHODS: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    METHODS[cls.__module__.rsplit(".", 1)[-1]] = cls
    return cls
