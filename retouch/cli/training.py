"""Training: models, the data they learn from, and the settings that train fastest here."""

from __future__ import annotations

from pathlib import Path

import typer

from retouch.cli.options import DEVICE, FILM_CRF, Codec, Crf, Device, Panel, Precision
from retouch.errors import RetouchError

PANEL = Panel("Training")
DATA = typer.Typer(no_args_is_help=True, help="Build training data: aligned pairs from clean photos; test clips.")


@PANEL.command()
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
    device: Device = None,
    precision: Precision = None,
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


@DATA.command("pairs")
def data_pairs(
    src: Path = typer.Argument(..., help="Folder of clean photos."),
    dst: Path = typer.Argument(..., help="Output folder: A/ (degraded), B/ (clean), mask/ (where), PNG files."),
    degrade: str = typer.Option(..., help="Degradation spec, e.g. mosaic:block=8-16 or grey+jpeg:quality=40-70 (docs/howto/train.md#degradations)."),
    locate: str = typer.Option("random", help="Region: random (a box), full (the whole image) or cam[:CLASS]."),
    size_range: str = typer.Option("32-128", help="Side range of the random box, in pixels."),
    seed: int = typer.Option(0, help="Same seed, same files."),
) -> None:
    """Write an aligned paired dataset from clean photos, readable by `retouch train --data DST`."""
    from retouch.degrade import parse_range
    from retouch.tasks.pairs import build_pairs

    written = build_pairs(src, dst, degrade, locate, parse_range(size_range, "--size-range"), seed)
    typer.echo(f"{len(written)} pairs in {dst}")


@DATA.command("video")
def data_video(
    src: Path = typer.Argument(..., help="Folder of clean photos (e.g. ../shared/data/bsds500/val)."),
    dst: Path = typer.Argument(..., help="Output folder: one clip per photo, named like it."),
    seconds: float = typer.Option(2.0, help="Length of each clip."),
    size: str = typer.Option("320x240", help="Frame size WxH."),
    fps: int = typer.Option(25, help="Frames per second."),
    zoom: float = typer.Option(1.25, help="How far the camera zooms in over the clip."),
    limit: int = typer.Option(None, help="Only the first N photos."),
    ext: str = typer.Option(".mp4", help="Container: .mp4, .mkv, .mov, .webm, .avi."),
    codec: Codec = None,
    crf: Crf = FILM_CRF,
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


@PANEL.command()
def tune(
    method: str = typer.Argument("pix2pix", help="pix2pix | cyclegan: the reference's networks at --ngf."),
    size: int = typer.Option(256, help="Image side trained on."),
    ngf: int = typer.Option(64, help="Generator (and discriminator) width."),
    device: Device = DEVICE,
    precision: str = typer.Option("auto", help="auto | fp32 | bf16 | fp16."),
    no_compile: bool = typer.Option(False, "--no-compile", help="Do not try compiling (it costs a minute or more)."),
    clear: bool = typer.Option(False, "--clear", help="Forget every measured choice (training settings and backends) and stop."),
) -> None:
    """Measure (once per machine) the batch and compiling that train METHOD fastest per image."""
    from retouch.device import pick_device, pick_precision
    from retouch.measured import cache_file
    from retouch.measured import clear as forget
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
