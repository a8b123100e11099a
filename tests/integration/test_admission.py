"""Admission control: --max-sessions and --max-joins-in-flight, through the real SFU.

Before the bounds, 150 JoinRooms at once opened 16k fds and starved a healthy session's audio
to 0-2 chunks/s; 300 hit the fd limit, and LeaveRooms waited 60 s behind connects. The attack
test fires 300 at a `lkbridge serve` process (its own fds, its own loop) with its defaults, while
one session streams device audio to its client, and checks what the issue asks for.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import psutil
import pytest

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.audio.pcm import to_int16
from lkbridge.audio.signal import dominant_frequency, tone
from lkbridge.client import AudioStreamCall, BridgeClient
from lkbridge.errors import ClientError
from lkbridge.server.config import (
    DEFAULT_MAX_CPU,
    DEFAULT_MAX_JOINS_IN_FLIGHT,
    DEFAULT_MAX_SESSIONS,
)
from lkbridge.server.front.workers import shard_of
from tests.conftest import BridgeFactory, DeviceFactory, LiveKitEnv
from tests.helpers import wait_for, wait_until
from tests.support.audio import stream_tone
from tests.support.resolvers import HeldResolver
from tests.support.serving import ServeProcess, serve_process, start_serve
from tests.support.silent import Silent, silent

__all__ = ["serve_process", "silent"]  # fixtures, imported for this module

ATTACKERS = 300
CHANNELS = 3  # connections the attackers spread over, 100 calls each
CALLER_DEADLINE_S = 5.0  # each attacker gives up after this
TONE_HZ = 440.0
REFUSAL = re.compile(
    rf"too many JoinRooms connecting: \d+, the limit set by --max-joins-in-flight "
    rf"{DEFAULT_MAX_JOINS_IN_FLIGHT}; retry shortly"
    rf"|bridge full: \d+ sessions held or joining, the limit set by --max-sessions "
    rf"{DEFAULT_MAX_SESSIONS}"
    # an attack that makes the process busy meets the CPU bound (--max-cpu) too
    rf"|bridge busy: it used \d+ % of its CPU \([\d.]+ cores?\) over the last 5 s, the limit set "
    rf"by --max-cpu {DEFAULT_MAX_CPU:g}(; its \d+ sessions? (is|are) kept)?"
)


@dataclass
class Listener:
    """The healthy session's client: arrival times of the chunks that carry the device's tone."""

    arrivals: list[float] = field(default_factory=list)
    other: int = 0

    def rate(self, start: float, end: float) -> float:
        return sum(start <= t < end for t in self.arrivals) / (end - start)

    def longest_gap(self, start: float, end: float) -> float:
        times = [start] + [t for t in self.arrivals if start <= t < end] + [end]
        return max(b - a for a, b in itertools.pairwise(times))


async def listen(stream: AudioStreamCall, listener: Listener) -> None:
    async for chunk in stream:
        samples = to_int16(chunk.pcm_data)
        if len(samples) >= 800 and abs(dominant_frequency(samples, 16000) - TONE_HZ) < 15:
            listener.arrivals.append(time.monotonic())
        else:
            listener.other += 1


async def sample_fds(pid: int, peak: list[int]) -> None:
    proc = psutil.Process(pid)
    while True:
        try:
            peak[0] = max(peak[0], proc.num_fds())
        except psutil.Error:
            return
        await asyncio.sleep(0.05)


@dataclass
class Outcome:
    seconds: float
    kind: str  # joined, refused, gave-up, failed
    detail: str = ""


async def attack_join(client: BridgeClient, livekit: LiveKitEnv, room: str, i: int) -> Outcome:
    started = time.monotonic()
    try:
        answer = await client.join(
            f"atk{i}",
            token=livekit.token(room, f"cloud-agent:atk{i}"),
            livekit_url=livekit.url,
        )
    except ClientError as exc:
        kind = {"RESOURCE_EXHAUSTED": "refused", "DEADLINE_EXCEEDED": "gave-up"}.get(exc.code)
        return Outcome(time.monotonic() - started, kind or exc.code, exc.details)
    kind = "joined" if answer.success else "failed"
    return Outcome(time.monotonic() - started, kind, answer.error)


async def timed_leave(client: BridgeClient, i: int) -> tuple[float, str]:
    started = time.monotonic()
    try:
        answer = await client.leave(f"atk{i}", "attack over")
        outcome = "left" if answer.success else answer.error
    except ClientError as exc:
        outcome = exc.code
    return time.monotonic() - started, outcome


async def test_300_joins_at_once_are_refused_and_the_healthy_session_keeps_streaming(
    serve_process: list[ServeProcess],
    livekit_server: LiveKitEnv,
    device_factory: DeviceFactory,
    room_name: str,
) -> None:
    served = start_serve("--port", "0", "--log-level", "warning")
    serve_process.append(served)
    pid = served.proc.pid
    healthy = BridgeClient(served.target)
    # each wave over CHANNELS connections: one connection holds at most --max-streams-per-
    # connection (256) calls at once, and a grpc-core client reports the rest UNAVAILABLE
    attackers = [BridgeClient(served.target, timeout=CALLER_DEADLINE_S) for _ in range(CHANNELS)]
    impatient: list[BridgeClient] = []  # the second wave's, made once the first shows its pace
    leavers = [BridgeClient(served.target, timeout=30.0) for _ in range(CHANNELS)]
    attack_room = f"{room_name}-atk"
    watcher = await device_factory(attack_room, "watcher")
    device = await device_factory(room_name, "device")
    joined = await healthy.join(
        "healthy",
        token=livekit_server.token(room_name, "cloud-agent:healthy"),
        livekit_url=livekit_server.url,
        target_identity="device",
    )
    assert joined.success, joined.error
    stream = healthy.stream("healthy")
    await stream.open()
    listener = Listener()
    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(listen(stream, listener)),
        loop.create_task(device.send_packets(to_int16(tone(TONE_HZ, 90.0)), chunk_ms=100)),
    ]
    fds = [0]
    try:
        await wait_until(lambda: len(listener.arrivals) >= 10, 10, "the healthy session's audio")
        base_start = time.monotonic()
        await asyncio.sleep(4.0)
        base_end = time.monotonic()
        fds[0] = base_fds = psutil.Process(pid).num_fds()
        tasks.append(loop.create_task(sample_fds(pid, fds)))

        fired = time.monotonic()
        outcomes = await asyncio.gather(
            *(
                attack_join(attackers[i % CHANNELS], livekit_server, attack_room, i)
                for i in range(ATTACKERS)
            )
        )
        leaves = await asyncio.gather(
            *(timed_leave(leavers[i % CHANNELS], i) for i in range(ATTACKERS))
        )
        # a second wave gives up while its joins still connect, and those must never land: its
        # callers wait half the first wave's quickest join (0.14 s on a quiet machine, more on a
        # busy one), so no connect can finish in time whatever the machine's pace
        quickest = min((o.seconds for o in outcomes if o.kind == "joined"), default=0.6)
        impatient += [BridgeClient(served.target, timeout=quickest / 2) for _ in range(CHANNELS)]
        second = await asyncio.gather(
            *(
                attack_join(impatient[i % CHANNELS], livekit_server, attack_room, ATTACKERS + i)
                for i in range(ATTACKERS)
            )
        )
        await asyncio.sleep(2.0)
        attack_end = time.monotonic()

        async def settled() -> bool:
            health = await healthy.health()
            return health.metadata["joins_in_flight"] == "0"

        for _ in range(300):  # abandoned connects end by themselves (never cancelled)
            if await settled():
                break
            await asyncio.sleep(0.1)
        after = await healthy.health()
        await asyncio.sleep(3.0)  # no late connect lands after that either
        later = await healthy.health()
        atk_in_room = [p for p in watcher.room.remote_participants if p.startswith("cloud-agent")]
    finally:
        for task in tasks:
            task.cancel()
        stream.cancel()
        for client in (healthy, *attackers, *leavers, *impatient):
            await client.aclose()

    kinds = {k: sum(o.kind == k for o in outcomes) for k in {o.kind for o in outcomes}}
    refused = [o for o in outcomes if o.kind == "refused"]
    base_rate = listener.rate(base_start, base_end)
    attack_rate = listener.rate(fired, attack_end)
    gap = listener.longest_gap(fired, attack_end)
    slowest_refusal = max((o.seconds for o in refused), default=0.0)
    figures = (
        f"outcomes {kinds}; refused answered within {slowest_refusal:.2f} s; "
        f"audio {base_rate:.1f} -> {attack_rate:.1f} chunks/s, longest gap {gap:.2f} s; "
        f"fds {base_fds} -> peak {fds[0]}; slowest LeaveRoom {max(t for t, _ in leaves):.2f} s; "
        f"joins took {sorted(round(o.seconds, 2) for o in outcomes if o.kind == 'joined')} s; "
        f"second wave {dict(Counter(o.kind for o in second))}, "
        f"abandoned {later.metadata['joins_abandoned']}"
    )
    print(figures)
    # the excess: RESOURCE_EXHAUSTED at once, naming the limit
    assert set(kinds) <= {"joined", "refused", "gave-up"}, figures
    assert kinds.get("joined", 0) <= DEFAULT_MAX_SESSIONS - 1, figures
    assert len(refused) >= ATTACKERS - 2 * DEFAULT_MAX_SESSIONS, figures
    assert all(REFUSAL.fullmatch(o.detail) for o in refused), refused[0].detail
    assert slowest_refusal < CALLER_DEADLINE_S / 2, figures
    # the healthy session keeps its audio rate (10 chunks/s of the device's tone)
    assert base_rate >= 8.0, figures
    assert attack_rate >= 0.8 * base_rate and gap < 1.5, figures
    # fds bounded by the limits: a room holds about 130 (150 unbounded joins opened 16k)
    assert fds[0] - base_fds < 150 * DEFAULT_MAX_SESSIONS, figures
    # LeaveRooms answer promptly, whatever the joins did
    assert {o for _, o in leaves} <= {"left", "session not found"}, figures
    assert max(t for t, _ in leaves) < 3.0, figures
    # no abandoned connect lands in a live session
    assert (after.active_sessions, later.active_sessions) == (1, 1), figures
    gave_up = sum(o.kind == "gave-up" for o in second)
    assert gave_up and {o.kind for o in second} <= {"gave-up", "refused"}, second[:3]
    assert int(later.metadata["joins_abandoned"]) >= 1, "no connect was abandoned: no test"
    # not one of the second wave's connects became a session, even for a moment
    assert int(later.metadata["sessions_created"]) == 1 + kinds.get("joined", 0)
    assert later.metadata["joins_in_flight"] == "0"
    assert not atk_in_room, atk_in_room
    # (the second wave's refusals may come after its callers gave up: counted, never seen)
    assert int(later.metadata["joins_refused"]) >= len(refused)
    assert later.metadata["max_sessions"] == str(DEFAULT_MAX_SESSIONS)
    assert later.metadata["max_joins_in_flight"] == str(DEFAULT_MAX_JOINS_IN_FLIGHT)


# -- the rules, one at a time, in process ---------------------------------------------------------


async def test_past_max_sessions_a_new_user_is_refused_and_a_rejoin_is_not(
    bridge_factory: BridgeFactory,
    device_factory: DeviceFactory,
    room_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bridge = await bridge_factory(max_sessions=1)
    await device_factory(room_name, "device")
    await bridge.join("first", room_name)
    with caplog.at_level(logging.WARNING), pytest.raises(ClientError) as err:
        await bridge.join("second", room_name)
    full = "bridge full: 1 sessions held or joining, the limit set by --max-sessions 1"
    assert (err.value.code, err.value.details) == ("RESOURCE_EXHAUSTED", full)
    logged = [r.getMessage() for r in caplog.records]
    assert f"JoinRoom second refused: {full} (1 refused since start)" in logged, logged
    await bridge.join("first", room_name)  # a rejoin replaces: no new session
    assert len(bridge.server.registry) == 1
    health = await bridge.client.health()
    assert (health.metadata["max_sessions"], health.metadata["joins_refused"]) == ("1", "1")
    await bridge.client.leave("first")
    await bridge.join("second", room_name)  # room again


async def test_past_max_joins_in_flight_a_join_is_refused_at_once(
    bridge_factory: BridgeFactory, silent: Silent, room_name: str
) -> None:
    bridge = await bridge_factory(max_joins_in_flight=2, connect_timeout_s=2.0)
    url = f"ws://127.0.0.1:{silent.port}"
    token = bridge.livekit.token(room_name, "cloud-agent:x")
    stuck = [
        asyncio.create_task(bridge.client.join(f"s{i}", token=token, livekit_url=url))
        for i in range(2)
    ]
    registry = bridge.server.registry
    await wait_until(lambda: registry.joins_in_progress == 2, 5, "two joins connecting")
    health = await bridge.client.health()
    assert (health.metadata["joins_in_flight"], health.metadata["max_joins_in_flight"]) == (
        "2",
        "2",
    )
    with pytest.raises(ClientError) as err:
        await bridge.client.join("third", token=token, livekit_url=url)
    assert (err.value.code, err.value.details) == (
        "RESOURCE_EXHAUSTED",
        "too many JoinRooms connecting: 2, the limit set by --max-joins-in-flight 2; retry shortly",
    )
    # a LeaveRoom of a user still connecting answers now, not when the SDK gives up
    started = time.monotonic()
    left = await bridge.client.leave("s0")
    assert left.success and time.monotonic() - started < 1.0
    answers = await asyncio.gather(*stuck)
    assert {a.error for a in answers} == {"timed out: no answer from the livekit server within 2 s"}
    await wait_until(lambda: registry.joins_in_progress == 0, 60, "abandoned connects to end")
    assert len(registry) == 0 and registry.user_locks == 0


async def test_slow_livekit_names_are_bounded_by_max_joins_in_flight(
    bridge_factory: BridgeFactory, room_name: str
) -> None:
    """A name's lookup runs inside the join's admission slot: a flood of JoinRooms whose names
    resolve slowly starts --max-joins-in-flight lookups, and the rest are refused at once (before:
    every JoinRoom started its lookup ahead of admission, 12 of 12 here). The resolver is a
    stand-in that waits (the bridge's own one runs getaddrinfo in its threads)."""
    bridge = await bridge_factory(max_joins_in_flight=2, connect_timeout_s=2.0)
    slow = HeldResolver()

    bridge.server.service.resolve = slow  # type: ignore[attr-defined]
    token = bridge.livekit.token(room_name, "cloud-agent:x")

    async def join(user: str) -> object:
        try:
            return await bridge.client.join(user, token=token, livekit_url="ws://slow.test:7880")
        except ClientError as exc:
            return exc

    outcomes = await asyncio.gather(*(join(f"slow{i}") for i in range(12)))
    refused = [o for o in outcomes if isinstance(o, ClientError)]
    answered = [o for o in outcomes if isinstance(o, pb.JoinRoomResponse)]
    assert {(e.code, e.details) for e in refused} == {
        (
            "RESOURCE_EXHAUSTED",
            "too many JoinRooms connecting: 2, the limit set by --max-joins-in-flight 2; "
            "retry shortly",
        )
    }
    assert len(refused) == 10 and slow.most == 2
    assert {(a.success, a.error) for a in answered} == {
        (False, "cannot resolve livekit_url host 'slow.test' to check it: no answer within 2 s")
    }
    registry = bridge.server.registry
    assert registry.joins_in_progress == 2  # answered; the lookups still hold their slots
    slow.release()
    await wait_until(lambda: registry.joins_in_progress == 0, 10, "the lookups to end")
    assert len(registry) == 0 and registry.user_locks == 0 and slow.running == 0


async def test_a_front_applies_the_limit_in_each_worker_and_reports_the_sum(
    serve_process: list[ServeProcess],
    livekit_server: LiveKitEnv,
    device_factory: DeviceFactory,
    room_name: str,
) -> None:
    served = start_serve("--port", "0", "--workers", "2", "--max-sessions", "1")
    serve_process.append(served)
    await device_factory(room_name, "device")
    users = [u for u in (f"fu{i}" for i in range(20)) if shard_of(u, 2) == 0][:2]
    async with BridgeClient(served.target) as client:
        await client.wait_ready()

        async def join(user: str) -> pb.JoinRoomResponse:
            token = livekit_server.token(room_name, f"cloud-agent:{user}")
            return await client.join(user, token=token, livekit_url=livekit_server.url)

        first = await join(users[0])
        assert first.success, first.error
        with pytest.raises(ClientError) as err:  # the same worker: full
            await join(users[1])
        assert (err.value.code, err.value.details) == (
            "RESOURCE_EXHAUSTED",
            "bridge full: 1 sessions held or joining, the limit set by --max-sessions 1",
        )
        other = next(u for u in (f"fo{i}" for i in range(20)) if shard_of(u, 2) == 1)
        assert (await join(other)).success
        health = await client.health()
        assert health.active_sessions == 2
        assert health.metadata["max_sessions"] == "2"  # each worker's, added up
        assert health.metadata["joins_refused"] == "1"
        assert health.metadata["max_joins_in_flight"] == str(2 * DEFAULT_MAX_JOINS_IN_FLIGHT)
        # the CPU bound is each worker's, of its half of the cores: the front shows the bound
        # and the busiest worker's use, not a sum
        assert health.metadata["max_cpu"] == f"{DEFAULT_MAX_CPU:g}"
        assert 0 <= float(health.metadata["cpu_busy_percent"]) < DEFAULT_MAX_CPU


# -- admission by CPU: a real `lkbridge serve` on one core, loaded by real sessions ---------------

BUSY = re.compile(
    r"bridge busy: it used (\d+) % of its CPU \(1 core\) over the last 5 s, the limit set by "
    r"--max-cpu 5; its 3 sessions are kept"
)


def busy_past(
    client: BridgeClient, percent: float, *, below: bool = False
) -> Callable[[], Awaitable[bool]]:
    """Whether the bridge's CPU use (HealthCheck) is at or past `percent` (or under it)."""

    async def check() -> bool:
        busy = float((await client.health()).metadata["cpu_busy_percent"])
        return busy < percent if below else busy >= percent

    return check


async def test_past_max_cpu_a_new_user_is_refused_and_the_busy_sessions_keep_streaming(
    serve_process: list[ServeProcess],
    livekit_server: LiveKitEnv,
    device_factory: DeviceFactory,
    room_name: str,
) -> None:
    """Three sessions streaming both ways take about 15 % of one core (5 % each, docs/
    benchmarks.md) and an idle bridge about 1 %: with --max-cpu 5 on one core, a fourth user is
    refused while the three stream on, a rejoin of one of them passes, and once they leave a
    new user is admitted again."""
    served = start_serve(
        "--port", "0", "--log-level", "warning", "--max-cpu", "5",
        prefix=["taskset", "--cpu-list", str(min(os.sched_getaffinity(0)))],
    )  # fmt: skip
    serve_process.append(served)
    client = BridgeClient(served.target)
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[object]] = []
    listeners, devices, streams = [Listener() for _ in range(3)], [], []
    try:
        for i, listener in enumerate(listeners):
            room = f"{room_name}-{i}"
            devices.append(device := await device_factory(room, "device"))
            joined = await client.join(
                f"u{i}",
                token=livekit_server.token(room, f"cloud-agent:u{i}"),
                livekit_url=livekit_server.url,
                target_identity="device",
            )
            assert joined.success, joined.error
            streams.append(stream := client.stream(f"u{i}"))
            await stream.open()
            tasks += [
                loop.create_task(listen(stream, listener)),
                loop.create_task(device.send_packets(tone(TONE_HZ, 60.0))),
                loop.create_task(stream_tone(stream, 600.0 + 100 * i, 60.0)),
            ]

        await wait_for(busy_past(client, 10), 30, "three sessions' CPU past 10 % of the core")
        refused_at = time.monotonic()
        with pytest.raises(ClientError) as err:
            await client.join(
                "late",
                token=livekit_server.token(room_name, "cloud-agent:late"),
                livekit_url=livekit_server.url,
            )
        assert err.value.code == "RESOURCE_EXHAUSTED", err.value
        match = BUSY.fullmatch(err.value.details)
        assert match and int(match[1]) >= 5, err.value.details
        await asyncio.sleep(3.0)
        # the sessions it holds keep their audio both ways: the device's tone reaches each
        # client at its rate, and each device hears its own client's tone
        rates = [listener.rate(refused_at, refused_at + 3.0) for listener in listeners]
        print(f"refused at {match[1]} % of one core; device audio after it {rates} chunks/s")
        assert min(rates) >= 8.0, rates
        for i, device in enumerate(devices):
            heard = (await device.wait_for_track("speaker")).samples()[-16000:]
            assert abs(dominant_frequency(heard, 16000) - (600 + 100 * i)) < 15, i
        health = await client.health()
        assert (health.active_sessions, health.metadata["max_cpu"]) == (3, "5")
        assert health.metadata["joins_refused"] == "1"
        # a rejoin replaces a session: it adds no load, so it passes
        rejoined = await client.join(
            "u0",
            token=livekit_server.token(f"{room_name}-0", "cloud-agent:u0"),
            livekit_url=livekit_server.url,
        )
        assert rejoined.success, rejoined.error
    finally:
        for task in tasks:
            task.cancel()
        for stream in streams:
            stream.cancel()
    for i in range(3):  # a cancelled stream may have ended its session already
        await client.leave(f"u{i}")
    assert (await client.health()).active_sessions == 0
    # the load gone, the window empties of it within about 5 s: a new user is admitted
    await wait_for(busy_past(client, 5, below=True), 20, "the CPU to fall under the bound")
    late = await client.join(
        "late",
        token=livekit_server.token(room_name, "cloud-agent:late"),
        livekit_url=livekit_server.url,
    )
    assert late.success, late.error
    await client.aclose()
