"""Locust scenarios for the bridge, behaving like the MentraOS cloud.

Each user: mints a token, JoinRoom (room load-N, where loadtests/devices.py has a device
speaking), opens StreamAudio with the empty first chunk carrying user_id, sends 16 kHz audio in
100 ms chunks at real-time cadence, reads the room's audio (the device stamps each packet with
its send time, so every chunk gives an end-to-end latency), and now and then calls GetStatus,
PlayAudio on a short clip, StopAudio, or leaves and rejoins (churn).

Locust runs on gevent: this file uses the blocking grpc API after init_gevent(), never grpc.aio.
Run it through loadtests/run.py, which starts the SFU, the bridge, the devices and a clip
server, and applies the gates (--max-fail-ratio, --max-p95-ms, --max-rss-slope-mb-h).
"""

from __future__ import annotations

import csv
import itertools
import time
from typing import Any

import grpc
import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

import gevent  # noqa: E402
from locust import LoadTestShape, User, between, events, task  # noqa: E402
from locust.env import Environment  # noqa: E402

from lkbridge._proto import livekit_bridge_pb2 as pb  # noqa: E402
from lkbridge._proto import livekit_bridge_pb2_grpc as pb_grpc  # noqa: E402
from lkbridge.devstack.tokens import mint_token  # noqa: E402
from loadtests.devices import CHUNK_MS, read_stamp, room_name  # noqa: E402
from loadtests.gates import Sample, evaluate_gates  # noqa: E402

CHUNK = bytes(2 * 16 * CHUNK_MS)  # 100 ms of 16 kHz silence
GAP_FAILURE_MS = 400  # room audio arrives every 100 ms: a hole this long is a failure
_counter = itertools.count()


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    group = parser.add_argument_group("lkbridge")
    group.add_argument("--livekit-url", default="ws://127.0.0.1:7880")
    group.add_argument("--livekit-key", default="devkey")
    group.add_argument("--livekit-secret", default="")
    group.add_argument("--rooms", type=int, default=10, help="rooms with a device (load-N)")
    group.add_argument("--clip-url", default="", help="short audio for PlayAudio")
    group.add_argument("--shape", choices=["none", "soak", "steps", "churn"], default="none")
    group.add_argument("--plateau-users", type=int, default=5)
    group.add_argument("--ramp-s", type=float, default=10.0)
    group.add_argument("--plateau-s", type=float, default=60.0)
    group.add_argument("--step-users", type=int, default=2)
    group.add_argument("--step-s", type=float, default=30.0)
    group.add_argument("--sample-csv", default="bridge-samples.csv")
    group.add_argument("--max-fail-ratio", type=float, default=0.01)
    group.add_argument("--max-p95-ms", type=float, default=500.0)
    group.add_argument("--max-rss-slope-mb-h", type=float, default=100.0)
    group.add_argument("--max-task-slope-per-h", type=float, default=100.0)
    group.add_argument("--min-plateau-s", type=float, default=600.0,
                       help="shortest plateau on which growth gates are judged")  # fmt: skip


def _fire(env: Environment, kind: str, name: str, started: float, error: Exception | None,
          length: int = 0) -> None:  # fmt: skip
    env.events.request.fire(
        request_type=kind,
        name=name,
        response_time=(time.perf_counter() - started) * 1000,
        response_length=length,
        exception=error,
        context={},
    )


