"""Every `retouch` command the README and docs/ show runs, as written, on tiny data (issue 44).

A command a page shows and that fails is a broken promise to the reader, whichever of the page and
the code is wrong, and no other test notices it. So the commands are read from the pages' fenced
code blocks (`retouch ...` or `$ retouch ...`, also after `VAR=value` or `/usr/bin/time -v`, with
`\\` continuations joined; files a block writes with `cat > FILE <<'EOF'` are written too) and run
in one working folder holding what they name: the photos, films, folders and reference weights
the pages take as examples (small), and `../shared/data` as a tiny stand-in of the real one (its
layout, a few small images a folder), so the pages' paths are used as they are written.

A command is changed only through the reviewed tables below: `SMALLER` sets documented flags
(checked against the CLI) to small values, for a verb (`train`: `--steps 2 --batch-size 2`) or
one command; `AS_RUN` gives the few the page shows as a pattern (`[--holdout N]`, `RUN`) the form
that runs, or a small input in place of a large one; `SKIPPED` names the few that are not run, and
why; `SLOW` the one left to the test marked slow. The commands that make what others read (`data`,
`train`, `convert`, `--regions-json`) run first, then the rest, each in page order, and each
distinct command once. They run in-process (typer's CliRunner): a process per command would spend
most of the time importing torch.
"""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import signal
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
import typer.main
from PIL import Image
from typer.testing import CliRunner

from retouch.cli import app
from tests.helpers import basicsr_msrresnet_state, make_ab_folder, smooth_image

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# Words before `retouch` that do not change what it does: environment settings, a timer.
ENV = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)+")
WRAPPERS = ("/usr/bin/time -v ",)
HEREDOC = re.compile(r"^cat > (\S+) <<'?(\w+)'?$")
TORCHRUN = re.compile(r"^torchrun .*-m retouch ")

# Commands that are not run, and why. Keep it short: everything else runs.
SKIPPED: dict[str, str] = {
    "retouch studio": "a web server that runs until stopped; tests/test_studio.py starts it on a free port and drives it",
    "retouch studio --host 127.0.0.1 --port 7860 --device auto --max-pixels 50000000": "as `retouch studio`, on a fixed port",
    "torchrun --nnodes 2 --node-rank 0 --master-addr HOST --nproc-per-node 4 -m retouch train ...":
        "two machines (HOST), and `...` stands for a run's options",
    "torchrun --nproc-per-node 2 -m retouch train pix2pix --config configs/demosaic_l1.yaml --out runs/demosaic-l1":
        "torchrun's processes; the same training on two CPU processes is tests/test_ddp.py",
    "torchrun --standalone --nproc-per-node 2 -m retouch train pix2pix --config p2p_small.yaml --out r2":
        "torchrun's processes; the same training on two CPU processes is tests/test_ddp.py",
    "retouch bench --json bench.json": "minutes of timing by design, even --quick on one case; CI runs `retouch bench --quick "
                                       "--min-ratio 1` itself (.ci/run)",
}

# Documented flags set to small values, for every command of a verb or for one command (which
# wins): replaced where the command has the flag, added where not (None: a switch, added).
SMALLER: dict[str, dict[str, str | None]] = {
    "train": {"--steps": "2", "--batch-size": "2"},
    "retouch train pix2pix --data my_pairs/ --out runs/mine --size 256 --steps 20000 --batch-size 4": {"--size": "64"},
    "retouch train pix2pix --data pairs/ --out runs/demosaic --masked": {"--size": "64"},
    "retouch train cyclegan --config configs/cyclegan_horse2zebra.yaml --out runs/h2z": {"--size": "64"},
    "retouch train unit --data ../shared/data/horse2zebra --out runs/unit": {"--size": "32"},
    "retouch train srgan --config configs/srgan_x4.yaml --out runs/srgan-x4": {"--size": "64"},
    "data video": {"--seconds": "0.2"},
    # a 4-channel BigGAN with CIFAR-10's classes: the shipped prior's fixed fit schedules take 15 s an image
    "prior": {"--model": "tiny-prior.safetensors"},
    "retouch prior colorize grey.png -o colour.png --model pretrained/G_ema.pth": {"--model": "pretrained/G_ema.pth"},
    "eval-dgp": {"--per-class": "1", "--ablation-per-class": "1", "--batch": "10"},
    "eval-prior": {"--per-class": "1"},
    "eval-region": {"--limit": "1"},
    "eval-pairs": {"-n": "16"},
    "toy gan2d": {"--steps": "20", "--frames": "2"},
    "retouch tune pix2pix --size 256": {"--size": "32", "--ngf": "4", "--no-compile": None},
    "retouch tune cyclegan": {"--size": "32", "--ngf": "4", "--no-compile": None},
}

