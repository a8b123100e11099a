"""The client options, each declared once as plain data: common.py makes typer options of them
for the command tree, probe.py makes argparse arguments of them for `lkbridge health`'s fast
path (which must not import typer, bench/cli_startup.py). So the two parsers of `health` cannot
disagree on a flag, its default, its environment variable or its help.
"""

from __future__ import annotations

from dataclasses import dataclass

from lkbridge.cli.calls import DEFAULT_TARGET


@dataclass(frozen=True)
class Flag:
    """One option: a bool default makes it a switch, a float default a number, else a string."""

    name: str
    default: str | float | bool | None
    help: str
    envvar: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.default, bool) and self.envvar:  # argparse would read it as text
            raise ValueError(f"{self.name}: a switch cannot be read from the environment")


BRIDGE = Flag(
    "--bridge",
    None,
    "host:port or unix:/path of the bridge (default: the profile's, the running dev stack's, "
    f"else {DEFAULT_TARGET}).",
    "LKBRIDGE_TARGET",
)
AUTH_TOKEN = Flag(
    "--auth-token",
    None,
    "Bearer token the bridge requires (default: the profile's).",
    "LKBRIDGE_AUTH_TOKEN",
)
JSON = Flag("--json", False, "Print the result as JSON.")
TIMEOUT = Flag("--timeout", 5.0, "Seconds to wait for the bridge.")
SERVICE = Flag("--service", "", "Service name to ask about (default: the server).")
STANDARD = Flag(
    "--standard",
    False,
    "Ask grpc.health.v1 (as grpc_health_probe does): for container health checks.",
)

# `lkbridge health`, in the order of its parameters (status.health, probe.parser)
HEALTH = (BRIDGE, AUTH_TOKEN, JSON, TIMEOUT, SERVICE, STANDARD)
