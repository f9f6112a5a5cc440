"""Bad and unusual films through `retouch mosaic` and `retouch demosaic` (issue 47), on the corpus
that docs/scripts/bad_films.py makes.

Each film, given to a verb as its own CLI run, must give a correct output (exit 0: a film with the
frame count, upright size, sound and subtitle packets that the input decodes to) or a one-line
error (exit 2) with nothing left in the output folder, never a traceback; and each must give the
answer the corpus expects of it (a sound file is refused as sound, an odd-size film comes out odd).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "docs" / "scripts"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bad = _script("bad_films")
harness = _script("bad_inputs")  # its forked CLI runs: a film costs its own work, not Python's start-up

VERBS = {"mosaic": ["--box", "8,8,16,16", "--block", "4"], "demosaic": ["--box", "8,8,16,16", "--device", "cpu"]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list:
    return bad.make_corpus(tmp_path_factory.mktemp("films"))


def test_the_corpus_has_every_kind_the_issue_names(corpus):
    names = {f.path.name for f in corpus}
    assert names >= {"truncated.mp4", "truncated.mkv", "zero-byte.mp4", "text.mp4", "vfr.mp4", "rotated-90.mp4",
                     "10bit-h264.mp4", "h265.mp4", "odd-size.mp4", "sound-only.mp4", "sound-only.wav", "sound-only.mka",
                     "one-frame.mp4", "divx-bframes.avi", "corrupted.mp4", "subtitles.mkv"}
    assert bad.decoded(next(f.path for f in corpus if f.path.name == "subtitles.mkv")).subtitle_packets == 2
    assert bad.decoded(next(f.path for f in corpus if f.path.name == "odd-size.mkv")).size == (161, 97)


def _problems(film, verb: str, folder: Path) -> list[str]:
    """Everything wrong with `retouch VERB FILM -o FOLDER/out.EXT` (empty: as the issue asks)."""
    folder.mkdir(parents=True)
    dst = folder / f"out{film.path.suffix}"
    argv = [verb, str(film.path), "-o", str(dst), *VERBS[verb]]
    rc = harness.run_forked(argv, folder.parent / f"{folder.name}.out", folder.parent / f"{folder.name}.err")
    stderr = (folder.parent / f"{folder.name}.err").read_text(errors="replace")
    left = sorted(os.listdir(folder))
    problems = ["traceback"] if "Traceback" in stderr else []
    if rc == 2:
        if len(stderr.strip().splitlines()) != 1 or not stderr.startswith("error:"):
            problems.append("error is not one line")
        if left:
            problems.append(f"left {left}")
        if film.says not in stderr:
            problems.append(f"does not say {film.says!r}")
    elif rc == 0:
        if left != [dst.name]:
            problems.append(f"left {left}")
        elif (got := bad.decoded(dst)) != (want := bad.decoded(film.path)):
            problems.append(f"output {got}, input {want}")
    else:
        problems.append(f"exit status {rc}")
    if rc in (0, 2) and (rc == 0) != (film.expect == bad.OUTPUT):
        problems.append(f"expected {film.expect}")
    return problems + ([stderr.strip()[-300:]] if problems else [])


@pytest.mark.parametrize("verb", list(VERBS))
def test_every_film_gives_a_whole_film_or_a_one_line_error(corpus, verb, tmp_path):
    harness.warm([verb])
    problems = {f.path.name: _problems(f, verb, tmp_path / f"{i:02d}") for i, f in enumerate(corpus)}
    wrong = [f"{name}: {'; '.join(p)}" for name, p in problems.items() if p]
    assert not wrong, "\n".join(wrong)
