"""Three corrections to how livekit.rtc runs many rooms in one process.

All three come from the SDK's one process-wide event queue. The first two were the largest items
of the bridge's CPU profile at 10 sessions, the third the largest part of a data packet's way to
the cloud that the bridge controls (docs/benchmarks.md, "What was tried and decided"):

- Native log records. The SDK starts its native side with log capture on, so every debug and
  trace record of libwebrtc and the Rust SDK (about 1,500 a second at 10 streaming sessions) is
  formatted, encoded, sent through the event callback, parsed and then dropped by Python. Started
  again with capture off, the native logger keeps them: it prints what `RUST_LOG` selects (we
  default it to `warn`) on stderr and drops the rest where they are made.
- Room events. Every subscriber of the queue sees every event, and a connected Room subscribes
  with a filter that only leaves out media-stream frames: every data packet and capture callback
  of any room wakes all N room listeners (a thread-safe loop wakeup, a task switch and a broadcast
  round each), N^2 work in all. After `Room.connect()` we narrow the room's filter to its own room
  events and the callbacks it may wait for.
- Data packets. Even routed, a room's data packet waits in the room's event task: a loop wakeup
  to queue it, a task switch to the listener, `EventEmitter.emit` (which inspects every
  callback's signature per event), then a broadcast round before the next event, and behind
  every other event of that room. With a `DataHandler`, the room's filter takes its own data
  packets in the SDK's callback thread, copies the payload out of the native buffer and frees it
  (as `Room` does) and schedules the handler on the room's loop: one loop wakeup from the native
  side to the bridge's code (docs/benchmarks.md, "Latency split, device -> cloud"), held back
  only while room events queued before the packet are still unhandled (`InOrder`).

The native side is not started to apply the log switch: `set_sdk_logs` before it starts holds
the choice and applies it the moment the SDK starts it (the first Room), before any room exists.
An idle bridge so never maps the SDK's library nor starts its runtime (10 MB, 4 threads).

All three reach into the SDK's private parts, so each checks the shape it expects and otherwise does
nothing but warn once; the bridge then works as before, at the SDK's own cost.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
from collections import deque
from collections.abc import Callable
from typing import Any

from livekit import rtc
from livekit.rtc import _ffi_client
from livekit.rtc._proto import ffi_pb2
from livekit.rtc.version import __version__ as sdk_version

from lkbridge import tracing

log = logging.getLogger(__name__)

FfiEvent = ffi_pb2.FfiEvent
EventFilter = Callable[[FfiEvent], bool]
# A room's data packet: its payload and its sender's identity ("" when the SFU did not name one
# the native side knew: docs/sdk-costs.md, item 6). Runs in the room's loop.
DataHandler = Callable[[bytes, str], None]
# how soon a packet held behind its room's queued events looks at the queue again: the room's
# task takes an event a loop step, so a millisecond is several of its steps; doubled at each
# look that finds the queue still full, up to RETRY_MAX_S (a room's task held up by the SDK)
RETRY_S = 0.001
RETRY_MAX_S = 0.1
# Warnings and errors, less the two SDK lines that quote the SFU's answer to a refused token (the
# token itself, signature included) at every rejected JoinRoom: the bridge logs that failure
# itself, redacted. RUST_LOG set by the operator replaces this whole default.
DEFAULT_RUST_LOG = "warn,livekit::rtc_engine=error,livekit_ffi::room_apis::server::room=off"

# Events with subscriptions of their own: a room listener would pass them on to nobody.
_NOT_FOR_ROOMS = frozenset(
    {
        "audio_stream_event",
        "video_stream_event",
        "capture_audio_frame",
        "publish_data",
        "byte_stream_reader_event",
        "text_stream_reader_event",
        "data_track_stream_event",
    }
)

_warned: set[str] = set()
_wanted_logs: bool | None = None  # to Python or not, applied when the native side starts


def set_sdk_logs(to_python: bool) -> bool:
    """Whether the SDK's native log records go to Python's logging (`to_python`) or stay native
    (stderr, filtered by `RUST_LOG`).

    A plain flag: the config's names for the choice (`--sdk-logs native|python`) are the
    caller's, so this adapter depends on nothing of the server. Process-wide and repeatable;
    does not start the native side. False (and a warning once) if this SDK can't be switched.
    """
    global _wanted_logs
    os.environ.setdefault("RUST_LOG", DEFAULT_RUST_LOG)  # read once, when the native side starts
    try:
        ffi_class: Any = _ffi_client.FfiClient
        started = ffi_class._instance
    except AttributeError as exc:
        _warn_once("logs", f"native SDK logs stay captured: unexpected SDK shape ({exc})")
        return False
    if started is not None:
        return _initialize(started, to_python)
    _wanted_logs = to_python
    if not getattr(ffi_class, "_lkbridge_logs_hook", False):
        original_init = ffi_class.__init__

        def init_then_switch(client: Any) -> None:
            original_init(client)
            if _wanted_logs is not None:
                _initialize(client, _wanted_logs)

        ffi_class.__init__ = init_then_switch
        ffi_class._lkbridge_logs_hook = True
    return True


def _initialize(client: Any, to_python: bool) -> bool:
    """Start the native side's logger again with capture on (to Python) or off (native)."""
    try:
        initialize = client._ffi_lib.livekit_ffi_initialize
        callback = _ffi_client.ffi_event_callback
    except AttributeError as exc:
        _warn_once("logs", f"native SDK logs stay captured: unexpected SDK shape ({exc})")
        return False
    initialize(callback, to_python, b"python", sdk_version.encode("ascii"))
    return True


