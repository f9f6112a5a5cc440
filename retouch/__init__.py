"""retouch: GAN image restoration and image-to-image translation."""

from importlib.metadata import PackageNotFoundError, version

from retouch.errors import RetouchError

try:
    __version__ = version("retouch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["RetouchError", "__version__", "demosaic", "translate", "upscale"]

_API = {"translate": "retouch.tasks.translate", "demosaic": "retouch.tasks.restore", "upscale": "retouch.tasks.upscale"}


def __getattr__(name: str):
    """The one-call API, imported on first use so `import retouch` stays light."""
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'retouch' has no attribute {name!r}")
