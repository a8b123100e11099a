"""A resolver that answers only when told: names that resolve slowly, for the tests that check
lookups are bounded by admission. It counts how many lookups ran at once."""

from __future__ import annotations

import asyncio


class HeldResolver:
    """Called as the bridge calls its resolver, `(host, port) -> addresses`; every lookup waits
    for `release()`, then answers `addresses` (by default a metadata address the policy refuses,
    so nothing is ever dialled)."""

    def __init__(self, addresses: tuple[str, ...] = ("169.254.169.254",)) -> None:
        self.addresses = list(addresses)
        self.running = 0
        self.most = 0  # the most lookups in flight at once
        self._released = asyncio.Event()

    async def __call__(self, host: str, port: int) -> list[str]:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self._released.wait()
        finally:
            self.running -= 1
        return list(self.addresses)

    def release(self) -> None:
        self._released.set()
