"""Locust scenarios for the bridge, behaving like the MentraOS cloud.

Each user: mints a token, JoinRoom (a room where devices.py has a device speaking),
opens StreamAudio with the empty first chunk carrying user_id, sends 16 kHz audio in 100 ms
chunks at real-time cadence, reads the room's audio, and now and then calls GetStatus,
PlayAudio on a short clip, StopAudio, or leaves and rejoins (churn).

Every received chunk is one request `audio device->client` whose response time is its
device -> SFU -> bridge -> client latency (the device stamps each packet: devstack/stamp.py).
Packets lost on the way are `audio hole` failures (response time: the audio missing), a silence
longer than STALL_MS is an `audio stall` failure; the latency gate reads the first row only.

Locust runs on gevent: this file uses the blocking grpc API after init_gevent(), never grpc.aio.
In distributed runs (`--processes`, `--master`/`--worker`) the workers take their options from
the master; the bridge sampler, the gates and the summary run on the master only, after every
worker's final report (distributed.py); each worker prints what it counted. Run it
through `lkbridge loadtest`, which starts the stack (or checks a given one) and prints the summary.
"""

from __future__ import annotations

import itertools
import json
import signal
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import grpc
import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

import gevent  # noqa: E402
from locust import LoadTestShape, User, between, events, task  # noqa: E402
from locust import runners as locust_runners  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.runners import MasterRunner, Runner, WorkerRunner  # noqa: E402
from locust.stats import StatsEntry  # noqa: E402

from lkbridge._proto import livekit_bridge_pb2 as pb  # noqa: E402
from lkbridge._proto import livekit_bridge_pb2_grpc as pb_grpc  # noqa: E402
from lkbridge.devstack.stamp import missing_between, read_stamp  # noqa: E402
from lkbridge.devstack.tokens import mint_token  # noqa: E402
from lkbridge.loadtest import summary  # noqa: E402
from lkbridge.loadtest.distributed import (  # noqa: E402
    FINAL_REPORT_GRACE_S,
    WorkerTally,
    collect_final_reports,
)
from lkbridge.loadtest.gates import Sample, evaluate_gates  # noqa: E402
from lkbridge.loadtest.timeline import (  # noqa: E402
    LIVE_JSON,
    TIMELINE_CSV,
    Bridge,
    Counts,
    Timeline,
    write_header,
    write_live,
)

# The master declares a worker missing after this many of its 1 s heartbeats go unheard
# (locust's default is 3). A worker's gevent loop can stall for seconds on a loaded generator:
# at load average 23 the master-with-two-workers test lost both workers within 7 s of the start,
# before any user ran. A worker that is really gone is still named, 10 s later.
locust_runners.HEARTBEAT_LIVENESS = 10

CHUNK_MS = 100
CHUNK = bytes(2 * 16 * CHUNK_MS)  # 100 ms of 16 kHz silence
STALL_MS = 400  # room audio arrives every 100 ms: a silence this long is a failure
PLAUSIBLE_MS = 60_000.0  # a stamp further off than this is not one of our devices'
SAMPLE_EVERY_S = 3.0  # a worker reports every 3 s: each interval holds about one report
MIN_INTERVAL_S = 0.5
_counter = itertools.count()


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    group = parser.add_argument_group("lkbridge")
    group.add_argument("--livekit-url", default="ws://127.0.0.1:7880")
    group.add_argument("--livekit-key", default="devkey")
    group.add_argument("--livekit-secret", default="", env_var="LKBRIDGE_LOADTEST_LIVEKIT_SECRET")
    group.add_argument("--bridge-auth-token", default="", env_var="LKBRIDGE_LOADTEST_AUTH_TOKEN",
                       help="bearer token of the bridge")  # fmt: skip
    group.add_argument("--room-prefix", default="load", help="rooms PREFIX-0 .. PREFIX-(N-1)")
    group.add_argument("--rooms", type=int, default=10, help="rooms with a speaking device")
    group.add_argument("--clip-url", default="", help="short audio for PlayAudio")
    group.add_argument("--shape", choices=["soak", "steps", "churn"], default="soak")
    group.add_argument("--plateau-users", type=int, default=5)
    group.add_argument("--ramp-s", type=float, default=10.0)
    group.add_argument("--plateau-s", type=float, default=60.0)
    group.add_argument("--step-users", type=int, default=2)
    group.add_argument("--step-s", type=float, default=30.0)
    group.add_argument("--timeline-dir", default="",
                       help=f"{TIMELINE_CSV} and {LIVE_JSON} here")  # fmt: skip
    group.add_argument("--summary-json", default="", help="the run's summary to this file")
    group.add_argument("--max-fail-ratio", type=float, default=0.01)
    group.add_argument("--max-p95-ms", type=float, default=500.0,
                       help="gate on the device->client p95 latency")  # fmt: skip
    group.add_argument("--max-rss-slope-mb-h", type=float, default=100.0)
    group.add_argument("--max-task-slope-per-h", type=float, default=100.0)
    group.add_argument("--min-plateau-s", type=float, default=600.0,
                       help="shortest plateau on which growth gates are judged")  # fmt: skip


