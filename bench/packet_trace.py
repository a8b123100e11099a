"""Run `lkbridge` with every device data packet stamped on its way to the gRPC client (bench only).

    python bench/packet_trace.py OUT.json [CAPTURES.json] serve --port 0 ...

`bench/sessions.py --trace-packets` starts the bridge this way (with `--trace-captures` too, the
second path gets bench/capture_trace.py's figures). A device packet carries its send time in
samples 1-4 of its PCM (`bench/sessions.py`'s `stamp`, bench/godevices the same): that time is
the packet's key here, and each packet is stamped (wall clock, ns, the clock of the stamp) at:

- `ffi`: the SDK's callback thread hands the event to `FfiQueue.put` (the native side is done:
  the packet crossed the SFU, WebRTC, the Rust SDK, the GIL, and was parsed);
- `sdk`: the room's event task starts `Room._on_room_event` for it (the loop hop; absent when
  the event reaches the bridge another way);
- `handler`: the bridge's handler puts it in the session's outbox (where HealthCheck's
  `latency_out` starts);
- `write`: the drain calls the gRPC `write()` for it; `written`: that `write()` returned.

The load generator stamps `received` when its client's `receive()` returns, and joins both on
the key (`split_parts`). On exit the stamps go to OUT.json. Each stamp costs a dict write and the
key a 10-byte read: not for production.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

from lkbridge.server.stats import percentile

STAGES = ("ffi", "sdk", "handler", "write", "written")
MAX_PACKETS = 200_000  # stamps kept per stage: a 60 s run at N=20 has 12,000 packets
_stamps: dict[str, dict[int, int]] = {stage: {} for stage in STAGES}


def key_of(pcm_head: bytes) -> int:
    """The send time in samples 1-4 (bytes 2-10 of the PCM), as bench/sessions.py's `sent_ns`."""
    return int.from_bytes(pcm_head[2:10], "little")


def stamp(stage: str, key: int) -> None:
    stamps = _stamps[stage]
    if len(stamps) < MAX_PACKETS:
        stamps[key] = time.time_ns()


def stamps() -> dict[str, list[tuple[int, int]]]:
    """Every stage's (key, Unix ns) pairs, as OUT.json holds them."""
    return {stage: list(s.items()) for stage, s in _stamps.items()}


def _packet_key(room_event: Any) -> int | None:
    """The key of a room event's device packet, read from the native buffer (not consumed)."""
    if room_event.WhichOneof("message") != "data_packet_received":
        return None
    packet = room_event.data_packet_received
    if packet.WhichOneof("value") != "user":
        return None
    info = packet.user.data.data
    if info.data_len < 11:
        return None
    return key_of(ctypes.string_at(info.data_ptr, 11)[1:])  # after the 1-byte device header


class _TracedContext:
    """The servicer context of a StreamWriter, its writes stamped; nothing else is used."""

    def __init__(self, context: Any) -> None:
        self._context = context

    async def write(self, message: Any) -> None:
        key = key_of(message.pcm_data[:10]) if len(message.pcm_data) >= 10 else None
        if key is not None:
            stamp("write", key)
        await self._context.write(message)
        if key is not None:
            stamp("written", key)


def install_ffi_stamp() -> None:
    """Stamp `ffi` in the SDK's callback thread (starts the SDK's native side)."""
    from livekit.rtc import _ffi_client

    queue: Any = _ffi_client.FfiClient.instance.queue
    put = queue.put

    def traced_put(event: Any) -> None:
        if event.WhichOneof("message") == "room_event":
            key = _packet_key(event.room_event)
            if key is not None:
                stamp("ffi", key)
        put(event)

    queue.put = traced_put


def install(out: Path) -> None:
    from livekit import rtc

    from lkbridge.server.outbox import Outbox
    from lkbridge.server.stream_writer import StreamWriter

    on_room_event = rtc.Room._on_room_event

    def traced_on_room_event(self: rtc.Room, event: Any) -> None:
        key = _packet_key(event)
        if key is not None:
            stamp("sdk", key)
        on_room_event(self, event)

    put_device_packet = Outbox.put_device_packet

    def traced_put_device_packet(self: Outbox, packet: bytes) -> None:
        if len(packet) >= 11:
            stamp("handler", key_of(packet[1:11]))
        put_device_packet(self, packet)

    writer_init = StreamWriter.__init__

    def traced_writer_init(self: StreamWriter, session: Any, binding: Any, context: Any,
                           latency: Any) -> None:  # fmt: skip
        writer_init(self, session, binding, _TracedContext(context), latency)

    install_ffi_stamp()
    rtc.Room._on_room_event = traced_on_room_event  # type: ignore[method-assign]
    Outbox.put_device_packet = traced_put_device_packet  # type: ignore[method-assign]
    StreamWriter.__init__ = traced_writer_init  # type: ignore[method-assign]

    @atexit.register
    def _write() -> None:
        out.write_text(json.dumps(stamps()))


# The parts of device -> client, each between two stamps; they add up per packet.
PARTS = (
    ("device send -> FFI event in Python (SFU, WebRTC, Rust SDK, GIL)", "sent", "ffi"),
    ("FFI event -> SDK room task (the loop hop)", "ffi", "sdk"),
    ("SDK room task -> bridge handler (SDK dispatch)", "sdk", "handler"),
    ("FFI event -> bridge handler (the loop hop, no SDK room task)", "ffi", "handler"),
    ("bridge handler -> gRPC write called (outbox, drain task)", "handler", "write"),
    ("gRPC write called -> returned", "write", "written"),
    ("gRPC write returned -> client receive() returned", "written", "received"),
)


BRIDGE_PART = "the bridge's part: FFI event -> gRPC write returned, as one span"


def split_parts(
    trace: dict[str, list[list[int]]], received: list[tuple[int, int]] | None = None
) -> dict[str, dict[str, float]]:
    """p50 / p99 / mean ms of each part over the packets stamped at every stage.

    A part whose start stage has no stamps (e.g. `sdk` when the bridge routes packets past the
    SDK's room task) is merged into the next one: the parts still add up. Then the bridge's own
    part in one figure (its p50 is not the sum of its parts' p50s), and the whole path, from the
    send to the last stage stamped (the client's receive, if given).
    """
    stamps = {stage: dict((k, v) for k, v in trace.get(stage, [])) for stage in STAGES}
    stamps["received"] = dict(received or [])
    present = [s for s in (*STAGES, "received") if stamps[s]]
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
    install(Path(sys.argv[1]))
    args = sys.argv[2:]
    if args and args[0].endswith(".json"):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from capture_trace import install as install_captures

        install_captures(Path(args[0]))
        args = args[1:]
    sys.argv = ["lkbridge", *args]
    from lkbridge.cli.main import main

    main()
