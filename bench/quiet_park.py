"""Ways to park a quiet track with SDK 1.2.1: what each leaves behind and what it saves.

    sudo .venv/bin/python -m bench.quiet_park [--cycles 6] [--quiet-s 3] [VARIANT ...]

One process, the real livekit-server (started here, in the `lkb` namespace), one publisher room
and one device room that subscribes and records. Per variant, a fresh publisher publishes a
track, then runs CYCLES cycles of: 0.5 s of a loud tone (held for the subscriber as the bridge
holds first words) -> played out -> park -> QUIET s quiet -> unpark. It prints, per cycle, the
process's `AudioEncoderQue` and `AudioSourceCapt` threads and the CPU those threads used during
the quiet spell (from /proc/self/task/*/schedstat, ns), and at the end the loud audio the device
heard against what was sent. The variants:

- `kept`: the publication stays, nothing is fed: the cost parking should remove (the source's
  10 ms timer feeds silence to the encoder);
- `mute`: `LocalAudioTrack.mute()` while quiet, `unmute()` to speak;
- `unpublish`: what `--track-quiet-ms` does: unpublish, close the source; a new source and track
  are published for the next words;
- `unpublish-same`: unpublish, keep the source open, publish the very same LocalAudioTrack again;
- `unpublish-keep-source`: unpublish, keep the source, a new LocalAudioTrack on it;
- `noqueue`: a source with `queue_size_ms=0` (no timer thread: frames go to the encoder as
  captured, 10 ms each, paced here), kept published, nothing fed while quiet.

Figures are ratios within one run (CPU of the same threads over the same spell per variant);
nothing here asserts time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from livekit import rtc

from lkbridge.audio.pcm import Int16Array, to_bytes
from lkbridge.devstack import netns
from lkbridge.devstack.device import DevicePeer
from lkbridge.devstack.livekit import LiveKitConfig, LiveKitServer
from lkbridge.devstack.threads import cpu_ns, named
from lkbridge.devstack.tokens import mint_token

RATE = 16000
ENCODER, CAPTURE = "AudioEncoderQue", "AudioSourceCapt"
VARIANTS = ("kept", "mute", "unpublish", "unpublish-same", "unpublish-keep-source", "noqueue")


def tone(seconds: float, hz: float) -> Int16Array:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * hz * t) * 12000).astype(np.int16)


def loud_ms(samples: Int16Array) -> int:
    """10 ms blocks whose peak is over -30 dBFS."""
    blocks = len(samples) // 160
    if not blocks:
        return 0
    peaks = np.abs(samples[: blocks * 160].reshape(blocks, 160).astype(np.int32)).max(axis=1)
    return int((peaks > 1000).sum()) * 10


def loud_runs(samples: Int16Array) -> list[tuple[float, int]]:
    """Each loud run's start (s into the recording) and loud ms; runs are over 1 s apart here."""
    blocks = len(samples) // 160
    peaks = np.abs(samples[: blocks * 160].reshape(blocks, 160).astype(np.int32)).max(axis=1)
    out: list[tuple[float, int]] = []
    last = -1000
    for i in np.flatnonzero(peaks > 1000):
        if i - last > 100:
            out.append((i / 100, 0))
        out[-1] = (out[-1][0], out[-1][1] + 10)
        last = int(i)
    return out


@dataclass
class Cycle:
    encoders: int
    captures: int
    encoder_cpu_ms: float
    capture_cpu_ms: float


@dataclass
class Result:
    variant: str
    cycles: list[Cycle] = field(default_factory=list)
    sent_loud_ms: int = 0
    heard_loud_ms: int = 0
    baseline_encoders: int = 0
    after_leave_encoders: int = 0
    speak_cpu_ms_per_s: float = 0.0  # the whole process's CPU per second of audio spoken
    # one recording only (the track never replaced): how much later each cycle's first loud
    # 10 ms played at the device than the first cycle's did, beyond the wall clock between them
    delay_growth_ms: list[float] = field(default_factory=list)
    run_ms: list[int] = field(default_factory=list)  # loud ms heard per cycle (one recording)


