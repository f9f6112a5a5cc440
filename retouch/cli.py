"""The `retouch` command line: thin Typer wrappers over library functions."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

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
        err.print(f"[bold red]error:[/] {escape(str(e))}")  # escaped: messages hold brackets, e.g. ".[studio]"
        raise SystemExit(2) from None


@app.command()
def train(
    method: str = typer.Argument(..., help="Training recipe: pix2pix, cyclegan, srgan, classifier or gan_prior."),
    data: Path = typer.Option(None, help="Training data: paired (AB files, or A/ and B/; a train/ subfolder is used when present); unpaired for cyclegan (trainA/, trainB/)."),
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
    compile_nets: bool = typer.Option(None, "--compile/--no-compile", help="torch.compile the networks (about a minute first; faster steps after)."),
    loss: str = typer.Option(None, help="The method's reconstruction/content loss (model.loss): pix2pix l1 | pan | l1+pan; srgan mse | pan | vgg."),
    resume: bool = typer.Option(False, help="Continue the run in --out exactly where its last checkpoint left it."),
) -> None:
    """Train a model; Ctrl-C or a kill loses at most the steps since the last checkpoint."""
    from retouch.train import RunConfig, train as run_training

    overrides = [("data", "root", data), ("data", "size", size), ("data", "direction", direction),
                 ("data", "preprocess", preprocess), ("train", "steps", steps), ("train", "batch_size", batch_size),
                 ("train", "seed", seed), ("train", "device", device), ("train", "precision", precision),
                 ("train", "compile", compile_nets), ("model", "loss", loss)]
    given = [key for _, key, value in overrides if value is not None] + (["config"] if config else [])
    if resume and given:
        raise RetouchError(f"--resume continues {out} exactly as it was configured; drop --{', --'.join(given).replace('_', '-')}.")
    cfg = RunConfig.from_yaml(config) if config else RunConfig(method=method)
    if cfg.method != method:
        raise RetouchError(f"{config} is a {cfg.method} recipe, not {method}.")
    if loss is not None and not hasattr(cfg.model, "loss"):
        raise RetouchError(f"{method} has no choice of loss; drop --loss.")
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
    direction: str = typer.Option("AtoB", help="AtoB or BtoA: which generator of an unpaired model (horse2zebra: AtoB = horse to zebra)."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    precision: str = typer.Option("auto", help="auto | fp32 | bf16."),
) -> None:
    """Translate images of any size with an image-to-image model."""
    from retouch.tasks.apply import translate_files

    for path in translate_files(inputs, output, model, device, precision, direction=direction):
        typer.echo(path)


@app.command("eval")
def evaluate_cmd(
    model: str = typer.Argument(..., help="Shipped model name, weights file, or run folder."),
    data: Path = typer.Option(..., help="Paired data folder (e.g. made by retouch data pairs), or labelled images for a classifier (the CIFAR-10 zip, or class folders)."),
    split: str = typer.Option("test", help="Subfolder to evaluate on, when present."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here (default: print only)."),
    sheet: Path = typer.Option(None, help="Also write a PNG of input | output | target rows for the first pairs."),
    limit: int = typer.Option(None, help="Evaluate only the first N pairs (a classifier: N random images, seed 0)."),
    holdout: int = typer.Option(0, help="Score only the last N pairs of the split (natural name order), as held out by data.holdout in training."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
) -> None:
    """PSNR/SSIM (RGB and Y) over a paired test set, next to the identity baseline; top-1 accuracy for a classifier."""
    from rich.table import Table

    from retouch.evaluate import write_report
    from retouch.evaluate.paired import evaluate

    report = evaluate(model, data, split, device, limit=limit, holdout=holdout, sheet=sheet)
    part = f"last {holdout} of {split}" if holdout else split
    table = Table(title=escape(f"{model} on {data} [{part}], {report['images']} images"))
    if report.get("task") == "classify":
        for column in ("class", "images", "top-1"):
            table.add_column(column, justify="left" if column == "class" else "right")
        for name, values in report["results"]["per_class"].items():
            table.add_row(name, str(values["images"]), f"{values['top1']:.2%}")
        table.add_row("all", str(report["images"]), f"{report['results']['top1']:.2%}")
    else:
        keys = ["psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y"]
        table.add_column("row")
        for k in keys:
            table.add_column(k, justify="right")
        for row, values in report["results"].items():
            table.add_row(row, *(f"{values[k]:.4f}" if k.startswith("ssim") else f"{values[k]:.2f}" for k in keys))
    Console().print(table)
    if json_out:
        write_report(report, json_out)


@app.command("eval-translation")
def eval_translation(
    model: str = typer.Argument(..., help="Unpaired (two-way) model: shipped name, weights file, or run folder."),
    data: Path = typer.Option(..., help="Folder of test images of the source domain (e.g. horse2zebra/testA)."),
    classifier: str = typer.Option(..., help="Domain classifier trained on both domains' training images."),
    direction: str = typer.Option("AtoB", help="AtoB or BtoA."),
    target: str = typer.Option(None, help="The classifier's class for the output domain (default: its 2nd for AtoB, 1st for BtoA)."),
    limit: int = typer.Option(None, help="Only the first N images."),
    sheet: Path = typer.Option(None, help="Also write a PNG of input | output | reconstruction rows (first 16)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
) -> None:
    """Share of translations a domain classifier calls the target domain (and of untouched inputs), and cycle PSNR."""
    from retouch.evaluate import write_report
    from retouch.evaluate.translation import evaluate_translation

    r = evaluate_translation(model, data, classifier, direction, target, device, limit=limit, sheet=sheet)
    typer.echo(f"{r['images']} images, {direction}: called {r['target']}: inputs {r['target_share_inputs']:.1%}, "
               f"outputs {r['target_share_outputs']:.1%}; cycle PSNR {r['cycle_psnr']:.2f} dB, SSIM {r['cycle_ssim']:.4f}")
    if json_out:
        write_report(r, json_out)


@app.command()
def upscale(
    inputs: Path = typer.Argument(..., help="An image or a folder of images."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, or folder (same file names)."),
    model: str = typer.Option("srresnet-x4", help="Super-resolution model (shipped name: srresnet-x4 for PSNR, srgan-x4 for sharpness; weights .safetensors, run folder), or bicubic."),
    scale: int = typer.Option(None, help="Upscaling factor: the model's own (checked when given); bicubic's, default 4."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    precision: str = typer.Option("auto", help="auto | fp32 | bf16."),
) -> None:
    """Super-resolve images of any size (tiled): each output is scale times its input's width and height.

    The added detail is the model's invention, not a recovery of what the camera missed.
    """
    from retouch.tasks.upscale import upscale_files

    for path in upscale_files(inputs, output, model, scale, device, precision):
        typer.echo(path)


@app.command("eval-sr")
def eval_sr(
    models: list[str] = typer.Argument(None, help="Super-resolution models (names, weights files, run folders); bicubic is always a row."),
    sets: str = typer.Option("Set5,Set14,BSD100,Kodak24", help="Comma-separated benchmarks (Set5, Set14, BSD100, Kodak24) or folders of HR images."),
    data: Path = typer.Option(Path("../shared/data"), help="Where the benchmarks are (sr-bench/, bsds500/val for BSD100)."),
    scale: int = typer.Option(None, help="Upscaling factor: the models' own (checked when given); 4 with bicubic alone."),
    limit: int = typer.Option(None, help="Only the first N images of each set."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
) -> None:
    """PSNR/SSIM on the Y channel (BT.601, border of `scale` px cut, HR modcropped), as SR papers report them."""
    from rich.table import Table

    from retouch.evaluate import write_report
    from retouch.evaluate.sr import evaluate_sr

    report = evaluate_sr(models or [], [x.strip() for x in sets.split(",") if x.strip()], data, scale, device)
    table = Table(title=escape(f"x{report['scale']} super-resolution, PSNR (dB) / SSIM on Y"))
    table.add_column("method")
    for name, r in report["results"].items():
        table.add_column(f"{name} ({r['images']})", justify="right")
    first = next(iter(report["results"].values()))
    for row in (k for k in first if k != "images"):
        table.add_row(row, *(f"{r[row]['psnr_y']:.2f} / {r[row]['ssim_y']:.4f}" for r in report["results"].values()))
    Console().print(table)
    if json_out:
        write_report(report, json_out)


@app.command("eval-prior")
def eval_prior(
    model: str = typer.Argument(..., help="Generative prior: shipped name, weights file, or run folder."),
    classifier: str = typer.Option("cifar10-classifier", help="Classifier of the same classes, trained on real images."),
    per_class: int = typer.Option(100, help="Samples per class (fixed latents, seed 0)."),
    sheet: Path = typer.Option(None, help="Also write a PNG: one row of 10 samples per class."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here."),
    device: str = typer.Option("cpu", help="cpu | cuda | mps."),
) -> None:
    """Share of a class-conditional prior's samples that a classifier assigns to the class asked for."""
    from retouch.evaluate import write_report
    from retouch.evaluate.prior import evaluate_prior

    r = evaluate_prior(model, classifier, per_class, device, sheet=sheet)
    typer.echo("  ".join(f"{k} {v:.0%}" for k, v in r["per_class_share"].items()) + f"\nall classes: {r['share']:.1%}")
    if json_out:
        write_report(r, json_out)


