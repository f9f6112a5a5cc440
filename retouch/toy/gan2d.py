"""A small GAN that learns a 2-D point distribution, and the mode-coverage metric that grades it.

The smallest setting in which the GAN ideas of the toolkit can be watched: a generator ``G`` (an
MLP from a Gaussian noise vector to a point in the plane) and a discriminator ``D`` (an MLP from a
point to a logit) play the adversarial game on a target distribution that has well separated
modes, so *mode collapse*, G covering only some of them, is visible at a glance and countable.

Targets (`make_target`):

- ``ring``: 8 Gaussians (std 0.02) at radius 2, the classic mode-collapse benchmark;
- ``grid``: 25 Gaussians (std 0.05) on a 5x5 grid with spacing 2, from -4 to 4;
- ``spiral``: a noisy two-turn spiral (a continuous curve: "modes" are 12 arc segments);
- ``image:PATH``: points sampled uniformly from the dark pixels of an image (16 regions).

Objectives (`GAN2DConfig.objective`):

- ``vanilla``: the original minimax game. D minimises binary cross-entropy; G *minimises*
  ``log(1 - D(G(z)))``, the saturating loss whose gradient vanishes once D wins.
- ``stable`` (the default): the non-saturating G loss ``-log D(G(z))`` plus the R1 gradient
  penalty ``gamma/2 * E ||grad_x D(x)||^2`` on real points (Mescheder et al. 2018, "Which
  training methods for GANs do actually converge?"). R1 keeps D smooth around the data, so it
  cannot make the sharp decisions that push G from mode to mode.

``strong_d`` makes D too strong on purpose: `STRONG_D_STEPS` D updates per G update at
`STRONG_D_LR_MULT` times the D learning rate. With the vanilla objective that is the textbook
recipe for collapse; ``docs/toy.md`` reports the coverage numbers measured both ways.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from retouch.errors import RetouchError
from retouch.toy.sampling import agg_figure, atomic_write

__all__ = [
    "OBJECTIVES",
    "STRONG_D_LR_MULT",
    "STRONG_D_STEPS",
    "Coverage",
    "GAN2DConfig",
    "GAN2DResult",
    "Target",
    "check_frames_output",
    "make_target",
    "mode_coverage",
    "save_frames",
    "train_gan2d",
]

OBJECTIVES = ("vanilla", "stable")
STRONG_D_STEPS = 5
STRONG_D_LR_MULT = 5.0

# ---------------------------------------------------------------------------------------------
# Targets


@dataclass
class Target:
    """A 2-D distribution to learn, with the regions ("modes") `mode_coverage` counts.

    ``centres`` are the K mode centres. A generated point is *high quality* when it lies within
    ``radius`` of the nearest centre (Gaussian mixtures: 3 std) or, for continuous targets,
    within ``radius`` of the nearest of ``reference`` target points. ``shares`` is the
    probability of each centre's Voronoi region under the target (1/K for the mixtures).
    """

    name: str
    sampler: Callable[[int, torch.Generator], Tensor]
    centres: Tensor
    radius: float
    shares: Tensor
    reference: Tensor | None = None
    extent: float = 2.5

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.sampler(n, generator)

    @property
    def n_modes(self) -> int:
        return int(self.centres.shape[0])


def _mixture(name: str, centres: Tensor, std: float, extent: float) -> Target:
    def sampler(n: int, g: torch.Generator) -> Tensor:
        idx = torch.randint(len(centres), (n,), generator=g)
        return centres[idx] + std * torch.randn(n, 2, generator=g)

    k = len(centres)
    return Target(name, sampler, centres, 3 * std, torch.full((k,), 1 / k), None, extent)


def _ring() -> Target:
    angles = torch.arange(8) * (2 * math.pi / 8)
    centres = 2.0 * torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    return _mixture("ring", centres, 0.02, 2.5)


def _grid() -> Target:
    v = torch.arange(-4.0, 4.01, 2.0)
    centres = torch.cartesian_prod(v, v)
    return _mixture("grid", centres, 0.05, 5.0)


def _spiral_sampler(n: int, g: torch.Generator) -> Tensor:
    # Arc-length-uniform on r = a*theta: s ~ theta^2, so theta ~ sqrt(uniform) between the ends.
    t0, t1 = 0.5 * math.pi, 4.5 * math.pi
    u = torch.rand(n, generator=g)
    theta = torch.sqrt(t0**2 + u * (t1**2 - t0**2))
    r = theta / t1 * 2.2
    pts = torch.stack([r * torch.cos(theta), r * torch.sin(theta)], 1)
    return pts + 0.03 * torch.randn(n, 2, generator=g)


def _image_sampler(path: Path, max_side: int = 128) -> Callable[[int, torch.Generator], Tensor]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path.is_file():
        raise RetouchError(f"The target image {path} does not exist: pass image:PATH to a file.")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                # Transparent pixels count as white paper, not as ink.
                im = im.convert("RGBA")
                paper = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(paper, im)
            gray = im.convert("L")
            gray.thumbnail((max_side, max_side))
            a = np.asarray(gray, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as e:
        raise RetouchError(
            f"Cannot read the target image {path} ({e}): pass a PNG or JPEG."
        ) from None
    dark = a < 0.5
    if not dark.any():
        raise RetouchError(
            f"The target image {path} has no dark pixels (all brighter than 50% grey): use an "
            "image with dark shapes on a light background."
        )
    rows, cols = np.nonzero(dark)
    h, w = a.shape
    scale = 4.0 / max(h, w)  # the longer side spans [-2, 2]
    # Pixel (row, col) covers [col, col+1) x [row, row+1); y points up.
    xs = torch.from_numpy((cols - w / 2) * scale).float()
    ys = torch.from_numpy((h / 2 - rows) * scale).float()

    def sampler(n: int, g: torch.Generator) -> Tensor:
        idx = torch.randint(len(xs), (n,), generator=g)
        jitter = torch.rand(n, 2, generator=g) * scale
        return torch.stack([xs[idx] + jitter[:, 0], ys[idx] - jitter[:, 1]], 1)

    return sampler


def _continuous(name: str, sampler, k: int, extent: float, seed: int = 1234) -> Target:
    """Regions of a continuous target: k-means centres on a large seeded sample."""
    g = torch.Generator().manual_seed(seed)
    ref = sampler(8192, g)
    # Farthest-point initialisation, then Lloyd iterations: deterministic.
    centres = [ref[0]]
    for _ in range(k - 1):
        d = torch.cdist(ref, torch.stack(centres)).min(1).values
        centres.append(ref[int(d.argmax())])
    c = torch.stack(centres)
    for _ in range(25):
        assign = torch.cdist(ref, c).argmin(1)
        c = torch.stack(
            [ref[assign == j].mean(0) if (assign == j).any() else c[j] for j in range(k)]
        )
    assign = torch.cdist(ref, c).argmin(1)
    shares = torch.bincount(assign, minlength=k).float() / len(ref)
    # Quality radius: 99th percentile of the distance from fresh target points to the reference,
    # so 99% of true samples count as high quality.
    fresh = sampler(2048, g)
    radius = float(torch.quantile(torch.cdist(fresh, ref).min(1).values, 0.99))
    return Target(name, sampler, c, radius, shares, ref, extent)


def make_target(spec: str) -> Target:
    """``ring``, ``grid``, ``spiral`` or ``image:PATH`` (see the module docstring)."""
    if spec == "ring":
        return _ring()
    if spec == "grid":
        return _grid()
    if spec == "spiral":
        return _continuous("spiral", _spiral_sampler, 12, 2.6)
    if spec.startswith("image:"):
        path = Path(spec[len("image:") :]).expanduser()
        return _continuous(f"image:{path.name}", _image_sampler(path), 16, 2.3)
    raise RetouchError(
        f"Unknown target {spec!r}: use ring, grid, spiral or image:PATH (points from the dark "
        "pixels of an image)."
    )


# ---------------------------------------------------------------------------------------------
# Metric


@dataclass
class Coverage:
    """How well generated points cover a target's modes.

    ``covered``: modes whose region received at least ``min_share`` times their fair share of
    the *high-quality* samples' fraction of all samples (default: a quarter of the share the
    target gives them, 1/32 of all points for the ring). ``high_quality``: the fraction of
    points within ``radius`` of the target (see `Target`). ``counts``: high-quality points per
    mode.
    """

    covered: int
    n_modes: int
    high_quality: float
    counts: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{self.covered}/{self.n_modes} modes covered, "
            f"{100 * self.high_quality:.1f}% high-quality samples"
        )


def mode_coverage(points: Tensor | np.ndarray, target: Target, min_share: float = 0.25) -> Coverage:
    """Count the modes of ``target`` that ``points`` (N x 2) cover; see `Coverage`.

    Each point goes to its nearest mode centre. It is *high quality* when it lies within the
    target's radius (3 std for the ring and grid; for continuous targets, the distance to the
    target's reference sample below which 99% of true samples fall). A mode counts as covered
    when its high-quality points are at least ``min_share`` of what the target puts there:
    ``count_k / N >= min_share * share_k``.
    """
    pts = torch.as_tensor(np.asarray(points), dtype=torch.float32).reshape(-1, 2)
    n = len(pts)
    if n == 0:
        raise RetouchError("There are no points to grade: generate at least one.")
    finite = torch.isfinite(pts).all(1)
    pts = torch.where(finite[:, None], pts, torch.full_like(pts, 1e6))
    dist = torch.cdist(pts, target.centres)
    nearest = dist.argmin(1)
    if target.reference is None:
        good = dist.min(1).values <= target.radius
    else:
        good = torch.cdist(pts, target.reference).min(1).values <= target.radius
    counts = torch.bincount(nearest[good], minlength=target.n_modes)
    covered = int((counts.float() / n >= min_share * target.shares).sum())
    return Coverage(covered, target.n_modes, float(good.float().mean()), counts.tolist())


# ---------------------------------------------------------------------------------------------
# Networks and training


def _mlp(inp: int, hidden: int, out: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = inp
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
        width = hidden
    layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


@dataclass
class GAN2DConfig:
    """Everything one 2-D GAN run depends on; the same config and seed give the same run.

    The defaults were tuned on the ring so that it reaches 8/8 quickly on one CPU thread (seeds
    0-3 all do at 2,500 steps); see docs/toy.md for the measurements.
    """

    target: str = "ring"  # ring | grid | spiral | image:PATH
    objective: str = "stable"  # vanilla | stable
    strong_d: bool = False  # STRONG_D_STEPS x d_steps at STRONG_D_LR_MULT x lr_d
    steps: int = 2500  # generator updates
    batch: int = 256
    z_dim: int = 4  # noise dimension
    hidden: int = 64  # MLP width, both nets
    depth: int = 3  # hidden layers, both nets
    lr_g: float = 2e-3
    lr_d: float = 2e-3
    betas: tuple[float, float] = (0.5, 0.99)  # Adam
    d_steps: int = 1  # D updates per G update
    r1_gamma: float = 0.1  # R1 weight (stable objective only)
    lr_decay: bool = True  # cosine decay of both learning rates to 5% over the run
    seed: int = 0
    frames: int = 40  # snapshots over training (plus the last step)
    eval_samples: int = 4096  # points per snapshot, graded by mode_coverage
    threads: int = 1  # torch intra-op threads while training; see train_gan2d

    def validate(self) -> None:
        if self.objective not in OBJECTIVES:
            raise RetouchError(
                f"Unknown objective {self.objective!r}: use {' or '.join(OBJECTIVES)}."
            )
        for name in (
            "steps", "batch", "z_dim", "hidden", "depth", "d_steps", "eval_samples", "threads"
        ):
            if getattr(self, name) < 1:
                raise RetouchError(f"--{name.replace('_', '-')} must be at least 1.")
        if self.frames < 0:
            raise RetouchError("--frames must be 0 or more.")
        if self.lr_g <= 0 or self.lr_d <= 0 or self.r1_gamma < 0:
            raise RetouchError("Learning rates must be positive and r1_gamma not negative.")

    @property
    def effective_d_steps(self) -> int:
        return self.d_steps * STRONG_D_STEPS if self.strong_d else self.d_steps

    @property
    def effective_lr_d(self) -> float:
        return self.lr_d * STRONG_D_LR_MULT if self.strong_d else self.lr_d


@dataclass
class GAN2DResult:
    """A finished run: the generator, snapshots of its points, the final grade and the time."""

    config: GAN2DConfig
    generator: nn.Module
    target: Target
    coverage: Coverage
    seconds: float
    snapshots: list[tuple[int, np.ndarray, Coverage]]  # (step, points, coverage) per frame
    history: list[dict[str, float]]  # losses every 10 steps

    def summary(self) -> dict:
        return {
            "config": asdict(self.config),
            "covered": self.coverage.covered,
            "n_modes": self.coverage.n_modes,
            "high_quality": self.coverage.high_quality,
            "seconds": self.seconds,
        }


def _d_loss(d: nn.Module, real: Tensor, fake: Tensor, cfg: GAN2DConfig) -> Tensor:
    penalty = cfg.objective == "stable" and cfg.r1_gamma > 0
    if penalty:
        real = real.requires_grad_(True)
    real_logit, fake_logit = d(real), d(fake)
    loss = F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()  # BCE, both objectives
    if penalty:
        (grad,) = torch.autograd.grad(real_logit.sum(), real, create_graph=True)
        loss = loss + 0.5 * cfg.r1_gamma * grad.pow(2).sum(1).mean()
    return loss


def _g_loss(fake_logit: Tensor, cfg: GAN2DConfig) -> Tensor:
    if cfg.objective == "vanilla":
        return -F.softplus(fake_logit).mean()  # minimise log(1 - D(G(z))) = -softplus(logit)
    return F.softplus(-fake_logit).mean()  # non-saturating: minimise -log D(G(z))


def train_gan2d(
    config: GAN2DConfig | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> GAN2DResult:
    """Train G and D on ``config.target`` for ``config.steps`` G updates; deterministic per seed.

    ``progress(step, total)`` is called after each G update. Snapshots of ``eval_samples``
    generated points are taken at ``frames`` evenly spaced steps (and at the end) from a fixed
    noise batch, so the frames show one set of points moving; their grading is not timed.

    Training runs on ``config.threads`` torch threads (default 1, restored afterwards): the
    matrices are 256 x 64, too small for intra-op parallelism to pay, and on the shared 2-core
    machine 300 steps took 44-57 s on 2 threads against 3.2 s on 1 (OpenMP threads waiting for
    a core another job held). One thread also makes a seed give the same run on any machine size.
    """
    cfg = config or GAN2DConfig()
    cfg.validate()
    target = make_target(cfg.target)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, target, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _train(
    cfg: GAN2DConfig, target: Target, progress: Callable[[int, int], None] | None
) -> GAN2DResult:
    with torch.random.fork_rng(devices=[]):  # seeded initialisation, global RNG untouched
        torch.manual_seed(cfg.seed)
        gen = _mlp(cfg.z_dim, cfg.hidden, 2, cfg.depth)
        disc = _mlp(2, cfg.hidden, 1, cfg.depth)
    g_rng = torch.Generator().manual_seed(cfg.seed)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.effective_lr_d, betas=cfg.betas)
    fixed_z = torch.randn(cfg.eval_samples, cfg.z_dim, generator=g_rng)
    frame_steps = set(np.linspace(0, cfg.steps, cfg.frames).round().astype(int).tolist())
    if not cfg.frames:
        frame_steps = set()
    frame_steps.add(cfg.steps)

    snapshots: list[tuple[int, np.ndarray, Coverage]] = []
    history: list[dict[str, float]] = []
    graded = 0.0

    def snapshot(step: int) -> None:
        nonlocal graded
        t = time.perf_counter()
        with torch.no_grad():
            pts = gen(fixed_z)
        snapshots.append((step, pts.numpy().copy(), mode_coverage(pts, target)))
        graded += time.perf_counter() - t

    start = time.perf_counter()
    if 0 in frame_steps:
        snapshot(0)
    schedulers = []
    if cfg.lr_decay:
        def factor(i: int) -> float:
            return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(i, cfg.steps) / cfg.steps))

        schedulers = [torch.optim.lr_scheduler.LambdaLR(o, factor) for o in (opt_g, opt_d)]
    for step in range(1, cfg.steps + 1):
        for _ in range(cfg.effective_d_steps):
            real = target.sample(cfg.batch, g_rng)
            with torch.no_grad():
                fake = gen(torch.randn(cfg.batch, cfg.z_dim, generator=g_rng))
            loss_d = _d_loss(disc, real, fake, cfg)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        fake = gen(torch.randn(cfg.batch, cfg.z_dim, generator=g_rng))
        loss_g = _g_loss(disc(fake), cfg)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for sch in schedulers:
            sch.step()
        if step % 10 == 0:
            history.append({"step": step, "loss_d": loss_d.item(), "loss_g": loss_g.item()})
        if step in frame_steps:
            snapshot(step)
        if progress is not None:
            progress(step, cfg.steps)
    seconds = time.perf_counter() - start - graded
    gen.eval()
    return GAN2DResult(cfg, gen, target, snapshots[-1][2], seconds, snapshots, history)


# ---------------------------------------------------------------------------------------------
# Frames


def _render(result: GAN2DResult, index: int, reference: np.ndarray, size: int):
    from PIL import Image

    step, pts, cov = result.snapshots[index]
    e = result.target.extent
    fig = agg_figure(figsize=(size / 100, size / 100), dpi=100)
    ax = fig.subplots()
    ax.scatter(reference[:, 0], reference[:, 1], s=2, c="#bdbdbd", alpha=0.5, lw=0, label="target")
    ax.scatter(pts[:, 0], pts[:, 1], s=3, c="#d62728", alpha=0.5, lw=0, label="G(z)")
    c = result.target.centres
    ax.scatter(c[:, 0], c[:, 1], s=20, marker="+", c="black", lw=0.8)
    ax.set_xlim(-e, e)
    ax.set_ylim(-e, e)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    cfg = result.config
    label = cfg.objective + (", strong D" if cfg.strong_d else "")
    ax.set_title(f"{result.target.name} · {label} · step {step}\n{cov}", fontsize=8)
    fig.tight_layout()
    fig.canvas.draw()
    img = Image.frombuffer("RGBA", fig.canvas.get_width_height(), fig.canvas.buffer_rgba())
    return img.convert("RGB")


def check_frames_output(out: str | Path) -> Path:
    """Refuse an output `save_frames` cannot write (call it before training, too)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in ("", ".gif", ".png"):
        raise RetouchError(
            f"Cannot write frames to {out}: end the name in .gif (animation), .png (last frame) "
            "or give a folder name without a suffix (one PNG per frame)."
        )
    if suffix == "" and out.exists() and not out.is_dir():
        raise RetouchError(f"{out} exists and is not a folder: pick a folder name for the frames.")
    return out


