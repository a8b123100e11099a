"""The private network namespace in which the SFU, the bridge and the SDK peers meet.

The SDK's WebRTC never gathers loopback candidates, so media cannot flow over 127.0.0.1 alone; a
veth pair inside a namespace of our own gives every process one routable address (10.77.0.1)
that reaches nothing outside this machine. Creating it needs root; it is created on demand and
reused, never torn down by the tests.

    python -m lkbridge.devstack.netns ensure            # create (idempotent)
    python -m lkbridge.devstack.netns exec -- CMD ...   # run CMD inside it
    python -m lkbridge.devstack.netns delete
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Netns:
    name: str = os.environ.get("LKBRIDGE_NETNS", "lkb")
    interface: str = "lkb0"
    peer_interface: str = "lkb1"
    address: str = "10.77.0.1/24"

    @property
    def ip(self) -> str:
        return str(ipaddress.ip_interface(self.address).ip)

    def exists(self) -> bool:
        return Path("/run/netns", self.name).exists()

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def ensure(self) -> None:
        """Create the namespace, the veth pair and the address; every step skips what is there."""
        if os.geteuid() != 0:
            raise PermissionError(
                "creating the network namespace needs root; on a laptop without root set "
                "LKBRIDGE_NODE_IP and LKBRIDGE_RTC_INTERFACE to the host's own interface instead"
            )
        if not self.exists():
            _ip("netns", "add", self.name)
        _ip("-n", self.name, "link", "set", "lo", "up")
        links = _ip("-n", self.name, "-o", "link", "show", capture=True)
        if f" {self.interface}@" not in links:
            _ip(
                "-n",
                self.name,
                "link",
                "add",
                self.interface,
                "type",
                "veth",
                "peer",
                "name",
                self.peer_interface,
            )
        addrs = _ip("-n", self.name, "-o", "addr", "show", "dev", self.interface, capture=True)
        if self.address not in addrs:
            _ip("-n", self.name, "addr", "add", self.address, "dev", self.interface)
        _ip("-n", self.name, "link", "set", self.interface, "up")
        _ip("-n", self.name, "link", "set", self.peer_interface, "up")

    def attach_host(self) -> None:
        """Name the current (host) namespace `<name>-host`, so code inside ours can still reach
        package indexes for setup-like steps (`ip netns exec lkb-host pip ...`)."""
        if not inside(self.interface) and not Path("/run/netns", f"{self.name}-host").exists():
            _ip("netns", "attach", f"{self.name}-host", str(os.getpid()))

    def delete(self) -> None:
        if self.exists():
            _ip("netns", "del", self.name)


def inside(interface: str = Netns.interface) -> bool:
    """True when this process already sees the namespace's interface (it runs inside it)."""
    return Path("/sys/class/net", interface).exists()


def reexec_inside(ns: Netns | None = None) -> None:
    """Re-run this very command inside the namespace unless it already runs there.

    For `lkbridge dev`, bench/ and loadtests/: one command works from a plain root shell. Not
    root and not inside: return, and let the caller use LKBRIDGE_NODE_IP/LKBRIDGE_RTC_INTERFACE.
    """
    ns = ns or Netns()
    if inside(ns.interface) or os.environ.get("LKBRIDGE_NODE_IP") or os.geteuid() != 0:
        return
    ns.ensure()
    # the interpreter's own command line: `python -m bench.sessions ...` runs again as a module
    argv = [sys.executable, *sys.orig_argv[1:]]
    os.execvp("ip", [*ns.exec_prefix(), *argv])


def host_interface() -> tuple[str, str] | None:
    """(interface, IPv4) of this host's first global address: the SFU's media address on a
    laptop without root, where no namespace can be made. None when there is none."""
    try:
        out = _ip("-4", "-o", "addr", "show", "scope", "global", capture=True)
    except (RuntimeError, FileNotFoundError):
        return None
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "inet":
            return fields[1], fields[3].split("/")[0]
    return None


def _ip(*args: str, capture: bool = False) -> str:
    result = subprocess.run(["ip", *args], check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout if capture else ""


def main(argv: list[str]) -> int:
    ns = Netns()
    if not argv or argv[0] not in {"ensure", "delete", "exec"}:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "ensure":
        ns.ensure()
        ns.attach_host()
        print(f"network namespace {ns.name}: {ns.interface} {ns.address}")
        return 0
    if argv[0] == "delete":
        ns.delete()
        return 0
    cmd = argv[1:]
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    ns.ensure()
    os.execvp("ip", [*ns.exec_prefix(), *cmd])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
