"""Kept for the tests, benchmarks and load tests that import it from here."""

from lkbridge.tokens import mint_token

__all__ = ["mint_token"]
