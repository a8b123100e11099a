"""The points where the bridge lets a benchmark watch a device packet go by.

bench/packet_trace.py times each device packet through the bridge in stages. It used to wrap
private methods of the SDK and the server, so a rename broke it silently; now the bridge calls
the tap itself at each stage, and does nothing else there while no tap is set (one module
attribute read per packet). The stages, in the order a packet meets them:

- "ffi": the SDK's callback thread handed the room's data packet to the bridge (rtc/runtime.py's
  data taker, before the loop hop);
- "handler": the session puts the packet in its outbox (where HealthCheck's latency_out starts);
- "write": the stream's drain calls the gRPC `write()` for it; "written": that `write()` returned.

The tap gets the stage and the packet's PCM (after the device's 1-byte header); lab packets
carry their send time in its first samples (lkbridge/devstack/stamp.py). "ffi" is called in the
SDK's callback thread, the others in the session's loop: a tap must be thread-safe and quick.
Not for production: a tap costs every packet a call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

Stage = Literal["ffi", "handler", "write", "written"]
STAGES: tuple[Stage, ...] = ("ffi", "handler", "write", "written")
PacketTap = Callable[[Stage, bytes], None]

packet_tap: PacketTap | None = None


def set_packet_tap(tap: PacketTap | None) -> None:
    """Set (or, with None, remove) the process's packet tap; set it before the first session."""
    global packet_tap
    packet_tap = tap
