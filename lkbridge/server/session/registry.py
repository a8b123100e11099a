"""user_id -> Session, with replace-on-rejoin and closing everything at shutdown.

Joins run in a task of their own that the RPC only awaits through `shield`: a client that gives
up on JoinRoom must never cancel `Room.connect()` (the SDK answers that by SIGTERMing the whole
process). The RPC is answered within `connect_timeout_s` whatever the SFU does (the SDK itself
retries for several times that); a connect still going on then is abandoned: the room it joins
is left as soon as it is joined. Operations on one user are serialised by that user's lock, which
lives only while someone holds or waits for it.

Admission: a JoinRoom past `max_joins_in_flight` connects, or for a new user past `max_sessions`
sessions held or joining, or while the process used `max_cpu` % of the CPU it may use
(cpu_load.py), is refused at once (AtCapacity, RESOURCE_EXHAUSTED) before it costs anything. A
connect abandoned by its caller still counts until it ends: its sockets and threads are there
until then. Without these bounds 150 JoinRooms at once opened 16k fds and stalled the
sessions already streaming (docs/operations.md, "Admission").

A livekit_url name is looked up inside the join's admission slot (`DialTarget.url`), before the
user's lock is taken: slow names count against --max-joins-in-flight like slow connects (each
lookup holds a resolver thread until the system resolver gives up), and nothing registered
changes while one waits: a join refused by the policy leaves the user's session alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Protocol

from lkbridge.errors import AtCapacity, JoinFailed, SessionNotFound
from lkbridge.server.config import BridgeConfig
from lkbridge.server.cpu_load import CpuLoad
from lkbridge.server.redact import clip, redact
from lkbridge.server.session.binding import StreamEnd
from lkbridge.server.session.memory import release_free_memory
from lkbridge.server.session.session import Session

log = logging.getLogger(__name__)


class DialTarget(Protocol):
    """Where a join connects to: judged when its turn comes (policy/livekit_url.LivekitTarget)."""

    @property
    def host(self) -> str: ...

    async def url(self) -> str:
        """The URL to hand the SDK; InvalidArgument or JoinFailed when there is none."""
        ...


def busy_text(cpu: CpuLoad, bound: float, held: int) -> str:
    """Why a join is refused by --max-cpu: the use and the share it is measured against."""
    cores = round(cpu.limit_cores, 2)
    kept = {0: "", 1: "; its 1 session is kept"}.get(held, f"; its {held} sessions are kept")
    return (
        f"bridge busy: it used {cpu.percent:.0f} % of its CPU ({cores:g} "
        f"core{'' if cores == 1 else 's'}) over the last {cpu.window_s:g} s, the limit set by "
        f"--max-cpu {bound:g}{kept}"
    )


@dataclass
class _UserLock:
    lock: asyncio.Lock
    users: int = 0  # holders and waiters: at 0 the entry goes


@dataclass
class _JoinAttempt:
    user_id: str
    abandoned: bool = False  # its session is not wanted: `why` says who gave it up
    why: str = ""
    resolving: bool = False  # looking its livekit_url host up, before the user's lock
    connecting: bool = False  # past the user's lock, in Room.connect()

    def abandon(self, why: str) -> bool:
        """True the first time: the attempt is given up from now on."""
        if self.abandoned:
            return False
        self.abandoned, self.why = True, why
        return True


class SessionRegistry:
    def __init__(self, config: BridgeConfig, cpu: CpuLoad | None = None) -> None:
        self._config = config
        # the process's CPU use, sampled by the server (`--max-cpu`); None: not judged
        self.cpu = cpu
        self._sessions: dict[str, Session] = {}
        self._locks: dict[str, _UserLock] = {}
        self._background: set[asyncio.Task[None]] = set()
        # every join until its task ends, abandoned ones too: admission counts them, shutdown
        # waits for them
        self._joins: dict[asyncio.Task[Session], _JoinAttempt] = {}
        self.closing = False
        self.sessions_created = 0
        self.joins_refused = 0
        self.joins_abandoned = 0  # given up by their callers (or a LeaveRoom) while under way

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def get(self, user_id: str) -> Session | None:
        return self._sessions.get(user_id)

    def require(self, user_id: str) -> Session:
        """The user's session, or SessionNotFound for a call that needs one."""
        session = self._sessions.get(user_id)
        if session is None:
            raise SessionNotFound(user_id)
        return session

    @property
    def joins_in_progress(self) -> int:
        return len(self._joins)

    @property
    def user_locks(self) -> int:
        return len(self._locks)

    @property
    def max_sessions(self) -> int:
        return self._config.max_sessions

    @property
    def max_joins_in_flight(self) -> int:
        return self._config.max_joins_in_flight

    @property
    def max_cpu(self) -> float:
        return self._config.max_cpu if self.cpu is not None else 0.0

    @property
    def cpu_busy_percent(self) -> float:
        return self.cpu.percent if self.cpu is not None else 0.0

    def admit(self, user_id: str) -> None:
        """Refuse a join at once (AtCapacity) when it would pass a bound; else nothing."""
        limit = self._config.max_joins_in_flight
        if len(self._joins) >= limit:
            self.joins_refused += 1
            raise AtCapacity(
                f"too many JoinRooms connecting: {len(self._joins)}, "
                f"the limit set by --max-joins-in-flight {limit}; retry shortly"
            )
        limit = self._config.max_sessions
        held = self._sessions.keys() | {a.user_id for a in self._joins.values()}
        if user_id not in held and len(held) >= limit:  # a rejoin replaces: it adds none
            self.joins_refused += 1
            raise AtCapacity(
                f"bridge full: {len(held)} sessions held or joining, "
                f"the limit set by --max-sessions {limit}"
            )
        cpu, bound = self.cpu, self._config.max_cpu
        if cpu is not None and bound and user_id not in held and cpu.percent >= bound:
            self.joins_refused += 1
            raise AtCapacity(busy_text(cpu, bound, len(held)))

    @contextlib.asynccontextmanager
    async def _user_lock(self, user_id: str) -> AsyncIterator[None]:
        entry = self._locks.get(user_id)
        if entry is None:
            entry = self._locks[user_id] = _UserLock(asyncio.Lock())
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0 and self._locks.get(user_id) is entry:
                del self._locks[user_id]

    async def join(
        self,
        user_id: str,
        *,
        target: DialTarget,
        token: str,
        room_name: str,
        target_identity: str,
    ) -> Session:
        """The joined session, or JoinFailed (its text free of the token) within the bound;
        AtCapacity at once past a bound (`admit`); InvalidArgument when the target's host is
        refused by the address policy (nothing of the user's changed then)."""
        self.admit(user_id)
        attempt = _JoinAttempt(user_id)
        task = asyncio.get_running_loop().create_task(
            self._join(attempt, user_id, target, token, room_name, target_identity), name="join"
        )
        self._joins[task] = attempt
        task.add_done_callback(self._join_done)
        bound = self._config.connect_timeout_s
        try:
            return await asyncio.wait_for(asyncio.shield(task), bound)
        except TimeoutError:
            if task.done() and not task.cancelled() and task.exception() is None:
                return task.result()
            self._abandon(attempt, "JoinRoom already answered")
            if attempt.resolving:
                raise JoinFailed(
                    f"cannot resolve livekit_url host '{clip(target.host, 100)}' to check it: "
                    f"no answer within {bound:g} s"
                ) from None
            if attempt.connecting:
                raise JoinFailed(
                    f"timed out: no answer from the livekit server within {bound:g} s"
                ) from None
            raise JoinFailed(
                f"timed out: an earlier JoinRoom for this user was still connecting after "
                f"{bound:g} s"
            ) from None
        except asyncio.CancelledError:
            # the caller is gone: nobody would know of the session
            self._abandon(attempt, "JoinRoom already answered")
            raise
        except JoinFailed as exc:
            raise JoinFailed(redact(str(exc), (token,))) from None

    def _abandon(self, attempt: _JoinAttempt, why: str) -> None:
        if attempt.abandon(why):
            self.joins_abandoned += 1

    def _join_done(self, task: asyncio.Task[Session]) -> None:
        self._joins.pop(task, None)
        if not task.cancelled() and task.exception() is not None:  # retrieved: no GC warning
            log.debug("join attempt ended: %s", clip(redact(str(task.exception()))))

    async def _join(
        self,
        attempt: _JoinAttempt,
        user_id: str,
        target: DialTarget,
        token: str,
        room_name: str,
        target_identity: str,
    ) -> Session:
        attempt.resolving = True
        try:  # in the admission slot, before the lock: a lookup changes nothing registered
            url = await target.url()
        finally:
            attempt.resolving = False
        async with self._user_lock(user_id):
            if self.closing:
                raise JoinFailed("bridge is shutting down")
            if attempt.abandoned:  # answered while it waited: it must change nothing
                raise JoinFailed(f"abandoned before it started: {attempt.why}")
            old = self._sessions.pop(user_id, None)
            if old is not None:
                await self._close(old, "replaced by a new JoinRoom", StreamEnd.REPLACED)
            session = Session(
                user_id,
                room_name=room_name,
                target_identity=target_identity,
                config=self._config,
                on_idle=self._on_idle,
            )
            attempt.connecting = True
            await session.connect(url, token)
            if self.closing or attempt.abandoned:
                why = "bridge is shutting down" if self.closing else attempt.why
                await self._close(session, why)
                if attempt.abandoned:
                    log.info("session %s: late join left again (%s)", user_id, why)
                raise JoinFailed(why)
            self._sessions[user_id] = session
            self.sessions_created += 1
            log.info("session %s joined room %s", user_id, clip(session.room_name))
            return session

    async def leave(self, user_id: str, reason: str) -> bool:
        """Close the user's session. Joins of the user still under way are given up: one that
        is connecting holds the user's lock until the SDK answers (seconds under load), and no
        session is registered meanwhile, so the answer comes at once; its room is left as soon
        as it is joined."""
        connecting = False
        for task, attempt in self._joins.items():
            if attempt.user_id == user_id and not task.done():  # done: its session is stored
                self._abandon(
                    attempt, f"left by LeaveRoom while connecting ({reason or 'LeaveRoom'})"
                )
                connecting = connecting or attempt.connecting
        if connecting:
            return True
        async with self._user_lock(user_id):
            session = self._sessions.pop(user_id, None)
            if session is None:
                return False
            await self._close(session, reason or "LeaveRoom")
        return True

    async def remove(self, session: Session, reason: str) -> None:
        """Close `session` if it is still the one registered for its user (no stale removals)."""
        async with self._user_lock(session.user_id):
            if self._sessions.get(session.user_id) is session:
                del self._sessions[session.user_id]
                await self._close(session, reason)

    async def _close(
        self, session: Session, reason: str, why: StreamEnd = StreamEnd.SESSION_CLOSED
    ) -> None:
        await session.close(reason, why)
        await asyncio.to_thread(release_free_memory)

    def spawn_remove(self, session: Session, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self.remove(session, reason), name=f"remove:{session.user_id}"
        )
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s failed: %r", task.get_name(), task.exception())

    def _on_idle(self, session: Session) -> None:
        log.info(
            "session %s idle for %.0f s: closing", session.user_id, self._config.idle_timeout_s
        )
        self.spawn_remove(session, "idle timeout")

    async def close_all(self, reason: str) -> None:
        """Close every session, then wait for joins and removals still under way (a join that
        completes now leaves its room at once). Cancelling this stops the waiting only: the
        tasks go on, and a connect is never cancelled."""
        self.closing = True
        sessions = list(self._sessions.values())
        self._sessions.clear()
        results = await asyncio.gather(
            *(self._close(s, reason) for s in sessions), return_exceptions=True
        )
        for session, result in zip(sessions, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("closing session %s failed: %r", session.user_id, result)
        for pending in (set(self._joins), set(self._background)):
            if pending:
                await asyncio.wait(pending)
