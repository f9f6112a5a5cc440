"""The shape of the code (docs/architecture.md): layers that import only downwards, no import circle
(lazy imports inside functions count too), and one short road from `--model` to the weights file.

The import graph is read from the source with `ast`, so a circle fails here even where Python
would tolerate it at run time (an import inside a function).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import retouch
from retouch.cli import app

ROOT = Path(retouch.__file__).parent

# Lowest first; a module may import its own layer and the layers below it, never one above.
LAYERS: list[tuple[str, list[str]]] = [
    ("base", ["retouch", "retouch.errors", "retouch.atomic", "retouch.defaults", "retouch.limits", "retouch.timing",
              "retouch.device", "retouch.measured", "retouch.distributed"]),
    ("pixels", ["retouch.io", "retouch.degrade", "retouch.metrics", "retouch.geometry"]),
    ("networks", ["retouch.nets"]),
    ("models", ["retouch.models"]),
    ("where and what", ["retouch.locate", "retouch.video", "retouch.data", "retouch.labelled", "retouch.losses"]),
    ("films and datasets", ["retouch.film", "retouch.patches", "retouch.tagged"]),
    ("training", ["retouch.methods", "retouch.train", "retouch.recipes", "retouch.tune"]),
    ("verbs", ["retouch.tasks", "retouch.prior"]),
    ("applications", ["retouch.evaluate", "retouch.bench", "retouch.demo", "retouch.studio", "retouch.toy"]),
    ("command line", ["retouch.cli", "retouch.__main__"]),
]


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.with_suffix("").relative_to(ROOT.parent).parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the retouch modules it imports anywhere in its source (top level or in a function)."""
    mods = modules()

    def owner(name: str) -> str:  # `from retouch.x import y`: y is a module, or a name in retouch.x
        while name not in mods:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        package = m if path.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                if t.split(".")[0] == "retouch" and owner(t) != m:
                    graph[m].add(owner(t))
    return graph


def layer(module: str) -> int:
    """The index of the most specific layer prefix that covers `module`."""
    matches = [(len(p), i) for i, (_, prefixes) in enumerate(LAYERS) for p in prefixes if module == p or module.startswith(p + ".")]
    assert matches, f"{module} is in no layer: add it to LAYERS here and to docs/architecture.md"
    return max(matches)[1]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. the import circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_a_new_circle_is_caught():
    graph = import_graph()
    graph["retouch.models.files"].add("retouch.tasks.restore")  # what a careless lazy import would add
    assert any("retouch.models.files" in c and "retouch.tasks.restore" in c for c in cycles(graph))


def test_every_import_goes_down_the_layers():
    up = [f"{m} ({LAYERS[layer(m)][0]}) imports {t} ({LAYERS[layer(t)][0]})"
          for m, targets in import_graph().items() for t in targets if layer(t) > layer(m)]
    assert up == []


def _modules_on_stack() -> list[str]:
    """The retouch modules on the call stack from the CLI verb's module inwards, in order; each is
    entered once. Above the verb are only Typer and the CLI's option-group wrapper (`cli.options`)."""
    names = [f.frame.f_globals.get("__name__", "") for f in reversed(inspect.stack())]
    ours = [n for n in names if n.startswith("retouch.") and n != __name__]
    verb = next(i for i, n in enumerate(ours) if n == "retouch.cli.jobs")
    assert set(ours[:verb]) <= {"retouch.cli.options"}, ours[:verb]
    road = [n for i, n in enumerate(ours[verb:]) if i == 0 or n != ours[verb + i - 1]]  # consecutive frames merged
    assert len(road) == len(set(road)), f"the road climbs back into a module it left: {road}"
    return road


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    return tmp_path / "in.png"


def test_model_reaches_its_weights_through_five_modules_and_reads_them_once(photo, tmp_path, monkeypatch):
    """`retouch demosaic --model demosaic`: CLI verb, task, runner, loader, file reader, and the
    file's tensors read exactly once."""
    import retouch.models.files as files
    from retouch.models.runner import _load_translator

    reads = []
    real = files.load_file
    monkeypatch.setattr(files, "load_file", lambda path, *a, **k: reads.append((path, _modules_on_stack())) or real(path, *a, **k))
    _load_translator.cache_clear()
    r = CliRunner().invoke(app, ["demosaic", str(photo), "-o", str(tmp_path / "out.png"), "--box", "16,16,32,32",
                                 "--model", "demosaic", "--device", "cpu", "--precision", "fp32"])
    assert r.exit_code == 0, r.output
    weights = [(p, stack) for p, stack in reads if p.endswith("demosaic.safetensors")]
    assert len(weights) == 1
    stack = weights[0][1]
    assert stack == ["retouch.cli.jobs", "retouch.tasks.restore", "retouch.models.runner", "retouch.models.load", "retouch.models.files"]


def test_a_reference_pth_is_read_once_through_five_modules(photo, tmp_path, monkeypatch):
    """A pix2pix `latest_net_G.pth` as `--model`: one `torch.load`, five modules from the CLI."""
    import retouch.models.files as files
    from retouch.nets import build_net

    net = build_net({"name": "resnet", "in_channels": 3, "out_channels": 3, "ngf": 8, "n_blocks": 2, "norm": "instance"})
    torch.save(net.state_dict(), tmp_path / "latest_net_G.pth")
    reads = []
    real = torch.load
    monkeypatch.setattr(files.torch, "load", lambda path, *a, **k: reads.append((str(path), _modules_on_stack())) or real(path, *a, **k))
    r = CliRunner().invoke(app, ["translate", str(photo), "-o", str(tmp_path / "out.png"), "--model", str(tmp_path / "latest_net_G.pth"),
                                 "--device", "cpu", "--precision", "fp32"])
    assert r.exit_code == 0, r.output
    assert len(reads) == 1
    assert reads[0][1] == ["retouch.cli.jobs", "retouch.tasks.translate", "retouch.models.runner", "retouch.models.load",
                           "retouch.models.files"]


def test_help_groups_the_verbs_in_panels():
    r = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert r.exit_code == 0
    panels = [title for title in ("Everyday jobs", "Training", "Evaluation", "Tools") if title in r.output]
    assert panels == ["Everyday jobs", "Training", "Evaluation", "Tools"]
    assert r.output.index("mosaic") < r.output.index("Training") < r.output.index("train ") < r.output.index("Evaluation")


def test_the_command_reference_is_current():
    """docs/reference.md is what the CLI says now: regenerate it with `python -m retouch.cli.reference`."""
    from retouch.cli.reference import reference

    assert (ROOT.parent / "docs" / "reference.md").read_text() == reference()
