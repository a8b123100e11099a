"""`lkbridge serve`: run the bridge until SIGTERM/SIGINT."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import typer

from lkbridge.cli.common import EXIT_USAGE, fail
from lkbridge.errors import ServeError
from lkbridge.server import defaults as d

if TYPE_CHECKING:
    from lkbridge.server.config import BridgeConfig

# every default comes from server/defaults.py, which imports nothing: building this command's
# help does not import the server


def serve(
    ctx: typer.Context,
    host: str = typer.Option(
        d.HOST, envvar="LKBRIDGE_HOST", help="TCP address to listen on (0.0.0.0: all)."
    ),
    port: int | None = typer.Option(
        None, envvar="PORT", help=f"TCP port (default {d.PORT}; 0 picks a free one)."
    ),
    socket: str | None = typer.Option(
        None,
        envvar="LIVEKIT_GRPC_SOCKET",
        help="Unix socket path; TCP then only with --port on the command line (PORT ignored).",
    ),
    socket_mode: str = typer.Option(
        f"{d.SOCKET_MODE:04o}",
        envvar="LKBRIDGE_SOCKET_MODE",
        help="Permissions of the Unix socket (octal).",
    ),
    no_tcp: bool = typer.Option(False, "--no-tcp", help="Listen on the Unix socket only."),
    log_level: str = typer.Option(
        d.LOG_LEVEL, envvar="LKBRIDGE_LOG_LEVEL", help="/".join(d.LOG_LEVELS)
    ),
    log_format: str = typer.Option(
        d.LOG_FORMAT, envvar="LKBRIDGE_LOG_FORMAT", help="text or json."
    ),
    grace_period: float = typer.Option(
        d.GRACE_PERIOD_S, envvar="LKBRIDGE_GRACE_PERIOD", help="Seconds to finish calls on SIGTERM."
    ),
    workers: int = typer.Option(
        d.WORKERS,
        envvar="LKBRIDGE_WORKERS",
        help="Session processes behind this one (about 10 sessions each; 1: none).",
    ),
    loop: str = typer.Option(
        d.LOOP,
        envvar="LKBRIDGE_LOOP",
        help="auto (uvloop if installed), uvloop or asyncio.",
    ),
    sdk_logs: str = typer.Option(
        d.SDK_LOGS,
        envvar="LKBRIDGE_SDK_LOGS",
        help="The SDK's native log records: native (stderr, per RUST_LOG, default warn) or "
        "python (this process's logging, JSON with --log-format json; 10-20 % more CPU).",
    ),
    auth_token: str | None = typer.Option(
        None,
        envvar="LKBRIDGE_AUTH_TOKEN",
        help="Require `authorization: Bearer TOKEN` on every bridge call.",
        show_default=False,
    ),
    tls_cert: Path | None = typer.Option(
        None, envvar="LKBRIDGE_TLS_CERT", exists=True, help="Serve TLS with this certificate."
    ),
    tls_key: Path | None = typer.Option(
        None, envvar="LKBRIDGE_TLS_KEY", exists=True, help="The certificate's private key."
    ),
    tls_client_ca: Path | None = typer.Option(
        None, envvar="LKBRIDGE_TLS_CLIENT_CA", exists=True, help="Require client certs (mTLS)."
    ),
    max_sessions: int = typer.Option(
        d.MAX_SESSIONS,
        envvar="LKBRIDGE_MAX_SESSIONS",
        help="Sessions per process (each worker's with --workers); more JoinRooms: "
        "RESOURCE_EXHAUSTED at once. Size it from your own capacity runs.",
    ),
    max_joins_in_flight: int = typer.Option(
        d.MAX_JOINS_IN_FLIGHT,
        envvar="LKBRIDGE_MAX_JOINS_IN_FLIGHT",
        help="JoinRooms connecting at once per process; more: RESOURCE_EXHAUSTED at once.",
    ),
    max_cpu: float = typer.Option(
        d.MAX_CPU,
        envvar="LKBRIDGE_MAX_CPU",
        help="Refuse a new user's JoinRoom (RESOURCE_EXHAUSTED) while the process's CPU use "
        "over the last 5 s is at or past this % of the CPU it may use (cores, container quota; "
        "shared by --workers); 0: off.",
    ),
    idle_timeout: float = typer.Option(
        d.IDLE_TIMEOUT_S,
        envvar="LKBRIDGE_IDLE_TIMEOUT",
        help="Close a session after this many seconds idle: no stream bound, no playback "
        "running, no StopAudio (0: never).",
    ),
    forward_tracks: bool = typer.Option(
        False,
        "--forward-tracks",
        envvar="LKBRIDGE_FORWARD_TRACKS",
        help="Also forward the target's microphone track (besides data packets).",
    ),
    capture_ms: int = typer.Option(
        d.CAPTURE_MIN_MS,
        envvar="LKBRIDGE_CAPTURE_MS",
        help="Smallest frame handed to the SDK (10-100 ms).",
    ),
    source_queue_ms: int = typer.Option(
        d.SOURCE_QUEUE_MS,
        envvar="LKBRIDGE_SOURCE_QUEUE_MS",
        help="Audio a track may queue before pacing, and the longest streamed audio waits "
        "after a stall of the bridge.",
    ),
    catch_up_ms: int = typer.Option(
        d.CATCH_UP_MS,
        envvar="LKBRIDGE_CATCH_UP_MS",
        help="Drop silent streamed frames while more than this is queued (latency).",
    ),
    playback_allow_host: list[str] = typer.Option(
        [],
        "--playback-allow-host",
        envvar="LKBRIDGE_PLAYBACK_ALLOW_HOSTS",
        help="Only fetch playback URLs from these hosts (repeat; `*.example.com` allowed).",
    ),
    playback_deny_private: bool = typer.Option(
        False,
        "--playback-deny-private",
        envvar="LKBRIDGE_PLAYBACK_DENY_PRIVATE",
        help="Also refuse loopback and private addresses for playback URLs.",
    ),
    livekit_deny_private: bool = typer.Option(
        False,
        "--livekit-deny-private",
        envvar="LKBRIDGE_LIVEKIT_DENY_PRIVATE",
        help="Refuse a JoinRoom livekit_url on a loopback or private address (a public SFU).",
    ),
    playback_max_mb: float = typer.Option(
        d.PLAYBACK_MAX_BYTES / 1024 / 1024,
        envvar="LKBRIDGE_PLAYBACK_MAX_MB",
        help="Largest playback file fetched.",
    ),
    max_connections: int = typer.Option(
        d.MAX_CONNECTIONS,
        envvar="LKBRIDGE_MAX_CONNECTIONS",
        help="Connections held at once; more are closed.",
    ),
    connection_idle_timeout: float = typer.Option(
        d.CONNECTION_IDLE_TIMEOUT_S,
        envvar="LKBRIDGE_CONNECTION_IDLE_TIMEOUT",
        help="Close a connection this many seconds without a call (and an unfinished handshake).",
    ),
    max_streams_per_connection: int = typer.Option(
        d.MAX_STREAMS_PER_CONNECTION,
        envvar="LKBRIDGE_MAX_STREAMS_PER_CONNECTION",
        help="Calls open at once on one connection.",
    ),
    max_calls: int = typer.Option(
        d.MAX_CALLS,
        envvar="LKBRIDGE_MAX_CALLS",
        help="Calls open at once in all (health included).",
    ),
    health_port: int | None = typer.Option(
        None,
        envvar="LKBRIDGE_HEALTH_PORT",
        help="Also serve health (grpc.health.v1, HealthCheck) alone on this port, with bounds "
        "of its own: probes still answer while the main port is at its limits.",
    ),
    health_host: str = typer.Option(
        d.HEALTH_HOST,
        envvar="LKBRIDGE_HEALTH_HOST",
        help="Address of the health port (127.0.0.1: only the pod's own containers reach it).",
    ),
    metrics_port: int | None = typer.Option(
        None, envvar="LKBRIDGE_METRICS_PORT", help="Serve Prometheus text on this port (/metrics)."
    ),
    metrics_host: str = typer.Option(
        d.METRICS_HOST, envvar="LKBRIDGE_METRICS_HOST", help="Address of the metrics endpoint."
    ),
    first_audio_wait: float = typer.Option(
        d.FIRST_AUDIO_WAIT_S,
        envvar="LKBRIDGE_FIRST_AUDIO_WAIT",
        help="Seconds a new track holds its first audio until the phone subscribes.",
    ),
    publish_bitrate: int = typer.Option(
        d.PUBLISH_BITRATE,
        envvar="LKBRIDGE_PUBLISH_BITRATE",
        help=f"Opus max bitrate of published tracks, bit/s ({d.PUBLISH_BITRATE} or more: CELT, "
        "half the encoder's CPU on speech, no in-band FEC; 0: the SDK's 48000, SILK).",
    ),
    track_quiet_ms: int = typer.Option(
        d.TRACK_QUIET_MS,
        envvar="LKBRIDGE_TRACK_QUIET_MS",
        help="Unpublish a track after this long without loud audio; its next audio publishes "
        "it again, first words held (0: tracks stay published).",
    ),
    publish_red: bool = typer.Option(
        d.PUBLISH_RED,
        "--publish-red/--no-publish-red",
        envvar="LKBRIDGE_PUBLISH_RED",
        help="RED on published tracks: each packet also carries the previous frame.",
    ),
    publish_dtx: bool = typer.Option(
        d.PUBLISH_DTX,
        "--publish-dtx/--no-publish-dtx",
        envvar="LKBRIDGE_PUBLISH_DTX",
        help="DTX on published tracks: almost nothing is sent in pauses.",
    ),
) -> None:
    """Run the bridge: LiveKitBridge, grpc.health.v1 and reflection on TCP and/or a Unix socket."""
    from lkbridge.server.logs import configure_logging
    from lkbridge.server.runner import run_server

    config = config_of(ctx)
    configure_logging(config.log_level, config.log_format)
    try:
        run_server(config)
    except ServeError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


def config_of(ctx: typer.Context) -> BridgeConfig:
    """The BridgeConfig that the command's options say; a value it refuses is a usage error."""
    from lkbridge.server.config import LOG_FORMATS, BridgeConfig, SdkLogs, TlsFiles

    o = ctx.params
    if o["log_format"] not in LOG_FORMATS:
        raise typer.BadParameter(
            f"must be one of {', '.join(LOG_FORMATS)}", param_hint="--log-format"
        )
    tls_cert, tls_key = o["tls_cert"], o["tls_key"]
    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("give both --tls-cert and --tls-key", param_hint="--tls-cert")
    tcp_port: int | None = o["port"] if o["port"] is not None else d.PORT
    # A platform's PORT must not open TCP beside a socket the operator chose: only a --port
    # written on the command line does.
    source = ctx.get_parameter_source("port")
    port_given = source is not None and source.name == "COMMANDLINE"
    if o["no_tcp"] or (o["socket"] and not port_given):
        tcp_port = None
    try:
        return BridgeConfig(
            host=o["host"],
            port=tcp_port,
            socket=o["socket"],
            socket_mode=int(o["socket_mode"], 8),
            log_level=o["log_level"],
            log_format=o["log_format"],
            grace_period_s=o["grace_period"],
            loop=o["loop"],
            workers=o["workers"],
            sdk_logs=cast(SdkLogs, o["sdk_logs"]),  # BridgeConfig checks it
            auth_token=o["auth_token"],
            tls=TlsFiles(tls_cert, tls_key, o["tls_client_ca"]) if tls_cert and tls_key else None,
            max_sessions=o["max_sessions"],
            max_joins_in_flight=o["max_joins_in_flight"],
            max_cpu=o["max_cpu"],
            idle_timeout_s=o["idle_timeout"],
            forward_tracks=o["forward_tracks"],
            capture_min_ms=o["capture_ms"],
            source_queue_ms=o["source_queue_ms"],
            catch_up_ms=o["catch_up_ms"],
            first_audio_wait_s=o["first_audio_wait"],
            publish_bitrate=o["publish_bitrate"],
            max_connections=o["max_connections"],
            connection_idle_timeout_s=o["connection_idle_timeout"],
            max_streams_per_connection=o["max_streams_per_connection"],
            max_calls=o["max_calls"],
            health_port=o["health_port"],
            health_host=o["health_host"],
            track_quiet_ms=o["track_quiet_ms"],
            publish_red=o["publish_red"],
            publish_dtx=o["publish_dtx"],
            metrics_port=o["metrics_port"],
            metrics_host=o["metrics_host"],
            playback_allow_hosts=tuple(o["playback_allow_host"]),
            playback_deny_private=o["playback_deny_private"],
            playback_max_bytes=int(o["playback_max_mb"] * 1024 * 1024),
            livekit_deny_private=o["livekit_deny_private"],
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
