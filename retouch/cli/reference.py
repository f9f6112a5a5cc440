"""The command reference (docs/reference.md), written from the CLI itself so it cannot drift.

`python -m retouch.cli.reference > docs/reference.md` regenerates it; `tests/test_architecture.py`
fails when the committed page differs from what the CLI says now.
"""

from __future__ import annotations

from typing import Any

import typer.main

from retouch.cli import app

HEADER = """# Command reference

Every verb and option of `retouch`, generated from the command line itself
(`python -m retouch.cli.reference > docs/reference.md`; a test checks it is current). How to do a
job with them: the [how-to guides](index.md). Defaults shown are those of the library
(`retouch/defaults.py`).
"""


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _param_row(p: Any) -> str:
    """One option or argument of a command (Typer's click objects, read by their public attributes)."""
    argument = p.param_type_name == "argument"
    names = f"`{p.name.upper()}`" if argument else ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
    default = None if callable(p.default) else p.default
    shown = "required" if p.required else "" if default in (None, (), [], False) else f"`{default}`"
    return f"| {names} | {_cell(getattr(p, 'help', '') or '')} | {shown} |"


def _command(name: str, cmd: Any, prefix: str) -> list[str]:
    if hasattr(cmd, "commands"):  # a group of verbs (`retouch data`, `retouch toy`)
        lines = []
        for sub, subcmd in cmd.commands.items():
            lines += _command(f"{name} {sub}", subcmd, prefix)
        return lines
    params = [p for p in cmd.params if p.name != "help"]
    lines = [f"### `{prefix} {name}`", "", _cell(cmd.help or ""), ""]
    if params:
        lines += ["| argument / option | what it is | default |", "|---|---|---|"] + [_param_row(p) for p in params] + [""]
    return lines


def reference() -> str:
    """The whole page: one section per panel of `retouch --help`, one entry per verb."""
    group = typer.main.get_command(app)
    panels: dict[str, list[str]] = {}
    for name, cmd in group.commands.items():
        panel = getattr(cmd, "rich_help_panel", None) or "Other"
        panels.setdefault(panel, []).extend(_command(name, cmd, "retouch"))
    lines = [HEADER]
    for panel, entries in panels.items():
        lines += [f"## {panel}", "", *entries]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(reference(), end="")
