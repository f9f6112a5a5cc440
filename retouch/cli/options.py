"""What the verbs of the command line share: option types defined once, the panels of `retouch --help`,
and how a verb reports its files.

Each shared option is an `Annotated` type (its flag and help written here once); a verb names it
with its default, which comes from `retouch.defaults`, so the library and the CLI agree.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer
from rich.console import Console

from retouch.defaults import BACKEND, BACKENDS, DEVICE, FILM_CRF, MAX_PIXELS, PRECISION

__all__ = ["BACKEND", "DEVICE", "FILM_CRF", "MAX_PIXELS", "PRECISION", "Arch", "Backend", "Boxes", "Codec", "Crf", "Device", "Film", "Inputs",
           "JsonOut", "MaskVideo", "MaxPixels", "Model", "Output", "Panel", "Precision", "RegionsJson", "Track", "err", "parse_boxes", "written"]

err = Console(stderr=True, soft_wrap=True)  # one line per error, however narrow the terminal
FILMS = "Films (mp4, mkv, mov, webm, avi, gif) come out as films: sound copied packet for packet, frame count and timing kept."
RUN = "Running"  # the help panel of the options that say where and how a model runs
FILM = "Films"

Device = Annotated[str, typer.Option(help="auto | cpu | cuda | mps.", rich_help_panel=RUN)]
Precision = Annotated[str, typer.Option(help="auto | fp32 | bf16.", rich_help_panel=RUN)]
Backend = Annotated[str, typer.Option(
    help=f"{' | '.join(BACKENDS)}: the runtime for the model (onnxruntime, openvino: CPU, fp32, need pip install 'retouch\\[onnx]' or "
         "'retouch\\[openvino]'; auto: the fastest installed here, timed once per model and cached in ~/.cache/retouch/backends.json).",
    rich_help_panel=RUN)]
MaxPixels = Annotated[int, typer.Option(
    "--max-pixels", min=0, rich_help_panel=RUN,
    help="Refuse images with more pixels (width x height) than this, a guard against decompression bombs; 0 = no limit.")]
Arch = Annotated[str, typer.Option(
    help="Architecture of a reference .pth when its keys leave it open, e.g. resnet_9blocks:norm=none (docs/howto/translate.md).",
    rich_help_panel=RUN)]
Codec = Annotated[str, typer.Option(help="Output video codec (default libx264, H.264; libvpx-vp9 for .webm; ffv1 is lossless).",
                                    rich_help_panel=FILM)]
Crf = Annotated[int, typer.Option(help="Constant-quality level of the codec (H.264: 18 is visually lossless; lower = better).",
                                  rich_help_panel=FILM)]
Track = Annotated[list[str], typer.Option(help="A box X,Y,W,H on the first frame, followed through the film (repeat for several).",
                                          rich_help_panel=FILM)]
MaskVideo = Annotated[Path, typer.Option(help="A mask clip of the same length (white = region).", rich_help_panel=FILM)]
RegionsJson = Annotated[Path, typer.Option(help="Also write every frame's boxes here.", rich_help_panel=FILM)]
Inputs = Annotated[Path, typer.Argument(help="An image, a folder of images, or a film. " + FILMS)]
Output = Annotated[Path, typer.Option("-o", "--output", help="Output image, folder (same file names), or film.")]
Boxes = Annotated[list[str], typer.Option(help="Region X,Y,W,H in pixels (repeat for several).")]
JsonOut = Annotated[Path, typer.Option("--json", help="Also write the report here.")]


@dataclass(frozen=True)
class Model:
    """Where and how a verb's model runs: --device, --precision, --backend, --max-pixels (the decode guard)."""

    device: str
    precision: str
    backend: str
    max_pixels: int


@dataclass(frozen=True)
class Film:
    """How a verb writes a film: --codec, --crf."""

    codec: str | None
    crf: int


# Each group's options: (parameter, option type, default). A verb names a group once, as a parameter
# typed with it; `grouped` puts the options in its place.
GROUPS: dict[type, list[tuple[str, Any, Any]]] = {
    Model: [("device", Device, DEVICE), ("precision", Precision, PRECISION), ("backend", Backend, BACKEND),
            ("max_pixels", MaxPixels, MAX_PIXELS)],
    Film: [("codec", Codec, None), ("crf", Crf, FILM_CRF)],
}


def grouped(fn: Callable) -> Callable:
    """`fn` with each parameter typed `Model` or `Film` replaced by that group's options on the command
    line, and called with the group built from them: the options are written once, here."""
    hints = get_type_hints(fn, include_extras=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, type] = {}
    for p in inspect.signature(fn).parameters.values():
        cls = hints.get(p.name)
        if cls in GROUPS:
            groups[p.name] = cls
            params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
                       for name, kind, default in GROUPS[cls]]
        else:
            params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation)))

    @functools.wraps(fn)
    def verb(**kwargs: Any) -> Any:
        for name, cls in groups.items():
            kwargs[name] = cls(**{field: kwargs.pop(field) for field, _, _ in GROUPS[cls]})
        return fn(**kwargs)

    verb.__signature__ = inspect.Signature(params)  # what Typer reads
    verb.__annotations__ = {p.name: p.annotation for p in params}
    return verb


class Panel:
    """A group of verbs under one heading of `retouch --help`: the modules of this package fill
    one each with `@PANEL.command()`, and `retouch.cli` adds them to the app in that order."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.commands: list[tuple[str | None, Callable]] = []

    def command(self, name: str | None = None) -> Callable[[Callable], Callable]:
        def add(fn: Callable) -> Callable:
            self.commands.append((name, grouped(fn)))
            return fn

        return add


def parse_boxes(texts: list[str] | None) -> list[tuple[int, int, int, int]] | None:
    """`--box X,Y,W,H` values as boxes (None when none was given)."""
    from retouch.geometry import parse_box

    return [parse_box(t) for t in texts] if texts else None


@contextmanager
def written(line: Callable[[Any], str] = str) -> Iterator[Callable[[list], None]]:
    """`with written(line) as show: show(verb_files(...))` prints one line per written file, and when
    some files of a folder failed, the written ones first and then the failure (exit 2).

    A context, not a wrapper taking a callable, so the verb calls the library from its own frame."""
    from retouch.tasks.files import FilesFailed

    def show(results: list) -> None:
        for r in results:
            typer.echo(line(r))

    try:
        yield show
    except FilesFailed as e:
        show(e.results)
        raise
