"""The stack, driven over stdin/stdout: how the TypeScript client's tests reach the real parts.

Node's test runner cannot host the LiveKit Python SDK, so it starts this process and sends it
one JSON request per line; each answer is one JSON line with the same id. Behind it are the same
pieces the Python suite and `lkbridge dev` use: livekit-server with a generated config, the real
`lkbridge serve` process (restartable, to test reconnects) and simulated device peers whose
recordings are judged here by content (dominant frequency, loud seconds).

    -> {"id": 1, "op": "sfu_start", "port": 7990}
    <- {"id": 1, "ok": true, "result": {"url": "ws://10.77.0.1:7990", ...}}

Requests run concurrently, so a device can send a tone while the client plays a file. The
process ends on "shutdown" or when stdin closes, and takes everything it started with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from lkbridge.audio.pcm import strip_device_header, to_int16
from lkbridge.audio.signal import dominant_frequency, loud_part, loud_spans, tone
from lkbridge.devstack import netns
from lkbridge.devstack.bridge import AsyncBridgeProcess, BridgeStartError, start_bridge_async
from lkbridge.devstack.device import DEVICE_RATE, DevicePeer
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
from lkbridge.devstack.tokens import mint_token
from lkbridge.procs import die_with_parent

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class HarnessError(Exception):
    """A request the harness cannot carry out; its text goes back to the caller."""


class Harness:
    def __init__(self) -> None:
        self.sfu: LiveKitServer | None = None
        self.bridge: AsyncBridgeProcess | None = None
        self.devices: dict[str, DevicePeer] = {}
        self.done = asyncio.Event()

    # -- the SFU -------------------------------------------------------------------------------

    async def sfu_start(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.sfu is not None:
            raise HarnessError("the SFU is already running")
        port = int(args.get("port", 0))  # 0: free ports, so parallel runs never collide
        config = LiveKitConfig(port=port, udp_port=port + 2) if port else LiveKitConfig()
        if not netns.inside(config.interface):
            raise HarnessError(
                f"interface {config.interface} not found: run inside the lkb network namespace "
                "(bash scripts/test.sh does)"
            )
        self.sfu = LiveKitServer(config)
        self.sfu.start()
        return {"url": config.url, "api_key": config.api_key, "api_secret": config.api_secret}

    async def token(self, args: dict[str, Any]) -> dict[str, Any]:
        cfg = self._sfu().config
        return {"token": mint_token(cfg.api_key, cfg.api_secret, args["room"], args["identity"])}

    # -- the bridge ----------------------------------------------------------------------------

    async def bridge_start(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.bridge is not None and self.bridge.proc.returncode is None:
            raise HarnessError("the bridge is already running")
        serve_args = ["--port", str(args.get("port", 0)), *(str(a) for a in args.get("args", []))]
        try:
            self.bridge = await start_bridge_async(*serve_args, prefix=die_with_parent())
        except BridgeStartError as exc:
            raise HarnessError(str(exc)) from None
        return {"target": self.bridge.target, "pid": self.bridge.pid}

    async def bridge_stop(self, args: dict[str, Any]) -> dict[str, Any]:
        bridge = self.bridge
        if bridge is None or bridge.proc.returncode is not None:
            raise HarnessError("the bridge is not running")
        sig = signal.SIGKILL if args.get("signal") == "KILL" else signal.SIGTERM
        code = await bridge.stop(sig, timeout=30)
        self.bridge = None
        return {"exit_code": code}

    # -- devices -------------------------------------------------------------------------------

    async def device_join(self, args: dict[str, Any]) -> dict[str, Any]:
        identity = str(args.get("identity", "device"))
        if identity in self.devices:
            raise HarnessError(f"device {identity!r} already joined")
        cfg = self._sfu().config
        peer = DevicePeer(cfg.url, mint_token(cfg.api_key, cfg.api_secret, args["room"], identity))
        await peer.connect()
        self.devices[identity] = peer
        return {"identity": identity}

    async def device_leave(self, args: dict[str, Any]) -> dict[str, Any]:
        peer = self.devices.pop(self._device_id(args), None)
        if peer is not None:
            await peer.aclose()
        return {}

    async def device_send_tone(self, args: dict[str, Any]) -> dict[str, Any]:
        """Send a tone as the glasses do: real-time data packets behind a 1-byte header."""
        peer = self._device(args)
        samples = tone(float(args["freq"]), float(args["seconds"]), DEVICE_RATE)
        sent = await peer.send_packets(samples, chunk_ms=int(args.get("chunk_ms", 100)))
        return {"packets": len(sent), "pcm_bytes": sum(len(p) - 1 for _, p in sent)}

    async def device_heard(self, args: dict[str, Any]) -> dict[str, Any]:
        """What the device heard on a track: judged by content, then optionally forgotten."""
        peer = self._device(args)
        recording = await peer.wait_for_track(args["track"], timeout=float(args.get("wait", 10)))
        samples = recording.samples()
        loud = loud_part(samples, DEVICE_RATE)
        result = {
            "seconds": len(samples) / DEVICE_RATE,
            "loud_seconds": sum(e - s for s, e in loud_spans(samples, DEVICE_RATE)) / 1000,
            "dominant_hz": dominant_frequency(loud, DEVICE_RATE),
        }
        if args.get("clear"):
            recording.parts.clear()
            recording.arrivals.clear()
        return result

    async def device_packets(self, args: dict[str, Any]) -> dict[str, Any]:
        """The data packets a device received (their PCM judged like audio)."""
        peer = self._device(args)
        pcm = b"".join(strip_device_header(p.data) for p in peer.packets)
        samples = to_int16(pcm[: len(pcm) // 2 * 2])
        return {
            "packets": len(peer.packets),
            "dominant_hz": dominant_frequency(loud_part(samples, DEVICE_RATE), DEVICE_RATE),
        }

    # -- plumbing ------------------------------------------------------------------------------

    async def shutdown(self, args: dict[str, Any]) -> dict[str, Any]:
        self.done.set()
        return {}

    async def close(self) -> None:
        for peer in self.devices.values():
            with contextlib.suppress(Exception):
                await peer.aclose()
        self.devices.clear()
        if self.bridge is not None:
            await self.bridge.stop(signal.SIGKILL)
        if self.sfu is not None:
            self.sfu.cleanup()

    def handler(self, op: str) -> Handler:
        if op.startswith("_") or op in ("close", "handler"):
            raise HarnessError(f"unknown op {op!r}")
        found = getattr(self, op, None)
        if found is None:
            raise HarnessError(f"unknown op {op!r}")
        return found  # type: ignore[no-any-return]

    def _sfu(self) -> LiveKitServer:
        if self.sfu is None:
            raise HarnessError("start the SFU first (sfu_start)")
        return self.sfu

    def _device_id(self, args: dict[str, Any]) -> str:
        return str(args.get("device", "device"))

    def _device(self, args: dict[str, Any]) -> DevicePeer:
        identity = self._device_id(args)
        peer = self.devices.get(identity)
        if peer is None:
            raise HarnessError(f"no device {identity!r} (device_join first)")
        return peer


async def _answer(harness: Harness, line: str, write: Callable[[dict[str, Any]], None]) -> None:
    request_id: Any = None
    try:
        request = json.loads(line)
        request_id = request.get("id")
        result = await harness.handler(str(request.get("op")))(request)
        write({"id": request_id, "ok": True, "result": result})
    except Exception as exc:
        log.debug("request failed", exc_info=True)
        message = str(exc) if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
        write({"id": request_id, "ok": False, "error": message})


async def serve(stdin: asyncio.StreamReader) -> None:
    harness = Harness()

    def write(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    tasks: set[asyncio.Task[None]] = set()
    reader = asyncio.ensure_future(stdin.readline())
    stopped = asyncio.ensure_future(harness.done.wait())
    try:
        while True:
            await asyncio.wait({reader, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if stopped.done():
                break
            line = reader.result().decode()
            if not line:
                break  # stdin closed: the test process is gone
            if line.strip():
                task = asyncio.ensure_future(_answer(harness, line, write))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            reader = asyncio.ensure_future(stdin.readline())
    finally:
        reader.cancel()
        stopped.cancel()
        if tasks:  # answers already under way (the shutdown's own) get a moment to be written
            await asyncio.wait(tasks, timeout=0.5)
        for task in list(tasks):
            task.cancel()
        await harness.close()


async def _main() -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await serve(stdin)


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LKBRIDGE_HARNESS_LOG", "WARNING"),
        stream=sys.stderr,
        format="harness %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(_main())


if __name__ == "__main__":
    main()
