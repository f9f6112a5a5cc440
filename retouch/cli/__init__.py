"""The `retouch` command line: thin Typer wrappers over library functions, in panels.

Each module of this package holds one panel of `retouch --help` (`jobs`, `training`, `evaluation`,
`tools`); shared options, their defaults and the file report live in `options`. A verb imports
the library it calls inside its body, so `retouch --help` loads neither torch nor PyAV.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from retouch.cli import evaluation, jobs, tools, training
from retouch.cli.options import err
from retouch.errors import RetouchError
from retouch.toy.cli import toy_app

app = typer.Typer(
    help="GAN image restoration and image-to-image translation. Start with `retouch demo`, or hide and restore on your own "
         "photo or film: `retouch mosaic IN -o OUT --box X,Y,W,H`, `retouch demosaic OUT -o BACK --box X,Y,W,H`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for panel in (jobs.PANEL, training.PANEL, evaluation.PANEL, tools.PANEL):
    for name, fn in panel.commands:
        app.command(name, rich_help_panel=panel.title)(fn)
app.add_typer(training.DATA, name="data", rich_help_panel=training.PANEL.title,
              help="Build training data: aligned pairs from clean photos; test clips.")
app.add_typer(toy_app, name="toy", rich_help_panel=tools.PANEL.title,
              help="Generative-modelling warm-up: inverse-CDF sampling and a 2-D GAN.")


def main() -> None:
    """Entry point: user errors print one sentence and exit 2, with no traceback.

    The sentence is printed unwrapped and without markup, so it stays one line however long the
    path and whatever brackets a file name holds. A folder run whose files partly failed prints one
    line per failed file after the summary (see `tasks.files.FilesFailed`), and also exits 2.
    """
    try:
        app()
    except RetouchError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
        raise SystemExit(2) from None
