"""What `lkbridge stream` does once its input is checked: one StreamAudio call, both ways.

Every local resource (the file's audio, the WAV to write, the microphone, the speakers) is
opened before the call is, so a local fault never reaches the bridge; once the call is open, the
command always ends it by half-closing (the session stays), never by cancelling it (which the
bridge takes for a broken stream and answers by closing the session).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lkbridge.audio import ROOM_RATE
from lkbridge.audio.pcm import Int16Array, samples_per_ms, to_bytes, to_int16
from lkbridge.audio.signal import dbfs
from lkbridge.cli.common import EXIT_USAGE, fail
from lkbridge.client import AudioStreamCall, BridgeClient
from lkbridge.devstack.wav_sink import WavSink
from lkbridge.errors import ClientError

RATE = ROOM_RATE
TAIL_S = 0.5  # after a file: the room's answer to its last words
LATE_AUDIO_S = 1.0  # how long past --duration a recording waits for its last fresh audio
FLUSH_S = 0.1  # --record: the WAV's header covers every chunk (the bridge's are 100 ms)


def load_audio(file: Path) -> Int16Array:
    """The file's audio as 16 kHz mono, or a one-line reason it cannot be had."""
    from lkbridge.audio.decode import decode_file
    from lkbridge.cli.localaudio import NOT_AUDIO, check_file
    from lkbridge.errors import DecodeError

    check_file(file)
    try:
        samples = decode_file(str(file))
    except DecodeError as exc:
        text = str(exc)
        if "Invalid data" in text or "cannot read" in text or "no audio stream" in text:
            raise fail(f"{file}: {NOT_AUDIO}", EXIT_USAGE) from None
        raise fail(f"{file}: {text}", EXIT_USAGE) from None
    except (ValueError, MemoryError, RuntimeError) as exc:
        raise fail(f"{file}: cannot convert its audio to 16 kHz mono: {exc}", EXIT_USAGE) from None
    if len(samples) == 0:
        raise fail(f"{file}: holds no audio", EXIT_USAGE)
    return samples


def sounddevice() -> Any:
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise fail(f"no audio device support: {exc}", EXIT_USAGE) from None
    return sd


def device_id(name: str | None) -> int | str | None:
    return int(name) if name is not None and name.isdigit() else name


def require_default(sd: Any, device: int | str | None, kind: str) -> None:
    """No device named and no default of this kind: say so, not PortAudio's
    `Error querying device -1`."""
    if device is not None:
        return
    try:
        sd.query_devices(kind=kind)
    except Exception:  # PortAudioError, ValueError: there is no default device of this kind
        what = "microphone" if kind == "input" else "speaker"
        raise fail(
            f"no audio {kind} device: PortAudio sees no {what} on this machine "
            "(`lkbridge stream --list-devices` shows what it sees)",
            EXIT_USAGE,
        ) from None


@dataclass
class Recorder:
    """Room audio into a 16 kHz mono WAV, fresh audio only, at most `limit` samples.

    The bridge keeps up to 2 s of room audio while no stream is bound and sends it first; each
    chunk carries the bridge's wall-clock time, so chunks from before this stream opened are
    skipped (a chunk without a timestamp is kept). The file is the lab's WavSink, whose header
    covers what is written at every flush (each chunk here): a killed `stream --record` leaves a
    WAV that plays up to its last chunk.
    """

    path: Path
    limit: int | None = None
    written: int = 0
    skipped: int = 0
    opened_ms: int = 0
    _sink: WavSink | None = field(default=None, repr=False)
    created: bool = False  # only a file this run created may be removed (never /dev/null)

    def open(self) -> None:
        self.created = not self.path.exists()
        sink = WavSink(self.path, RATE, flush_s=FLUSH_S)
        if sink.error is not None:
            raise fail(sink.error, EXIT_USAGE)
        self._sink = sink

    def start(self) -> None:
        self.opened_ms = time.time_ns() // 1_000_000

    @property
    def full(self) -> bool:
        return self.limit is not None and self.written >= self.limit

    def write(self, pcm: bytes, timestamp_ms: int) -> None:
        if 0 < timestamp_ms < self.opened_ms:
            self.skipped += len(pcm) // 2
            return
        count = len(pcm) // 2
        if self.limit is not None:
            count = min(count, self.limit - self.written)
        if count > 0 and self._sink is not None:
            self._sink.write(to_int16(pcm[: 2 * count]))
            if self._sink.error is not None:  # a full disk: said once, here; close() stays quiet
                raise fail(self._sink.error, EXIT_USAGE)
            self.written += count

    def close(self) -> None:
        sink, self._sink = self._sink, None
        if sink is None or sink.error is not None:
            return
        sink.close()
        if sink.error is not None:
            raise fail(sink.error, EXIT_USAGE)


