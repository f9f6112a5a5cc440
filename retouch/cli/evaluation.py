"""Evaluation: every benchmark of the results page, and the speed harness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from retouch.cli.options import (
    DEVICE,
    PRECISION,
    Device,
    JsonOut,
    Panel,
    Precision,
    err,
)
from retouch.errors import RetouchError

PANEL = Panel("Evaluation")


def _show(shown: Any, report: dict, path: Path | None) -> None:
    """Print `shown` (the part of the report a person reads) as JSON, then write the whole report where --json says."""
    typer.echo(json.dumps(shown, indent=2))
    _write(report, path)


def _write(report: dict, path: Path | None) -> None:
    """The report as JSON where --json says; the evaluate package (and torch) loads only here."""
    from retouch.evaluate import write_report

    write_report(report, path)


@PANEL.command("eval")
def evaluate_cmd(
    model: str = typer.Argument(..., help="Shipped model name, weights file, or run folder."),
    data: Path = typer.Option(..., help="Paired data folder (e.g. made by retouch data pairs), or labelled images for a classifier (the CIFAR-10 zip, or class folders)."),
    split: str = typer.Option("test", help="Subfolder to evaluate on, when present."),
    json_out: JsonOut = None,
    sheet: Path = typer.Option(None, help="Also write a PNG of input | output | target rows for the first pairs."),
    limit: int = typer.Option(None, help="Evaluate only the first N pairs (a classifier: N random images, seed 0)."),
    holdout: int = typer.Option(0, help="Score only the last N pairs of the split (natural name order), as held out by data.holdout in training."),
    device: Device = DEVICE,
) -> None:
    """PSNR/SSIM (RGB and Y) over a paired test set, next to the identity baseline; top-1 accuracy for a classifier."""
    from rich.table import Table

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
    _write(report, json_out)


@PANEL.command("eval-translation")
def eval_translation(
    model: str = typer.Argument(..., help="Unpaired (two-way) model: shipped name, weights file, or run folder."),
    data: Path = typer.Option(..., help="Folder of test images of the source domain (e.g. horse2zebra/testA)."),
    classifier: str = typer.Option(..., help="Domain classifier trained on both domains' training images."),
    direction: str = typer.Option("AtoB", help="AtoB or BtoA."),
    target: str = typer.Option(None, help="The classifier's class for the output domain (default: its 2nd for AtoB, 1st for BtoA)."),
    limit: int = typer.Option(None, help="Only the first N images."),
    sheet: Path = typer.Option(None, help="Also write a PNG of input | output | reconstruction rows (first 16)."),
    json_out: JsonOut = None,
    device: Device = DEVICE,
    size: int = typer.Option(None, help="Shrink test images to this short side first (a model trained on small crops, judged at its scale)."),
) -> None:
    """Share of translations a domain classifier calls the target domain (and of untouched inputs), and cycle PSNR."""
    from retouch.evaluate.translation import evaluate_translation

    r = evaluate_translation(model, data, classifier, direction, target, device, limit=limit, sheet=sheet, size=size)
    typer.echo(f"{r['images']} images, {direction}: called {r['target']}: inputs {r['target_share_inputs']:.1%}, "
               f"outputs {r['target_share_outputs']:.1%}; cycle PSNR {r['cycle_psnr']:.2f} dB, SSIM {r['cycle_ssim']:.4f}")
    _write(r, json_out)


@PANEL.command("eval-region")
def eval_region(
    models: list[str] = typer.Argument(..., help="Region-restoration models (names, weights files or run folders)."),
    data: Path = typer.Option(..., help="Folder of clean photos, e.g. ../shared/data/bsds500/val (BSD100)."),
    blocks: str = typer.Option("8,12,16", help="Mosaic block sizes, comma-separated."),
    box: int = typer.Option(128, help="Side of the centred square that is hidden and restored."),
    limit: int = typer.Option(None, help="Only the first N photos."),
    json_out: JsonOut = None,
    sheet: Path = typer.Option(None, help="Also write a PNG of crops: original | mosaic | bicubic | models."),
    consistent: bool = typer.Option(True, help="Project model outputs onto the observed cell colours (as `retouch demosaic` does)."),
    jpeg: int = typer.Option(None, help="Save the mosaicked photo as a JPEG of this quality first (e.g. 75), as people meet it."),
    ensemble: int = typer.Option(None, help="Average each model over this many flipped views (1, 2, 4 or 8). Default: what `retouch demosaic` does on images."),
    device: Device = DEVICE,
) -> None:
    """Demosaic quality inside a hidden square, next to the mosaic and bicubic baselines."""
    from rich.table import Table

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
    _write(report, json_out)


@PANEL.command("eval-detect")
def eval_detect(
    detectors: list[str] = typer.Argument(None, help="grid (the grid fit alone, the default) and/or segmenters that --detect adds to it (names such as mosaic-detect, weights files, run folders)."),
    data: Path = typer.Option(..., help="Folder of clean photos, e.g. ../shared/data/bsds500/val (BSD100)."),
    conditions: str = typer.Option(None, help="Comma-separated subset of: PNG, JPEG q90, JPEG q75, JPEG q50, rescaled 0.75x, rescaled 1.5x, two regions, mixed, clean photo."),
    limit: int = typer.Option(None, help="Only the first N photos."),
    seed: int = typer.Option(0, help="Boxes, blocks and offsets are drawn from it."),
    json_out: JsonOut = None,
) -> None:
    """Mosaic detection per condition (clean PNG, JPEG, rescaled, two regions, clean photos): IoU, regions found, false regions."""
    from rich.markup import escape
    from rich.table import Table

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
    _write(report, json_out)


@PANEL.command("eval-video")
def eval_video(
    clips: Path = typer.Argument(..., help="Folder of clean clips, e.g. made by `retouch data video ../shared/data/bsds500/val CLIPS`."),
    model: str = typer.Option("demosaic", help="Region-restoration model: shipped name, weights file or run folder."),
    box: int = typer.Option(96, help="Side of the centred square hidden in every frame."),
    block: int = typer.Option(8, help="Mosaic block size."),
    blend: float = typer.Option(0.5, help="The temporal method's weight of the previous (aligned) result."),
    limit: int = typer.Option(None, help="Only the first N clips."),
    detect: bool = typer.Option(False, help="Instead: the share of frames where --detect finds the square after H.264 encoding."),
    json_out: JsonOut = None,
    device: Device = DEVICE,
) -> None:
    """PSNR and flicker (Lai et al.'s warping error beyond the clean film's) inside a hidden square: per-frame vs temporal restoration."""
    from rich.markup import escape
    from rich.table import Table

    from retouch.evaluate.video import evaluate_video

    if detect:
        from retouch.evaluate.video import detect_hit_rate

        r = detect_hit_rate(clips, box, block, limit=limit)
        typer.echo(f"--detect on {r['frames']} H.264 (crf {r['crf']}) frames of {r['clips']} clips, block {block}: "
                   f"found (IoU >= 0.5) in {r['hit_rate']:.1%}, false alarms in {r['false_alarm_frames']:.1%} of frames")
        _write(r, json_out)
        return
    report = evaluate_video(clips, model, box, block, blend, limit, device)
    table = Table(title=escape(f"{model} inside a {box}px square, block {block}, {report['n']} clips in {clips}"))
    for col in ["method", "PSNR (dB)", "flicker (warping error x1e-3)"]:
        table.add_column(col, justify="left" if col == "method" else "right")
    for name, m in report["mean"].items():
        table.add_row(name, f"{m['psnr']:.2f}", f"{m['flicker'] * 1e3:.3f}")
    Console().print(table)
    typer.echo(f"temporal vs per-frame: {report['flicker_reduction']:.0%} less flicker, {report['psnr_change_db']:+.2f} dB PSNR")
    _write(report, json_out)


@PANEL.command("eval-sr")
def eval_sr(
    models: list[str] = typer.Argument(None, help="Super-resolution models (names, weights files, run folders); bicubic is always a row."),
    sets: str = typer.Option("Set5,Set14,BSD100,Kodak24", help="Comma-separated benchmarks (Set5, Set14, BSD100, Kodak24) or folders of HR images."),
    data: Path = typer.Option(Path("../shared/data"), help="Where the benchmarks are (sr-bench/, bsds500/val for BSD100)."),
    scale: int = typer.Option(None, help="Upscaling factor: the models' own (checked when given); 4 with bicubic alone."),
    limit: int = typer.Option(None, help="Only the first N images of each set."),
    json_out: JsonOut = None,
    device: Device = DEVICE,
) -> None:
    """PSNR/SSIM on the Y channel (BT.601, border of `scale` px cut, HR modcropped), as SR papers report them."""
    from rich.table import Table

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
    _write(report, json_out)


@PANEL.command("eval-colorize")
def eval_colorize(
    model: str = typer.Argument("colorize", help="Colourisation model (shipped name, weights file or run folder)."),
    classifier: str = typer.Option("cifar10-classifier", help="Classifier whose accuracy on CIFAR-10 colourisations is reported."),
    cifar: Path = typer.Option(Path("../shared/data/cifar10.zip"), help="The CIFAR-10 zip (its test split is used)."),
    bsd: Path = typer.Option(Path("../shared/data/bsds500/val"), help="Colour photos for PSNR/SSIM/colourfulness (BSD100)."),
    per_class: int = typer.Option(100, help="CIFAR-10 test images per class."),
    device: Device = "cpu",
    sheet: Path = typer.Option(None, help="Also write a PNG of 16 photos: grey | colorize | original."),
    json_out: JsonOut = None,
) -> None:
    """Colourisation against grey: classifier accuracy on CIFAR-10, PSNR/SSIM and colourfulness on BSD100 (docs/benchmarks.md)."""
    from retouch.evaluate.colorize import evaluate_colorize

    report = evaluate_colorize(model, classifier, cifar, bsd, per_class, device, sheet, log=typer.echo)
    _show({k: v for k, v in report.items() if k in ("cifar_accuracy", "bsd100")}, report, json_out)


@PANEL.command("eval-repair")
def eval_repair(
    model: str = typer.Argument("repair", help="Repair model (shipped name, weights file or run folder)."),
    data: Path = typer.Option(Path("../shared/data/bsds500/val"), help="Clean photos (BSD100; Kodak24 for 512 px photos)."),
    limit: int = typer.Option(0, help="Only the first N photos (0 = all)."),
    device: Device = "cpu",
    sheet: Path = typer.Option(None, help="Also write a PNG of 4 photos, medium chain: damaged | OpenCV | repair | clean."),
    json_out: JsonOut = None,
) -> None:
    """repair against OpenCV's non-local means on four fixed damage chains (docs/benchmarks.md)."""
    from retouch.evaluate.repair import evaluate_repair

    report = evaluate_repair(model, data, limit, device, sheet, log=typer.echo)
    _show(report["rows"], report, json_out)


