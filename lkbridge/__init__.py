"""lkbridge: a gRPC bridge between a cloud service and LiveKit rooms."""

# pyproject.toml's version, written out: importlib.metadata would cost every `lkbridge health`
# 20 ms. tests/unit/test_cli_probe.py keeps the two equal.
__version__ = "0.1.0"

__all__ = ["__version__"]