class Speaker:
    """Room audio to an output device through a small jitter buffer."""

    def __init__(self, device: int | str | None) -> None:
        sd = sounddevice()
        require_default(sd, device, "output")
        self._buffer = bytearray()
        try:
            self._stream = sd.RawOutputStream(
                samplerate=RATE, channels=1, dtype="int16", device=device, callback=self._pull
            )
        except Exception as exc:  # PortAudioError, ValueError for an unknown device
            raise fail(f"no audio output device: {exc}", EXIT_USAGE) from None

    def _pull(self, out: Any, frames: int, when: object, status: object) -> None:
        size = frames * 2
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        out[:] = data + bytes(size - len(data))

    def start(self) -> None:
        self._stream.start()

    def write(self, pcm: bytes) -> None:
        self._buffer.extend(pcm)
        if len(self._buffer) > RATE * 2:  # over 1 s behind: catch up
            del self._buffer[: len(self._buffer) - 3200]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.stop()
        self._stream.close()


class Microphone:
    """The input device, opened (so checked) before the call, started once it is open."""

    def __init__(self, device: int | str | None, chunk_ms: int) -> None:
        sd = sounddevice()
        require_default(sd, device, "input")
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=50)
        loop = asyncio.get_running_loop()

        def on_audio(data: Any, frames: int, when: object, status: object) -> None:
            loop.call_soon_threadsafe(_offer, self.queue, bytes(data))

        try:
            self._stream = sd.RawInputStream(
                samplerate=RATE,
                channels=1,
                dtype="int16",
                blocksize=samples_per_ms(RATE, chunk_ms),
                device=device,
                callback=on_audio,
            )
        except Exception as exc:  # PortAudioError, ValueError for an unknown device
            raise fail(f"no audio input device: {exc}", EXIT_USAGE) from None

    def start(self) -> None:
        self._stream.start()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.stop()
        self._stream.close()


def _offer(queue: asyncio.Queue[bytes], chunk: bytes) -> None:
    if queue.full():
        queue.get_nowait()  # drop the oldest: the mic must not fall behind real time
    queue.put_nowait(chunk)


@dataclass
class StreamPlan:
    user_id: str
    samples: Int16Array | None
    mic: bool
    input_device: int | str | None
    track: int
    record: Path | None
    speaker: bool
    output_device: int | str | None
    duration: float | None
    chunk_ms: int


@dataclass
class Counters:
    chunks: int = 0
    bytes: int = 0
    level_in: float = float("-inf")
    level_out: float = float("-inf")


async def run_stream(client: BridgeClient, plan: StreamPlan) -> dict[str, object]:
    """Open the local ends, then the call; end it on completion, --duration or Ctrl-C."""
    recorder = Recorder(plan.record, _limit(plan)) if plan.record else None
    speaker: Speaker | None = None
    mic: Microphone | None = None
    finished = False
    try:
        if recorder is not None:
            recorder.open()
        speaker = Speaker(plan.output_device) if plan.speaker else None
        mic = Microphone(plan.input_device, plan.chunk_ms) if plan.mic else None
        call = client.stream(plan.user_id)
        await call.open()
        if recorder is not None:
            recorder.start()
        if speaker is not None:
            speaker.start()
        if mic is not None:
            mic.start()
        summary = await _exchange(call, plan, recorder, speaker, mic)
        finished = True
        return summary
    finally:
        for end in (recorder, speaker, mic):
            if end is not None:
                end.close()
        if recorder is not None and not finished and recorder.written == 0 and recorder.created:
            with contextlib.suppress(OSError):
                recorder.path.unlink()  # a failed stream leaves no empty WAV behind


def _limit(plan: StreamPlan) -> int | None:
    return int(plan.duration * RATE) if plan.duration is not None else None


