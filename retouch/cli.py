"""The `retouch` command line: thin Typer wrappers over library functions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from retouch.errors import RetouchError
from retouch.backends import set_backend
from retouch.limits import DEFAULT_MAX_PIXELS, set_max_pixels
from retouch.toy.cli import toy_app

app = typer.Typer(
    help="GAN image restoration and image-to-image translation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True, soft_wrap=True)  # one line per error, however narrow the terminal
app.add_typer(toy_app, name="toy", help="Generative-modelling warm-up: inverse-CDF sampling and a 2-D GAN.")


# Every image verb takes the decode limit; reading a file checks its header against it first.
MAX_PIXELS = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=0,
                          help="Refuse images with more pixels (width x height) than this, a guard against decompression bombs; 0 = no limit.")


VIDEO_HELP = "Films (mp4, mkv, mov, webm, avi, gif) come out as films: sound copied packet for packet, frame count and timing kept."


def _codec_option() -> str:
    return typer.Option(None, help="Films: output video codec (default libx264, H.264; libvpx-vp9 for .webm; ffv1 is lossless).")


def _backend_option() -> str:
    return typer.Option("torch", help="torch | onnxruntime | openvino | auto: the runtime for the model (onnxruntime, openvino: CPU, fp32, need pip install 'retouch[onnx]' or 'retouch[openvino]'; auto: the fastest installed here, timed once per model and cached in ~/.cache/retouch/backends.json).")


def _crf_option() -> int:
    return typer.Option(None, help="Films: constant-quality level of the codec (H.264 default 18, visually lossless; lower = better).")


def _boxes(texts: list[str] | None) -> list[tuple[int, int, int, int]] | None:
    from retouch.tasks.restore import parse_box

    return [parse_box(t) for t in texts] if texts else None


def main() -> None:
    """Entry point: user errors print one sentence and exit 2, with no traceback.

    The sentence is printed unwrapped and without markup, so it stays one line however long the
    path and whatever brackets a file name holds. A folder run whose files partly failed prints one
    line per failed file after the summary (see `tasks.apply.FilesFailed`), and also exits 2.
    """
    try:
        app()
    except RetouchError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
        raise SystemExit(2) from None


def _report(run: Callable[[], list], line: Callable[[Any], str] = str) -> None:
    """Print one line per written file, then fail if some files of a folder did not make it."""
    from retouch.tasks.apply import FilesFailed

    try:
        results, failed = run(), None
    except FilesFailed as e:
        results, failed = e.results, e
    for r in results:
        typer.echo(line(r))
    if failed is not None:
        raise failed


@app.command()
def train(
    method: str = typer.Argument(..., help="Training method: pix2pix, cyclegan, srgan, classifier, gan_prior or segmenter; or the recipe demosaic (clean photos in, the shipped demosaic model fine-tuned on mosaics made from them)."),
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
    nonfinite: str = typer.Option(None, help="On a NaN or inf loss: stop (keep the last good checkpoint) or skip the step (undo it, count it in the log)."),
    masked: bool = typer.Option(None, "--masked/--no-masked", help="pix2pix: restore only inside the pairs' mask/ (model.masked), as retouch demosaic needs."),
    init_from: str = typer.Option(None, help="Start from this model (name, weights file or run folder); the demosaic recipe starts from the shipped demosaic."),
    resume: bool = typer.Option(False, help="Continue the run in --out where its last checkpoint left it (the same command with --resume added; --steps N to go on to N)."),
) -> None:
    """Train a model; Ctrl-C or a kill loses at most the steps since the last checkpoint.

    Re-running the same command with --resume continues the run: flags equal to the run's settings
    are accepted, a conflicting one is refused, and --steps may move the end (the learning-rate
    schedule is then the new length's, from the step reached).
    """
    from retouch.recipes import RECIPES, recipe
    from retouch.train import RunConfig, config_conflicts
    from retouch.train import train as run_training

    flags = {"data.root": ("--data", data), "data.size": ("--size", size), "data.direction": ("--direction", direction),
             "data.preprocess": ("--preprocess", preprocess), "train.steps": ("--steps", steps),
             "train.batch_size": ("--batch-size", batch_size), "train.seed": ("--seed", seed), "train.device": ("--device", device),
             "train.precision": ("--precision", precision), "train.compile": ("--compile", compile_nets), "train.nonfinite": ("--nonfinite", nonfinite),
             "model.loss": ("--loss", loss), "model.masked": ("--masked", masked), "train.init_from": ("--init-from", init_from)}
    saved = out / "config.yaml"
    if resume and saved.exists():
        cfg = RunConfig.from_yaml(config) if config else RunConfig.from_yaml(saved)  # the run as it was started, flags on top
    elif method in RECIPES:
        if config:
            raise RetouchError(f"{method} is a ready-made recipe; drop --config, or train pix2pix with your config.")
        if not data:
            raise RetouchError(f"Say where your clean photos are with --data DIR; the {method} recipe makes the pairs from them.")
        cfg = recipe(method, str(data), init_from or "demosaic", size)
    else:
        cfg = RunConfig.from_yaml(config) if config else RunConfig(method=method)
    if method in RECIPES:
        method = cfg.method  # a recipe is a configured method (demosaic: masked pix2pix)
    if cfg.method != method:
        raise RetouchError(f"{config or saved} is a {cfg.method} recipe, not {method}.")
    if masked is not None and not hasattr(cfg.model, "masked"):
        raise RetouchError(f"{method} has no masked variant; drop --masked.")
    if loss is not None and not hasattr(cfg.model, "loss"):
        raise RetouchError(f"{method} has no choice of loss; drop --loss.")
    for dotted, (_, value) in flags.items():
        if value is not None:
            section, key = dotted.split(".")
            setattr(getattr(cfg, section), key, str(value) if isinstance(value, Path) else value)
    if resume and saved.exists():
        conflicts = config_conflicts(RunConfig.from_yaml(saved), cfg)
        if conflicts:
            named = [flags[k][0] if k in flags and flags[k][1] is not None else f"{k} in {config}" for k in conflicts]
            raise RetouchError(f"{', '.join(named)} differ from the settings {out} was started with; drop them to "
                               "continue the run as it was (only --steps may change), or choose another --out.")
    if not cfg.data.root:
        raise RetouchError("Say where the training pairs are with --data DIR (or data.root in the config).")
    weights = run_training(cfg, out, resume=resume)
    typer.echo(f"weights: {weights}")


@app.command()
def translate(
    inputs: Path = typer.Argument(..., help="An image, a folder of images, or a film. " + VIDEO_HELP),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, folder (same file names), or film."),
    model: str = typer.Option(..., help="Shipped model name, weights .safetensors, run folder, or a pix2pix/CycleGAN latest_net_G.pth."),
    direction: str = typer.Option("AtoB", help="AtoB or BtoA: which generator of an unpaired model (horse2zebra: AtoB = horse to zebra)."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    precision: str = typer.Option("auto", help="auto | fp32 | bf16."),
    max_pixels: int = MAX_PIXELS,
    codec: str = _codec_option(),
    crf: int = _crf_option(),
    arch: str = typer.Option(None, help="Architecture of a reference .pth when its keys leave it open, e.g. resnet_9blocks:norm=none (docs/guide.md)."),
    backend: str = _backend_option(),
) -> None:
    """Translate images of any size, or every frame of a film, with an image-to-image model."""
    from retouch.tasks.apply import translate_files

    set_max_pixels(max_pixels)
    set_backend(backend)
    _report(lambda: translate_files(inputs, output, model, device, precision, direction=direction, codec=codec,
                                    crf=18 if crf is None else crf, arch=arch))


@app.command()
def convert(
    src: Path = typer.Argument(..., help="A reference .pth: pix2pix/CycleGAN latest_net_G*.pth, BasicSR MSRResNet, BigGAN-PyTorch G_ema.pth."),
    dst: Path = typer.Argument(..., help="The .safetensors file to write (a BigGAN's D.pth beside SRC goes to DST-discriminator.safetensors)."),
    arch: str = typer.Option(None, help="Architecture when the keys leave it open: NAME[:key=value,...], e.g. unet_256:norm=instance (docs/guide.md)."),
    task: str = typer.Option(None, help="translate | upscale: the verb the weights serve (default: translate for pix2pix/CycleGAN, upscale for MSRResNet)."),
) -> None:
    """Write a reference implementation's .pth as retouch weights, the architecture in the metadata."""
    from retouch.foreign import convert as convert_weights

    if task is not None and task not in ("translate", "upscale"):
        raise RetouchError(f"--task {task!r} is not one of translate, upscale.")
    for path in convert_weights(src, dst, arch, task):
        typer.echo(path)


@app.command()
def export(
    model: str = typer.Argument(..., help="Shipped model name, weights .safetensors, run folder, or reference .pth."),
    output: Path = typer.Option(..., "-o", "--output", help="The .onnx file to write."),
    opset: int = typer.Option(17, help="ONNX opset version (the dynamo exporter uses at least 18)."),
    direction: str = typer.Option("AtoB", help="AtoB or BtoA: which generator of an unpaired model."),
    arch: str = typer.Option(None, help="Architecture of a reference .pth when its keys leave it open (docs/guide.md)."),
    dynamo: bool = typer.Option(False, "--dynamo", help="Use torch's torch.export-based exporter (needs onnxscript; slower) instead of the TorchScript one."),
) -> None:
    """Write a model's inference network as ONNX: NCHW float32 in [-1, 1], dynamic batch, height and width."""
    from retouch.export import export_onnx

    typer.echo(export_onnx(model, output, opset, direction, arch, dynamo))


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
    size: int = typer.Option(None, help="Shrink test images to this short side first (a model trained on small crops, judged at its scale)."),
) -> None:
    """Share of translations a domain classifier calls the target domain (and of untouched inputs), and cycle PSNR."""
    from retouch.evaluate import write_report
    from retouch.evaluate.translation import evaluate_translation

    r = evaluate_translation(model, data, classifier, direction, target, device, limit=limit, sheet=sheet, size=size)
    typer.echo(f"{r['images']} images, {direction}: called {r['target']}: inputs {r['target_share_inputs']:.1%}, "
               f"outputs {r['target_share_outputs']:.1%}; cycle PSNR {r['cycle_psnr']:.2f} dB, SSIM {r['cycle_ssim']:.4f}")
    write_report(r, json_out)


