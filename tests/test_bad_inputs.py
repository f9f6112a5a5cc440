"""Bad input through every image verb (issue 23), on a sample of the corpus that
docs/scripts/bad_inputs.py makes (the full 556-file run is that script's `run`).

Each file, given to a verb as its own CLI process, must give a correct output (exit 0, an image of
the right size) or a one-line error (exit 2), never a traceback, and nothing at the output path when
it fails; a folder run writes the good files and lists the bad ones.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from retouch.io import IMAGE_EXTENSIONS, read_provenance
from retouch.tasks.files import FilesFailed
from retouch.tasks.upscale import upscale_files

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "scripts" / "bad_inputs.py"
_spec = importlib.util.spec_from_file_location("bad_inputs", SCRIPT)
bad = importlib.util.module_from_spec(_spec)
sys.modules["bad_inputs"] = bad  # dataclasses look their module up by name
_spec.loader.exec_module(bad)

# files per verb: mosaic sees 40 kinds; the model verbs a smaller mix (their reading
# path is the same; what differs is what a model does with a 1x1 or 1x9 image)
SAMPLES = {"mosaic": 40, "demosaic": 14, "upscale": 10, "translate": 10, "locate": 10}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list:
    return bad.make_corpus(tmp_path_factory.mktemp("bad") / "corpus")


def test_the_corpus_has_500_files_of_every_kind_the_issue_names(corpus):
    kinds = {e.kind for e in corpus}
    assert len(corpus) >= 500
    for needed in ["zero-byte", "truncated JPEG", "truncated PNG", "truncated WEBP", "truncated TIFF", "wrong extension",
                   "JPEG CMYK", "JPEG YCCK", "TIFF grey16", "TIFF float01", "PNG palette", "PNG grey-alpha",
                   "animated GIF", "APNG", "decompression-bomb header", "odd file name", "EXIF orientation (JPEG)"]:
        assert needed in kinds, needed
    assert {e.path.name.split("-", 1)[1] for e in corpus if e.kind == "EXIF orientation (JPEG)"} >= {f"exif-orient{i}.jpg" for i in range(1, 9)}
    assert any(len(os.fsencode(e.path.name)) > 240 for e in corpus)
    assert any(b"\xff" in os.fsencode(e.path.name) for e in corpus)  # not UTF-8


@pytest.mark.parametrize("verb", list(SAMPLES))
def test_every_file_gives_an_output_or_a_one_line_error(corpus, verb, tmp_path):
    bad.warm([verb])
    outcomes = bad.run_verb(verb, bad.sample(corpus, SAMPLES[verb], seed=1), tmp_path)
    problems = {o.entry.path.name: (bad.judge(verb, o), o.stderr[-300:]) for o in outcomes if bad.judge(verb, o)}
    assert not problems
    assert sum(o.rc == 0 for o in outcomes) >= 4 and sum(o.rc == 2 for o in outcomes) >= 4  # both answers were exercised


def _mixed_folder(corpus, root: Path) -> tuple[list[str], list[str]]:
    """A folder of 8 good and 6 broken images (plus a GIF, which folder runs do not read); their names."""
    root.mkdir()
    good = [e for e in corpus if e.expect == bad.OK and e.kind in ("plain PNG", "plain JPEG", "JPEG CMYK", "PNG grey-alpha")][:8]
    broken = [e for e in corpus if e.kind in ("zero-byte", "truncated PNG", "decompression-bomb header", "text")][::5][:6]
    for e in good + broken:
        (root / e.path.name).write_bytes(e.path.read_bytes())
    (root / "animated.gif").write_bytes(next(e for e in corpus if e.kind == "animated GIF").path.read_bytes())
    assert all(Path(e.path.name).suffix.lower() in IMAGE_EXTENSIONS for e in good + broken)
    return [e.path.name for e in good], [e.path.name for e in broken]


def test_folder_run_writes_the_good_files_and_lists_the_bad_ones(corpus, tmp_path):
    good, broken = _mixed_folder(corpus, tmp_path / "in")
    p = subprocess.run([sys.executable, "-m", "retouch", "mosaic", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--block", "4"],
                       capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 2 and "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    lines = lines[next(i for i, line in enumerate(lines) if line.startswith("error:")) :]  # after the lossy-format warning
    assert lines[0] == f"error: {len(broken)} of {len(good) + len(broken)} files failed (the other {len(good)} were written):"
    assert sorted(line.strip().split(": ", 1)[0] for line in lines[1:]) == sorted(broken)  # each bad file once, one line each
    assert sorted(os.listdir(tmp_path / "out")) == sorted(good)  # no partial or temporary files
    assert sum(line.endswith("(whole image)") for line in p.stdout.splitlines()) == len(good)  # one line per written file
    assert read_provenance(tmp_path / "out" / good[0])["task"] == "mosaic"


def test_every_folder_verb_shares_the_loop(corpus, tmp_path):
    good, broken = _mixed_folder(corpus, tmp_path / "in")
    with pytest.raises(FilesFailed) as e:
        upscale_files(tmp_path / "in", tmp_path / "out", model="bicubic", scale=2, show_progress=False)
    assert sorted(src.name for src, _ in e.value.failed) == sorted(broken)
    assert sorted(p.name for p in e.value.results) == sorted(good)
    assert sorted(os.listdir(tmp_path / "out")) == sorted(good)


def _run(argv: list[str], tmp_path: Path) -> tuple[int, str]:
    rc = bad.run_forked([str(a) for a in argv], tmp_path / "stdout", tmp_path / "stderr")
    return rc, (tmp_path / "stderr").read_text()


def test_max_pixels_refuses_large_images_and_says_how_to_raise_it(tmp_path):
    bad.warm(["upscale"])
    src = tmp_path / "in.png"
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(src)
    rc, err = _run(["upscale", src, "-o", tmp_path / "o.png", "--model", "bicubic", "--max-pixels", "500"], tmp_path)
    assert rc == 2 and err.count("\n") == 1
    assert "30x20 pixels" in err and "--max-pixels 600" in err
    assert not (tmp_path / "o.png").exists()
    rc, _ = _run(["upscale", src, "-o", tmp_path / "o.png", "--model", "bicubic", "--max-pixels", "600"], tmp_path)
    assert rc == 0 and Image.open(tmp_path / "o.png").size == (120, 80)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bad.png_bomb())  # 30000 x 30000: Pillow's own check fires first, with the same answer
    rc, err = _run(["mosaic", bomb, "-o", tmp_path / "b.png"], tmp_path)
    assert rc == 2 and err.count("\n") == 1
    assert "900 megapixels" in err and "--max-pixels 900000000" in err


def test_training_on_a_folder_with_a_broken_file_is_a_clear_error(tmp_path):
    bad.warm([])
    data = tmp_path / "d" / "train"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(data / f"{i}.png")
    (data / "9.png").write_bytes((data / "0.png").read_bytes()[:150])
    rc, err = _run(["train", "pix2pix", "--data", tmp_path / "d", "--out", tmp_path / "run", "--steps", "1", "--size", "32",
                    "--batch-size", "1", "--device", "cpu"], tmp_path)
    assert rc == 2 and err.count("\n") == 1
    assert "9.png is damaged or truncated" in err


def test_evaluation_on_images_too_small_for_its_protocol_is_a_clear_error(tmp_path):
    bad.warm([])
    folder = tmp_path / "hr"
    folder.mkdir()
    Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(folder / "a.png")
    Image.fromarray(np.full((9, 1, 3), 90, np.uint8)).save(folder / "b.png")
    rc, err = _run(["eval-sr", "--sets", folder], tmp_path)
    assert rc == 2 and err.count("\n") == 1 and "b.png is 0x8" in err
    rc, err = _run(["eval-region", "demosaic", "--data", folder, "--box", "16", "--blocks", "4", "--device", "cpu"], tmp_path)
    assert rc == 2 and err.count("\n") == 1 and "b.png is 1x9, smaller than the 16x16 square" in err