@PANEL.command("eval-prior")
def eval_prior(
    model: str = typer.Argument(..., help="Generative prior: shipped name, weights file, or run folder."),
    classifier: str = typer.Option("cifar10-classifier", help="Classifier of the same classes, trained on real images."),
    per_class: int = typer.Option(100, help="Samples per class (fixed latents, seed 0)."),
    sheet: Path = typer.Option(None, help="Also write a PNG: one row of 10 samples per class."),
    json_out: JsonOut = None,
    device: Device = "cpu",
) -> None:
    """Share of a class-conditional prior's samples that a classifier assigns to the class asked for."""
    from retouch.evaluate.prior import evaluate_prior

    r = evaluate_prior(model, classifier, per_class, device, sheet=sheet)
    typer.echo("  ".join(f"{k} {v:.0%}" for k, v in r["per_class_share"].items()) + f"\nall classes: {r['share']:.1%}")
    _write(r, json_out)


@PANEL.command("eval-dgp")
def eval_dgp(
    model: str = typer.Argument("cifar10-prior", help="Generative prior with its discriminator."),
    classifier: str = typer.Option("cifar10-classifier", help="Classifier for the colourisation and defence rows."),
    data: Path = typer.Option(Path("../shared/data/cifar10.zip"), help="The CIFAR-10 zip (its test split is used)."),
    per_class: int = typer.Option(20, help="Test images per class."),
    ablation_per_class: int = typer.Option(4, help="Images per class for the ablation rows."),
    batch: int = typer.Option(8, help="Images fitted at once."),
    precision: Precision = PRECISION,
    sheet: Path = typer.Option(None, help="Also write a PNG: one test image per class through every row."),
    json_out: JsonOut = None,
    rows: str = typer.Option("reconstruct,inpaint,upscale,colorize,defend",
                             help="Rows to run, comma-separated (inpaint includes its ablation), e.g. colorize alone on 1,000 images."),
) -> None:
    """DGP against its baselines on CIFAR-10 test images (the table in docs/benchmarks.md); CPU."""
    import torch

    from retouch.device import pick_precision
    from retouch.evaluate.dgp import evaluate_dgp

    dtype = pick_precision(precision, torch.device("cpu"))
    report = evaluate_dgp(model, classifier, data, per_class, batch, ablation_per_class=ablation_per_class, dtype=dtype,
                          sheet=sheet, log=typer.echo, rows=tuple(r.strip() for r in rows.split(",") if r.strip()))
    report["precision"] = str(dtype).removeprefix("torch.")
    _show(report["rows"], report, json_out)


