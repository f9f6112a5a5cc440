"""Tools: weights from other projects, ONNX export, and the structured-generation models' verbs."""

from __future__ import annotations

from pathlib import Path

import typer

from retouch.cli.options import Arch, Panel, written
from retouch.errors import RetouchError

PANEL = Panel("Tools")


@PANEL.command()
def convert(
    src: Path = typer.Argument(..., help="A reference .pth: pix2pix/CycleGAN latest_net_G*.pth, BasicSR MSRResNet, ESRGAN/Real-ESRGAN (RRDBNet, SRVGGNetCompact), BigGAN-PyTorch G_ema.pth."),
    dst: Path = typer.Argument(..., help="The .safetensors file to write (a BigGAN's D.pth beside SRC goes to DST-discriminator.safetensors)."),
    arch: str = typer.Option(None, help="Architecture when the keys leave it open: NAME[:key=value,...], e.g. unet_256:norm=instance (docs/howto/translate.md)."),
    task: str = typer.Option(None, help="translate | upscale: the verb the weights serve (default: translate for pix2pix/CycleGAN, upscale for MSRResNet, ESRGAN and Real-ESRGAN)."),
) -> None:
    """Write a reference implementation's .pth as retouch weights, the architecture in the metadata."""
    from retouch.models.foreign import convert as convert_weights

    if task is not None and task not in ("translate", "upscale"):
        raise RetouchError(f"--task {task!r} is not one of translate, upscale.")
    for path in convert_weights(src, dst, arch, task):
        typer.echo(path)


@PANEL.command()
def export(
    model: str = typer.Argument(..., help="Shipped model name, weights .safetensors, run folder, or reference .pth."),
    output: Path = typer.Option(..., "-o", "--output", help="The .onnx file to write."),
    opset: int = typer.Option(17, help="ONNX opset version (the dynamo exporter uses at least 18)."),
    direction: str = typer.Option("AtoB", help="AtoB or BtoA: which generator of an unpaired model."),
    arch: Arch = None,
    dynamo: bool = typer.Option(False, "--dynamo", help="Use torch's torch.export-based exporter (needs onnxscript; slower) instead of the TorchScript one."),
) -> None:
    """Write a model's inference network as ONNX: NCHW float32 in [-1, 1], dynamic batch, height and width."""
    from retouch.models.export import export_onnx

    typer.echo(export_onnx(model, output, opset, direction, arch, dynamo))


@PANEL.command()
def sample(
    model: str = typer.Argument(..., help="A CoGAN run folder or its weights file."),
    n: int = typer.Option(16, "-n", help="Pairs to draw."),
    output: Path = typer.Option(..., "-o", "--output", help="Sheet to write: one row per draw, domain A | domain B."),
    seed: int = typer.Option(0, help="Seed of the noise: the same seed draws the same pairs."),
) -> None:
    """Pairs of corresponding images from one noise draw each (CoGAN): what its shared layers learnt without pairs."""
    from retouch.tasks.sample import sample_sheet

    with written() as show:
        show(sample_sheet(model, n, output, seed))


@PANEL.command()
def rerender(
    inputs: Path = typer.Argument(..., help="An object photo (centre-cropped to a square)."),
    output: Path = typer.Option(..., "-o", "--output", help="The re-render, at the model's size (32 px for CIFAR-10 runs)."),
    model: str = typer.Option("cifar10-tdgan", help="TD-GAN model: shipped name, a tdgan run folder or its weights file."),
    set_: list[str] = typer.Option(..., "--set", help="TAG=VALUE, repeatable: viewpoint=original|mirrored, rotation=0|90|180|270, "
                                                      "lighting=dark|normal|bright, temperature=warm|neutral|cool."),
) -> None:
    """The object rendered again with the tags asked for changed and the rest kept (TD-GAN)."""
    from retouch.tasks.rerender import rerender_file

    with written() as show:
        show(rerender_file(inputs, output, model, set_))


@PANEL.command()
def complete(
    patches: list[Path] = typer.Argument(..., help="One or more patch images of one object (any order, no positions)."),
    output: Path = typer.Option(..., "-o", "--output", help="Completion | placement (the completion lit where the patches go)."),
    model: str = typer.Option("cifar10-keypatch", help="Key-patch model: shipped name, a keypatch run folder or its weights file."),
    patch: int = typer.Option(8, help="Side the model's patches were cut at in training (data.region_size); each patch is resized to it."),
    seed: int = typer.Option(0, help="Seed of the noise: another seed, another completion."),
) -> None:
    """A whole object drawn from a few key patches of it, with where the model placed them (Lee et al.)."""
    from retouch.tasks.complete import complete_files

    with written() as show:
        show(complete_files(patches, output, model, patch, seed))
