"""The everyday jobs: hide and restore regions, upscale, repair, colourise, translate, the prior, the web page."""

from __future__ import annotations

from pathlib import Path

import typer

from retouch.cli.options import (
    DEVICE,
    MAX_PIXELS,
    PRECISION,
    Arch,
    Boxes,
    Device,
    Film,
    Inputs,
    MaskVideo,
    MaxPixels,
    Model,
    Output,
    Panel,
    Precision,
    RegionsJson,
    Track,
    parse_boxes,
    written,
)
from retouch.defaults import FACE_CELLS, FACE_EVERY
from retouch.errors import RetouchError
from retouch.limits import set_max_pixels

PANEL = Panel("Everyday jobs")


@PANEL.command()
def anonymize(
    inputs: Inputs,
    output: Output,
    what: str = typer.Option("faces", help="faces, plates, or faces,plates: what to hide (faces: CenterFace; plates: OpenCV's cascade)."),
    style: str = typer.Option("mosaic", help="mosaic (cells sized to each region), blur or solid (black)."),
    cells: int = typer.Option(FACE_CELLS, help="mosaic: cells across a region's longer side; fewer hide more."),
    threshold: float = typer.Option(0.2, help="Face detector score a face must reach (lower finds more, and more false faces)."),
    every: int = typer.Option(FACE_EVERY, help="Films: run the face detector on every N-th frame; the face tracks fill the frames between.", rich_help_panel="Films"),
    boxes_json: Path = typer.Option(None, help="Films: render these boxes instead of detecting (a --regions-json file, reviewed and edited).", rich_help_panel="Films"),
    regions_json: RegionsJson = None,
    max_pixels: MaxPixels = MAX_PIXELS,
    *,
    film: Film,
) -> None:
    """Hide every face (and plate) in photos, folders or films, so that restoration cannot bring them back.

    Films: faces are found on every frame, tracked across missed frames, never across a scene cut; write the boxes with --regions-json, check and edit them, and render them with --boxes-json.
    """
    from retouch.tasks.anonymize import (
        anonymize_files,
        anonymize_video,
        check_style,
        parse_what,
    )
    from retouch.video import is_film

    set_max_pixels(max_pixels)
    kinds = parse_what(what)
    check_style(style, cells)
    if is_film(inputs, output):
        frames = anonymize_video(inputs, output, kinds, style, cells, threshold, boxes_json, regions_json, film.codec, film.crf, every)
        typer.echo(f"{output}  ({len(frames)} frames, {sum(map(bool, frames))} with regions)")
        return
    if regions_json or boxes_json:
        raise RetouchError("--regions-json and --boxes-json are for films; pass an mp4, mkv, mov, webm, avi or gif.")

    def line(result: tuple[Path, list]) -> str:
        path, found = result
        return f"{path}  ({', '.join('x={} y={} w={} h={}'.format(*b) for b in found) or f'no {what} found: nothing hidden, check by eye'})"

    with written(line) as show:
        show(anonymize_files(inputs, output, kinds, style, cells, threshold))


@PANEL.command()
def mosaic(
    inputs: Inputs,
    output: Path = typer.Option(..., "-o", "--output", help="Output image, folder (same file names), or film. PNG keeps the pixels outside the region exact; JPEG does not."),
    box: Boxes = None,
    mask: Path = typer.Option(None, help="Mask image of the image's size (white = region), or a folder of masks named like the inputs."),
    locate: str = typer.Option(None, help="cam or cam:CLASS: the box a classifier's activation map points at (films: on the first frame, then tracked); faces: every face CenterFace finds (films: every frame, tracked; retouch anonymize does more); haar-faces or plates: OpenCV's Haar cascades (films: every 5 frames, tracked between)."),
    mask_video: MaskVideo = None,
    track: Track = None,
    block: int = typer.Option(16, help="Cell side in pixels; a block as large as the region leaves one flat colour."),
    align: str = typer.Option("region", help="Grid starts at the region's corner (region) or the image's (image)."),
    max_pixels: MaxPixels = MAX_PIXELS,
    regions_json: RegionsJson = None,
    *,
    film: Film,
) -> None:
    """Hide a region behind a mosaic (e.g. to anonymise); with none of --box, --mask, --locate, the whole image.

    Only the region changes. Small blocks are weak anonymisation: restoration models, ours included, invent plausible detail from them; use large blocks for faces and plates.
    """
    from retouch.video import is_film

    set_max_pixels(max_pixels)
    boxes = parse_boxes(box)
    if is_film(inputs, output):
        from retouch.film.tracks import region_source
        from retouch.tasks.hide import mosaic_video

        tracked, found = parse_boxes(track), None
        if locate in ("faces", "haar-faces", "plates"):
            found = locate
        elif locate is not None:
            from retouch.geometry import region_boxes
            from retouch.tasks.hide import located_region
            from retouch.video import read_frames

            first = next(read_frames(inputs))
            tracked = region_boxes(located_region(first, locate))
        regions = region_source(boxes, mask, mask_video, tracked, found=found)
        frames = mosaic_video(inputs, output, regions, block, align, film.codec, film.crf, regions_json)
        typer.echo(f"{output}  ({len(frames)} frames)")
        return
    if mask_video or track or regions_json:
        raise RetouchError("--mask-video, --track and --regions-json are for films; pass an mp4, mkv, mov, webm, avi or gif.")
    from retouch.tasks.hide import mosaic_files

    def line(result: tuple[Path, list | None]) -> str:
        path, found = result
        nothing = f"no {locate} found: nothing hidden, check by eye" if locate in ("faces", "haar-faces", "plates") else "empty mask"
        where = "whole image" if found is None else ", ".join("x={} y={} w={} h={}".format(*b) for b in found) or nothing
        return f"{path}  ({where})"

    with written(line) as show:
        show(mosaic_files(inputs, output, boxes, mask, locate, block, align))