# Commands run in another form than the page shows: the page's pattern made a command ([optional]
# options all given, a placeholder such as RUN or N filled), an input the world holds under another
# name (the pages' two mask.png differ in size), or a small input or prior in place of a large one.
AS_RUN: dict[str, str] = {
    "retouch eval runs/mine --data my_pairs/ '[--split' 'test]' '[--holdout' 'N]' '[--json' 'R.json]'":
        "retouch eval runs/mine --data my_pairs/ --split test --holdout 1 --json R.json",
    "retouch eval cifar10-classifier --data ../shared/data/cifar10.zip --split test '[--json' 'R.json]'":
        "retouch eval cifar10-classifier --data ../shared/data/cifar10.zip --split test --json R.json",
    "retouch locate photo.jpg -o heat.png '[--class' 'dog]' '[--model' 'cifar10-classifier]'":
        "retouch locate photo.jpg -o heat.png --class dog --model cifar10-classifier",
    "retouch eval-sr runs/srresnet-x4 runs/srgan-x4 '[--sets' 'Set5,Set14,BSD100,Kodak24]' '[--json' 'R.json]'":
        "retouch eval-sr runs/srresnet-x4 runs/srgan-x4 --sets Set5,Set14,BSD100,Kodak24 --json R.json",
    "retouch eval-colorize RUN --json docs/results/RUN-2026-12-02.json":
        "retouch eval-colorize runs/colorize --json docs/results/RUN-2026-12-02.json",
    "retouch eval-colorize RUN --per-class 1000 --json docs/results/RUN-10000-2026-12-02.json":
        "retouch eval-colorize runs/colorize --per-class 1000 --json docs/results/RUN-10000-2026-12-02.json",
    "retouch eval-colorize RUN --per-class 30": "retouch eval-colorize runs/colorize --per-class 30",
    "retouch prior inpaint photo32.png --mask mask.png -o filled.png": "retouch prior inpaint photo32.png --mask mask32.png -o filled.png",
    "retouch prior inpaint grey32.png --mask mask.png --grey -o out.png":
        "retouch prior inpaint grey32.png --mask mask32.png --grey -o out.png",
    # x4 of a 768x576 film or a 256x192 photo: minutes and seconds of CPU
    "retouch upscale clip.mp4 -o big.mp4": "retouch upscale small.mp4 -o big.mp4",
    "retouch upscale photo.jpg -o big.png": "retouch upscale small.jpg -o big.png",
    "retouch eval-dgp --per-class 30 --rows colorize --precision fp32 --json docs/results/dgp-colorize-300.json":
        "retouch eval-dgp tiny-prior.safetensors --per-class 30 --rows colorize --precision fp32 --json docs/results/dgp-colorize-300.json",
    "retouch eval-dgp cifar10-prior --json dgp.json --sheet dgp.png": "retouch eval-dgp tiny-prior.safetensors --json dgp.json --sheet dgp.png",
    # the moving-mosaic film docs/scripts/real_films.py makes from Big Buck Bunny
    "retouch bench --video work/moving.mp4 --detect": "retouch bench --video hidden.mp4 --detect",
}

# Commands that take long even small (a DGP fit per row of a table): run by the test marked slow.
SLOW = {"retouch eval-dgp cifar10-prior --json dgp.json --sheet dgp.png"}


@dataclass
class Shown:
    """A distinct command and every place a page shows it."""

    command: str  # its words, shell-quoted and joined: comments and continuations gone
    where: list[str] = field(default_factory=list)


def _command(line: str) -> str | None:
    """The `retouch` (or torchrun) command on a code line, or None for any other line."""
    line = ENV.sub("", line.removeprefix("$ "))
    for wrapper in WRAPPERS:
        line = line.removeprefix(wrapper)
    if not (line.startswith("retouch ") or TORCHRUN.match(line)):
        return None
    return shlex.join(shlex.split(line, comments=True))


def read_pages(pages: list[Path] = PAGES) -> tuple[list[Shown], dict[str, str]]:
    """The commands in the pages' fenced code blocks, in page order, and the files the blocks write
    with heredocs (name -> text)."""
    shown: dict[str, Shown] = {}
    files: dict[str, str] = {}
    for page in pages:
        lines, fenced, i = page.read_text().splitlines(), False, 0
        while i < len(lines):
            start, text = i, lines[i].strip()
            if text.startswith(("```", "~~~")):
                fenced = not fenced
            elif fenced and (heredoc := HEREDOC.match(text)):
                end = lines.index(heredoc.group(2), i + 1)
                body = "\n".join(lines[i + 1 : end]) + "\n"
                assert files.setdefault(heredoc.group(1), body) == body, f"two pages write {heredoc.group(1)} differently"
                i = end
            elif fenced:
                while text.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    text = text[:-1].rstrip() + " " + lines[i].strip()
                if (command := _command(text)) is not None:
                    shown.setdefault(command, Shown(command)).where.append(f"{page.relative_to(ROOT)}:{start + 1}")
            i += 1
    return list(shown.values()), files


