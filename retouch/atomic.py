"""Atomic file writes: a kill or an error never leaves half a file where a whole one was expected."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

SUFFIX = ".tmp"


@contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """A binary file beside `path` that replaces it only once fully written and synced.

    Opened with mode "xb" rather than `mkstemp`, so the result gets the usual permissions from the
    umask (mkstemp's 0600 made shipped weights unreadable to other users).
    """
    # the name's first 100 bytes only, so a name near the 255-byte limit still leaves room for the suffix
    tmp = path.with_name(f".{os.fsdecode(os.fsencode(path.name)[:100])}.{secrets.token_hex(4)}{SUFFIX}")
    try:
        with open(tmp, "xb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale(folder: Path) -> None:
    """Delete the temporary files of `atomic_write`s that a kill interrupted (SIGKILL skips the
    cleanup above), so a run folder killed many times does not fill up with partial checkpoints."""
    for tmp in folder.glob(f".*.????????{SUFFIX}"):
        tmp.unlink(missing_ok=True)
