"""Training on many processes (`torchrun --nproc-per-node N -m retouch train ...`): data parallel.

torchrun starts N copies of the command and tells each its `RANK`, `LOCAL_RANK` and `WORLD_SIZE`;
`init` joins them into one process group (gloo on CPU, NCCL on CUDA). Every rank builds the same
networks (rank 0's weights are broadcast so they start equal), takes its slice of each global batch
(`data.StreamSampler`), and before every optimiser step the gradients are averaged over the ranks,
so each rank takes the step a single process would take on the whole global batch, and the
weights stay equal everywhere.

That is DistributedDataParallel's averaging rule, applied at the optimiser (a step pre-hook that
all-reduces the optimiser's gradients flattened into one buffer, as StyleGAN2-ADA does) rather than
by wrapping the networks in `DistributedDataParallel`: the methods call their networks' own
methods (`D.features` for the PAN loss, a two-way model's `direction`), save and export their
state dicts by name, and build several optimisers over parts of them; the wrapper would stand
between the methods and all of that. What this gives up is DDP's overlap of the all-reduce with
the backward pass (its gradient buckets), which costs time mainly for large networks on many GPUs
(not measured here). Only rank 0 writes logs, samples and checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from retouch.errors import RetouchError


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job; one process is rank 0 of a world of 1."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes the run folder."""
        return self.rank == 0

    def local_batch(self, global_batch: int) -> int:
        """Images per rank and step: the global batch split evenly."""
        if global_batch % self.world:
            raise RetouchError(f"--batch-size {global_batch} (the global batch) must divide by the {self.world} processes; "
                               f"use a multiple of {self.world}.")
        return global_batch // self.world

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """The mean over ranks of each value (every rank must call it at the same step)."""
        if self.world == 1 or not values:
            return values
        t = torch.tensor(list(values.values()), dtype=torch.float64, device=_comm_device())
        dist.all_reduce(t)
        return dict(zip(values, (t / self.world).tolist()))

    def gather(self, obj):
        """Every rank's `obj`, in rank order (a collective)."""
        if self.world == 1:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def _comm_device() -> torch.device:
    """Where collectives' tensors live: NCCL reduces on the GPU, gloo on the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def init(device: torch.device) -> Ranks:
    """Join torchrun's process group when launched by it (WORLD_SIZE > 1); else one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Ranks()
    rank = int(os.environ["RANK"])
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Ranks(rank, world)


def local_device(device: torch.device) -> torch.device:
    """CUDA means this rank's GPU (LOCAL_RANK) under torchrun."""
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def broadcast_nets(nets: dict[str, nn.Module], ranks: Ranks) -> None:
    """Rank 0's weights and buffers to every rank, so all start from the same networks."""
    if ranks.world == 1:
        return
    for net in nets.values():
        for t in net.state_dict().values():
            dist.broadcast(t, 0)


def average_gradients_before_steps(optimizers: dict[str, torch.optim.Optimizer], ranks: Ranks) -> None:
    """Before each optimiser step, replace its gradients by their mean over the ranks."""
    if ranks.world == 1:
        return

    def hook(optimizer: torch.optim.Optimizer, args, kwargs) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1).float() for g in grads])
        dist.all_reduce(flat)
        flat /= ranks.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    for opt in optimizers.values():
        opt.register_step_pre_hook(hook)


def shutdown(ranks: Ranks) -> None:
    if ranks.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