def _fire(env: Environment, kind: str, name: str, response_ms: float,
          error: Exception | None = None, length: int = 0) -> None:  # fmt: skip
    env.events.request.fire(
        request_type=kind, name=name, response_time=response_ms, response_length=length,
        exception=error, context={},
    )  # fmt: skip


def _since_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _auth(options: Any) -> tuple[tuple[str, str], ...]:
    token = options.bridge_auth_token
    return (("authorization", f"Bearer {token}"),) if token else ()


class BridgeUser(User):
    """One cloud-side user session, streaming both ways."""

    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        runner = self.environment.runner
        worker, workers = 0, 1
        if isinstance(runner, WorkerRunner):  # the master forwards its --expect-workers
            worker, workers = runner.worker_index, max(1, int(options.expect_workers or 1))
        local = next(_counter)
        # users spread over the rooms across workers: worker w takes rooms w, w+K, w+2K, ...
        self.user_id = f"{options.room_prefix}-w{worker}-u{local}"
        self.room = f"{options.room_prefix}-{(local * workers + worker) % options.rooms}"
        self.metadata = _auth(options)
        self.channel = grpc.insecure_channel(
            self.host or "127.0.0.1:9090", options=[("grpc.http2.bdp_probe", 0)]
        )
        self.stub = pb_grpc.LiveKitBridgeStub(self.channel)
        self.stream: Any = None
        self.reader: gevent.Greenlet | None = None
        self._join_and_stream()

    def _unary(self, name: str, method: Any, request: Any) -> Any:
        started = time.perf_counter()
        try:
            response = method(request, timeout=15, metadata=self.metadata)
        except grpc.RpcError as exc:
            _fire(self.environment, "grpc", name, _since_ms(started), exc)
            return None
        _fire(self.environment, "grpc", name, _since_ms(started), None, response.ByteSize())
        return response

    def _join_and_stream(self) -> None:
        options = self.environment.parsed_options
        token = mint_token(
            options.livekit_key, options.livekit_secret, self.room, f"cloud-agent:{self.user_id}"
        )
        request = pb.JoinRoomRequest(
            user_id=self.user_id, room_name=self.room, token=token,
            livekit_url=options.livekit_url, target_identity="device",
        )  # fmt: skip
        response = self._unary("JoinRoom", self.stub.JoinRoom, request)
        if response is None or not response.success:
            return
        self.stream = self.stub.StreamAudio(self._chunks(), metadata=self.metadata)
        self.reader = gevent.spawn(self._read, self.stream)

    def _chunks(self) -> Any:
        yield pb.AudioChunk(user_id=self.user_id)
        start = time.monotonic()
        for i in itertools.count(1):
            yield pb.AudioChunk(pcm_data=CHUNK, sample_rate=16000, channels=1)
            gevent.sleep(max(0.0, start + i * CHUNK_MS / 1000 - time.monotonic()))

    def _read(self, stream: Any) -> None:
        env = self.environment
        last_at: float | None = None  # the wait for the first chunk is the join, not a stall
        last_seq: int | None = None
        try:
            for chunk in stream:
                now = time.monotonic()
                gap_ms = (now - last_at) * 1000 if last_at is not None else 0.0
                last_at = now
                stamped = read_stamp(chunk.pcm_data)
                latency_ms = (time.time_ns() - stamped[1]) / 1e6 if stamped else -1.0
                if stamped is None or not 0 <= latency_ms < PLAUSIBLE_MS:
                    error = RuntimeError("no plausible send stamp (clocks apart?)")
                    _fire(env, "audio", summary.LATENCY, 0.0, error)
                    continue
                _fire(env, "audio", summary.LATENCY, latency_ms, None, len(chunk.pcm_data))
                lost = missing_between(last_seq, stamped[0]) if last_seq is not None else 0
                last_seq = stamped[0]
                if lost:
                    error = RuntimeError("packets lost between device and client")
                    _fire(env, "audio", summary.HOLE, lost * CHUNK_MS, error)
                elif gap_ms > STALL_MS:
                    error = RuntimeError(f"no audio for more than {STALL_MS} ms")
                    _fire(env, "audio", summary.STALL, gap_ms, error)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                _fire(env, "audio", "stream ended", 0.0, exc)

    def _close_stream(self) -> None:
        if self.stream is not None:
            self.stream.cancel()
            self.stream = None
        if self.reader is not None:
            self.reader.join(timeout=2)
            self.reader = None

    @task(6)
    def status(self) -> None:
        self._unary("GetStatus", self.stub.GetStatus, pb.BridgeStatusRequest(user_id=self.user_id))

    @task(2)
    def play(self) -> None:
        url = self.environment.parsed_options.clip_url
        if not url:
            return
        started = time.perf_counter()
        request = pb.PlayAudioRequest(
            user_id=self.user_id, audio_url=url, request_id=f"{self.user_id}-{time.time_ns()}",
            track_id=2,
        )  # fmt: skip
        try:
            events_ = self.stub.PlayAudio(request, timeout=30, metadata=self.metadata)
            for seen, event in enumerate(events_):
                if seen == 0:
                    _fire(self.environment, "playback", "PlayAudio first event", _since_ms(started))
                if event.type == pb.PlayAudioEvent.FAILED:
                    raise RuntimeError(event.error)
            _fire(self.environment, "playback", "PlayAudio completed", _since_ms(started))
        except (grpc.RpcError, RuntimeError) as exc:
            _fire(self.environment, "playback", "PlayAudio completed", _since_ms(started), exc)

    @task(1)
    def stop_audio(self) -> None:
        self._unary(
            "StopAudio", self.stub.StopAudio, pb.StopAudioRequest(user_id=self.user_id, track_id=-1)
        )

    @task(1)
    def churn(self) -> None:
        if self.environment.parsed_options.shape != "churn":
            return
        self._close_stream()
        self._unary("LeaveRoom", self.stub.LeaveRoom, pb.LeaveRoomRequest(user_id=self.user_id))
        self._join_and_stream()

    def on_stop(self) -> None:
        self._close_stream()
        self._unary("LeaveRoom", self.stub.LeaveRoom, pb.LeaveRoomRequest(user_id=self.user_id))
        self.channel.close()


