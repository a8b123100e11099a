"""Run `lkbridge` with every device data packet stamped on its way to the gRPC client (bench only).

    python -m bench.packet_trace OUT.json [CAPTURES.json] serve --port 0 ...

`bench/sessions.py --trace-packets` starts the bridge this way (with `--trace-captures` too, the
second path gets bench/capture_trace.py's figures). A device packet carries its send time in its
stamp (lkbridge/devstack/stamp.py, bench/godevices the same): that time is the packet's key
here, and each packet is stamped (wall clock, ns, the clock of the stamp) at the stages the
bridge offers a tap for (lkbridge/tracing.py), no private method wrapped:

- `ffi`: the SDK's callback thread hands the packet to the bridge (the native side is done: the
  packet crossed the SFU, WebRTC, the Rust SDK, the GIL, and was parsed);
- `handler`: the session puts it in its outbox (where HealthCheck's `latency_out` starts);
- `write`: the drain calls the gRPC `write()` for it; `written`: that `write()` returned.

The load generator stamps `received` when its client's `receive()` returns, and joins both on
the key (`split_parts`). On exit the stamps go to OUT.json. Each stamp costs a dict write and the
key a 10-byte read: not for production.
"""

from __future__ import annotations

import atexit
import itertools
import json
import sys
import time
from pathlib import Path

from lkbridge import tracing
from lkbridge.devstack.stamp import sent_ns
from lkbridge.percentiles import percentile

STAGES = tracing.STAGES
MAX_PACKETS = 200_000  # stamps kept per stage: a 60 s run at N=20 has 12,000 packets
_stamps: dict[str, dict[int, int]] = {stage: {} for stage in STAGES}


def stamp(stage: str, pcm: bytes) -> None:
    """Stamp the packet whose PCM (after the device header) is `pcm` at `stage`: now."""
    key = sent_ns(pcm)
    stamps = _stamps[stage]
    if key is not None and len(stamps) < MAX_PACKETS:
        stamps[key] = time.time_ns()


def stamps() -> dict[str, list[tuple[int, int]]]:
    """Every stage's (key, Unix ns) pairs, as OUT.json holds them."""
    return {stage: list(s.items()) for stage, s in _stamps.items()}


def install(out: Path) -> None:
    """Stamp every stage the bridge offers in this process; the stamps go to `out` on exit."""
    tracing.set_packet_tap(stamp)

    @atexit.register
    def _write() -> None:
        out.write_text(json.dumps(stamps()))


# The parts of device -> client, each between two stamps; they add up per packet.
PARTS = (
    ("device send -> FFI event in Python (SFU, WebRTC, Rust SDK, GIL)", "sent", "ffi"),
    ("FFI event -> bridge handler (the loop hop)", "ffi", "handler"),
    ("device send -> bridge handler (via the SDK's room task: no FFI stamp)", "sent", "handler"),
    ("bridge handler -> gRPC write called (outbox, drain task)", "handler", "write"),
    ("gRPC write called -> returned", "write", "written"),
    ("gRPC write returned -> client receive() returned", "written", "received"),
)


BRIDGE_PART = "the bridge's part: FFI event -> gRPC write returned, as one span"


def split_parts(
    trace: dict[str, list[list[int]]], received: list[tuple[int, int]] | None = None
) -> dict[str, dict[str, float]]:
    """p50 / p99 / mean ms of each part over the packets stamped at every stage.

    A part whose start stage has no stamps (e.g. `ffi` when the bridge could not route its room's
    packets past the SDK's room task) is merged into the next one: the parts still add up. Then
    the bridge's own part in one figure (its p50 is not the sum of its parts' p50s), and the whole
    path, from the send to the last stage stamped (the client's receive, if given).
    """
    stages: tuple[str, ...] = (*STAGES, "received")
    stamps = {stage: {key: at for key, at in trace.get(stage, [])} for stage in stages}
    stamps["received"] = dict(received or [])
    present = [s for s in stages if stamps[s]]
    if not present:
        return {}
    keys = set(stamps[present[0]])
    for stage in present:
        keys &= stamps[stage].keys()
    stamps["sent"] = {k: k for k in keys}
    present.insert(0, "sent")
    names = {(a, b): name for name, a, b in PARTS}
    out: dict[str, dict[str, float]] = {}
    for a, b in itertools.pairwise(present):
        name = names.get((a, b), f"{a} -> {b}")
        out[name] = _figures([(stamps[b][k] - stamps[a][k]) / 1e6 for k in keys])
    if "ffi" in present and "written" in present:
        out[BRIDGE_PART] = _figures([(stamps["written"][k] - stamps["ffi"][k]) / 1e6 for k in keys])
    last = present[-1]
    whole = "client receive() returned" if last == "received" else f"{last} (the last stamp)"
    out[f"device send -> {whole} (the whole path)"] = _figures(
        [(stamps[last][k] - k) / 1e6 for k in keys]
    )
    return out


def _figures(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "mean": float("nan"), "packets": 0}
    return {
        "p50": round(percentile(values, 50), 2),
        "p99": round(percentile(values, 99), 2),
        "mean": round(sum(values) / len(values), 2),
        "packets": len(values),
    }


def format_split(label: str, parts: dict[str, dict[str, float]]) -> str:
    width = max(len(name) for name in parts)
    lines = [f"{label}: device -> cloud, ms (p50 / p99 / mean, {_count(parts)} packets)"]
    for name, f in parts.items():
        lines.append(f"  {name:<{width}}  {f['p50']:7.2f} {f['p99']:7.2f} {f['mean']:7.2f}")
    return "\n".join(lines)


def _count(parts: dict[str, dict[str, float]]) -> int:
    return int(next(iter(parts.values()))["packets"]) if parts else 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):  # `--help` is no file to write to
        print(
            "usage: python -m bench.packet_trace OUT.json [CAPTURES.json] serve --port 0 ...",
            file=sys.stderr,
        )
        sys.exit(2)
    install(Path(sys.argv[1]))
    args = sys.argv[2:]
    if args and args[0].endswith(".json"):
        from bench.capture_trace import install as install_captures

        install_captures(Path(args[0]))
        args = args[1:]
    sys.argv = ["lkbridge", *args]
    from lkbridge.cli.main import main

    main()
