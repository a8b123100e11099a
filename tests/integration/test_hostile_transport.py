"""What a client can do below and at the gRPC layer (issue 23: findings 2, 3, 5, 11, 12), at the
issue's own volumes, through a real `lkbridge serve` on 127.0.0.1 and frames written by hand
(tests/h2raw.py) or a real grpc client. Each test ends with the bridge's RSS back within a few
MB of where it started: memory that a burst took comes back (finding 12).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections import Counter

import grpc
import pytest
from hyperframe.frame import SettingsFrame

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge._proto import livekit_bridge_pb2_grpc as pb_grpc
from lkbridge.client import BridgeClient
from lkbridge.devstack.ports import free_port
from lkbridge.errors import ClientError
from tests.h2raw import PREFACE, RawH2, grpc_message, open_fds, rss_mb
from tests.helpers import wait_until
from tests.integration.test_hostile_edges import Served, serve_procs, start_serve

__all__ = ["serve_procs"]  # the fixture, imported for this module

TOKEN = "transport-test-token"
MIB = 1024 * 1024
REFUSED_STREAM = 7
PER_CONNECTION, MAX_CALLS = 256, 2000  # the defaults of --max-streams-per-connection, --max-calls
SETTLE_S = 60.0  # finding 12: back within a few MB within a minute
RSS_SLACK_MB = 12.0


def serve(
    procs: list[subprocess.Popen[str]], *args: str, env: dict[str, str] | None = None
) -> tuple[Served, int]:
    served = start_serve(procs, "--port", "0", "--auth-token", TOKEN, *args, env=env)
    return served, int(served.lines[0].rsplit(":", 1)[1])


async def tasks_of(port: int) -> int:
    async with BridgeClient(f"127.0.0.1:{port}", auth_token=TOKEN) as client:
        return int((await client.health()).metadata["tasks"])


async def settled(pid: int, baseline_mb: float, slack_mb: float = RSS_SLACK_MB) -> float:
    """Wait (up to a minute) for the bridge's RSS to come back near `baseline_mb`."""
    await wait_until(
        lambda: rss_mb(pid) < baseline_mb + slack_mb,
        timeout=SETTLE_S,
        what=f"RSS back within {slack_mb} MB of {baseline_mb:.0f} MB (now {rss_mb(pid):.0f})",
    )
    print(f"RSS settled: {baseline_mb:.0f} -> {rss_mb(pid):.0f} MB")
    return rss_mb(pid)


async def baseline(served: Served, port: int) -> float:
    """RSS once the bridge has served a call (its channel and handler paths warmed up)."""
    await tasks_of(port)
    await asyncio.sleep(1.0)
    return rss_mb(served.proc.pid)


# -- finding 2: compressed messages --------------------------------------------------------------


def gzip_burst(port: int, method: str, message: bytes, count: int) -> Counter[tuple[str, str]]:
    """`count` calls of `method`, each one gzip message, no token, on one connection."""
    conn = RawH2(port)
    try:
        conn.preface()
        ids = []
        for _ in range(count):
            sid, headers = conn.headers(method, encoding="gzip")
            conn.send(headers + conn.data(sid, message))
            ids.append(sid)
        answers = conn.read(50, until=lambda a: all(a.status(s) for s in ids))
        return Counter(
            (answers.status(s) or "none", answers.headers.get(s, {}).get("grpc-message", ""))
            for s in ids
        )
    finally:
        conn.close()


async def test_gzip_that_inflates_19_mib_is_refused_before_it_inflates(
    serve_procs: list[subprocess.Popen[str]],
) -> None:
    served, port = serve(serve_procs)
    pid = served.proc.pid
    start = await baseline(served, port)
    join = pb.JoinRoomRequest(user_id="u", token="a" * (19 * MIB)).SerializeToString()
    chunk = pb.AudioChunk(user_id="u", pcm_data=bytes(19 * MIB)).SerializeToString()
    peak = start
    for method, payload in (("JoinRoom", join), ("StreamAudio", chunk)):
        message = grpc_message(payload, gzipped=True)
        assert len(message) < 20_000  # 19 KB on the wire, 19 MiB inflated
        answers = await asyncio.to_thread(gzip_burst, port, method, message, 100)
        peak = max(peak, rss_mb(pid))
        assert answers == Counter({("12", "Compression algorithm 'gzip' is disabled."): 100})
    assert peak < start + 50, f"RSS {start:.0f} -> {peak:.0f} MB"
    # with the token too: refused alike, never inflated
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.LiveKitBridgeStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetStatus(
                pb.BridgeStatusRequest(user_id="u"),
                metadata=(("authorization", f"Bearer {TOKEN}"),),
                compression=grpc.Compression.Gzip,
            )
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert err.value.details() == "Compression algorithm 'gzip' is disabled."
    await settled(pid, start)


# -- finding 3: streams --------------------------------------------------------------------------


