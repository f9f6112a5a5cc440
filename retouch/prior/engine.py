"""The deep generative prior (Pan et al., ECCV 2020): restore x̂ = φ(x) by fitting a GAN to it.

For a batch of degraded images the engine
1. picks each image's starting latent (and class, unless given) from `candidates` random draws,
   by the same distance the fit then minimises, with G fixed;
2. fits latent z and the generator's weights θ, *one copy of θ per image* (a batch of images is a
   batch of generators, run as one network by `torch.func.vmap`), with Adam (β = 0, 0.999) on
       Σ_i ‖D_i(φ(x̂)) − D_i(φ(G(z; θ)))‖₁ + w_mse·‖φ(x̂) − φ(G)‖² + w_nll·mean(z²)
   over the discriminator's block features D_i, batch norm on its running statistics;
3. progressively: stage k unfreezes G's parts from the latent end (the linear layer, then each
   block, then the output layer), so the coarse layout settles before fine detail can overfit
   the degraded observation.

The images are independent: each loss is a sum of per-image terms and Adam works per element, so
a batch of 8 gives the same results as 8 runs of one (up to floating point), only faster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from retouch.device import autocast
from retouch.errors import RetouchError
from retouch.models.files import companion_path
from retouch.models.load import check_task, load_model, read_meta, resolve

Observe = Callable[[Tensor], Tensor]  # φ at G's resolution: what D and the MSE compare


@dataclass(frozen=True)
class Stage:
    """One stage of the progressive fit: how long, which of G's parts learn, and the loss weights."""

    steps: int
    parts: int  # G's parts that learn, counted from the latent end (0: only z)
    lr_G: float = 5e-5
    lr_z: float = 2e-3
    w_mse: float = 0.0
    w_D: float = 1.0


@dataclass(frozen=True)
class Settings:
    """A task's fit: its stages and the fixed parts of the loss."""

    stages: tuple[Stage, ...]
    candidates: int = 500  # random (z, class) draws the start is chosen from
    w_nll: float = 0.02  # the latent's Gaussian prior: mean(z²)
    early_stop_mse: float = 0.0  # stop an image once its observation MSE falls below this (defence)

    @property
    def steps(self) -> int:
        return sum(s.steps for s in self.stages)


@dataclass
class Fit:
    """Per-image results: the latent, class, fine-tuned weights (stacked, one row per image) and
    the reconstruction; `frames` holds G's output every `frame_every` steps when asked."""

    z: Tensor
    y: Tensor
    params: dict[str, Tensor]
    image: Tensor
    steps_run: Tensor
    frames: list[Tensor] = field(default_factory=list)



def load_prior(model: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, nn.Module, dict]:
    """A trained prior's G and D (eval mode, frozen) and G's metadata."""
    g_path = resolve(model)
    meta = read_meta(g_path)
    check_task(model, meta, "generate", "DGP fits a generative prior, such as cifar10-prior")
    d_path = companion_path(g_path)
    if not d_path.exists():
        raise RetouchError(f"{model} has no discriminator at {d_path}; DGP measures distances in D's features, "
                           "so it needs the D trained with this G (gan_prior runs write it beside the generator).")
    G, _ = load_model(g_path, device)
    D, _ = load_model(d_path, device)
    for p in [*G.parameters(), *D.parameters()]:
        p.requires_grad_(False)
    return G, D, meta


def generator_parts(G: nn.Module) -> list[list[str]]:
    """G's parameter names grouped shallow to deep: class embedding and linear layer, each block,
    the output layer. Stage k of the fit trains the first k groups."""
    groups: dict[str, list[str]] = {}
    for name, _ in G.named_parameters():
        top = name.split(".")[0]
        key = f"blocks.{name.split('.')[1]}" if top == "blocks" else ("output_layer" if top == "output_layer" else "input")
        groups.setdefault(key, []).append(name)
    order = ["input", *sorted((k for k in groups if k.startswith("blocks.")), key=lambda k: int(k.split(".")[1])), "output_layer"]
    return [groups[k] for k in order if k in groups]


