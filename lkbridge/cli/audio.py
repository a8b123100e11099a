"""`lkbridge play`, `stop` and `stream`: audio into and out of a room through the bridge."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.audio.decode import DecodeError, decode_file
from lkbridge.audio.pcm import Int16Array, samples_per_ms, to_bytes, to_int16
from lkbridge.audio.signal import dbfs
from lkbridge.cli.common import (
    EXIT_CANNOT_CONNECT,
    EXIT_RPC_FAILED,
    AuthOption,
    BridgeOption,
    JsonOption,
    TimeoutOption,
    fail,
    message_dict,
    print_json,
    run_call,
)
from lkbridge.cli.fileserver import OneFileServer
from lkbridge.client import AudioStreamCall, BridgeClient

err_console = Console(stderr=True)
E = pb.PlayAudioEvent
EVENT_NAMES = {v: k for k, v in pb.PlayAudioEvent.EventType.items()}


# -- play / stop -------------------------------------------------------------------------------


def play(
    user_id: str = typer.Argument(...),
    source: str = typer.Argument(..., help="An http(s) URL, or a local file to serve."),
    track: int = typer.Option(0, "--track", help="0 speaker, 1 app_audio, 2 tts, n track_n."),
    volume: float = typer.Option(0.0, "--volume", help="Gain; 0 means full volume."),
    stop_other: bool = typer.Option(False, "--stop-other", help="Stop every other playback."),
    request_id: str = typer.Option("", "--request-id"),
    serve_host: str = typer.Option(
        "127.0.0.1", "--serve-host", help="Address the local file is served on (bridge-reachable)."
    ),
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    json_output: bool = typer.Option(False, "--json", help="Print each event as a JSON line."),
    timeout: float = TimeoutOption,
) -> None:
    """PlayAudio with a progress bar driven by PROGRESS events (exit 3 when it FAILED)."""
    server: OneFileServer | None = None
    if urlsplit(source).scheme in ("http", "https"):
        url = source
    else:
        path = Path(source)
        if "://" in source:
            raise fail(f"bad URL {source!r}: only http and https", EXIT_CANNOT_CONNECT)
        if not path.is_file():
            raise fail(f"no such file: {source}", EXIT_CANNOT_CONNECT)
        server = OneFileServer(path.resolve(), serve_host)
        url = server.url
    with server or contextlib.nullcontext():
        last = run_call(
            bridge,
            auth_token,
            timeout,
            lambda c: _play(c, user_id, url, track, volume, stop_other, request_id, json_output),
        )
    if last is None or last.type != E.COMPLETED:
        raise fail(f"playback failed: {last.error if last else 'no events'}", EXIT_RPC_FAILED)


async def _play(
    client: BridgeClient,
    user_id: str,
    url: str,
    track: int,
    volume: float,
    stop_other: bool,
    request_id: str,
    json_output: bool,
) -> pb.PlayAudioEvent | None:
    last: pb.PlayAudioEvent | None = None
    events = client.play(
        user_id, url, request_id=request_id, volume=volume, stop_other=stop_other, track_id=track
    )
    if json_output:
        async for event in events:
            data = message_dict(event)
            data["type"] = EVENT_NAMES[event.type]
            print(json.dumps(data), flush=True)
            last = event
        return last
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[position]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as progress:
        bar = progress.add_task("connecting", total=None, position="")
        async for event in events:
            last = event
            total = event.duration_ms or None
            position = f"{event.position_ms / 1000:.1f} s" + (
                f" / {total / 1000:.1f} s" if total else ""
            )
            progress.update(
                bar,
                description=EVENT_NAMES[event.type].lower(),
                total=total,
                completed=event.position_ms,
                position=position,
            )
    if last is not None and last.type == E.COMPLETED:
        print(f"completed: {last.request_id} ({last.duration_ms} ms)")
    return last


def stop(
    user_id: str = typer.Argument(...),
    track: int = typer.Option(-1, "--track", help="-1 stops every track."),
    request_id: str = typer.Option("", "--request-id", help="Stop only this playback."),
    reason: str = typer.Option("stopped from the CLI", "--reason"),
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    json_output: bool = JsonOption,
    timeout: float = TimeoutOption,
) -> None:
    """StopAudio: by track, all tracks (-1), or one request id."""
    response = run_call(
        bridge,
        auth_token,
        timeout,
        lambda c: c.stop(user_id, track_id=track, request_id=request_id, reason=reason),
    )
    if json_output:
        print_json(message_dict(response))
    elif response.success:
        print(f"stopped: {response.stopped_request_id or '(nothing was playing)'}")
    if not response.success:
        raise fail(response.error, EXIT_RPC_FAILED)


# -- stream -----------------------------------------------------------------------------------


def stream(
    user_id: str = typer.Argument(...),
    file: Path | None = typer.Option(None, "--file", help="Send this audio file in real time."),
    mic: bool = typer.Option(False, "--mic", help="Send the local microphone."),
    input_device: str | None = typer.Option(None, "--input-device", help="Name or index."),
    list_devices: bool = typer.Option(False, "--list-devices", help="List audio devices."),
    track: int = typer.Option(0, "--track", help="Track to send to."),
    record: Path | None = typer.Option(None, "--record", help="Write room audio to a WAV."),
    speaker: bool = typer.Option(False, "--speaker", help="Play room audio on the speakers."),
    output_device: str | None = typer.Option(None, "--output-device", help="Name or index."),
    duration: float | None = typer.Option(None, "--duration", help="Stop after this long."),
    chunk_ms: int = typer.Option(100, "--chunk-ms", help="Chunk size sent to the bridge."),
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    timeout: float = TimeoutOption,
) -> None:
    """StreamAudio: send a file or the microphone; receive room audio to a WAV or speakers."""
    if list_devices:
        sd = _sounddevice()
        print(sd.query_devices())
        return
    if file is not None and mic:
        raise typer.BadParameter("give --file or --mic, not both")
    samples: Int16Array | None = None
    if file is not None:
        if not file.is_file():
            raise fail(f"no such file: {file}", EXIT_CANNOT_CONNECT)
        try:
            samples = decode_file(str(file))
        except DecodeError as exc:
            raise fail(str(exc), EXIT_CANNOT_CONNECT) from None
    if file is None and not mic and duration is None and record is None and not speaker:
        raise typer.BadParameter("nothing to do: give --file, --mic, --record or --speaker")
    options = StreamOptions(
        samples, mic, input_device, track, record, speaker, output_device, duration, chunk_ms
    )
    summary = run_call(bridge, auth_token, timeout, lambda c: _stream(c, user_id, options))
    if json_output:
        print_json(summary)
    else:
        err_console.print(
            f"sent {summary['chunks_sent']} chunks ({summary['bytes_sent']} bytes), "
            f"received {summary['chunks_received']} chunks ({summary['bytes_received']} bytes) "
            f"in {summary['duration_s']:.1f} s"
        )


class StreamOptions:
    def __init__(
        self,
        samples: Int16Array | None,
        mic: bool,
        input_device: str | None,
        track: int,
        record: Path | None,
        speaker: bool,
        output_device: str | None,
        duration: float | None,
        chunk_ms: int,
    ) -> None:
        self.samples = samples
        self.mic = mic
        self.input_device = _device(input_device)
        self.track = track
        self.record = record
        self.speaker = speaker
        self.output_device = _device(output_device)
        self.duration = duration
        self.chunk_ms = chunk_ms


def _device(name: str | None) -> int | str | None:
    return int(name) if name is not None and name.isdigit() else name


def _sounddevice() -> Any:
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise fail(f"no audio device support: {exc}", EXIT_CANNOT_CONNECT) from None
    return sd


async def _stream(client: BridgeClient, user_id: str, opts: StreamOptions) -> dict[str, object]:
    call = client.stream(user_id)
    await call.open()
    started = time.monotonic()
    received = {"chunks": 0, "bytes": 0}
    writer = wave.open(str(opts.record), "wb") if opts.record else None  # noqa: SIM115 - closed below
    if writer is not None:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16000)
    speaker = _open_speaker(opts) if opts.speaker else None
    level = {"in": float("-inf"), "out": float("-inf")}

    async def receive() -> None:
        while True:
            chunk = await call.receive()
            if chunk is None:
                return
            received["chunks"] += 1
            received["bytes"] += len(chunk.pcm_data)
            level["in"] = dbfs(to_int16(chunk.pcm_data))
            if writer is not None:
                writer.writeframes(chunk.pcm_data)
            if speaker is not None:
                speaker.write(to_int16(chunk.pcm_data))

    receiver = asyncio.create_task(receive())
    try:
        with _meter(level, call, received):
            if opts.samples is not None:
                await _send_samples(call, opts, opts.samples, level)
                await asyncio.sleep(0.5)  # the room's answer to the last words
            elif opts.mic:
                await _send_mic(call, opts, level)
            elif opts.duration is not None:
                await asyncio.sleep(opts.duration)
            else:
                await asyncio.Event().wait()  # until Ctrl-C
            if opts.duration is not None and opts.samples is not None:
                remaining = opts.duration - (time.monotonic() - started)
                if remaining > 0:
                    await asyncio.sleep(remaining)
    finally:
        await call.done_writing()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(receiver, 3)
        receiver.cancel()
        call.cancel()
        if writer is not None:
            writer.close()
        if speaker is not None:
            speaker.stop()
            speaker.close()
    return {
        "chunks_sent": call.chunks_sent,
        "bytes_sent": call.bytes_sent,
        "chunks_received": received["chunks"],
        "bytes_received": received["bytes"],
        "duration_s": round(time.monotonic() - started, 2),
    }


async def _send_samples(
    call: AudioStreamCall, opts: StreamOptions, samples: Int16Array, level: dict[str, float]
) -> None:
    step = samples_per_ms(16000, opts.chunk_ms)
    start = time.monotonic()
    for i, first in enumerate(range(0, len(samples), step)):
        if opts.duration is not None and time.monotonic() - start >= opts.duration:
            return
        chunk = samples[first : first + step]
        level["out"] = dbfs(chunk)
        await call.send(to_bytes(chunk), track_id=opts.track)
        await asyncio.sleep(max(0.0, start + (i + 1) * opts.chunk_ms / 1000 - time.monotonic()))


async def _send_mic(call: AudioStreamCall, opts: StreamOptions, level: dict[str, float]) -> None:
    sd = _sounddevice()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=50)

    def on_audio(data: object, frames: int, when: object, status: object) -> None:
        chunk = bytes(data)  # type: ignore[call-overload]
        loop.call_soon_threadsafe(_offer, queue, chunk)

    try:
        stream = sd.RawInputStream(
            samplerate=16000,
            channels=1,
            dtype="int16",
            blocksize=samples_per_ms(16000, opts.chunk_ms),
            device=opts.input_device,
            callback=on_audio,
        )
    except Exception as exc:  # PortAudioError, ValueError for an unknown device
        raise fail(f"no audio input device: {exc}", EXIT_CANNOT_CONNECT) from None
    deadline = time.monotonic() + opts.duration if opts.duration else None
    with stream:
        while deadline is None or time.monotonic() < deadline:
            try:
                chunk = await asyncio.wait_for(queue.get(), 1.0)
            except TimeoutError:
                continue
            level["out"] = dbfs(to_int16(chunk))
            await call.send(chunk, track_id=opts.track)


def _offer(queue: asyncio.Queue[bytes], chunk: bytes) -> None:
    if queue.full():
        queue.get_nowait()  # drop the oldest: the mic must not fall behind real time
    queue.put_nowait(chunk)


class _Speaker:
    """Room audio to an output device through a small jitter buffer."""

    def __init__(self, sd: object, device: int | str | None) -> None:
        self._buffer = bytearray()
        self._stream = sd.RawOutputStream(  # type: ignore[attr-defined]
            samplerate=16000, channels=1, dtype="int16", device=device, callback=self._pull
        )
        self._stream.start()

    def _pull(self, out: object, frames: int, when: object, status: object) -> None:
        size = frames * 2
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        out[:] = data + bytes(size - len(data))  # type: ignore[index]

    def write(self, samples: Int16Array) -> None:
        self._buffer.extend(samples.tobytes())
        if len(self._buffer) > 16000 * 2:  # over 1 s behind: catch up
            del self._buffer[: len(self._buffer) - 3200]

    def stop(self) -> None:
        self._stream.stop()

    def close(self) -> None:
        self._stream.close()


def _open_speaker(opts: StreamOptions) -> _Speaker:
    sd = _sounddevice()
    try:
        return _Speaker(sd, opts.output_device)
    except Exception as exc:
        raise fail(f"no audio output device: {exc}", EXIT_CANNOT_CONNECT) from None


@contextlib.contextmanager
def _meter(
    level: dict[str, float], call: AudioStreamCall, received: dict[str, int]
) -> Iterator[None]:
    """A live line on stderr: levels and counters (only on a terminal)."""
    if not err_console.is_terminal:
        yield
        return
    from rich.live import Live

    def render() -> str:
        def bar(db: float) -> str:
            filled = 0 if db == float("-inf") else int(np.clip((db + 60) / 60, 0, 1) * 20)
            return "#" * filled + "." * (20 - filled)

        return (
            f"out [{bar(level['out'])}] {call.chunks_sent} chunks   "
            f"in [{bar(level['in'])}] {received['chunks']} chunks"
        )

    with Live(render(), console=err_console, refresh_per_second=8, transient=True) as live:

        async def refresh() -> None:
            while True:
                live.update(render())
                await asyncio.sleep(0.125)

        task = asyncio.get_event_loop().create_task(refresh())
        try:
            yield
        finally:
            task.cancel()
