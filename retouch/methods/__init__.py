"""Training recipes, one per file, behind one small interface (`retouch.methods.base.Method`).

Adding a method: a module here whose class derives from `Method` and is decorated with `@register`
(the module's name is the method's name, as `retouch train NAME` spells it); `get_method` finds it.
"""

from __future__ import annotations

import importlib
import pkgutil

from retouch.errors import RetouchError
from retouch.methods.base import METHODS, Method


def get_method(name: str) -> type[Method]:
    """The registered method `name`; every module of this package is imported (once: Python keeps
    them) to fill the registry."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    if name not in METHODS:
        raise RetouchError(f"Unknown method {name!r}; known: {', '.join(sorted(METHODS))}.")
    return METHODS[name]