def room_filter(
    room_handle: int, take_data: Callable[[FfiEvent], None] | None = None
) -> EventFilter:
    """What the listener of the room with native handle `room_handle` needs to see.

    With `take_data`, the room's user data packets go to it instead (in the callback thread).
    """

    def wanted(event: FfiEvent) -> bool:
        which = event.WhichOneof("message")
        if which == "room_event":
            room_event = event.room_event
            if room_event.room_handle != room_handle:
                return False
            if (
                take_data is not None
                and room_event.WhichOneof("message") == "data_packet_received"
                and room_event.data_packet_received.WhichOneof("value") == "user"
            ):
                take_data(event)
                return False
            return True
        return which not in _NOT_FOR_ROOMS

    return wanted


class InOrder:
    """Hands a room's data packets to `on_data` only after every event queued for the room's
    task before them has been handled.

    A packet taken in the callback thread would otherwise overtake what still waits in the
    room's queue: the `participant_connected` that releases the packets held while the sender
    was unannounced (server/room_to_client/unannounced.py), or the packets of the room's first
    moments, which reach the room's task before `route_own_events` takes over. The room's task
    handles an event in the step that takes it from the queue, so an empty queue means every
    earlier event is handled; events on their way to the queue are ahead of the packet among the
    loop's callbacks, so they are in the queue when the packet is looked at. Runs in the room's
    loop.

    The queue is looked at again after RETRY_S, then at doubling intervals up to RETRY_MAX_S,
    while it holds events, and never again once the room's task has ended (`listening` false:
    the room is gone, and so is the session its packets were for). The task ends at the room's
    end-of-stream and leaves in the queue what came after it; a check on every turn of the loop
    then spun for the life of the process: a two-hour soak with churn found the loop at 100 %
    of a core after 40 minutes, its profile in this method.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        room_queue: asyncio.Queue[Any],
        on_data: DataHandler,
        listening: Callable[[], bool] = lambda: True,
    ) -> None:
        self._loop = loop
        self._room_queue = room_queue
        self._on_data = on_data
        self._listening = listening
        self._waiting: deque[tuple[bytes, str]] = deque()
        self._retry_scheduled = False
        self._retry_s = RETRY_S

    def deliver(self, data: bytes, sender: str) -> None:
        self._waiting.append((data, sender))
        if not self._retry_scheduled:
            self._flush()

    def _flush(self) -> None:
        self._retry_scheduled = False
        if not self._room_queue.empty():
            if not self._listening():
                self._waiting.clear()  # nobody takes the room's events: nobody wants these
                return
            self._retry_scheduled = True
            self._loop.call_later(self._retry_s, self._flush)
            self._retry_s = min(2 * self._retry_s, RETRY_MAX_S)
            return
        self._retry_s = RETRY_S
        while self._waiting:
            data, sender = self._waiting.popleft()
            try:
                self._on_data(data, sender)
            except Exception:
                log.exception("data packet handler failed")


def data_taker(loop: asyncio.AbstractEventLoop, on_data: DataHandler) -> Callable[[FfiEvent], None]:
    """Take a data packet event in the SDK's callback thread and hand it to `on_data` in `loop`.

    Copies the payload and frees its native buffer as `Room._on_room_event` does. It must not
    raise: `FfiQueue.put` would then deliver the event to the room as well, a second time.
    """

    def take(event: FfiEvent) -> None:
        packet = event.room_event.data_packet_received
        owned = packet.user.data
        try:
            data = ctypes.string_at(owned.data.data_ptr, owned.data.data_len)
            tap = tracing.packet_tap
            if tap is not None:
                tap("ffi", data[1:])
            loop.call_soon_threadsafe(on_data, data, packet.participant_identity)
        except Exception as exc:  # the loop closed under a leaving room: the packet has no one
            _warn_once("take", f"a data packet was lost: {exc!r}")
        try:
            _ffi_client.FfiHandle(owned.handle.id).dispose()
        except Exception as exc:
            _warn_once("free", f"a data packet's native buffer was not freed: {exc!r}")

    return take


def route_own_events(room: rtc.Room, on_data: DataHandler | None = None) -> bool:
    """Narrow a connected room's event subscription; False (and a warning once) if it can't.

    With `on_data`, the room's data packets skip the room's event task: `on_data` gets them
    straight from the callback thread, and the room no longer emits `data_received`.
    """
    try:
        queue = room._ffi_queue
        handle = room._ffi_handle.handle  # type: ignore[union-attr]
        fanout: Any = _ffi_client.FfiClient.instance.queue
        subscribers: list[tuple[Any, Any, EventFilter | None]] = fanout._subscribers
        lock = fanout._lock
        listener: asyncio.Task[None] = room._task  # takes the room's events from `queue`
        _ffi_client.FfiHandle  # noqa: B018 (checked here, used in the callback thread)
    except AttributeError as exc:
        _warn_once("shape", f"every room sees every room's events: unexpected SDK shape ({exc})")
        return False

    def listening() -> bool:
        return not listener.done()

    with lock:
        for index, (subscribed, loop, _) in enumerate(subscribers):
            if subscribed is queue:
                take = (
                    data_taker(loop, InOrder(loop, queue, on_data, listening).deliver)
                    if on_data is not None
                    else None
                )
                subscribers[index] = (subscribed, loop, room_filter(handle, take))
                return True
    _warn_once("missing", "a room sees every room's events: its subscription was not found")
    return False


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning("livekit SDK: %s", message)