@functools.cache
def _cli() -> typer.core.TyperGroup:
    return typer.main.get_command(app)


def _click(words: list[str]) -> tuple[typer.core.TyperCommand, int]:
    """The (click) command the words after `retouch` call, and how many words name it (`data video`: 2)."""
    cmd, n = _cli(), 0
    while hasattr(cmd, "commands"):
        cmd, n = cmd.commands[words[n]], n + 1
    return cmd, n


def tiny_form(command: str) -> list[str]:
    """The words after `retouch` that run `command` small: `AS_RUN`'s form, then `SMALLER`'s flags
    (the verb's, then the command's own), each checked to be an option the CLI documents."""
    words = shlex.split(AS_RUN.get(command, command))[1:]
    cmd, n = _click(words)
    options = {o for p in cmd.params for o in [*p.opts, *p.secondary_opts]}
    for flag, value in {**SMALLER.get(" ".join(words[:n]), {}), **SMALLER.get(command, {})}.items():
        assert flag in options, f"{flag} is not an option of retouch {' '.join(words[:n])}"
        if value is None:
            words += [] if flag in words else [flag]
        elif flag in words:
            words[words.index(flag) + 1] = value
        else:
            words += [flag, value]
    return words


def makes_inputs(words: list[str]) -> bool:
    """Whether a command makes what later commands read (data, runs, converted weights, boxes)."""
    return words[0] in ("data", "train", "convert") or "--regions-json" in words


# ---- the tiny world the commands run in ----

def _photo(path: Path, w: int, h: int, seed: int = 0, grey: bool = False) -> Path:
    """A smooth photo-like image, or for a negative `seed` scikit-image's astronaut (a face to find)."""
    if seed < 0:
        im = Image.fromarray(skimage.data.astronaut()).resize((w, h), Image.BICUBIC)
    else:
        im = Image.fromarray(smooth_image(np.random.default_rng(seed), h, w))
    path.parent.mkdir(parents=True, exist_ok=True)
    (im.convert("L").convert("RGB") if grey else im).save(path)
    return path


def _folder(path: Path, names: list[str], w: int, h: int, seed: int = 0, grey: bool = False) -> Path:
    """A folder of `_photo`s under `names`, each of its own seed (all the astronaut for a negative one)."""
    for i, name in enumerate(names):
        _photo(path / name, w, h, seed if seed < 0 else seed + i, grey)
    return path


def _cifar_zip(path: Path, per_class: int = 2) -> Path:
    """CIFAR-10's layout (`train|test/<class>/NNNN.jpg`, 32 px) with `per_class` images each."""
    from retouch.labelled import CIFAR10_CLASSES

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as z:
        for split in ("train", "test"):
            for c in CIFAR10_CLASSES:
                for i in range(per_class):
                    with z.open(f"{split}/{c}/{i:04d}.jpg", "w") as f:
                        Image.fromarray(smooth_image(rng, 32, 32)).save(f, format="JPEG")
    return path


