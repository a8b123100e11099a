"""user_id -> Session, with replace-on-rejoin and closing everything at shutdown.

Joins run in a task of their own that the RPC only awaits through `shield`: a client that gives
up on JoinRoom must never cancel `Room.connect()` (the SDK answers that by SIGTERMing the whole
process). Operations on one user are serialised by that user's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from lkbridge.errors import JoinFailed
from lkbridge.server.config import BridgeConfig
from lkbridge.server.memory import release_free_memory
from lkbridge.server.session import Session

log = logging.getLogger(__name__)


class SessionRegistry:
    def __init__(self, config: BridgeConfig) -> None:
        self._config = config
        self._sessions: dict[str, Session] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.closing = False
        self.sessions_created = 0
        self.sessions_closed = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def get(self, user_id: str) -> Session | None:
        return self._sessions.get(user_id)

    def _lock(self, user_id: str) -> asyncio.Lock:
        return self._locks.setdefault(user_id, asyncio.Lock())

    async def join(
        self, user_id: str, *, url: str, token: str, room_name: str, target_identity: str
    ) -> Session:
        task = asyncio.get_running_loop().create_task(
            self._join(user_id, url, token, room_name, target_identity), name=f"join:{user_id}"
        )
        return await asyncio.shield(task)

    async def _join(
        self, user_id: str, url: str, token: str, room_name: str, target_identity: str
    ) -> Session:
        async with self._lock(user_id):
            if self.closing:
                raise JoinFailed("bridge is shutting down")
            old = self._sessions.pop(user_id, None)
            if old is not None:
                await self._close(old, "replaced by a new JoinRoom")
            session = Session(
                user_id,
                room_name=room_name,
                target_identity=target_identity,
                config=self._config,
                on_idle=self._on_idle,
            )
            await session.connect(url, token)
            if self.closing:
                await self._close(session, "bridge is shutting down")
                raise JoinFailed("bridge is shutting down")
            self._sessions[user_id] = session
            self.sessions_created += 1
            log.info("session %s joined room %s", user_id, session.room_name)
            return session

    async def leave(self, user_id: str, reason: str) -> bool:
        async with self._lock(user_id):
            session = self._sessions.pop(user_id, None)
            if session is None:
                return False
            await self._close(session, reason or "LeaveRoom")
        self._forget_lock(user_id)
        return True

    async def remove(self, session: Session, reason: str) -> None:
        """Close `session` if it is still the one registered for its user (no stale removals)."""
        async with self._lock(session.user_id):
            if self._sessions.get(session.user_id) is session:
                del self._sessions[session.user_id]
                await self._close(session, reason)
        self._forget_lock(session.user_id)

    async def _close(self, session: Session, reason: str) -> None:
        await session.close(reason)
        self.sessions_closed += 1
        await asyncio.to_thread(release_free_memory)

    def _forget_lock(self, user_id: str) -> None:
        lock = self._locks.get(user_id)
        if lock is not None and not lock.locked() and user_id not in self._sessions:
            del self._locks[user_id]

    def spawn_remove(self, session: Session, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self.remove(session, reason), name=f"remove:{session.user_id}"
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _on_idle(self, session: Session) -> None:
        log.info(
            "session %s idle for %.0f s: closing", session.user_id, self._config.idle_timeout_s
        )
        self.spawn_remove(session, "idle timeout")

    async def close_all(self, reason: str) -> None:
        self.closing = True
        sessions = list(self._sessions.values())
        self._sessions.clear()
        results = await asyncio.gather(
            *(self._close(s, reason) for s in sessions), return_exceptions=True
        )
        for session, result in zip(sessions, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("closing session %s failed: %r", session.user_id, result)
        for task in list(self._background):
            with contextlib.suppress(BaseException):
                await task