@PANEL.command("eval-pairs")
def eval_pairs(
    model: str = typer.Argument(..., help="A CoGAN run (or weights) trained with a degradation as domain B."),
    n: int = typer.Option(1000, "-n", help="Pairs to draw."),
    seed: int = typer.Option(0, help="Seed of the noise."),
    json_out: JsonOut = None,
) -> None:
    """How far one draw's pair corresponds: PSNR/SSIM of degrade(A) against B of the same draw, and of another draw."""
    from retouch.evaluate.pairs import evaluate_pairs

    r = evaluate_pairs(model, n, seed)
    typer.echo(f"{r['pairs']} pairs, B = {r['degrade']}(A)? same draw: PSNR {r['same_draw']['psnr']:.2f} dB, SSIM "
               f"{r['same_draw']['ssim']:.4f}; another draw: PSNR {r['other_draw']['psnr']:.2f} dB, SSIM {r['other_draw']['ssim']:.4f}")
    _write(r, json_out)


@PANEL.command("eval-keypatch")
def eval_keypatch(
    model: str = typer.Argument(..., help="A keypatch run folder or its weights file."),
    data: Path = typer.Option(Path("../shared/data/cifar10.zip"), help="The CIFAR-10 zip (its test split is used)."),
    per_class: int = typer.Option(100, help="Test images per class."),
    patches: int = typer.Option(3, help="Key patches per photo (as trained: data.regions)."),
    patch: int = typer.Option(8, help="Their side (as trained: data.region_size)."),
    proposal: str = typer.Option("random", help="Where they are cut (as trained: data.proposal): random, or cam (the classifier's strongest squares)."),
    classifier: str = typer.Option("cifar10-classifier", help="Classifier that checks the completion is the patches' object."),
    sheet: Path = typer.Option(None, help="Also write a PNG: per class, the patches' places | the predicted placement | the completion."),
    json_out: JsonOut = None,
) -> None:
    """Placement IoU against the centre baseline, appearance PSNR in the patches, class accuracy of completions."""
    from retouch.evaluate.keypatch import evaluate_keypatch

    report = evaluate_keypatch(model, data, per_class, patches, patch, classifier, sheet=sheet, proposal=proposal)
    _show(report, report, json_out)