class ConfiguredShape(LoadTestShape):
    """--shape soak: ramp then plateau; steps: +step-users every step-s; churn: like soak."""

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        if options is None or _Run.end_now:
            return None
        elapsed = self.get_run_time()
        users = options.plateau_users
        if options.shape in ("soak", "churn"):
            if elapsed > options.ramp_s + options.plateau_s:
                return None
            return users, max(1.0, users / max(options.ramp_s, 1.0))
        step = int(elapsed // options.step_s) + 1
        if step * options.step_users > users:
            return None
        return step * options.step_users, float(options.step_users)


class _Run:
    """What the master keeps for the summary: bridge samples, peak users, the start time, the
    workers whose final report never came; what a worker counted itself."""

    samples: list[Sample] = []  # noqa: RUF012 (one run per process)
    timeline = Timeline()
    peak_users = 0
    workers = 1
    started = 0.0
    sampler: _BridgeSampler | None = None
    sampling: gevent.Greenlet | None = None
    reports_collected = False
    unreported: list[int] = []  # noqa: RUF012
    tally = WorkerTally()
    end_now = False


def _health(stub: Any, metadata: Any) -> Bridge | None:
    try:
        health = stub.HealthCheck(pb.HealthCheckRequest(), timeout=5, metadata=metadata)
    except grpc.RpcError:
        return None
    return Bridge(
        rss_mb=float(health.metadata.get("rss_mb", 0)),
        tasks=int(health.metadata.get("tasks", 0)),
        open_fds=int(health.metadata.get("open_fds", 0)),
        cpu_s=float(health.metadata.get("cpu_s", 0)),
        sessions=health.active_sessions,
        streams=health.active_streams,
        threads=int(health.metadata.get("threads", -1)),
    )


def _counts(env: Environment) -> Counts:
    stats = env.stats
    latency = stats.entries.get((summary.LATENCY, "audio"))
    hole = stats.entries.get((summary.HOLE, "audio"))
    stall = stats.entries.get((summary.STALL, "audio"))
    return Counts(
        latency_times=dict(latency.response_times) if latency else {},
        latency_max_ms=float(latency.max_response_time) if latency else 0.0,
        holes=hole.num_requests if hole else 0,
        stalls=stall.num_requests if stall else 0,
        failures=stats.total.num_failures,
    )


class _BridgeSampler:
    """Every few seconds, and once more as the run stops (the plateau's last look, whatever
    the grid made of a slow ramp): the bridge's RSS, tasks, fds, CPU and sessions from
    HealthCheck, the users locust counts and what they measured since the last look; a row of
    timeline.csv and live.json."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        options: Any = env.parsed_options
        self.options = options
        self.channel = grpc.insecure_channel(env.host or "127.0.0.1:9090")
        self.stub = pb_grpc.LiveKitBridgeStub(self.channel)
        where = Path(options.timeline_dir) if options.timeline_dir else None
        self.live = where / LIVE_JSON if where else None
        self.handle = open(where / TIMELINE_CSV, "w", newline="") if where else None  # noqa: SIM115
        self.writer = write_header(self.handle) if self.handle else None

    def take(self) -> None:
        runner = self.env.runner
        users = runner.user_count if runner is not None else 0
        if runner is not None:
            _Run.peak_users = max(_Run.peak_users, users)
            _Run.workers = max(_Run.workers, getattr(runner, "worker_count", 1))
        t_s = time.monotonic() - _Run.started
        rows = _Run.timeline.rows
        if rows and t_s - rows[-1].t_s < MIN_INTERVAL_S:  # the last look just after a tick
            return
        bridge = _health(self.stub, _auth(self.options))
        row = _Run.timeline.add(t_s, users, _counts(self.env), bridge)
        sample = row.sample()
        if sample is not None:
            _Run.samples.append(sample)
        if self.writer and self.handle:
            self.writer.writerow(asdict(row))
            self.handle.flush()
        if self.live is not None:
            write_live(self.live, row, t_s)

    def run(self) -> None:
        while True:
            self.take()
            gevent.sleep(SAMPLE_EVERY_S)

    def close(self) -> None:
        if self.handle:
            self.handle.close()
        self.channel.close()


def _stop_sampling() -> None:
    if _Run.sampling is not None:
        _Run.sampling.kill()
        _Run.sampling = None
    if _Run.sampler is not None:
        _Run.sampler.close()
        _Run.sampler = None


@events.test_start.add_listener
def _start(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        _Run.tally = WorkerTally()
        return
    _stop_sampling()  # a second start from the web UI: one sampler, fresh figures
    _Run.samples, _Run.peak_users, _Run.workers = [], 0, 1
    _Run.timeline = Timeline()
    _Run.reports_collected, _Run.unreported = False, []
    _Run.started = time.monotonic()
    _Run.sampler = _BridgeSampler(environment)
    _Run.sampling = gevent.spawn(_Run.sampler.run)


@events.request.add_listener
def _count(name: str, **_: Any) -> None:
    _Run.tally.count(name)


@events.test_stopping.add_listener
def _last_look(environment: Environment, **_: Any) -> None:
    """Before any user leaves: users and sessions at their peak, even after a slow ramp."""
    if _Run.sampler is not None and not isinstance(environment.runner, WorkerRunner):
        _Run.sampler.take()


def _collect_once(runner: Runner | None) -> None:
    if not isinstance(runner, MasterRunner) or _Run.reports_collected:
        return
    _Run.reports_collected = True
    timeout_s = (runner.environment.stop_timeout or 0.0) + FINAL_REPORT_GRACE_S
    _Run.unreported = collect_final_reports(runner, timeout_s)


@events.test_stop.add_listener
def _after_stop(environment: Environment, **_: Any) -> None:
    """A headless run's end: locust's quit() stops the run (here) and then gives the workers
    0.5 s; collect their final reports first."""
    options: Any = environment.parsed_options
    if options is not None and options.headless:
        _collect_once(environment.runner)


@events.init.add_listener
def _on_init(environment: Environment, runner: Runner, **_: Any) -> None:
    if isinstance(runner, MasterRunner):  # after the runner's own: quitting fires in reverse
        environment.events.quitting.add_listener(_before_master_quits)
    options: Any = environment.parsed_options
    if options is not None and options.headless and not isinstance(runner, WorkerRunner):
        # locust handles SIGTERM only once a headless shape run is over; before that the signal
        # would kill it with no summary and leave --processes workers behind. End the shape
        # instead, the run's ordinary end: users leave, reports come, the summary.
        gevent.signal_handler(signal.SIGTERM, _end_now)


def _end_now() -> None:
    _Run.end_now = True


def _before_master_quits(environment: Environment, **_: Any) -> None:
    """Locust shutting down (SIGTERM to a --web run): stop spawning, then collect the final
    reports while the master still listens (its own quitting listener, next, stops listening)."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):  # as locust's quit() does: the workers are told below
        runner.stop(send_stop_to_client=False)
    _collect_once(runner)


@events.quitting.add_listener
def _summarise(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        print(_Run.tally.line(environment.runner.worker_index), flush=True)
        return
    _stop_sampling()
    options: Any = environment.parsed_options
    stats = environment.stats
    latency = stats.entries.get((summary.LATENCY, "audio"))
    verdict = evaluate_gates(
        samples=_Run.samples,
        fail_ratio=stats.total.fail_ratio,
        latency_p95_ms=latency.get_response_time_percentile(0.95) if latency else 0.0,
        max_fail_ratio=options.max_fail_ratio,
        max_p95_ms=options.max_p95_ms,
        max_rss_slope_mb_h=options.max_rss_slope_mb_h,
        max_task_slope_per_h=options.max_task_slope_per_h,
        min_plateau_s=options.min_plateau_s,
    )
    verdict.lines += [f"info: worker {index} sent no final report: its last seconds are "
                      "missing" for index in _Run.unreported]  # fmt: skip
    result = summary.build(
        entries=stats.entries.values(),
        empty=StatsEntry(stats, "", "audio"),
        fail_ratio=stats.total.fail_ratio,
        samples=_Run.samples,
        verdict=verdict,
        peak_users=_Run.peak_users,
        duration_s=time.monotonic() - _Run.started if _Run.started else 0.0,
        workers=_Run.workers,
    )
    if options.summary_json:
        with open(options.summary_json, "w") as handle:
            json.dump(result, handle, indent=2)
    print(summary.format_text(result), flush=True)
    # the gates decide, not locust's default of failing on any single failed request
    environment.process_exit_code = 0 if verdict.passed else 1
