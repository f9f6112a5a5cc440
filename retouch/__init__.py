"""retouch: GAN image restoration and image-to-image translation."""

from importlib.metadata import PackageNotFoundError, version

from retouch.errors import RetouchError

try:
    __version__ = version("retouch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["RetouchError", "__version__", "translate"]


def __getattr__(name: str):
    """The one-call API, imported on first use so `import retouch` stays light."""
    if name == "translate":
        from retouch.apply import translate

        return translate
    raise AttributeError(f"module 'retouch' has no attribute {name!r}")
