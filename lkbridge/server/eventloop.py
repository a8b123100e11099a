"""Which event loop runs the bridge.

uvloop when it is installed ("auto"), asyncio's own otherwise. Measured with bench/sessions.py
(10 sessions, paired runs): uvloop took 10-12 % less CPU and cut the bridge-added p99 from
10-12.5 ms to 6.5-7.4 ms (client -> room) and from 6.4-7.3 ms to 4.5-5.1 ms (room -> client).
The SDK's callback thread wakes the loop once per FFI event (call_soon_threadsafe), which is
where uvloop's cheaper wakeups pay off. `--loop asyncio` stays for debugging.

The GIL switch interval is 1 ms instead of Python's 5 ms: each capture waits for the SDK's
callback thread, which needs the GIL while the loop thread runs; with 5 ms it can wait that
long. Four paired runs (10 sessions, bench/sessions.py; docs/benchmarks.md, "What was tried
and decided"): client -> room p99 8.4/5.4/5.6/7.7 -> 6.3/4.6/5.4/6.6 ms, room -> client p99
5.3/3.3/3.3/3.5 -> 3.5/2.6/3.0/3.2 ms, every pair better both ways, CPU unchanged. (0.5 ms: no
better than 1 ms.)
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

LOOPS = ("auto", "uvloop", "asyncio")


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for `asyncio.Runner`; None means asyncio's default loop."""
    if name not in LOOPS:
        raise ValueError(f"loop must be one of {', '.join(LOOPS)}")
    if name == "asyncio" or (name == "auto" and importlib.util.find_spec("uvloop") is None):
        return None
    import uvloop  # an ImportError here is the answer to an explicit --loop uvloop

    return uvloop.new_event_loop


GIL_SWITCH_INTERVAL_S = 0.001


def run(main: Coroutine[Any, Any, T], loop: str = "auto") -> T:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(main)


def running_loop_name() -> str:
    """ "uvloop" or "asyncio": what HealthCheck reports."""
    return (
        "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
    )
