"""The defaults of `lkbridge serve`, declared once: BridgeConfig's fields and the CLI's options
both read them (and docs/operations.md's flag table is generated from the CLI).

This module imports nothing, so the CLI builds `serve`'s options and help without importing the
server (`lkbridge health` and `--help` stay light, tests/unit/test_cli_probe.py).
"""

from __future__ import annotations

LOG_LEVELS = ("debug", "info", "warning", "error")

HOST = "127.0.0.1"
PORT = 9090
SOCKET_MODE = 0o600
LOG_LEVEL = "info"
LOG_FORMAT = "text"
GRACE_PERIOD_S = 10.0
WORKERS = 1  # > 1: this process fronts that many session processes (front/server.py)
LOOP = "auto"
SDK_LOGS = "native"
# Admission, per session process: the whole stack's knee on 2 cores is 10-12 streaming sessions
# and 40 starve (docs/benchmarks.md), so 20 leaves room above the knee and stops well before the
# starvation; 150 concurrent JoinRooms made 16k fds and stalled the healthy sessions, while 8
# connects at once answer in about a second (docs/operations.md, "Admission").
MAX_SESSIONS = 20
MAX_JOINS_IN_FLIGHT = 8
# % of the CPU the process may use (its cores, a container's quota), over the last 5 s, at
# which a new user's JoinRoom is refused: on one core the bridge held its sessions at 70-76 %
# and failed from 80 % on, and the last session admitted adds its 3.5-5 % above the bound
# (docs/operations.md, "The CPU bound"); 0: off
MAX_CPU = 70.0
IDLE_TIMEOUT_S = 300.0  # what idle means: Session.busy (server/session/session.py)
CAPTURE_MIN_MS = 20
SOURCE_QUEUE_MS = 1000
CATCH_UP_MS = 0
FIRST_AUDIO_WAIT_S = 2.0
# bit/s: the lowest at which Opus codes 16 kHz speech as CELT, about half SILK's encoder CPU
# on speech (docs/operations.md, "Encoder bitrate")
PUBLISH_BITRATE = 72_000
# RED and DTX of published tracks, the SDK's defaults: RED is what holds speech under loss
# (PESQ-WB 2.8 against 1.5 without it at 10 % loss; docs/operations.md, "In the field")
PUBLISH_RED = True
PUBLISH_DTX = True
# off: each park and republish leaves an idle encoder thread in SDK 1.2.1 (docs/operations.md,
# "Quiet tracks")
TRACK_QUIET_MS = 0
METRICS_HOST = "127.0.0.1"
# --health-port listens here: loopback, so only the pod's own containers reach it
HEALTH_HOST = "127.0.0.1"
PLAYBACK_MAX_BYTES = 50 * 1024 * 1024
# Transport, what clients may hold below and at the gRPC layer (docs/operations.md, "Transport
# bounds"): within a pod's 384 MiB under the hostile volumes of tests/integration/
# test_hostile_transport.py; 256 streams a connection still let 200 JoinRooms at once pass.
MAX_CONNECTIONS = 100
CONNECTION_IDLE_TIMEOUT_S = 60.0  # also the bound on a connection's handshake
MAX_STREAMS_PER_CONNECTION = 256
MAX_CALLS = 2000  # calls in progress in the process, every service and connection