async def _exchange(
    call: AudioStreamCall,
    plan: StreamPlan,
    recorder: Recorder | None,
    speaker: Speaker | None,
    mic: Microphone | None,
) -> dict[str, object]:
    started = time.monotonic()
    counters = Counters()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, stop.set)  # main thread only

    async def receive() -> None:
        while (chunk := await call.receive()) is not None:
            counters.chunks += 1
            counters.bytes += len(chunk.pcm_data)
            counters.level_in = dbfs(to_int16(chunk.pcm_data))
            if recorder is not None:
                recorder.write(chunk.pcm_data, chunk.timestamp_ms)
                if recorder.full:
                    stop.set()
            if speaker is not None:
                speaker.write(chunk.pcm_data)

    receiver = loop.create_task(receive())
    sender = loop.create_task(_send(call, plan, mic, counters))
    stopper = loop.create_task(stop.wait())
    try:
        with _meter(counters, call):
            await asyncio.wait({receiver, sender, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if sender.done() and sender.exception() is not None and not receiver.done():
                # a failed write says little; the read side gets the call's own status
                await asyncio.wait({receiver}, timeout=3)
            if receiver.done() and receiver.exception() is not None:
                raise _ended_by_bridge(receiver.exception())
            if sender.done() and sender.exception() is not None:
                raise await _cause(call, sender.exception())
    finally:
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.remove_signal_handler(signal.SIGINT)
        for task in (sender, stopper):
            task.cancel()
        await asyncio.gather(sender, stopper, return_exceptions=True)
        with contextlib.suppress(Exception):
            await call.done_writing()  # the bridge ends the call; the session stays
        with contextlib.suppress(Exception):
            if receiver.done():  # it failed: read on to the call's end, or it ends by a cancel
                while await call.receive(timeout=3) is not None:
                    pass
            else:
                await asyncio.wait_for(asyncio.shield(receiver), 3)
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
        call.cancel()
    summary: dict[str, object] = {
        "chunks_sent": call.chunks_sent,
        "bytes_sent": call.bytes_sent,
        "chunks_received": counters.chunks,
        "bytes_received": counters.bytes,
        "duration_s": round(time.monotonic() - started, 2),
    }
    if recorder is not None:
        summary["recorded_s"] = round(recorder.written / RATE, 2)
        summary["skipped_old_s"] = round(recorder.skipped / RATE, 2)
    return summary


async def _send(
    call: AudioStreamCall,
    plan: StreamPlan,
    mic: Microphone | None,
    counters: Counters,
) -> None:
    """The sending side; returning means the work is done (the receiver may still record)."""
    deadline = time.monotonic() + plan.duration if plan.duration is not None else None
    if plan.samples is not None:
        await _send_samples(call, plan, plan.samples, counters, deadline)
        await asyncio.sleep(TAIL_S)
        if deadline is not None:
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        return
    if mic is not None:
        while deadline is None or time.monotonic() < deadline:
            try:
                chunk = await asyncio.wait_for(mic.queue.get(), 1.0)
            except TimeoutError:
                continue
            counters.level_out = dbfs(to_int16(chunk))
            await call.send(chunk, track_id=plan.track)
        return
    if deadline is None:
        await asyncio.Event().wait()  # until Ctrl-C
        return
    late = LATE_AUDIO_S if plan.record is not None else 0.0  # the recorder ends it sooner
    await asyncio.sleep(max(0.0, deadline + late - time.monotonic()))


async def _send_samples(
    call: AudioStreamCall,
    plan: StreamPlan,
    samples: Int16Array,
    counters: Counters,
    deadline: float | None,
) -> None:
    step = samples_per_ms(RATE, plan.chunk_ms)
    start = time.monotonic()
    for i, first in enumerate(range(0, len(samples), step)):
        if deadline is not None and time.monotonic() >= deadline:
            return
        chunk = samples[first : first + step]
        counters.level_out = dbfs(chunk)
        await call.send(to_bytes(chunk), track_id=plan.track)
        await asyncio.sleep(max(0.0, start + (i + 1) * plan.chunk_ms / 1000 - time.monotonic()))


def _ended_by_bridge(exc: BaseException | None) -> BaseException:
    """The receiver's failure: the bridge's (a ClientError) or a local one (CliExit: a full disk
    under the WAV, said already); either way the call is then half-closed: the session stays."""
    return exc or RuntimeError("the receiver stopped")


async def _cause(call: AudioStreamCall, exc: BaseException | None) -> BaseException:
    """A failed write says little ("stream already finished"): the call's status says why."""
    if not isinstance(exc, ClientError):
        return exc or RuntimeError("the sender stopped")
    with contextlib.suppress(Exception):
        code, details = await asyncio.wait_for(call.status(), 3)
        if code != "OK":
            return ClientError(code, details)
    return exc


@contextlib.contextmanager
def _meter(counters: Counters, call: AudioStreamCall) -> Iterator[None]:
    """A live line on stderr: levels and counters (only on a terminal)."""
    import sys

    if not sys.stderr.isatty():
        yield
        return
    import numpy as np
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    def bar(db: float) -> str:
        filled = 0 if db == float("-inf") else int(np.clip((db + 60) / 60, 0, 1) * 20)
        return "#" * filled + "." * (20 - filled)

    def render() -> Text:
        # Text, not a str: rich reads a str as markup and drops `[####....]` as a tag
        return Text(
            f"out [{bar(counters.level_out)}] {call.chunks_sent} chunks   "
            f"in [{bar(counters.level_in)}] {counters.chunks} chunks"
        )

    console = Console(stderr=True)
    with Live(render(), console=console, refresh_per_second=8, transient=True) as live:

        async def refresh() -> None:
            while True:
                live.update(render())
                await asyncio.sleep(0.125)

        task = asyncio.get_running_loop().create_task(refresh())
        try:
            yield
        finally:
            task.cancel()