async def at_max_calls(port: int, timeout: float = 4.0) -> ClientError:
    """The refusal of a new call once the streams just sent hold the --max-calls bound.

    Asked until it comes, not after a guessed sleep: on a loaded machine the server takes its
    time to admit thousands of streams, and a call asked before that is served. `timeout` stays
    inside the 5 s first-message bound, after which the held calls end and free their slots.
    """
    deadline = time.monotonic() + timeout
    async with BridgeClient(f"127.0.0.1:{port}", auth_token=TOKEN, timeout=3) as client:
        while True:
            try:
                await client.health()
            except ClientError as exc:
                return exc
            if time.monotonic() > deadline:
                raise TimeoutError(f"no call refused within {timeout:g} s of the streams")
            await asyncio.sleep(0.05)


def open_streams(port: int, connections: int, per_connection: int) -> list[RawH2]:
    """StreamAudio HEADERS, no token, no message, far past the server's per-connection cap,
    on every connection at once."""
    conns = [RawH2(port) for _ in range(connections)]
    for conn in conns:
        conn.preface()
    for conn in conns:  # the server's SETTINGS, acknowledged: its limits now apply
        conn.read(2.0, until=lambda a: a.settings_seen)
    for conn in conns:
        conn.send(b"".join(conn.headers("StreamAudio")[1] for _ in range(per_connection)))
    return conns


async def test_streams_are_capped_per_connection_and_end_without_a_first_message(
    serve_procs: list[subprocess.Popen[str]],
) -> None:
    served, port = serve(serve_procs)
    pid = served.proc.pid
    start = await baseline(served, port)
    tasks_before = await tasks_of(port)
    conns = await asyncio.to_thread(open_streams, port, 20, 1000)  # 20,000 streams
    began = time.monotonic()
    try:
        # at the --max-calls bound: every further call is refused at once, health included
        refused_call = await at_max_calls(port)
        assert (refused_call.code, refused_call.details) == (
            "RESOURCE_EXHAUSTED",
            "Concurrent RPC limit exceeded!",
        )
        peak = rss_mb(pid)
        answers = await asyncio.to_thread(
            lambda: [c.read(12, until=lambda a: len(a.resets) >= 1000) for c in conns]
        )
        statuses: Counter[tuple[str | None, str | None]] = Counter()
        refused_in_all = 0
        for answer in answers:
            refused = sum(1 for code in answer.resets.values() if code == REFUSED_STREAM)
            # at most 256 open at once, advertised and enforced; how many of the 1,000 get in
            # over time depends on how fast the calls refused at --max-calls end and free their
            # slots (on a quiet machine 589 of them did), so the total is no measure of the cap
            cap = answer.settings.get(SettingsFrame.MAX_CONCURRENT_STREAMS)
            assert cap == PER_CONNECTION, answer.settings
            refused_in_all += refused
            assert refused + len(answer.headers) == 1000, (refused, len(answer.headers))
            statuses.update(
                (h.get("grpc-status"), h.get("grpc-message")) for h in answer.headers.values()
            )
        # the connections whose 256 calls were held (until --max-calls) refused the rest; the
        # others' calls ended at once at --max-calls, so they never had 256 open to refuse past
        assert refused_in_all >= PER_CONNECTION, refused_in_all
        # (a few hundred end CANCELLED: grpc core's, under this load; not yet explained)
        assert set(statuses) - {("1", "CANCELLED")} == {
            ("16", "missing bearer token"),
            ("8", "Concurrent RPC limit exceeded!"),
        }, statuses
        assert statuses[("16", "missing bearer token")] <= MAX_CALLS, statuses
        assert time.monotonic() - began < 20, "ended at the 5 s first-message bound"
        assert max(peak, rss_mb(pid)) < start + 100, f"RSS {start:.0f} -> {peak:.0f} MB"
        print(f"streams: RSS {start:.0f} -> {peak:.0f} MB, {dict(statuses)}")
    finally:
        for conn in conns:
            conn.close()
    await wait_until(lambda: open_fds(pid) < 40, timeout=10, what="connections closed")
    assert await tasks_of(port) <= tasks_before + 2
    # glibc keeps what it cannot trim: freed fragments with no whole page free (about 45 MB
    # after 5,000 calls; the old code kept 120 MB after 5,600 streams it never ended)
    await settled(pid, start, slack_mb=40)


async def test_a_stream_with_the_token_and_no_first_message_ends_at_the_bound(
    serve_procs: list[subprocess.Popen[str]],
) -> None:
    _, port = serve(serve_procs)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = pb_grpc.LiveKitBridgeStub(channel).StreamAudio(
            metadata=(("authorization", f"Bearer {TOKEN}"),)
        )
        began = time.monotonic()
        code = await asyncio.wait_for(call.code(), 15)
        elapsed = time.monotonic() - began
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert await call.details() == "no first AudioChunk within 5 s of the stream's start"
    assert 4.0 < elapsed < 12.0, elapsed


# -- finding 5: idle connections -----------------------------------------------------------------