@PANEL.command("eval-rerender")
def eval_rerender(
    models: list[str] = typer.Argument(..., help="tdgan runs to compare (e.g. TD-GAN and the autoencoder without tag losses)."),
    data: Path = typer.Option(Path("../shared/data/cifar10.zip"), help="The CIFAR-10 zip (its test split is used)."),
    per_class: int = typer.Option(100, help="Test images per class."),
    classifier: str = typer.Option("cifar10-classifier", help="Classifier that checks the identity (class) survives."),
    seed: int = typer.Option(0, help="Seed of the tags drawn for each test image."),
    sheet: Path = typer.Option(None, help="Also write a PNG: per class, the input, then each tag's re-render | true re-render (first model)."),
    json_out: JsonOut = None,
) -> None:
    """Per tag: share of re-renders showing the value asked for, how far the other tags moved, PSNR to the true re-render."""
    from retouch.evaluate.rerender import evaluate_rerender

    report = evaluate_rerender(models, data, per_class, classifier, seed, sheet)
    _show(report["models"], report, json_out)


@PANEL.command()
def bench(
    quick: bool = typer.Option(False, help="CI-sized runs (small images and networks): seconds, not minutes."),
    json_out: JsonOut = None,
    device: Device = DEVICE,
    min_ratio: float = typer.Option(0.0, help="Exit 1 when a case's ours/reference ratio is below this (e.g. 1); cases whose two settings are the same here (fp32 inference on a CPU without bf16 units) are not judged: their ratio is timing noise."),
    case: list[str] = typer.Option(None, help="Only the cases whose names contain this word (repeat for several), e.g. film."),
    video: Path = typer.Option(None, help="Instead: time `retouch mosaic --box` on this clip against a plain decode and re-encode of it (the codec floor), in one run."),
    box: str = typer.Option(None, help="With --video: the box X,Y,W,H (default: a centred 128 px square)."),
    detect: bool = typer.Option(False, help="With --video: time `retouch demosaic --detect` instead (find, track, restore), and the decode and detection alone."),
) -> None:
    """Time the reference configuration and our fast setting on the same networks, in one run."""
    from rich.table import Table

    from retouch.bench import film_overhead, run_bench
    from retouch.device import cpu_name

    if video is not None:
        from retouch.geometry import parse_box
        from retouch.video import probe

        info = probe(video)
        square = parse_box(box) if box else ((info.width - 128) // 2, (info.height - 128) // 2, 128, 128)
        r = film_overhead(video, square, detect=detect)
        where = f", decode + detection alone {r['decode_and_detect_fps']:.2f} fps" if detect else ""
        typer.echo(f"{r['frames']} frames on {cpu_name()}: plain re-encode {r['reencode_fps']:.2f} fps, {r['job']} {r['job_fps']:.2f} fps "
                   f"({r['times_floor']:.2f}x the codec floor's time){where}")
        _write(r, json_out)
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
    _write(report, json_out)
    slow = [r["case"] for r in report["rows"] if r["ratio"] < min_ratio and r["ours_setting"] != r["reference_setting"]]
    if slow:
        err.print(f"slower than {min_ratio}x the reference: {', '.join(slow)}")
        raise typer.Exit(1)
