"""lkbridge: a gRPC bridge between a cloud service and LiveKit rooms."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lkbridge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