def save_frames(
    result: GAN2DResult, out: str | Path, *, size: int = 480, ms: int = 120
) -> list[Path]:
    """Write the snapshots as an animated GIF (``out`` ends in ``.gif``), one PNG (``.png``: the
    last frame), or a folder of ``frame_NNNN.png`` (any other ``out``, with no suffix).

    Files are written atomically; returns the paths written.
    """
    out = check_frames_output(out)
    suffix = out.suffix.lower()
    reference = result.target.sample(2000, torch.Generator().manual_seed(0)).numpy()
    indices = [len(result.snapshots) - 1] if suffix == ".png" else range(len(result.snapshots))
    images = [_render(result, i, reference, size) for i in indices]
    if suffix == ".gif":
        pal = [im.quantize(colors=64, method=2, dither=0) for im in images]
        durations = [ms] * (len(pal) - 1) + [max(ms, 1500)]  # linger on the result
        atomic_write(
            out,
            lambda tmp: pal[0].save(
                tmp, format="GIF", save_all=True, append_images=pal[1:], duration=durations, loop=0
            ),
        )
        return [out]
    if suffix == ".png":
        atomic_write(out, lambda tmp: images[0].save(tmp, format="PNG"))
        return [out]
    paths = []
    for img, i in zip(images, indices, strict=True):
        p = out / f"frame_{i:04d}.png"
        atomic_write(p, lambda tmp, img=img: img.save(tmp, format="PNG"))
        paths.append(p)
    return paths
