"""`lkbridge health`, the probe: a Kubernetes exec probe runs it every 10 s, so it starts
without typer (whose value coercion loads pydantic), the server, the SDK or PyAV.

entry.py sends `lkbridge health ...` here; `lkbridge health --help` goes to the typer command in
status.py. Both parsers are made from the one declaration of the options in flags.py.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, NoReturn

from lkbridge.cli import calls
from lkbridge.cli.calls import (
    EXIT_NOT_SERVING,
    EXIT_OK,
    EXIT_USAGE,
    CliExit,
    fail,
    message_dict,
    print_json,
    print_rows,
    run_call,
)
from lkbridge.cli.flags import HEALTH

if TYPE_CHECKING:
    from lkbridge._proto import livekit_bridge_pb2 as pb


def check_health(
    bridge: str | None,
    auth_token: str | None,
    json_output: bool,
    timeout: float,
    service: str,
    standard: bool,
) -> int:
    """Ask the bridge, print the answer; the exit code (0 serving, 4 not serving)."""
    if standard:
        state = run_call(bridge, auth_token, timeout, lambda c: c.standard_health(service))
        if json_output:
            print_json({"status": state})
        else:
            print(state)
        return EXIT_OK if state == "SERVING" else EXIT_NOT_SERVING
    from lkbridge._proto import livekit_bridge_pb2 as pb

    response = run_call(bridge, auth_token, timeout, lambda c: c.health(service))
    status = pb.HealthCheckResponse.ServingStatus.Name(response.status)
    if json_output:
        print_json(message_dict(response))
    else:
        rows = [
            ("status", status),
            ("active sessions", sessions_row(response)),
            ("active streams", str(response.active_streams)),
            ("uptime", f"{response.uptime_seconds} s"),
        ]
        rows += [(key, response.metadata[key]) for key in sorted(response.metadata)]
        print_rows(f"bridge health: {status}", rows)
    return EXIT_OK if response.status == pb.HealthCheckResponse.SERVING else EXIT_NOT_SERVING


def sessions_row(response: pb.HealthCheckResponse) -> str:
    """Sessions against the limit the bridge reports (--max-sessions), with joins under way."""
    metadata = response.metadata
    text = str(response.active_sessions)
    if "max_sessions" in metadata:
        text += f" of {metadata['max_sessions']}"
        joining = metadata.get("joins_in_flight", "0")
        if joining != "0":
            text += f" (+{joining} joining, at most {metadata.get('max_joins_in_flight', '?')})"
    return text


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise SystemExit(fail(f"{message} (see `lkbridge health --help`)", EXIT_USAGE).code)


def parser() -> argparse.ArgumentParser:
    """`lkbridge health`'s options (flags.HEALTH) as argparse arguments; an environment variable
    is read as typer reads it, before the declared default."""
    p = _OneLineParser(prog="lkbridge health", add_help=False)
    for flag in HEALTH:
        default = flag.default
        if flag.envvar:
            default = os.environ.get(flag.envvar, default)
        if isinstance(flag.default, bool):
            p.add_argument(flag.name, action="store_true", default=default, help=flag.help)
        elif isinstance(flag.default, float):
            p.add_argument(flag.name, type=float, default=default, help=flag.help)
        else:
            p.add_argument(flag.name, default=default, help=flag.help)
    return p


def main(argv: list[str]) -> int:
    calls.JSON_ERRORS = calls.wants_json(argv)
    args = parser().parse_args(argv)
    try:
        return check_health(
            args.bridge or None,
            args.auth_token or None,
            args.json,
            args.timeout,
            args.service,
            args.standard,
        )
    except CliExit as exc:
        return exc.code
    except KeyboardInterrupt:
        return 130