@PANEL.command()
def demosaic(
    inputs: Inputs,
    output: Path = typer.Option(..., "-o", "--output", help="Output image, folder (same file names), or film. PNG keeps the untouched pixels exact."),
    box: Boxes = None,
    mask: Path = typer.Option(None, help="Mask image (white = region), or a folder of masks named like the inputs."),
    detect: bool = typer.Option(False, help="Find every mosaicked area automatically: in images the grid fit, and the --detector network where the grid does not hold; in films, periodic cell edges found in every frame and tracked."),
    mask_video: MaskVideo = None,
    track: Track = None,
    boxes_json: Path = typer.Option(None, help="Films: boxes for every frame, as `retouch mosaic --regions-json` wrote them."),
    detector: str = typer.Option("mosaic-detect", help="Segmenter that --detect adds to the grid fit (name, weights file, run folder), or none for the grid alone."),
    model: str = typer.Option("demosaic", help="Shipped model name, weights .safetensors, or run folder."),
    consistent: bool = typer.Option(True, help="Keep the cell colours the mosaic shows: exactly on lossless mosaics, softly on recompressed ones."),
    ensemble: int = typer.Option(None, help="Average the model over this many flipped views (1, 2, 4 or 8). Default: 8 for L1-trained models (demosaic-l1) on images; 1 for GANs (demosaic, whose detail it would blur) and in films."),
    temporal: bool = typer.Option(True, help="Films: blend each restored region with the previous one, aligned by the camera's motion (less flicker)."),
    regions_json: RegionsJson = None,
    *,
    run: Model,
    film: Film,
) -> None:
    """Restore mosaicked regions; every pixel outside the region is returned bit for bit (in films: up to the codec).

    The restored pixels are invented by the model, not recovered: the mosaic destroyed them.
    """
    from retouch.video import is_film

    set_max_pixels(run.max_pixels)
    boxes = parse_boxes(box)
    if is_film(inputs, output):
        from retouch.film.tracks import region_source
        from retouch.tasks.restore import demosaic_video

        regions = region_source(boxes, mask, mask_video, parse_boxes(track), detect, boxes_json)
        frames = demosaic_video(inputs, output, regions, model, run.device, run.precision, consistent, temporal, film.codec, film.crf, regions_json,
                                ensemble=ensemble or 1, backend=run.backend)
        typer.echo(f"{output}  ({len(frames)} frames, {sum(map(bool, frames))} with regions)")
        return
    if mask_video or track or regions_json or boxes_json:
        raise RetouchError("--mask-video, --track, --regions-json and --boxes-json are for films; pass an mp4, mkv, mov, webm, avi or gif.")
    from retouch.tasks.restore import demosaic_files

    def line(result: tuple[Path, list]) -> str:
        path, found = result
        where = ", ".join("x={} y={} w={} h={}".format(*b) for b in found)
        return f"{path}  ({where or ('no mosaic region found: written unchanged' if detect else 'empty region: written unchanged')})"

    with written(line) as show:
        show(demosaic_files(inputs, output, boxes, mask, detect, model, run.device, run.precision, consistent,
                            detector=None if detector == "none" else detector, ensemble=ensemble, backend=run.backend))


@PANEL.command()
def upscale(
    inputs: Inputs,
    output: Output,
    model: str = typer.Option("srresnet-x4", help="Super-resolution model (shipped name: srresnet-x4 for PSNR, srgan-x4 for sharpness; weights .safetensors, run folder, or a .pth of BasicSR MSRResNet, ESRGAN/Real-ESRGAN RRDBNet or Real-ESRGAN SRVGGNetCompact), or bicubic."),
    scale: int = typer.Option(None, help="Upscaling factor: the model's own (checked when given); bicubic's, default 4."),
    arch: Arch = None,
    *,
    run: Model,
    film: Film,
) -> None:
    """Super-resolve images of any size (tiled), or films: each output is scale times its input's width and height.

    The added detail is the model's invention, not a recovery of what the camera missed.
    """
    from retouch.tasks.upscale import upscale_files

    set_max_pixels(run.max_pixels)
    with written() as show:
        show(upscale_files(inputs, output, model, scale, run.device, run.precision, codec=film.codec, crf=film.crf, arch=arch, backend=run.backend))


