"""Files, folders and films: the loop every verb takes, and how a folder run reports its failures.

One file is one answer (its output, or its error raised as it is). A folder runs every good file
and raises `FilesFailed` with the bad ones at the end; a film streams through `retouch.video`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rich.progress import track

from retouch.errors import RetouchError
from retouch.io import Provenance, file_pairs, read_image, save_image

T = TypeVar("T")


class FilesFailed(RetouchError):
    """Some files of a folder run could not be processed; the others were written.

    `results` holds what the good files returned, `failed` (input, reason) for the others, so the
    CLI can print the written files first and then this summary, and exit 2.
    """

    def __init__(self, results: list, failed: list[tuple[Path, str]], total: int):
        self.results, self.failed = results, failed
        lines = [f"{len(failed)} of {total} files failed (the other {total - len(failed)} were written):"]
        lines += [f"  {src.name}: {reason}" for src, reason in failed]
        super().__init__("\n".join(lines))


def each_file(pairs: list[tuple[Path, Path]], work: Callable[[Path, Path], T], description: str,
              show_progress: bool = True) -> list[T]:
    """`work(source, destination)` for every pair; the one loop behind every folder-to-folder verb.

    One file is one answer: its error is raised as it is. In a folder, a file that fails with a
    user error (unreadable, too large, a box that does not fit) is skipped and the rest still run;
    the failures are raised together at the end as `FilesFailed`, so a batch is never lost to one
    bad file and never reports success when a file is missing.
    """
    if len(pairs) == 1:
        return [_one(work, *pairs[0])]
    results, failed = [], []
    for src, dst in track(pairs, description=description, disable=not show_progress):
        try:
            results.append(_one(work, src, dst))
        except RetouchError as e:
            failed.append((src, str(e)))
    if failed:
        raise FilesFailed(results, failed, len(pairs))
    return results


def _one(work: Callable[[Path, Path], T], src: Path, dst: Path) -> T:
    try:
        return work(src, dst)
    except MemoryError:
        raise RetouchError(f"{src} does not fit in memory for this verb; downscale it or free memory.") from None


def run_files(fn, inputs: Path, output: Path, provenance: Provenance, scale: int = 1, codec: str | None = None,
              crf: int | None = None, show_progress: bool = True) -> list[Path]:
    """`fn` (a whole image, 1x3xHxW, to the result at `scale` times its size) over a file, a folder's
    files (same names) or a film's frames (sound, timing and `codec`/`crf` for the picture; see
    `retouch.video.process_video`): the one path every whole-image verb takes, so a film works for all."""
    from retouch.video import DEFAULT_CRF, is_film, per_frame, process_video

    if is_film(inputs, output):
        process_video(inputs, output, per_frame(lambda x, _: fn(x)), provenance, codec=codec,
                      crf=DEFAULT_CRF if crf is None else crf, scale=scale, show_progress=show_progress)
        return [output]
    return map_files(fn, inputs, output, provenance, show_progress)


def map_files(fn, inputs: Path, output: Path, provenance: Provenance, show_progress: bool = True) -> list[Path]:
    """`fn` (1x3xHxW to an image tensor) over a file or a folder's files, each saved with `provenance`."""
    return each_file(file_pairs(inputs, output), lambda src, dst: save_image(fn(read_image(src)), dst, provenance),
                     provenance.task or "images", show_progress)
