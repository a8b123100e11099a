"""Run `lkbridge` with every `AudioSource.capture_frame` timed in three points (bench only).

    python -m bench.capture_trace OUT.json serve --port 0 ...

`bench/sessions.py --trace-captures` starts the bridge this way. Each capture is stamped when
its FFI request goes out (the samples are copied into the native side there), when the SDK's
callback thread hands its acknowledgement to the SDK's event queue (after the native side has
queued the audio and the callback thread got the GIL), and when `capture_frame` returns in the
loop. So the acknowledgement's wait splits into the native side's part, which the audio may
have waited for too, and the loop's part, which it did not. On exit the percentiles (ms) go to
OUT.json. The stamps cost a dict write each: not for production.
"""

from __future__ import annotations

import atexit
import contextvars
import json
import sys
import time
from pathlib import Path
from typing import Any

from livekit import rtc
from livekit.rtc import _ffi_client

from lkbridge.server.grpc.stats import LatencyRecorder

_requested: dict[int, float] = {}
_acknowledged: dict[int, float] = {}
_spans = {name: LatencyRecorder(size=10**6) for name in ("native", "loop", "total")}
_current_id: contextvars.ContextVar[int] = contextvars.ContextVar("capture_async_id")


def _percentiles(recorder: LatencyRecorder) -> dict[str, float]:
    if not len(recorder):
        return {}
    figures = {f"p{q}_ms": round(recorder.percentile(q), 3) for q in (50, 90, 99)}
    return figures | {"max_ms": round(recorder.percentile(100), 3), "count": len(recorder)}


def install(out: Path) -> None:
    client: Any = _ffi_client.FfiClient.instance
    request, put = client.request, client.queue.put

    def traced_request(req: Any) -> Any:
        started = time.perf_counter()
        resp = request(req)
        if req.WhichOneof("message") == "capture_audio_frame":
            async_id = resp.capture_audio_frame.async_id
            _requested[async_id] = started
            _current_id.set(async_id)  # the calling task's context: capture_frame reads it
        return resp

    def traced_put(event: Any) -> None:
        if event.WhichOneof("message") == "capture_audio_frame":
            _acknowledged[event.capture_audio_frame.async_id] = time.perf_counter()
        put(event)

    capture_frame = rtc.AudioSource.capture_frame

    async def traced_capture_frame(self: rtc.AudioSource, frame: rtc.AudioFrame) -> None:
        await capture_frame(self, frame)
        returned = time.perf_counter()
        async_id = _current_id.get(None)
        if async_id is None:
            return
        requested, acked = _requested.pop(async_id, None), _acknowledged.pop(async_id, None)
        if requested is not None and acked is not None:
            _spans["native"].record(acked - requested)
            _spans["loop"].record(returned - acked)
            _spans["total"].record(returned - requested)

    client.request, client.queue.put = traced_request, traced_put
    rtc.AudioSource.capture_frame = traced_capture_frame  # type: ignore[method-assign]

    @atexit.register
    def _write() -> None:
        out.write_text(json.dumps({k: _percentiles(v) for k, v in _spans.items()}, indent=2))


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):  # `--help` is no file to write to
        print("usage: python -m bench.capture_trace OUT.json serve --port 0 ...", file=sys.stderr)
        sys.exit(2)
    install(Path(sys.argv[1]))
    sys.argv = ["lkbridge", *sys.argv[2:]]
    from lkbridge.cli.main import main

    main()