@PANEL.command()
def repair(
    inputs: Inputs,
    output: Output,
    scale: int = typer.Option(1, help="1, 2 or 4: enlarge (bicubic) first and repair the result, for small shared copies."),
    model: str = typer.Option("repair", help="Repair model: shipped name, weights .safetensors, or a run folder."),
    *,
    run: Model,
    film: Film,
) -> None:
    """Repair blur, noise, JPEG blocking and downscaling in photos or films, in one pass.

    The detail it puts back is the model's best guess, not the photo's lost detail.
    """
    from retouch.tasks.repair import repair_files

    set_max_pixels(run.max_pixels)
    with written() as show:
        show(repair_files(inputs, output, model, scale, run.device, run.precision, codec=film.codec, crf=film.crf, backend=run.backend))


@PANEL.command()
def colorize(
    inputs: Inputs,
    output: Output,
    model: str = typer.Option("colorize", help="Colourisation model: colorize (shipped), weights .safetensors or a run folder trained with chroma: true (configs/colorize_photos.yaml)."),
    saturation: float = typer.Option(1.0, help="Multiply the model's chrominance: 1 is closest to true colours on average, 1.5 more vivid and less often right, 0 grey."),
    *,
    run: Model,
    film: Film,
) -> None:
    """Colour for greyscale photos or films; the lightness stays exactly the input's (a colour input is made grey first).

    The colours are the model's guess: plausible at best, never a recovery of the originals.
    """
    from retouch.tasks.colorize import colorize_files

    set_max_pixels(run.max_pixels)
    with written() as show:
        show(colorize_files(inputs, output, model, run.device, run.precision, codec=film.codec, crf=film.crf, backend=run.backend,
                            saturation=saturation))


@PANEL.command()
def translate(
    inputs: Inputs,
    output: Output,
    model: str = typer.Option(..., help="Shipped model name, weights .safetensors, run folder, or a pix2pix/CycleGAN latest_net_G.pth."),
    direction: str = typer.Option("AtoB", help="AtoB or BtoA: which generator of an unpaired model (horse2zebra: AtoB = horse to zebra)."),
    arch: Arch = None,
    *,
    run: Model,
    film: Film,
) -> None:
    """Translate images of any size, or every frame of a film, with an image-to-image model."""
    from retouch.tasks.translate import translate_files

    set_max_pixels(run.max_pixels)
    with written() as show:
        show(translate_files(inputs, output, model, run.device, run.precision, direction=direction, codec=film.codec,
                             crf=film.crf, arch=arch, backend=run.backend))


@PANEL.command()
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
    device: Device = DEVICE,
    precision: Precision = PRECISION,
    max_pixels: MaxPixels = MAX_PIXELS,
) -> None:
    """Restore or edit images with a deep generative prior (DGP): fit a GAN's latent and weights to each image.

    Whatever the degradation removed is the prior's invention, drawn from its training classes.
    """
    from retouch.prior.run import run_prior

    set_max_pixels(max_pixels)
    with written() as show:
        show(run_prior(task, inputs, output, second, mask, class_name, model, grey, scale, fit, steps_gif, seed, batch,
                                  device, precision))


@PANEL.command()
def locate(
    image: Path = typer.Argument(..., help="A photo."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the heat map blended over the photo (PNG, JPEG, ...)."),
    cls: str = typer.Option(None, "--class", help="Class name or index to locate (default: the class the model predicts)."),
    model: str = typer.Option("cifar10-classifier", help="Classifier: shipped name, weights file, or run folder."),
    max_pixels: MaxPixels = MAX_PIXELS,
) -> None:
    """Where a classifier sees a class (class activation map): writes the overlay, prints the box."""
    from retouch.locate.cam import locate_file

    set_max_pixels(max_pixels)
    (x, y, w, h), name = locate_file(image, output, model, cls)
    typer.echo(f"class: {name}  box: x={x} y={y} w={w} h={h}")
    typer.echo(f"wrote {output}")


@PANEL.command()
def studio(
    host: str = typer.Option("127.0.0.1", help="Address to bind: 127.0.0.1 keeps the page on this machine; 0.0.0.0 opens it to the network."),
    port: int = typer.Option(7860, help="Port to serve on."),
    device: Device = DEVICE,
    max_pixels: int = typer.Option(50_000_000, help="Largest upload accepted, in pixels (width x height)."),
) -> None:
    """A local web page for hiding, restoring, upscaling, translating and the prior (needs the studio extra)."""
    from retouch.studio import serve

    serve(host, port, device, max_pixels)


@PANEL.command()
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