@app.command()
def prior(
    task: str = typer.Argument(..., help="reconstruct | colorize | inpaint | upscale | defend | jitter | morph | transfer."),
    inputs: Path = typer.Argument(..., help="An image or a folder of images (morph: the first image)."),
    second: Path = typer.Argument(None, help="morph only: the image to morph into."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, or folder (same file names); a sheet for jitter, morph, transfer."),
    mask: Path = typer.Option(None, help="Mask image, white = known, black = to fill (inpaint; composes with any task)."),
    class_name: str = typer.Option(None, "--class", help="The class to draw (name or index); by default the latent search picks it."),
    model: str = typer.Option("cifar10-prior", help="Generative prior: shipped name, weights file or run folder (its discriminator beside it)."),
    grey: bool = typer.Option(False, help="The input is also greyscale (compose colourisation with another task)."),
    scale: int = typer.Option(4, help="upscale: the factor (input side = prior side / scale)."),
    fit: bool = typer.Option(False, "--fit", help="Centre-crop and resize inputs of another size to the prior's."),
    steps_gif: bool = typer.Option(False, "--steps-gif", help="Also write OUTPUT.gif: the reconstruction, every 2 steps."),
    seed: int = typer.Option(0, help="Seed of the latent search."),
    batch: int = typer.Option(8, help="Images fitted at once (each with its own copy of G)."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    precision: str = typer.Option("auto", help="auto | fp32 | bf16."),
) -> None:
    """Restore or edit images with a deep generative prior (DGP): fit a GAN's latent and weights to each image.

    Whatever the degradation removed is the prior's invention, drawn from its training classes.
    """
    from retouch.prior.run import run_prior

    for path in run_prior(task, inputs, output, second, mask, class_name, model, grey, scale, fit, steps_gif, seed, batch,
                          device, precision):
        typer.echo(path)


@app.command("eval-dgp")
def eval_dgp(
    model: str = typer.Argument("cifar10-prior", help="Generative prior with its discriminator."),
    classifier: str = typer.Option("cifar10-classifier", help="Classifier for the colourisation and defence rows."),
    data: Path = typer.Option(Path("../shared/data/cifar10.zip"), help="The CIFAR-10 zip (its test split is used)."),
    per_class: int = typer.Option(20, help="Test images per class."),
    ablation_per_class: int = typer.Option(4, help="Images per class for the ablation rows."),
    batch: int = typer.Option(8, help="Images fitted at once."),
    precision: str = typer.Option("auto", help="auto | fp32 | bf16."),
    sheet: Path = typer.Option(None, help="Also write a PNG: one test image per class through every row."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here."),
) -> None:
    """DGP against its baselines on CIFAR-10 test images (the table in docs/benchmarks.md); CPU."""
    import json

    import torch

    from retouch.device import pick_precision
    from retouch.evaluate import write_report
    from retouch.evaluate.dgp import evaluate_dgp

    dtype = pick_precision(precision, torch.device("cpu"))
    report = evaluate_dgp(model, classifier, data, per_class, batch, ablation_per_class=ablation_per_class, dtype=dtype,
                          sheet=sheet, log=typer.echo)
    report["precision"] = str(dtype).removeprefix("torch.")
    typer.echo(json.dumps(report["rows"], indent=2))
    if json_out:
        write_report(report, json_out)


@app.command()
def demosaic(
    inputs: Path = typer.Argument(..., help="An image or a folder of images."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, or folder (same file names). PNG keeps the untouched pixels exact."),
    box: str = typer.Option(None, help="Region X,Y,W,H in pixels."),
    mask: Path = typer.Option(None, help="Mask image (white = region), or a folder of masks named like the inputs."),
    detect: bool = typer.Option(False, help="Find the mosaicked areas automatically (block-constant grid)."),
    model: str = typer.Option("demosaic", help="Shipped model name, weights .safetensors, or run folder."),
    consistent: bool = typer.Option(True, help="Keep the cell colours the mosaic shows (when its grid can be read off a lossless region)."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    precision: str = typer.Option("auto", help="auto | fp32 | bf16."),
) -> None:
    """Restore mosaicked regions; every pixel outside the region is returned bit for bit.

    The restored pixels are invented by the model, not recovered: the mosaic destroyed them.
    """
    from retouch.tasks.restore import demosaic_files, parse_box

    for path, boxes in demosaic_files(inputs, output, parse_box(box) if box else None, mask, detect, model, device, precision,
                                      consistent):
        where = ", ".join("x={} y={} w={} h={}".format(*b) for b in boxes) or "nothing to restore"
        typer.echo(f"{path}  ({where})")


@app.command("eval-region")
def eval_region(
    models: list[str] = typer.Argument(..., help="Region-restoration models (names, weights files or run folders)."),
    data: Path = typer.Option(..., help="Folder of clean photos, e.g. ../shared/data/bsds500/val (BSD100)."),
    blocks: str = typer.Option("8,12,16", help="Mosaic block sizes, comma-separated."),
    box: int = typer.Option(128, help="Side of the centred square that is hidden and restored."),
    limit: int = typer.Option(None, help="Only the first N photos."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here."),
    sheet: Path = typer.Option(None, help="Also write a PNG of crops: original | mosaic | bicubic | models."),
    consistent: bool = typer.Option(True, help="Project model outputs onto the observed cell colours (as `retouch demosaic` does)."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
) -> None:
    """Demosaic quality inside a hidden square, next to the mosaic and bicubic baselines."""
    from rich.table import Table

    from retouch.evaluate import write_report
    from retouch.evaluate.region import evaluate_region

    try:
        sizes = [int(b) for b in blocks.split(",")]
    except ValueError:
        raise RetouchError(f"--blocks {blocks!r} must be comma-separated integers, e.g. 8,12,16.") from None
    report = evaluate_region(models, data, sizes, box=box, device=device, limit=limit, sheet=sheet, consistent=consistent)
    table = Table(title=escape(f"inside a {box}x{box} box of {report['images']} photos in {data}"))
    for col in ["block", "method", "PSNR RGB", "SSIM RGB", "PSNR Y", "SSIM Y", "detail"]:
        table.add_column(col, justify="right" if col[0] in "PSd" else "left")
    for block, rows in report["results"].items():
        for name, m in rows.items():
            table.add_row(block, name, f"{m['psnr_rgb']:.2f}", f"{m['ssim_rgb']:.4f}", f"{m['psnr_y']:.2f}", f"{m['ssim_y']:.4f}",
                          f"{m['detail']:.2f}")
    Console().print(table)
    if json_out:
        write_report(report, json_out)


@app.command()
def mosaic(
    inputs: Path = typer.Argument(..., help="An image or a folder of images."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, or folder (same file names). PNG keeps the pixels outside the region exact; JPEG does not."),
    box: str = typer.Option(None, help="Region X,Y,W,H in pixels."),
    mask: Path = typer.Option(None, help="Mask image of the image's size (white = region), or a folder of masks named like the inputs."),
    locate: str = typer.Option(None, help="cam or cam:CLASS: the box a classifier's activation map points at."),
    block: int = typer.Option(16, help="Cell side in pixels; a block as large as the region leaves one flat colour."),
    align: str = typer.Option("region", help="Grid starts at the region's corner (region) or the image's (image)."),
) -> None:
    """Hide a region behind a mosaic (e.g. to anonymise); with none of --box, --mask, --locate, the whole image.

    Only the region changes. Small blocks are weak anonymisation: restoration models, ours included, invent plausible detail from them; use large blocks for faces and plates.
    """
    from retouch.tasks.hide import mosaic_files
    from retouch.tasks.restore import parse_box

    for path, boxes in mosaic_files(inputs, output, parse_box(box) if box else None, mask, locate, block, align):
        where = "whole image" if boxes is None else ", ".join("x={} y={} w={} h={}".format(*b) for b in boxes) or "empty mask"
        typer.echo(f"{path}  ({where})")


data_app = typer.Typer(no_args_is_help=True, help="Build training data.")
app.add_typer(data_app, name="data", help="Build training data: aligned pairs from clean photos.")


@data_app.command("pairs")
def data_pairs(
    src: Path = typer.Argument(..., help="Folder of clean photos."),
    dst: Path = typer.Argument(..., help="Output folder: A/ (degraded), B/ (clean), mask/ (where), PNG files."),
    degrade: str = typer.Option(..., help="Degradation spec, e.g. mosaic:block=8-16 or grey+jpeg:quality=40-70 (docs/guide.md)."),
    locate: str = typer.Option("random", help="Region: random (a box), full (the whole image) or cam[:CLASS]."),
    size_range: str = typer.Option("32-128", help="Side range of the random box, in pixels."),
    seed: int = typer.Option(0, help="Same seed, same files."),
) -> None:
    """Write an aligned paired dataset from clean photos, readable by `retouch train --data DST`."""
    from retouch.degrade import parse_range
    from retouch.tasks.pairs import build_pairs

    written = build_pairs(src, dst, degrade, locate, parse_range(size_range, "--size-range"), seed)
    typer.echo(f"{len(written)} pairs in {dst}")


@app.command()
def locate(
    image: Path = typer.Argument(..., help="A photo."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the heat map blended over the photo (PNG, JPEG, ...)."),
    cls: str = typer.Option(None, "--class", help="Class name or index to locate (default: the class the model predicts)."),
    model: str = typer.Option("cifar10-classifier", help="Classifier: shipped name, weights file, or run folder."),
) -> None:
    """Where a classifier sees a class (class activation map): writes the overlay, prints the box."""
    from retouch.locate.cam import locate_file

    (x, y, w, h), name = locate_file(image, output, model, cls)
    typer.echo(f"class: {name}  box: x={x} y={y} w={w} h={h}")
    typer.echo(f"wrote {output}")


@app.command()
def bench(
    quick: bool = typer.Option(False, help="CI-sized runs (small images and networks): seconds, not minutes."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    min_ratio: float = typer.Option(0.0, help="Exit 1 when a case's ours/reference ratio is below this (e.g. 1); cases whose two settings are the same here (fp32 inference on a CPU without bf16 units) are not judged: their ratio is timing noise."),
) -> None:
    """Time the reference configuration and our fast setting on the same networks, in one run."""
    from rich.table import Table

    from retouch.bench import run_bench
    from retouch.evaluate import write_report

    report = run_bench(quick=quick, device=device)
    table = Table(title=f"retouch bench on {report['device']}, torch {report['torch']}{' (quick)' if quick else ''}")
    for col in ["case", "reference", "ours", "ratio", "GFLOP/s ref", "GFLOP/s ours"]:
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in report["rows"]:
        table.add_row(r["case"], f"{r['reference']:.2f} {r['unit']} ({r['reference_setting']})",
                      f"{r['ours']:.2f} {r['unit']} ({r['ours_setting']})", f"{r['ratio']:.2f}x",
                      f"{r['reference_gflops']:.1f}", f"{r['ours_gflops']:.1f}")
    Console().print(table)
    if json_out:
        write_report(report, json_out)
    slow = [r["case"] for r in report["rows"] if r["ratio"] < min_ratio and r["ours_setting"] != r["reference_setting"]]
    if slow:
        err.print(f"slower than {min_ratio}x the reference: {', '.join(slow)}")
        raise typer.Exit(1)


@app.command()
def studio(
    host: str = typer.Option("127.0.0.1", help="Address to bind: 127.0.0.1 keeps the page on this machine; 0.0.0.0 opens it to the network."),
    port: int = typer.Option(7860, help="Port to serve on."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    max_pixels: int = typer.Option(50_000_000, help="Largest upload accepted, in pixels (width x height)."),
) -> None:
    """A local web page for hiding, restoring, upscaling, translating and the prior (needs the studio extra)."""
    from retouch.studio import serve

    serve(host, port, device, max_pixels)


@app.command()
def demo(
    out: Path = typer.Option(Path("retouch-demo"), "-o", "--out", help="Folder for index.html, sheet.png, metrics.json."),
    block: int = typer.Option(8, help="Mosaic block size in pixels."),
    model: str = typer.Option("demosaic", help="Restoration model: shipped name, weights .safetensors, or run folder."),
) -> None:
    """Locate an object with CAM, hide it behind a mosaic, restore it with the shipped model, and measure."""
    from retouch.demo import run_demo

    report = run_demo(out, block=block, model=model)
    for name, photo in report["photos"].items():
        for label, m in photo["inside_box"].items():
            typer.echo(f"{name:>8} ({photo['class']}) {label:>8}: PSNR {m['psnr_rgb']:.2f} dB  SSIM {m['ssim_rgb']:.4f}  (inside the square)")
    typer.echo(f"open {out / 'index.html'}")