class BridgeUser(User):
    """One cloud-side user session, streaming both ways."""

    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.index = next(_counter)
        self.user_id = f"load-user-{self.index}"
        self.room = room_name(self.index % options.rooms)
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
            response = method(request, timeout=15)
        except grpc.RpcError as exc:
            _fire(self.environment, "grpc", name, started, exc)
            return None
        _fire(self.environment, "grpc", name, started, None, response.ByteSize())
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
        self.stream = self.stub.StreamAudio(self._chunks())
        self.reader = gevent.spawn(self._read, self.stream)

    def _chunks(self) -> Any:
        yield pb.AudioChunk(user_id=self.user_id)
        start = time.monotonic()
        for i in itertools.count(1):
            yield pb.AudioChunk(pcm_data=CHUNK, sample_rate=16000, channels=1)
            gevent.sleep(max(0.0, start + i * CHUNK_MS / 1000 - time.monotonic()))

    def _read(self, stream: Any) -> None:
        env = self.environment
        last = time.monotonic()
        try:
            for chunk in stream:
                now = time.monotonic()
                sent_ns = read_stamp(chunk.pcm_data)
                latency_ms = (time.time_ns() - sent_ns) / 1e6 if sent_ns else 0.0
                gap_ms = (now - last) * 1000
                last = now
                env.events.request.fire(
                    request_type="audio", name="device->client", response_time=latency_ms,
                    response_length=len(chunk.pcm_data), exception=None, context={},
                )  # fmt: skip
                # the gap as a metric of its own; a hole in the audio is a failure (drops)
                env.events.request.fire(
                    request_type="audio", name="inter-arrival gap", response_time=gap_ms,
                    response_length=0,
                    exception=RuntimeError(f"gap {gap_ms:.0f} ms") if gap_ms > GAP_FAILURE_MS
                    else None,
                    context={},
                )  # fmt: skip
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                env.events.request.fire(
                    request_type="audio", name="stream ended", response_time=0,
                    response_length=0, exception=exc, context={},
                )  # fmt: skip

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
            for seen, event in enumerate(self.stub.PlayAudio(request, timeout=30)):
                if seen == 0:
                    _fire(self.environment, "playback", "PlayAudio first event", started, None)
                if event.type == pb.PlayAudioEvent.FAILED:
                    raise RuntimeError(event.error)
            _fire(self.environment, "playback", "PlayAudio completed", started, None)
        except (grpc.RpcError, RuntimeError) as exc:
            _fire(self.environment, "playback", "PlayAudio completed", started, exc)

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
        if options is None or options.shape == "none":
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


_samples: list[Sample] = []


def _sample_bridge(env: Environment) -> None:
    """Every 5 s: the bridge's RSS, tasks, fds and sessions, from HealthCheck, to CSV."""
    channel = grpc.insecure_channel(env.host or "127.0.0.1:9090")
    stub = pb_grpc.LiveKitBridgeStub(channel)
    path = env.parsed_options.sample_csv
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t_s", "rss_mb", "tasks", "open_fds", "sessions", "streams"])
        start = time.monotonic()
        while True:
            try:
                health = stub.HealthCheck(pb.HealthCheckRequest(), timeout=5)
            except grpc.RpcError:
                gevent.sleep(5)
                continue
            sample = Sample(
                t_s=time.monotonic() - start,
                rss_mb=float(health.metadata["rss_mb"]),
                tasks=int(health.metadata["tasks"]),
                open_fds=int(health.metadata["open_fds"]),
                sessions=health.active_sessions,
                streams=health.active_streams,
            )
            _samples.append(sample)
            writer.writerow([f"{sample.t_s:.1f}", sample.rss_mb, sample.tasks, sample.open_fds,
                             sample.sessions, sample.streams])  # fmt: skip
            handle.flush()
            gevent.sleep(5)


_sampler: gevent.Greenlet | None = None


@events.test_start.add_listener
def _start_sampler(environment: Environment, **_: Any) -> None:
    global _sampler
    _sampler = gevent.spawn(_sample_bridge, environment)


@events.quitting.add_listener
def _apply_gates(environment: Environment, **_: Any) -> None:
    if _sampler is not None:
        _sampler.kill()
    options = environment.parsed_options
    total = environment.stats.total
    verdicts = evaluate_gates(
        samples=_samples,
        fail_ratio=total.fail_ratio,
        p95_ms=total.get_response_time_percentile(0.95) or 0.0,
        max_fail_ratio=options.max_fail_ratio,
        max_p95_ms=options.max_p95_ms,
        max_rss_slope_mb_h=options.max_rss_slope_mb_h,
        max_task_slope_per_h=options.max_task_slope_per_h,
        min_plateau_s=options.min_plateau_s,
    )
    for line in verdicts.lines:
        print(f"gate: {line}")
    # the gates decide, not locust's default of failing on any single failed request
    environment.process_exit_code = 0 if verdicts.passed else 1