def connect_idle(port: int, count: int) -> list[socket.socket]:
    """`count` connections that send the preface and an empty SETTINGS, then nothing."""
    hello = PREFACE + SettingsFrame(0).serialize()
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        with contextlib.suppress(OSError):
            sock.sendall(hello)
        socks.append(sock)
    return socks


async def test_idle_connections_are_capped_and_closed_and_health_still_answers(
    serve_procs: list[subprocess.Popen[str]],
) -> None:
    served, port = serve(serve_procs, env={"LKBRIDGE_CONNECTION_IDLE_TIMEOUT": "3"})
    pid = served.proc.pid
    async with BridgeClient(f"127.0.0.1:{port}", auth_token=TOKEN) as existing:
        await existing.health()
        start = await baseline(served, port)
        fds_before = open_fds(pid)
        socks = await asyncio.to_thread(connect_idle, port, 19_000)
        try:
            assert open_fds(pid) <= fds_before + 100 + 10, open_fds(pid)
            health = await asyncio.wait_for(existing.health(), 10)  # at the limit
            assert health.status == pb.HealthCheckResponse.SERVING
            # the held ones are closed after the idle timeout: a new client gets in
            await wait_until(
                lambda: open_fds(pid) <= fds_before + 5, timeout=15, what="idle closed"
            )
            async with BridgeClient(f"127.0.0.1:{port}", auth_token=TOKEN) as late:
                with pytest.raises(ClientError) as err:
                    await late.join("late", token="t", livekit_url="ftp://x")
            assert err.value.code == "INVALID_ARGUMENT"
        finally:
            for sock in socks:
                sock.close()
    await settled(pid, start)


# -- finding 11: rapid reset, huge headers -------------------------------------------------------


def rapid_reset(port: int, pairs: int) -> RawH2:
    conn = RawH2(port)
    conn.preface()
    conn.read(1.0, until=lambda a: False)
    batch = bytearray()
    for _ in range(pairs):
        sid, headers = conn.headers("/grpc.health.v1.Health/Check")
        batch += headers + conn.rst(sid)
        if len(batch) > 1 << 16:
            try:
                conn.send(bytes(batch))
            except OSError:
                conn.answers.closed = True
                return conn
            batch.clear()
            conn.read(0.0, until=lambda a: True)
    with contextlib.suppress(OSError):
        conn.send(bytes(batch))
    conn.read(5.0, until=lambda a: a.goaway is not None)
    return conn


async def test_rapid_reset_leaves_health_answering_and_memory_comes_back(
    serve_procs: list[subprocess.Popen[str]],
) -> None:
    health_port = free_port()
    served, port = serve(serve_procs, "--health-port", str(health_port))
    pid = served.proc.pid
    start = await baseline(served, port)
    attack = asyncio.create_task(asyncio.to_thread(rapid_reset, port, 100_000))
    during: Counter[str] = Counter()  # the health port, asked on a new connection each time
    while not attack.done():
        async with BridgeClient(f"127.0.0.1:{health_port}", timeout=5) as probe:
            during[await probe.standard_health()] += 1
        await asyncio.sleep(0.5)
    conn = await attack
    conn.close()
    # no grpc core 1.85 channel arg makes this a GOAWAY (docs/operations.md, "Rapid reset")
    print(f"rapid reset: goaway={conn.answers.goaway} closed={conn.answers.closed} {during}")
    assert set(during) == {"SERVING"} and during["SERVING"] >= 3, during
    async with BridgeClient(f"127.0.0.1:{port}", auth_token=TOKEN) as client:
        assert (await client.health()).status == pb.HealthCheckResponse.SERVING
    # measured a minute later: +2 to +14 MB over runs, with or without the health port's probes
    await settled(pid, start, slack_mb=20)


def huge_headers(port: int, count: int) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for _ in range(count):
        conn = RawH2(port)
        try:
            conn.preface()
            sid, headers = conn.headers(
                "/grpc.health.v1.Health/Check", extra=(("x-big", "a" * MIB),)
            )
            try:
                conn.send(headers + conn.data(sid, grpc_message(b"")))
            except OSError:
                outcomes["closed"] += 1
                continue
            answers = conn.read(10, until=lambda a, sid=sid: a.status(sid) or sid in a.resets)
            status = answers.status(sid)
            outcomes["served" if status == "0" else f"refused {status or 'reset'}"] += 1
        finally:
            conn.close()
    return outcomes


async def test_a_1_mib_header_is_never_served(serve_procs: list[subprocess.Popen[str]]) -> None:
    served, port = serve(serve_procs)
    start = await baseline(served, port)
    outcomes = await asyncio.to_thread(huge_headers, port, 100)
    print(f"1 MiB headers: {outcomes}")
    assert "served" not in outcomes, outcomes
    assert outcomes["refused 8"] >= 90, outcomes  # RESOURCE_EXHAUSTED (core or the bridge)
    await asyncio.sleep(10)
    # grpc core keeps some of what 100 MiB of headers cost (measured: +40 MB; docs)
    assert rss_mb(served.proc.pid) < start + 60
