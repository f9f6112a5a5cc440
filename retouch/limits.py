"""The decode limit (`--max-pixels`): its own module, free of torch, so the CLI can set it before
a command imports anything heavy (`retouch --help` stays quick)."""

from __future__ import annotations

from PIL import Image

from retouch.defaults import MAX_PIXELS
from retouch.errors import RetouchError

DEFAULT_MAX_PIXELS = MAX_PIXELS  # why this number: retouch.defaults
_limit = DEFAULT_MAX_PIXELS
Image.MAX_IMAGE_PIXELS = _limit  # Pillow warns above it and refuses above twice it


def max_pixels() -> int:
    """The limit in force; 0 means none."""
    return _limit


def set_max_pixels(limit: int) -> None:
    """Raise or lower the decode limit (`--max-pixels`); 0 removes it, for files you trust.

    Pillow's own bomb check follows the same number, so the two never disagree.
    """
    global _limit
    if limit < 0:
        raise RetouchError(f"--max-pixels must be 0 (no limit) or a pixel count, not {limit}.")
    _limit = limit
    Image.MAX_IMAGE_PIXELS = limit or None