class PerImageG:
    """G with one copy of its weights per image: `(params, z, y) -> images`, vmapped over the batch."""

    def __init__(self, G: nn.Module) -> None:
        self.G = G
        self.buffers = dict(G.named_buffers())

        def one(params: dict[str, Tensor], z: Tensor, y: Tensor) -> Tensor:
            return functional_call(G, (params, self.buffers), (z[None], y[None]))[0]

        self._batched = vmap(one)

    def stack(self, n: int) -> dict[str, Tensor]:
        """n copies of G's weights, each to be fine-tuned on its own image."""
        return {k: v.detach().unsqueeze(0).repeat(n, *[1] * v.dim()).clone() for k, v in self.G.named_parameters()}

    def __call__(self, params: dict[str, Tensor], z: Tensor, y: Tensor) -> Tensor:
        return self._batched(params, z, y)


class DGP:
    """The fit itself, for a loaded prior. `dtype` bf16 runs G and D under autocast; the latent, weights
    and optimiser stay fp32. On our bf16 CPU that made the search 2.2x faster and the vmapped fit
    1.2x slower (docs/notes/benchmarks-history.md)."""

    def __init__(self, G: nn.Module, D: nn.Module, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.G, self.D = G.eval(), D.eval()
        self.device, self.dtype = torch.device(device), dtype
        self.n_classes = D.embed.num_embeddings
        self.size = 4 * 2 ** len(G.blocks)  # G doubles a 4x4 grid once per block
        self.per_image = PerImageG(G)
        self.parts = generator_parts(G)
        #: weights indexed by class (per-class batch-norm tables, the shared embedding): rows, not layers
        self.class_tables = {f"{name}.weight" for name, m in G.named_modules() if isinstance(m, nn.Embedding)}

    def _features(self, x: Tensor) -> list[Tensor]:
        """D's block outputs; the pooled vector (a spatial sum) would swamp them."""
        with autocast(self.device, self.dtype):
            return [f.float() for f in self.D.features(x)[:-1]]

    def generate(self, z: Tensor, y: Tensor, params: dict[str, Tensor] | None = None) -> Tensor:
        """G(z, y), with one set of weights per image when `params` (from a fit) is given."""
        with autocast(self.device, self.dtype):
            out = self.G(z, y) if params is None else self.per_image(params, z, y)
        return out.float()

    @staticmethod
    def _loss(observed: Tensor, feats: list[Tensor], target: Tensor, target_feats: list[Tensor], stage: Stage) -> Tensor:
        """The stage's loss, a mean over each image's last three dims, so operands that broadcast
        (one observation per target, or every observation against every target) both work."""
        d = sum((f - t).abs().mean((-3, -2, -1)) for f, t in zip(feats, target_feats))
        return stage.w_D * d + stage.w_mse * ((observed - target) ** 2).mean((-3, -2, -1))

    def distance(self, observed: Tensor, target: Tensor, target_feats: list[Tensor], stage: Stage) -> Tensor:
        """Per-image loss between observations of G's output and the degraded images (B, 3, H, W)."""
        return self._loss(observed, self._features(observed), target, target_feats, stage)

    def _pairwise(self, observed: Tensor, target: Tensor, target_feats: list[Tensor], stage: Stage, block: int = 16) -> Tensor:
        """`distance` between every target (n) and every observation (m): (n, m), `block` targets at a time."""
        feats = [f[None] for f in self._features(observed)]
        return torch.cat([self._loss(observed[None], feats, target[i:i + block, None], [t[i:i + block, None] for t in target_feats], stage)
                          for i in range(0, target.size(0), block)])

    @torch.no_grad()
    def search(self, target: Tensor, observe: Observe, settings: Settings, y: Tensor | None, gen: torch.Generator,
               chunk: int = 100) -> tuple[Tensor, Tensor]:
        """Each image's best start among `settings.candidates` draws of (z, class), by the first
        stage's loss with G fixed; with `y` given, every draw takes the image's own class. Draws
        are shared: their images are made once per class given (once in all when the class is
        free), and their features once too unless φ differs per image."""
        n = target.size(0)
        zs = torch.randn(settings.candidates, self.G.dim_z, generator=gen).to(self.device)
        free = torch.arange(settings.candidates, device=self.device) % self.n_classes
        best = torch.full((n,), float("inf"), device=self.device)
        best_z = torch.zeros(n, self.G.dim_z, device=self.device)
        best_y = free[:n].clone() if y is None else y.clone()
        target_feats = self._features(target)
        first = settings.stages[0]
        groups = [torch.arange(n, device=self.device)] if y is None else [(y == c).nonzero()[:, 0] for c in y.unique()]
        for members in groups:
            for start in range(0, settings.candidates, chunk):
                z = zs[start:start + chunk]
                classes = free[start:start + chunk] if y is None else y[members[0]].expand(z.size(0))
                images = self.generate(z, classes)
                if getattr(observe, "per_image", True):
                    d = torch.stack([self.distance(observe(images, torch.full((z.size(0),), int(i), device=self.device)),
                                                   target[i:i + 1], [f[i:i + 1] for f in target_feats], first) for i in members])
                else:  # one φ for all: one pass for the chunk, compared with every member
                    obs = observe(images, torch.zeros(z.size(0), dtype=torch.long, device=self.device))
                    d = self._pairwise(obs, target[members], [f[members] for f in target_feats], first)
                value, k = (d + settings.w_nll * (z ** 2).mean(1)).min(1)
                better = value < best[members]
                idx = members[better]
                best[idx], best_z[idx], best_y[idx] = value[better], z[k[better]], classes[k[better]]
        return best_z, best_y

    def fit(self, target: Tensor, observe: Observe, settings: Settings, y: Tensor | None = None, seed: int = 0,
            start: tuple[Tensor, Tensor] | None = None, frame_every: int = 0,
            on_step: Callable[[int, int], None] | None = None) -> Fit:
        """Fit the prior to a batch of observations `target` (B, 3, H, W at G's size, [-1, 1]).

        `observe(x, which)` is φ at G's size for a batch whose row j belongs to image `which[j]`
        (masks differ per image). `start` (z, y) skips the latent search: the search is per image,
        so one search over many images gives each the start its own batch would. `on_step(stage,
        step)` reports progress."""
        if target.shape[1:] != (3, self.size, self.size):
            raise RetouchError(f"This prior works on 3x{self.size}x{self.size} observations, got {tuple(target.shape[1:])}.")
        target = target.to(self.device)
        n = target.size(0)
        if start is None:
            start = self.search(target, observe, settings, None if y is None else y.to(self.device), torch.Generator().manual_seed(seed))
        z0, y = start
        z = z0.clone().requires_grad_()
        params = self.per_image.stack(n)
        target_feats = self._features(target)
        which = torch.arange(n, device=self.device)
        running = torch.ones(n, dtype=torch.bool, device=self.device)
        steps_run = torch.zeros(n, dtype=torch.long)
        frames: list[Tensor] = []
        done = torch.zeros_like(target)
        step = 0
        for k, stage in enumerate(settings.stages):
            learn = {name for part in self.parts[:stage.parts] for name in part}
            for name, p in params.items():
                p.requires_grad_(name in learn)
            groups = [{"params": [z], "lr": stage.lr_z}]
            if learn:
                groups.append({"params": [params[name] for name in sorted(learn)], "lr": stage.lr_G})
            opt = torch.optim.Adam(groups, betas=(0.0, 0.999))  # β1 = 0: a zero gradient moves nothing
            for _ in range(stage.steps):
                x = self.generate(z, y, params)
                observed = observe(x, which)
                if settings.early_stop_mse > 0:
                    mse = ((observed.detach() - target) ** 2).flatten(1).mean(1)
                    stop = running & (mse < settings.early_stop_mse)
                    done[stop] = x.detach()[stop]
                    running &= ~stop
                    if not running.any():
                        break
                loss = self.distance(observed, target, target_feats, stage) + settings.w_nll * (z ** 2).mean(1)
                opt.zero_grad(set_to_none=True)
                (loss * running).sum().backward()  # a sum: each image's gradient is its own
                opt.step()
                steps_run += running.cpu()
                step += 1
                if frame_every and step % frame_every == 0:
                    frames.append(x.detach())
                if on_step:
                    on_step(k, step)
        with torch.no_grad():
            final = self.generate(z, y, params)
        image = torch.where(running[:, None, None, None], final, done)
        return Fit(z.detach(), y, {k: v.detach() for k, v in params.items()}, image, steps_run, frames)
