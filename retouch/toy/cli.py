"""``retouch toy``: the generative-modelling warm-ups from the command line.

Registered by the main CLI as ``app.add_typer(toy_app, name="toy")``. Thin wrappers over
`retouch.toy.sampling` and `retouch.toy.gan2d`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from retouch.errors import RetouchError

toy_app = typer.Typer(
    help="Generative-modelling warm-ups: inverse-CDF sampling and a 2-D GAN (see docs/toy.md).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()


@toy_app.command("sample")
def sample_cmd(
    pdf: str = typer.Option(
        "piecewise",
        "--pdf",
        help="A named density (piecewise, bimodal, triangle) or an expression in x, e.g. "
        "'exp(-x**2/2) * (1 + sin(3*x)**2)'; piecewise parts with where(cond, a, b).",
    ),
    lo: float | None = typer.Option(None, "--lo", help="Interval start (needed for expressions)."),
    hi: float | None = typer.Option(None, "--hi", help="Interval end (needed for expressions)."),
    n: int = typer.Option(10_000, "-n", "--n", help="Number of samples."),
    bins: int = typer.Option(50, "--bins", help="Histogram bins for the plot and the KL."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    output: Path = typer.Option(
        Path("toy_sample.png"), "-o", "--output", help="PNG: density beside the histogram."
    ),
) -> None:
    """Sample a 1-D density by inverting its CDF; plot it and print KL(histogram || density)."""
    from retouch.toy.sampling import (
        Density,
        kl_divergence,
        kl_floor,
        plot_density_histogram,
    )

    if output.suffix.lower() != ".png":
        raise RetouchError(f"The output {output} must end in .png: pick a PNG file name.")
    density = Density.parse(pdf, lo, hi)
    samples = density.sample(n, seed=seed)
    kl = kl_divergence(samples, density, bins=bins)
    plot_density_histogram(density, samples, output, bins=bins, kl=kl)
    out.print(
        f"{density.name} on [{density.lo:g}, {density.hi:g}]: {n:,} samples, "
        f"KL(histogram || density) = [bold]{kl:.5f}[/] nats over {bins} bins "
        f"(a perfect sampler averages ~{kl_floor(density, n, bins):.5f})"
    )
    out.print(f"wrote {output}")


@toy_app.command("gan2d")
def gan2d_cmd(
    target: str = typer.Option(
        "ring", "--target", help="ring, grid, spiral or image:PATH (dark pixels of an image)."
    ),
    objective: str = typer.Option(
        "stable",
        "--objective",
        help="vanilla (minimax, saturating G loss) or stable (non-saturating + R1 penalty).",
    ),
    strong_d: bool = typer.Option(
        False,
        "--strong-d",
        help="Make the discriminator too strong (5 D steps per G step at 5x its learning "
        "rate) to show mode collapse.",
    ),
    steps: int = typer.Option(2500, "--steps", help="Generator updates."),
    batch: int = typer.Option(256, "--batch", help="Points per batch."),
    seed: int = typer.Option(0, "--seed", help="Random seed (runs are deterministic per seed)."),
    frames: int = typer.Option(40, "--frames", help="Snapshots over training."),
    output: Path = typer.Option(
        Path("toy_gan2d.gif"),
        "-o",
        "--output",
        help="OUT.gif (animation), OUT.png (last frame) or a folder (one PNG per frame).",
    ),
) -> None:
    """Train a small MLP GAN on a 2-D point distribution; write frames and print mode coverage."""
    from retouch.toy.gan2d import (
        GAN2DConfig,
        check_frames_output,
        save_frames,
        train_gan2d,
    )

    check_frames_output(output)
    cfg = GAN2DConfig(
        target=target,
        objective=objective,
        strong_d=strong_d,
        steps=steps,
        batch=batch,
        seed=seed,
        frames=frames,
    )
    with Progress(
        TextColumn("[bold]training[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as bar:
        task = bar.add_task("train", total=steps)
        result = train_gan2d(cfg, progress=lambda step, total: bar.update(task, completed=step))
    label = objective + (" + strong D" if strong_d else "")
    out.print(
        f"{result.target.name} · {label}: [bold]{result.coverage}[/] after {steps} steps "
        f"in {result.seconds:.1f} s"
    )
    paths = save_frames(result, output)
    shown = output if len(paths) == 1 else f"{len(paths)} frames in {output}"
    out.print(f"wrote {shown}")
