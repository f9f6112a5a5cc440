"""The `retouch` command line: thin Typer wrappers over library functions."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from retouch.errors import RetouchError
from retouch.toy.cli import toy_app

app = typer.Typer(
    help="GAN image restoration and image-to-image translation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True)
app.add_typer(toy_app, name="toy", help="Generative-modelling warm-up: inverse-CDF sampling and a 2-D GAN.")


def main() -> None:
    """Entry point: user errors print one sentence and exit 2, with no traceback."""
    try:
        app()
    except RetouchError as e:
        err.print(f"[bold red]error:[/] {e}")
        raise SystemExit(2) from None


@app.command()
def train(
    method: str = typer.Argument(..., help="Training recipe, e.g. pix2pix."),
    data: Path = typer.Option(None, help="Paired data folder (AB files, or A/ and B/; a train/ subfolder is used when present)."),
    out: Path = typer.Option(..., help="Run folder: config, checkpoints, logs, samples, model.safetensors."),
    config: Path = typer.Option(None, help="YAML recipe (see configs/); flags below override it."),
    steps: int = typer.Option(None, help="Optimisation steps."),
    batch_size: int = typer.Option(None, help="Images per step."),
    size: int = typer.Option(None, help="Training crop size."),
    direction: str = typer.Option(None, help="AtoB or BtoA."),
    preprocess: str = typer.Option(None, help="resize_and_crop | crop | scale_width | scale_width_and_crop | none."),
    seed: int = typer.Option(None, help="Seed for initialisation and the data stream."),
    device: str = typer.Option(None, help="auto | cpu | cuda | mps."),
    precision: str = typer.Option(None, help="auto | fp32 | bf16."),
    resume: bool = typer.Option(False, help="Continue the run in --out exactly where its last checkpoint left it."),
) -> None:
    """Train a model; Ctrl-C or a kill loses at most the steps since the last checkpoint."""
    from retouch.train import RunConfig, train as run_training

    overrides = [("data", "root", data), ("data", "size", size), ("data", "direction", direction),
                 ("data", "preprocess", preprocess), ("train", "steps", steps), ("train", "batch_size", batch_size),
                 ("train", "seed", seed), ("train", "device", device), ("train", "precision", precision)]
    given = [key for _, key, value in overrides if value is not None] + (["config"] if config else [])
    if resume and given:
        raise RetouchError(f"--resume continues {out} exactly as it was configured; drop --{', --'.join(given).replace('_', '-')}.")
    cfg = RunConfig.from_yaml(config) if config else RunConfig(method=method)
    if cfg.method != method:
        raise RetouchError(f"{config} is a {cfg.method} recipe, not {method}.")
    for section, key, value in overrides:
        if value is not None:
            setattr(getattr(cfg, section), key, str(value) if isinstance(value, Path) else value)
    if not cfg.data.root and not resume:
        raise RetouchError("Say where the training pairs are with --data DIR (or data.root in the config).")
    weights = run_training(cfg, out, resume=resume)
    typer.echo(f"weights: {weights}")


@app.command()
def translate(
    inputs: Path = typer.Argument(..., help="An image or a folder of images."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, or folder (same file names)."),
    model: str = typer.Option(..., help="Shipped model name, weights .safetensors, or run folder."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    precision: str = typer.Option("auto", help="auto | fp32 | bf16."),
) -> None:
    """Translate images of any size with an image-to-image model."""
    from retouch.apply import translate_files

    for path in translate_files(inputs, output, model, device, precision):
        typer.echo(path)


@app.command("eval")
def evaluate_cmd(
    model: str = typer.Argument(..., help="Shipped model name, weights file, or run folder."),
    data: Path = typer.Option(..., help="Paired data folder (e.g. ../shared/data/maps)."),
    split: str = typer.Option("test", help="Subfolder to evaluate on, when present."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here (default: print only)."),
    sheet: Path = typer.Option(None, help="Also write a PNG of input | output | target rows for the first pairs."),
    limit: int = typer.Option(None, help="Evaluate only the first N pairs."),
    holdout: int = typer.Option(0, help="Score only the last N pairs of the split (natural name order), as held out by data.holdout in training."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
) -> None:
    """PSNR/SSIM (RGB and Y) over a paired test set, next to the identity baseline."""
    from rich.markup import escape
    from rich.table import Table

    from retouch.evaluate import evaluate, write_report

    report = evaluate(model, data, split, device, limit=limit, holdout=holdout, sheet=sheet)
    part = f"last {holdout} of {split}" if holdout else split
    table = Table(title=escape(f"{model} on {data} [{part}], {report['images']} images"))
    keys = ["psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y"]
    table.add_column("row")
    for k in keys:
        table.add_column(k, justify="right")
    for row, values in report["results"].items():
        table.add_row(row, *(f"{values[k]:.4f}" if k.startswith("ssim") else f"{values[k]:.2f}" for k in keys))
    Console().print(table)
    if json_out:
        write_report(report, json_out)


@app.command()
def demo(
    out: Path = typer.Option(Path("retouch-demo"), "-o", "--out", help="Folder for index.html, sheet.png, metrics.json."),
    steps: int = typer.Option(300, help="Training steps (about 8 s per 100 on an idle 2-core CPU)."),
    block: int = typer.Option(8, help="Mosaic block size in pixels."),
) -> None:
    """Hide a region of a photo behind a mosaic, restore it with a model trained on the spot, and measure."""
    from retouch.demo import run_demo

    report = run_demo(out, steps=steps, block=block)
    for name, m in report["inside_box"].items():
        typer.echo(f"{name:>24}: PSNR {m['psnr_rgb']:.2f} dB  SSIM {m['ssim_rgb']:.4f}  (inside the box)")
    typer.echo(f"open {out / 'index.html'}")