def _film(path: Path, w: int, h: int, frames: int = 4) -> Path:
    """A short clip of a camera moving over the astronaut (a face), with sound."""
    from retouch.tasks.clips import camera_frames, write_clip

    photo = Image.fromarray(skimage.data.astronaut()).resize((w + w // 4, w + w // 4), Image.BICUBIC)
    return write_clip(path, camera_frames(photo, w, h, frames, gen=torch.Generator().manual_seed(0)), fps=10)


def _mask_film(path: Path, w: int, h: int, frames: int = 4) -> Path:
    """A mask clip: white (hide) in a square, black elsewhere."""
    from retouch.tasks.clips import write_clip

    m = np.zeros((h, w, 3), np.uint8)
    m[h // 4 : h // 2, w // 4 : w // 2] = 255
    return write_clip(path, [m] * frames, fps=10, audio=False)


def _shared_data(data: Path) -> None:
    """../shared/data as the pages use it (data/README.md's layout), a few small images a folder."""
    for split in ("train", "test", "val"):
        _folder(data / "bsds500" / split, ["101085.jpg", "3096.jpg"], 160, 128, seed=10)
    _folder(data / "imagenet-samples", ["n01440764_tench.jpg", "n01443537_goldfish.jpg"], 160, 128, seed=20)
    _cifar_zip(data / "cifar10.zip")
    for part in ("trainA", "trainB", "testA", "testB"):
        _folder(data / "horse2zebra" / part, ["0.jpg", "1.jpg"], 64, 64, seed=30)
    for bench in ("Set5", "Set14", "Kodak24"):
        _folder(data / "sr-bench" / bench, ["0.png"], 48, 40, seed=40)


def _reference_weights(project: Path) -> None:
    """The other projects' .pth files the pages convert or load: BigGAN-PyTorch (G_ema.pth with its
    D.pth), pix2pix/CycleGAN generators and BasicSR's MSRResNet, small, in their own layouts; and
    that BigGAN as a CIFAR-10 prior of ours, `tiny-prior.safetensors`, for the commands that fit it."""
    from retouch.labelled import CIFAR10_CLASSES
    from retouch.models.files import save_weights
    from retouch.models.foreign import read_foreign
    from retouch.nets import build_net

    (project / "pretrained").mkdir()
    biggan = {"resolution": 32, "ch": 4, "n_classes": 10, "attention": 0}
    torch.save(build_net({"name": "biggan_g", **biggan, "dim_z": 16, "hier": False, "shared": False}).state_dict(),
               project / "pretrained" / "G_ema.pth")
    torch.save(build_net({"name": "biggan_d", **biggan}).state_dict(), project / "pretrained" / "D.pth")
    for role, pth in (("", "G_ema.pth"), ("-discriminator", "D.pth")):  # the same, as a CIFAR-10 prior (class names)
        net, meta = read_foreign(project / "pretrained" / pth)
        save_weights(net, {**meta, "classes": CIFAR10_CLASSES}, project / f"tiny-prior{role}.safetensors")
    cyclegan = {"name": "resnet", "in_channels": 3, "out_channels": 3, "ngf": 4, "norm": "instance", "dropout": False,
                "n_blocks": 9, "padding": "reflect"}
    (project / "checkpoints" / "horse2zebra").mkdir(parents=True)
    torch.save(build_net(cyclegan).state_dict(), project / "checkpoints" / "horse2zebra" / "latest_net_G_A.pth")
    facades = {"name": "unet", "in_channels": 3, "out_channels": 3, "num_downs": 8, "ngf": 2, "norm": "batch", "dropout": True,
               "skips": True}
    torch.save(build_net(facades).state_dict(), project / "latest_net_G.pth")
    torch.save({"params": basicsr_msrresnet_state(8, 1, 4)}, project / "MSRResNet_x4.pth")


def build_world(root: Path) -> Path:
    """The working folder (returned) with every file the pages name, beside ../shared/data."""
    _shared_data(root / "shared" / "data")
    project = root / "project"
    shutil.copytree(ROOT / "configs", project / "configs")
    for name in ("photo.jpg", "hidden.png", "found.png", "hidden.jpg", "shared-copy.jpg", "old.jpg", "horse.jpg", "car.png"):
        _photo(project / name, 256, 192, seed=len(name))
    for name in ("group.jpg", "photo.png"):
        _photo(project / name, 256, 192, seed=-1)
    for name in ("old-grey.jpg", "grey.jpg"):
        _photo(project / name, 256, 192, seed=3, grey=True)
    _photo(project / "thumb.png", 256, 192)  # mosaic writes it to hidden.png, which demosaic --box 120,40,128,128 reads
    mask = np.zeros((192, 256), np.uint8)
    mask[40:168, 120:248] = 255
    Image.fromarray(mask).save(project / "mask.png")
    Image.fromarray(mask[::6, ::8]).save(project / "mask32.png")
    for name in ("photo32.png", "attacked.png", "a.png", "b.png"):
        _photo(project / name, 32, 32, seed=len(name))
    _photo(project / "grey32.png", 32, 32, grey=True)
    _photo(project / "grey.png", 32, 32, grey=True)
    _photo(project / "tiny8.png", 8, 8)
    for i, name in enumerate(("eye.png", "ear.png", "wheel.png")):
        _photo(project / name, 8 + 4 * i, 8 + 4 * i, seed=i)
    _photo(project / "small.png", 40, 32)
    _photo(project / "small.jpg", 40, 32)
    _folder(project / "small", ["0.png"], 40, 32)
    for folder in ("photos", "hidden"):
        _folder(project / folder, ["a.png", "b.png"], 64, 48, seed=-1 if folder == "photos" else 5)
    (project / "masks").mkdir()
    for name in ("a.png", "b.png"):  # a mask per photo of photos/ and hidden/, named like it
        Image.fromarray(mask[::4, ::4]).save(project / "masks" / name)
    _folder(project / "scans", ["0.jpg"], 64, 48, grey=True)
    _folder(project / "horses", ["0.jpg"], 64, 64)
    _folder(project / "my_photos", ["0.jpg", "1.jpg", "2.jpg"], 160, 128)
    _folder(project / "photo_dir", ["101085.jpg"], 160, 128)
    make_ab_folder(project / "my_pairs", n=4, size=64)
    shutil.copytree(project / "my_pairs" / "train", project / "my_pairs" / "test")
    for name in ("film.mp4", "street.mp4", "clip.mp4", "hidden.mp4"):
        _film(project / name, 768, 576)
    _mask_film(project / "masks.mp4", 768, 576)
    _film(project / "in.mp4", 96, 64)
    for name in ("small.mkv", "small.mp4"):
        _film(project / name, 48, 32)
    _reference_weights(project)
    return project


@pytest.fixture(scope="module")
def pages() -> tuple[list[Shown], dict[str, str]]:
    return read_pages()


@contextmanager
def signal_handlers_kept() -> Iterator[None]:
    """The process's Python signal handlers as they were, whatever a command installs.

    Why: the commands run in this one test process, and a training command with loader workers
    leaves torch's SIGCHLD handler installed for good (`_set_SIGCHLD_handler`). In the full suite
    the first child to exit after it (tests/test_studio.py's `retouch studio` subprocess) killed
    pytest with SIGSEGV (si_code SI_KERNEL, no faulthandler output, at a different instruction
    each time), in CI and here; a user's `retouch train` is its own process and never meets this.
    """
    kept = {s: signal.getsignal(s) for s in signal.valid_signals() if signal.getsignal(s) is not None}
    try:
        yield
    finally:
        for s, handler in kept.items():
            if signal.getsignal(s) is not handler:
                signal.signal(s, handler)


def run(commands: list[Shown]) -> list[str]:
    """Run each command's tiny form in the current folder; a report per failure."""
    failed = []
    for shown in commands:
        words = tiny_form(shown.command)
        with signal_handlers_kept():
            result = CliRunner().invoke(app, words)
        if result.exit_code != 0:
            raised = "" if isinstance(result.exception, SystemExit) else f"{result.exception!r} "
            failed.append(f"{shown.command}  ({', '.join(shown.where)})\n  ran: retouch {shlex.join(words)}\n  "
                          f"exit {result.exit_code}: {raised}{result.output[-800:]}")
    return failed


@pytest.fixture(scope="module")
def world(pages, tmp_path_factory):
    """The working folder, current while the module's tests run, after the commands that make
    inputs for others ran in it; with those commands' failures, and the rest to run."""
    shown, files = pages
    project = build_world(tmp_path_factory.mktemp("docs"))
    for name, text in files.items():
        (project / name).write_text(text)
    runnable = [s for s in shown if s.command not in SKIPPED]
    makers = [s for s in runnable if makes_inputs(tiny_form(s.command))]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        yield run(makers), [s for s in runnable if s not in makers]


def test_the_pages_show_commands_and_the_tables_name_only_shown_ones(pages):
    """The parser finds the pages' commands, and every table entry is a command a page still shows
    (a stale entry would silently stop covering the command that replaced it) or a verb."""
    shown, files = pages
    commands = {s.command for s in shown}
    assert len(commands) > 150 and "p2p_small.yaml" in files
    for table in (SKIPPED, AS_RUN, SLOW):
        assert set(table) <= commands, set(table) - commands
    runnable = commands - set(SKIPPED)
    assert not [c for c in runnable if TORCHRUN.match(c)], "torchrun starts processes: name the command in SKIPPED"
    verbs = {" ".join(words[: _click(words)[1]]) for words in (shlex.split(c)[1:] for c in runnable)}
    assert set(SMALLER) <= runnable | verbs, set(SMALLER) - runnable - verbs
    for command in runnable:
        tiny_form(command)  # every flag set is one the CLI documents


def test_every_documented_command_runs(world):
    failed_makers, rest = world
    failed = failed_makers + run([s for s in rest if s.command not in SLOW])
    assert not failed, f"{len(failed)} documented commands failed:\n" + "\n".join(failed)


@pytest.mark.slow
def test_every_slow_documented_command_runs(world):
    failed_makers, rest = world
    assert not failed_makers, "the commands making inputs failed (see test_every_documented_command_runs)"
    failed = run([s for s in rest if s.command in SLOW])
    assert not failed, f"{len(failed)} documented commands failed:\n" + "\n".join(failed)