class Publisher:
    """One track in one room, parked and woken the variant's way."""

    def __init__(self, room: rtc.Room, variant: str) -> None:
        self.room = room
        self.variant = variant
        self.source: rtc.AudioSource | None = None
        self.track: rtc.LocalAudioTrack | None = None
        self.publication: rtc.LocalTrackPublication | None = None
        self.fresh = True  # the publication's first audio waits for its subscriber
        self.started = 0.0  # monotonic time the last words went in, after the hold

    def _new_source(self) -> rtc.AudioSource:
        queue = 0 if self.variant == "noqueue" else 1000
        return rtc.AudioSource(RATE, 1, queue_size_ms=queue)

    async def publish(self) -> None:
        if self.source is None:
            self.source = self._new_source()
        if self.track is None or self.variant != "unpublish-same":
            self.track = rtc.LocalAudioTrack.create_audio_track("speaker", self.source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        options.audio_encoding.max_bitrate = 72_000
        self.publication = await self.room.local_participant.publish_track(self.track, options)
        self.fresh = True

    async def park(self) -> None:
        assert self.publication is not None and self.track is not None
        if self.variant == "mute":
            self.track.mute()
        elif self.variant.startswith("unpublish"):
            await self.room.local_participant.unpublish_track(self.publication.sid)
            self.publication = None
            if self.variant == "unpublish":
                assert self.source is not None
                await self.source.aclose()
                self.source, self.track = None, None

    async def unpark(self) -> None:
        if self.variant == "mute":
            assert self.track is not None
            self.track.unmute()
        elif self.variant.startswith("unpublish"):
            await self.publish()

    async def speak(self, samples: Int16Array) -> None:
        assert self.publication is not None and self.source is not None
        if self.fresh:
            self.fresh = False
            try:
                await asyncio.wait_for(self.publication.wait_for_subscription(), 3.0)
            except TimeoutError:
                print("  (no subscription within 3 s)", flush=True)
        self.started = time.monotonic()
        if self.variant == "noqueue":
            # no queue: exactly 10 ms a frame, paced by us against the clock; 200 ms of silence
            # after the words, or the listener's loss concealment stretches their last sound
            samples = np.concatenate([samples, np.zeros(RATE // 5, dtype=np.int16)])
            start = time.monotonic()
            for i in range(len(samples) // 160):
                frame = samples[i * 160 : (i + 1) * 160]
                await self.source.capture_frame(rtc.AudioFrame(to_bytes(frame), RATE, 1, 160))
                await asyncio.sleep(max(0.0, start + (i + 1) * 0.01 - time.monotonic()))
            return
        for i in range(0, len(samples), 1600):
            frame = samples[i : i + 1600]
            await self.source.capture_frame(rtc.AudioFrame(to_bytes(frame), RATE, 1, len(frame)))
        await self.source.wait_for_playout()

    async def close(self) -> None:
        if self.source is not None:
            await self.source.aclose()


async def wait_state(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


async def run_variant(livekit: LiveKitServer, variant: str, cycles: int, quiet_s: float) -> Result:
    cfg = livekit.config
    room_name = f"park-{variant}"
    result = Result(variant)
    device = DevicePeer(cfg.url, mint_token(cfg.api_key, cfg.api_secret, room_name, "device"))
    await device.connect()
    room = rtc.Room()
    token = mint_token(cfg.api_key, cfg.api_secret, room_name, f"bridge-{variant}")
    await room.connect(cfg.url, token, rtc.RoomOptions(auto_subscribe=False))
    result.baseline_encoders = len(named(ENCODER))
    pub = Publisher(room, variant)
    await pub.publish()
    try:
        spoke_at: list[float] = []
        speak_cpu = 0.0
        for cycle in range(cycles):
            words = tone(0.5, 440 + 40 * cycle)
            cpu0 = time.process_time()
            await pub.speak(words)
            spoke_at.append(pub.started)
            speak_cpu += time.process_time() - cpu0
            result.sent_loud_ms += loud_ms(words)
            await asyncio.sleep(0.3)  # the last packets reach the device
            await pub.park()
            encoders, captures = named(ENCODER), named(CAPTURE)
            e0, c0 = cpu_ns(encoders), cpu_ns(captures)
            await asyncio.sleep(quiet_s)
            e1, c1 = cpu_ns(encoders), cpu_ns(captures)
            row = Cycle(len(encoders), len(captures), (e1 - e0) / 1e6, (c1 - c0) / 1e6)
            result.cycles.append(row)
            print(f"  {variant} cycle {cycle + 1}: {row}", flush=True)
            await pub.unpark()
        await asyncio.sleep(1.0)
        recordings = [*device.earlier_recordings, *device.recordings.values()]
        result.heard_loud_ms = sum(loud_ms(r.samples()) for r in recordings)
        result.speak_cpu_ms_per_s = speak_cpu * 1000 / (0.5 * cycles)
        if len(recordings) == 1:
            runs = loud_runs(recordings[0].samples())
            result.run_ms = [ms for _, ms in runs]
            onsets = [start for start, _ in runs]
            if len(onsets) == cycles:
                result.delay_growth_ms = [
                    ((o - onsets[0]) - (t - spoke_at[0])) * 1000
                    for o, t in zip(onsets, spoke_at, strict=True)
                ]
    finally:
        await pub.close()
        await room.disconnect()
        await device.aclose()
    await wait_state(
        lambda: len(named(ENCODER)) <= result.baseline_encoders, 10, "encoders to go after leave"
    )
    result.after_leave_encoders = len(named(ENCODER))
    return result


def report(results: list[Result], quiet_s: float) -> None:
    print(f"\nper variant ({len(results[0].cycles)} cycles, {quiet_s:.0f} s quiet each)")
    print(
        "variant | AudioEncoderQue after cycle 1 -> last | AudioSourceCapt after 1 -> last |"
        " encoder CPU % while quiet | capture CPU % while quiet | loud ms heard / sent |"
        " process CPU ms per s spoken | onset delay growth ms by cycle"
    )
    for r in results:
        first, last = r.cycles[0], r.cycles[-1]
        spell = quiet_s * 1000 * len(r.cycles)
        enc = sum(c.encoder_cpu_ms for c in r.cycles) / spell * 100
        cap = sum(c.capture_cpu_ms for c in r.cycles) / spell * 100
        print(
            f"{r.variant} | {first.encoders} -> {last.encoders} | {first.captures} -> "
            f"{last.captures} | {enc:.2f} | {cap:.2f} | {r.heard_loud_ms} / {r.sent_loud_ms} | "
            f"{r.speak_cpu_ms_per_s:.0f} | "
            + (" ".join(f"{g:.0f}" for g in r.delay_growth_ms) or "n/a (a track per cycle)")
            + (f" | loud ms heard by cycle {r.run_ms}" if r.run_ms else "")
        )


async def main_async(variants: list[str], cycles: int, quiet_s: float) -> None:
    with LiveKitServer(LiveKitConfig()) as livekit:
        results = []
        for variant in variants:
            print(f"variant {variant}", flush=True)
            results.append(await run_variant(livekit, variant, cycles, quiet_s))
        report(results, quiet_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variants", nargs="*", help=f"any of {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--quiet-s", type=float, default=3.0)
    args = parser.parse_args()
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}: pick from {', '.join(VARIANTS)}")
    netns.reexec_inside()
    asyncio.run(main_async(args.variants or list(VARIANTS), args.cycles, args.quiet_s))


if __name__ == "__main__":
    main()