@app.command()
def upscale(
    inputs: Path = typer.Argument(..., help="An image, a folder of images, or a film. " + VIDEO_HELP),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, folder (same file names), or film."),
    model: str = typer.Option("srresnet-x4", help="Super-resolution model (shipped name: srresnet-x4 for PSNR, srgan-x4 for sharpness; weights .safetensors, run folder, BasicSR MSRResNet .pth), or bicubic."),
    scale: int = typer.Option(None, help="Upscaling factor: the model's own (checked when given); bicubic's, default 4."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    precision: str = typer.Option("auto", help="auto | fp32 | bf16."),
    max_pixels: int = MAX_PIXELS,
    codec: str = _codec_option(),
    crf: int = _crf_option(),
    arch: str = typer.Option(None, help="Architecture of a reference .pth when its keys leave it open, e.g. resnet_9blocks:norm=none (docs/guide.md)."),
    backend: str = _backend_option(),
) -> None:
    """Super-resolve images of any size (tiled), or films: each output is scale times its input's width and height.

    The added detail is the model's invention, not a recovery of what the camera missed.
    """
    from retouch.tasks.upscale import upscale_files

    set_max_pixels(max_pixels)
    set_backend(backend)
    _report(lambda: upscale_files(inputs, output, model, scale, device, precision, codec=codec, crf=crf, arch=arch))


@app.command()
def colorize(
    inputs: Path = typer.Argument(..., help="An image, a folder of images, or a film. " + VIDEO_HELP),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, folder (same file names), or film."),
    model: str = typer.Option("colorize", help="Colourisation model: colorize (shipped), weights .safetensors or a run folder trained with chroma: true (configs/colorize_classes.yaml)."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    precision: str = typer.Option("auto", help="auto | fp32 | bf16."),
    max_pixels: int = MAX_PIXELS,
    codec: str = _codec_option(),
    crf: int = _crf_option(),
    backend: str = _backend_option(),
) -> None:
    """Colour for greyscale photos or films; the lightness stays exactly the input's (a colour input is made grey first).

    The colours are the model's guess: plausible at best, never a recovery of the originals.
    """
    from retouch.tasks.colorize import colorize_files

    set_max_pixels(max_pixels)
    set_backend(backend)
    _report(lambda: colorize_files(inputs, output, model, device, precision, codec=codec, crf=crf))


@app.command()
def repair(
    inputs: Path = typer.Argument(..., help="An image, a folder of images, or a film. " + VIDEO_HELP),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, folder (same file names), or film."),
    scale: int = typer.Option(1, help="1, 2 or 4: enlarge (bicubic) first and repair the result, for small shared copies."),
    model: str = typer.Option("repair", help="Repair model: shipped name, weights .safetensors, or a run folder."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    precision: str = typer.Option("auto", help="auto | fp32 | bf16."),
    max_pixels: int = MAX_PIXELS,
    codec: str = _codec_option(),
    crf: int = _crf_option(),
    backend: str = _backend_option(),
) -> None:
    """Repair blur, noise, JPEG blocking and downscaling in photos or films, in one pass.

    The detail it puts back is the model's best guess, not the photo's lost detail.
    """
    from retouch.tasks.repair import repair_files

    set_max_pixels(max_pixels)
    set_backend(backend)
    _report(lambda: repair_files(inputs, output, model, scale, device, precision, codec=codec, crf=crf))


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
    write_report(r, json_out)


@app.command()
def prior(
    task: str = typer.Argument(..., help="reconstruct | colorize | inpaint | upscale | defend | jitter | morph | transfer."),
    inputs: Path = typer.Argument(..., help="An image or a folder of images (morph: the first image)."),
    second: Path = typer.Argument(None, help="morph only: the image to morph into."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, or folder (same file names); a sheet for jitter, morph, transfer."),
    mask: Path = typer.Option(None, help="Mask image of the input's size, white = fill, black = keep, as for every verb (inpaint; composes with any task)."),
    class_name: str = typer.Option(None, "--class", help="The class to draw (name or index); by default the latent search picks it."),
    model: str = typer.Option("cifar10-prior", help="Generative prior: shipped name, weights file, run folder, or BigGAN-PyTorch/DGP G_ema.pth (its discriminator beside it: D.pth)."),
    grey: bool = typer.Option(False, help="The input is also greyscale (compose colourisation with another task)."),
    scale: int = typer.Option(4, help="upscale: the factor (input side = prior side / scale)."),
    fit: bool = typer.Option(False, "--fit", help="Centre-crop and resize inputs of another size to the prior's."),
    steps_gif: bool = typer.Option(False, "--steps-gif", help="Also write OUTPUT.gif: the reconstruction, every 2 steps."),
    seed: int = typer.Option(0, help="Seed of the latent search."),
    batch: int = typer.Option(8, help="Images fitted at once (each with its own copy of G)."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    precision: str = typer.Option("auto", help="auto | fp32 | bf16."),
    max_pixels: int = MAX_PIXELS,
) -> None:
    """Restore or edit images with a deep generative prior (DGP): fit a GAN's latent and weights to each image.

    Whatever the degradation removed is the prior's invention, drawn from its training classes.
    """
    from retouch.prior.run import run_prior

    set_max_pixels(max_pixels)
    _report(lambda: run_prior(task, inputs, output, second, mask, class_name, model, grey, scale, fit, steps_gif, seed, batch,
                              device, precision))


@app.command("eval-colorize")
def eval_colorize(
    model: str = typer.Argument("colorize", help="Colourisation model (shipped name, weights file or run folder)."),
    classifier: str = typer.Option("cifar10-classifier", help="Classifier whose accuracy on CIFAR-10 colourisations is reported."),
    cifar: Path = typer.Option(Path("../shared/data/cifar10.zip"), help="The CIFAR-10 zip (its test split is used)."),
    bsd: Path = typer.Option(Path("../shared/data/bsds500/val"), help="Colour photos for PSNR/SSIM/colourfulness (BSD100)."),
    per_class: int = typer.Option(100, help="CIFAR-10 test images per class."),
    device: str = typer.Option("cpu", help="auto | cpu | cuda | mps."),
    sheet: Path = typer.Option(None, help="Also write a PNG of 16 photos: grey | colorize | original."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here."),
) -> None:
    """Colourisation against grey: classifier accuracy on CIFAR-10, PSNR/SSIM and colourfulness on BSD100 (docs/benchmarks.md)."""
    import json

    from retouch.evaluate import write_report
    from retouch.evaluate.colorize import evaluate_colorize

    report = evaluate_colorize(model, classifier, cifar, bsd, per_class, device, sheet, log=typer.echo)
    typer.echo(json.dumps({k: v for k, v in report.items() if k in ("cifar_accuracy", "bsd100")}, indent=2))
    write_report(report, json_out)


@app.command()
def sample(
    model: str = typer.Argument(..., help="A CoGAN run folder or its weights file."),
    n: int = typer.Option(16, "-n", help="Pairs to draw."),
    output: Path = typer.Option(..., "-o", "--output", help="Sheet to write: one row per draw, domain A | domain B."),
    seed: int = typer.Option(0, help="Seed of the noise: the same seed draws the same pairs."),
) -> None:
    """Pairs of corresponding images from one noise draw each (CoGAN): what its shared layers learnt without pairs."""
    from retouch.tasks.sample import sample_sheet

    _report(lambda: sample_sheet(model, n, output, seed))


@app.command()
def rerender(
    inputs: Path = typer.Argument(..., help="An object photo (centre-cropped to a square)."),
    output: Path = typer.Option(..., "-o", "--output", help="The re-render, at the model's size (32 px for CIFAR-10 runs)."),
    model: str = typer.Option("cifar10-tdgan", help="TD-GAN model: shipped name, a tdgan run folder or its weights file."),
    set_: list[str] = typer.Option(..., "--set", help="TAG=VALUE, repeatable: viewpoint=original|mirrored, rotation=0|90|180|270, "
                                                      "lighting=dark|normal|bright, temperature=warm|neutral|cool."),
) -> None:
    """The object rendered again with the tags asked for changed and the rest kept (TD-GAN)."""
    from retouch.tasks.rerender import rerender_file

    _report(lambda: rerender_file(inputs, output, model, set_))


@app.command("eval-rerender")
def eval_rerender(
    models: list[str] = typer.Argument(..., help="tdgan runs to compare (e.g. TD-GAN and the autoencoder without tag losses)."),
    data: Path = typer.Option(Path("../shared/data/cifar10.zip"), help="The CIFAR-10 zip (its test split is used)."),
    per_class: int = typer.Option(100, help="Test images per class."),
    classifier: str = typer.Option("cifar10-classifier", help="Classifier that checks the identity (class) survives."),
    seed: int = typer.Option(0, help="Seed of the tags drawn for each test image."),
    sheet: Path = typer.Option(None, help="Also write a PNG: per class, the input, then each tag's re-render | true re-render (first model)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here."),
) -> None:
    """Per tag: share of re-renders showing the value asked for, how far the other tags moved, PSNR to the true re-render."""
    import json

    from retouch.evaluate import write_report
    from retouch.evaluate.rerender import evaluate_rerender

    report = evaluate_rerender(models, data, per_class, classifier, seed, sheet)
    typer.echo(json.dumps(report["models"], indent=2))
    write_report(report, json_out)


@app.command()
def complete(
    patches: list[Path] = typer.Argument(..., help="One or more patch images of one object (any order, no positions)."),
    output: Path = typer.Option(..., "-o", "--output", help="Completion | placement (the completion lit where the patches go)."),
    model: str = typer.Option("cifar10-keypatch", help="Key-patch model: shipped name, a keypatch run folder or its weights file."),
    patch: int = typer.Option(8, help="Side the model's patches were cut at in training (data.region_size); each patch is resized to it."),
    seed: int = typer.Option(0, help="Seed of the noise: another seed, another completion."),
) -> None:
    """A whole object drawn from a few key patches of it, with where the model placed them (Lee et al.)."""
    from retouch.tasks.complete import complete_files

    _report(lambda: complete_files(patches, output, model, patch, seed))


@app.command("eval-keypatch")
def eval_keypatch(
    model: str = typer.Argument(..., help="A keypatch run folder or its weights file."),
    data: Path = typer.Option(Path("../shared/data/cifar10.zip"), help="The CIFAR-10 zip (its test split is used)."),
    per_class: int = typer.Option(100, help="Test images per class."),
    patches: int = typer.Option(3, help="Key patches per photo (as trained: data.regions)."),
    patch: int = typer.Option(8, help="Their side (as trained: data.region_size)."),
    proposal: str = typer.Option("random", help="Where they are cut (as trained: data.proposal): random, or cam (the classifier's strongest squares)."),
    classifier: str = typer.Option("cifar10-classifier", help="Classifier that checks the completion is the patches' object."),
    sheet: Path = typer.Option(None, help="Also write a PNG: per class, the patches' places | the predicted placement | the completion."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here."),
) -> None:
    """Placement IoU against the centre baseline, appearance PSNR in the patches, class accuracy of completions."""
    import json

    from retouch.evaluate import write_report
    from retouch.evaluate.keypatch import evaluate_keypatch

    report = evaluate_keypatch(model, data, per_class, patches, patch, classifier, sheet=sheet, proposal=proposal)
    typer.echo(json.dumps(report, indent=2))
    write_report(report, json_out)


@app.command("eval-pairs")
def eval_pairs(
    model: str = typer.Argument(..., help="A CoGAN run (or weights) trained with a degradation as domain B."),
    n: int = typer.Option(1000, "-n", help="Pairs to draw."),
    seed: int = typer.Option(0, help="Seed of the noise."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here."),
) -> None:
    """How far one draw's pair corresponds: PSNR/SSIM of degrade(A) against B of the same draw, and of another draw."""
    from retouch.evaluate import write_report
    from retouch.evaluate.pairs import evaluate_pairs

    r = evaluate_pairs(model, n, seed)
    typer.echo(f"{r['pairs']} pairs, B = {r['degrade']}(A)? same draw: PSNR {r['same_draw']['psnr']:.2f} dB, SSIM "
               f"{r['same_draw']['ssim']:.4f}; another draw: PSNR {r['other_draw']['psnr']:.2f} dB, SSIM {r['other_draw']['ssim']:.4f}")
    write_report(r, json_out)


@app.command("eval-repair")
def eval_repair(
    model: str = typer.Argument("repair", help="Repair model (shipped name, weights file or run folder)."),
    data: Path = typer.Option(Path("../shared/data/bsds500/val"), help="Clean photos (BSD100)."),
    limit: int = typer.Option(0, help="Only the first N photos (0 = all)."),
    device: str = typer.Option("cpu", help="auto | cpu | cuda | mps."),
    sheet: Path = typer.Option(None, help="Also write a PNG of 4 photos, medium chain: damaged | OpenCV | repair | clean."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here."),
) -> None:
    """repair against OpenCV's non-local means on three fixed damage chains (docs/benchmarks.md)."""
    import json

    from retouch.evaluate import write_report
    from retouch.evaluate.repair import evaluate_repair

    report = evaluate_repair(model, data, limit, device, sheet, log=typer.echo)
    typer.echo(json.dumps(report["rows"], indent=2))
    write_report(report, json_out)


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
    rows: str = typer.Option("reconstruct,inpaint,upscale,colorize,defend",
                             help="Rows to run, comma-separated (inpaint includes its ablation), e.g. colorize alone on 1,000 images."),
) -> None:
    """DGP against its baselines on CIFAR-10 test images (the table in docs/benchmarks.md); CPU."""
    import json

    import torch

    from retouch.device import pick_precision
    from retouch.evaluate import write_report
    from retouch.evaluate.dgp import evaluate_dgp

    dtype = pick_precision(precision, torch.device("cpu"))
    report = evaluate_dgp(model, classifier, data, per_class, batch, ablation_per_class=ablation_per_class, dtype=dtype,
                          sheet=sheet, log=typer.echo, rows=tuple(r.strip() for r in rows.split(",") if r.strip()))
    report["precision"] = str(dtype).removeprefix("torch.")
    typer.echo(json.dumps(report["rows"], indent=2))
    write_report(report, json_out)


@app.command()
def demosaic(
    inputs: Path = typer.Argument(..., help="An image, a folder of images, or a film. " + VIDEO_HELP),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, folder (same file names), or film. PNG keeps the untouched pixels exact."),
    box: list[str] = typer.Option(None, help="Region X,Y,W,H in pixels (repeat for several)."),
    mask: Path = typer.Option(None, help="Mask image (white = region), or a folder of masks named like the inputs."),
    detect: bool = typer.Option(False, help="Find every mosaicked area automatically (grid fit, and the --detector network where the grid does not hold); in films (grid alone), smoothed over time."),
    mask_video: Path = typer.Option(None, help="Films: a mask clip of the same length (white = region)."),
    track: list[str] = typer.Option(None, help="Films: a box X,Y,W,H on the first frame, followed through the film (repeat for several)."),
    detect_tol: float = typer.Option(2.0, help="Films with --detect: luma levels still counted as flat (compressed frames need > 0)."),
    boxes_json: Path = typer.Option(None, help="Films: boxes for every frame, as `retouch mosaic --regions-json` wrote them."),
    detector: str = typer.Option("mosaic-detect", help="Segmenter that --detect adds to the grid fit (name, weights file, run folder), or none for the grid alone."),
    model: str = typer.Option("demosaic", help="Shipped model name, weights .safetensors, or run folder."),
    consistent: bool = typer.Option(True, help="Keep the cell colours the mosaic shows: exactly on lossless mosaics, softly on recompressed ones."),
    ensemble: int = typer.Option(None, help="Average the model over this many flipped views (1, 2, 4 or 8). Default: 8 for L1-trained models (demosaic-l1) on images; 1 for GANs (demosaic, whose detail it would blur) and in films."),
    temporal: bool = typer.Option(True, help="Films: blend each restored region with the previous one, aligned by the camera's motion (less flicker)."),
    regions_json: Path = typer.Option(None, help="Films: also write every frame's boxes here."),
    codec: str = _codec_option(),
    crf: int = _crf_option(),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    precision: str = typer.Option("auto", help="auto | fp32 | bf16."),
    max_pixels: int = MAX_PIXELS,
    backend: str = _backend_option(),
) -> None:
    """Restore mosaicked regions; every pixel outside the region is returned bit for bit (in films: up to the codec).

    The restored pixels are invented by the model, not recovered: the mosaic destroyed them.
    """
    from retouch.video import is_film

    set_max_pixels(max_pixels)
    set_backend(backend)
    boxes = _boxes(box)
    if is_film(inputs, output):
        from retouch.locate.temporal import region_source
        from retouch.tasks.restore import demosaic_video

        regions = region_source(boxes, mask, mask_video, _boxes(track), detect, detect_tol, boxes_json)
        frames = demosaic_video(inputs, output, regions, model, device, precision, consistent, temporal, codec, crf, regions_json,
                                ensemble=ensemble or 1)
        typer.echo(f"{output}  ({len(frames)} frames, {sum(map(bool, frames))} with regions)")
        return
    if mask_video or track or regions_json or boxes_json:
        raise RetouchError("--mask-video, --track, --regions-json and --boxes-json are for films; pass an mp4, mkv, mov, webm, avi or gif.")
    from retouch.tasks.restore import demosaic_files

    def line(result: tuple[Path, list]) -> str:
        path, found = result
        where = ", ".join("x={} y={} w={} h={}".format(*b) for b in found)
        return f"{path}  ({where or ('no mosaic region found: written unchanged' if detect else 'empty region: written unchanged')})"

    _report(lambda: demosaic_files(inputs, output, boxes, mask, detect, model, device, precision, consistent,
                                   detector=None if detector == "none" else detector, ensemble=ensemble), line)


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
    jpeg: int = typer.Option(None, help="Save the mosaicked photo as a JPEG of this quality first (e.g. 75), as people meet it."),
    ensemble: int = typer.Option(None, help="Average each model over this many flipped views (1, 2, 4 or 8). Default: what `retouch demosaic` does on images."),
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
    report = evaluate_region(models, data, sizes, box=box, device=device, limit=limit, sheet=sheet, consistent=consistent, jpeg=jpeg,
                             ensemble=ensemble)
    saved = f", saved as JPEG q{jpeg}" if jpeg else ""
    table = Table(title=escape(f"inside a {box}x{box} box of {report['images']} photos in {data}{saved}"))
    for col in ["block", "method", "PSNR RGB", "SSIM RGB", "PSNR Y", "SSIM Y", "detail"]:
        table.add_column(col, justify="right" if col[0] in "PSd" else "left")
    for block, rows in report["results"].items():
        for name, m in rows.items():
            table.add_row(block, name, f"{m['psnr_rgb']:.2f}", f"{m['ssim_rgb']:.4f}", f"{m['psnr_y']:.2f}", f"{m['ssim_y']:.4f}",
                          f"{m['detail']:.2f}")
    Console().print(table)
    write_report(report, json_out)


@app.command("eval-video")
def eval_video(
    clips: Path = typer.Argument(..., help="Folder of clean clips, e.g. made by `retouch data video ../shared/data/bsds500/val CLIPS`."),
    model: str = typer.Option("demosaic", help="Region-restoration model: shipped name, weights file or run folder."),
    box: int = typer.Option(96, help="Side of the centred square hidden in every frame."),
    block: int = typer.Option(8, help="Mosaic block size."),
    blend: float = typer.Option(0.5, help="The temporal method's weight of the previous (aligned) result."),
    limit: int = typer.Option(None, help="Only the first N clips."),
    detect: bool = typer.Option(False, help="Instead: the share of frames where --detect finds the square after H.264 encoding."),
    detect_tol: float = typer.Option(2.0, help="With --detect: luma levels still counted as flat."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
) -> None:
    """PSNR and flicker (change between flow-aligned frames beyond the clean film's) inside a hidden square: per-frame vs temporal restoration."""
    from rich.markup import escape
    from rich.table import Table

    from retouch.evaluate import write_report
    from retouch.evaluate.video import evaluate_video

    if detect:
        from retouch.evaluate.video import detect_hit_rate

        r = detect_hit_rate(clips, box, block, detect_tol, limit=limit)
        typer.echo(f"--detect on {r['frames']} H.264 (crf {r['crf']}) frames of {r['clips']} clips, block {block}, tol {detect_tol}: "
                   f"found (IoU >= 0.5) in {r['hit_rate']:.1%}, false alarms in {r['false_alarm_frames']:.1%} of frames")
        write_report(r, json_out)
        return
    report = evaluate_video(clips, model, box, block, blend, limit, device)
    table = Table(title=escape(f"{model} inside a {box}px square, block {block}, {report['n']} clips in {clips}"))
    for col in ["method", "PSNR (dB)", "flicker (levels)"]:
        table.add_column(col, justify="left" if col == "method" else "right")
    for name, m in report["mean"].items():
        table.add_row(name, f"{m['psnr']:.2f}", f"{m['flicker']:.2f}")
    Console().print(table)
    typer.echo(f"temporal vs per-frame: {report['flicker_reduction']:.0%} less flicker, {report['psnr_change_db']:+.2f} dB PSNR")
    write_report(report, json_out)


@app.command("eval-detect")
def eval_detect(
    detectors: list[str] = typer.Argument(None, help="grid (the grid fit alone, the default) and/or segmenters that --detect adds to it (names such as mosaic-detect, weights files, run folders)."),
    data: Path = typer.Option(..., help="Folder of clean photos, e.g. ../shared/data/bsds500/val (BSD100)."),
    conditions: str = typer.Option(None, help="Comma-separated subset of: PNG, JPEG q90, JPEG q75, JPEG q50, rescaled 0.75x, rescaled 1.5x, two regions, mixed, clean photo."),
    limit: int = typer.Option(None, help="Only the first N photos."),
    seed: int = typer.Option(0, help="Boxes, blocks and offsets are drawn from it."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here."),
) -> None:
    """Mosaic detection per condition (clean PNG, JPEG, rescaled, two regions, clean photos): IoU, regions found, false regions."""
    from rich.markup import escape
    from rich.table import Table

    from retouch.evaluate import write_report
    from retouch.evaluate.detect import CONDITIONS, evaluate_detect
    from retouch.locate.detect import detect_mosaic

    chosen = tuple(c.strip() for c in conditions.split(",")) if conditions else CONDITIONS
    unknown = [c for c in chosen if c not in CONDITIONS]
    if unknown:
        raise RetouchError(f"Unknown condition(s) {', '.join(unknown)}; choose from {', '.join(CONDITIONS)}.")
    runs = {d if d == "grid" else f"grid + {d}": (lambda x, m=d: detect_mosaic(x, model=None if m == "grid" else m))
            for d in detectors or ["grid"]}
    report = evaluate_detect(runs, data, chosen, seed=seed, limit=limit)
    table = Table(title=escape(f"mosaic detection on {report['images']} photos in {data}"))
    for col in ["detector", "condition", "mean IoU", "regions found (IoU >= 0.5)", "photos with a region", "s/image"]:
        table.add_column(col, justify="left" if col in ("detector", "condition") else "right")
    for name, by_condition in report["results"].items():
        for condition, r in by_condition.items():
            iou = f"{r['mean IoU']:.3f}" if "mean IoU" in r else ""
            found = f"{r['regions found']:.0%} of {r['regions']}" if "regions" in r else ""
            table.add_row(name, condition, iou, found, f"{r['photos with a region']:.0%}", f"{r['s/image']:.3f}")
    Console().print(table)
    write_report(report, json_out)


@app.command()
def mosaic(
    inputs: Path = typer.Argument(..., help="An image, a folder of images, or a film. " + VIDEO_HELP),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, folder (same file names), or film. PNG keeps the pixels outside the region exact; JPEG does not."),
    box: list[str] = typer.Option(None, help="Region X,Y,W,H in pixels (repeat for several)."),
    mask: Path = typer.Option(None, help="Mask image of the image's size (white = region), or a folder of masks named like the inputs."),
    locate: str = typer.Option(None, help="cam or cam:CLASS: the box a classifier's activation map points at (films: on the first frame, then tracked); faces or plates: every face or number plate OpenCV's Haar cascades find (films: every 5 frames, tracked between)."),
    mask_video: Path = typer.Option(None, help="Films: a mask clip of the same length (white = region)."),
    track: list[str] = typer.Option(None, help="Films: a box X,Y,W,H on the first frame, followed through the film (repeat for several)."),
    block: int = typer.Option(16, help="Cell side in pixels; a block as large as the region leaves one flat colour."),
    align: str = typer.Option("region", help="Grid starts at the region's corner (region) or the image's (image)."),
    max_pixels: int = MAX_PIXELS,
    regions_json: Path = typer.Option(None, help="Films: also write every frame's boxes here."),
    codec: str = _codec_option(),
    crf: int = _crf_option(),
) -> None:
    """Hide a region behind a mosaic (e.g. to anonymise); with none of --box, --mask, --locate, the whole image.

    Only the region changes. Small blocks are weak anonymisation: restoration models, ours included, invent plausible detail from them; use large blocks for faces and plates.
    """
    from retouch.video import is_film

    set_max_pixels(max_pixels)
    boxes = _boxes(box)
    if is_film(inputs, output):
        from retouch.locate.temporal import region_source
        from retouch.tasks.hide import mosaic_video

        tracked, found = _boxes(track), None
        if locate in ("faces", "plates"):
            found = locate
        elif locate is not None:
            from retouch.tasks.hide import located_region
            from retouch.tasks.restore import region_boxes
            from retouch.video import read_frames

            first = next(read_frames(inputs))
            tracked = region_boxes(located_region(first, locate))
        regions = region_source(boxes, mask, mask_video, tracked, found=found)
        frames = mosaic_video(inputs, output, regions, block, align, codec, crf, regions_json)
        typer.echo(f"{output}  ({len(frames)} frames)")
        return
    if mask_video or track or regions_json:
        raise RetouchError("--mask-video, --track and --regions-json are for films; pass an mp4, mkv, mov, webm, avi or gif.")
    from retouch.tasks.hide import mosaic_files

    def line(result: tuple[Path, list | None]) -> str:
        path, found = result
        nothing = f"no {locate} found: nothing hidden, check by eye" if locate in ("faces", "plates") else "empty mask"
        where = "whole image" if found is None else ", ".join("x={} y={} w={} h={}".format(*b) for b in found) or nothing
        return f"{path}  ({where})"

    _report(lambda: mosaic_files(inputs, output, boxes, mask, locate, block, align), line)


data_app = typer.Typer(no_args_is_help=True, help="Build training data.")
app.add_typer(data_app, name="data", help="Build training data: aligned pairs from clean photos; test clips.")


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


@data_app.command("video")
def data_video(
    src: Path = typer.Argument(..., help="Folder of clean photos (e.g. ../shared/data/bsds500/val)."),
    dst: Path = typer.Argument(..., help="Output folder: one clip per photo, named like it."),
    seconds: float = typer.Option(2.0, help="Length of each clip."),
    size: str = typer.Option("320x240", help="Frame size WxH."),
    fps: int = typer.Option(25, help="Frames per second."),
    zoom: float = typer.Option(1.25, help="How far the camera zooms in over the clip."),
    limit: int = typer.Option(None, help="Only the first N photos."),
    ext: str = typer.Option(".mp4", help="Container: .mp4, .mkv, .mov, .webm, .avi."),
    codec: str = _codec_option(),
    crf: int = _crf_option(),
    seed: int = typer.Option(0, help="Same seed, same clips."),
) -> None:
    """Short clips (H.264 by default) of a camera panning and zooming over real photos, with a sine tone: clean ground truth for films."""
    from retouch.tasks.clips import make_clips
    from retouch.video import DEFAULT_CRF

    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise RetouchError(f"--size {size!r} must be WxH, e.g. 320x240.") from None
    written = make_clips(src, dst, seconds, (w, h), fps, zoom, limit, codec, DEFAULT_CRF if crf is None else crf, ext, seed)
    typer.echo(f"{len(written)} clips in {dst}")


@app.command()
def locate(
    image: Path = typer.Argument(..., help="A photo."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the heat map blended over the photo (PNG, JPEG, ...)."),
    cls: str = typer.Option(None, "--class", help="Class name or index to locate (default: the class the model predicts)."),
    model: str = typer.Option("cifar10-classifier", help="Classifier: shipped name, weights file, or run folder."),
    max_pixels: int = MAX_PIXELS,
) -> None:
    """Where a classifier sees a class (class activation map): writes the overlay, prints the box."""
    from retouch.locate.cam import locate_file

    set_max_pixels(max_pixels)
    (x, y, w, h), name = locate_file(image, output, model, cls)
    typer.echo(f"class: {name}  box: x={x} y={y} w={w} h={h}")
    typer.echo(f"wrote {output}")


@app.command()
def bench(
    quick: bool = typer.Option(False, help="CI-sized runs (small images and networks): seconds, not minutes."),
    json_out: Path = typer.Option(None, "--json", help="Also write the report here."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    min_ratio: float = typer.Option(0.0, help="Exit 1 when a case's ours/reference ratio is below this (e.g. 1); cases whose two settings are the same here (fp32 inference on a CPU without bf16 units) are not judged: their ratio is timing noise."),
    case: list[str] = typer.Option(None, help="Only the cases whose names contain this word (repeat for several), e.g. film."),
    video: Path = typer.Option(None, help="Instead: time `retouch mosaic --box` on this clip against a plain decode and re-encode of it, in one run."),
    box: str = typer.Option(None, help="With --video: the box X,Y,W,H (default: a centred 128 px square)."),
) -> None:
    """Time the reference configuration and our fast setting on the same networks, in one run."""
    from rich.table import Table

    from retouch.bench import film_overhead, run_bench
    from retouch.evaluate import write_report

    if video is not None:
        from retouch.tasks.restore import parse_box
        from retouch.video import probe

        info = probe(video)
        square = parse_box(box) if box else ((info.width - 128) // 2, (info.height - 128) // 2, 128, 128)
        r = film_overhead(video, square)
        typer.echo(f"{r['frames']} frames: plain re-encode {r['reencode_fps']:.2f} fps, mosaic --box {r['mosaic_fps']:.2f} fps, "
                   f"ratio {r['ratio']:.2f}x")
        write_report(r, json_out)
        return
    report = run_bench(quick=quick, device=device, only=case)
    table = Table(title=f"retouch bench on {report['device']}, torch {report['torch']}{' (quick)' if quick else ''}")
    for col in ["case", "reference", "ours", "ratio", "GFLOP/s ref (% of peak)", "GFLOP/s ours (% of peak)"]:
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in report["rows"]:
        table.add_row(r["case"], f"{r['reference']:.2f} {r['unit']} ({r['reference_setting']})",
                      f"{r['ours']:.2f} {r['unit']} ({r['ours_setting']})", f"{r['ratio']:.2f}x",
                      f"{r['reference_gflops']:.1f} ({r['reference_share']:.0%})", f"{r['ours_gflops']:.1f} ({r['ours_share']:.0%})")
    Console().print(table)
    typer.echo("measured peak: " + ", ".join(f"{dt} {p['peak']:.1f} GFLOP/s (matmul {p['matmul']:.1f}, conv 3x3 {p['conv3x3']:.1f})"
                                             for dt, p in report["peak_gflops"].items()))
    write_report(report, json_out)
    slow = [r["case"] for r in report["rows"] if r["ratio"] < min_ratio and r["ours_setting"] != r["reference_setting"]]
    if slow:
        err.print(f"slower than {min_ratio}x the reference: {', '.join(slow)}")
        raise typer.Exit(1)


@app.command()
def tune(
    method: str = typer.Argument("pix2pix", help="pix2pix | cyclegan: the reference's networks at --ngf."),
    size: int = typer.Option(256, help="Image side trained on."),
    ngf: int = typer.Option(64, help="Generator (and discriminator) width."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    precision: str = typer.Option("auto", help="auto | fp32 | bf16 | fp16."),
    no_compile: bool = typer.Option(False, "--no-compile", help="Do not try compiling (it costs a minute or more)."),
    clear: bool = typer.Option(False, "--clear", help="Forget every measured choice (training settings and backends) and stop."),
) -> None:
    """Measure (once per machine) the batch and compiling that train METHOD fastest per image."""
    from retouch.device import pick_device, pick_precision
    from retouch.measured import cache_file, clear as forget
    from retouch.tune import training_setting

    if clear:
        removed = forget()
        typer.echo("removed " + ", ".join(map(str, removed)) if removed else "no measured choices kept")
        return
    if method not in ("pix2pix", "cyclegan"):
        raise RetouchError(f"tune measures pix2pix or cyclegan, not {method!r}.")
    dev = pick_device(device)
    dtype = pick_precision(precision, dev)
    got = training_setting(method, size, ngf, dev, dtype, try_compile=not no_compile)
    for setting, rate in got["images_per_s"].items():
        typer.echo(f"{setting}: {rate:.3f} images/s")
    typer.echo(f"fastest: --batch-size {got['batch']}" + (" --compile" if got["compile"] else "") +
               f" (kept in {cache_file('training')}); with a larger batch than your config's, raise the learning rate by the square root of the ratio")


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
    video: bool = typer.Option(False, "--video", help="Also a film: a tracked box hidden and restored, added to the page."),
) -> None:
    """Locate an object with CAM, hide it behind a mosaic, restore it with the shipped model, and measure."""
    from retouch.demo import run_demo, run_video_demo

    report = run_demo(out, block=block, model=model)
    if video:
        r = run_video_demo(out, block=block, model=model)
        for name, row in r["rows"].items():
            typer.echo(f"film {name:>18}: PSNR {row['psnr_in_boxes']:.2f} dB inside the tracked boxes ({r['frames']} frames)")
    for name, photo in report["photos"].items():
        for label, m in photo["inside_box"].items():
            typer.echo(f"{name:>8} ({photo['class']}) {label:>8}: PSNR {m['psnr_rgb']:.2f} dB  SSIM {m['ssim_rgb']:.4f}  (inside the square)")
    typer.echo(f"open {out / 'index.html'}")
