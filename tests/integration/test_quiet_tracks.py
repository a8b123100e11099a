"""A track quiet for `--track-quiet-ms` stops costing, and the next words are heard whole.

Through the real SFU: the bridge streams speech, then streamed silence; after the quiet spell the
speaker track is unpublished (the device sees it go) and its AudioSource's native timer thread is
gone from the process. The next speech publishes it again and the device hears it from its first
words (content compared by envelope, per turn, as the benchmarks do).
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from bench.workload import first_loud, speech_match
from lkbridge.audio.pcm import Int16Array, to_bytes
from lkbridge.devstack.speech import speech
from lkbridge.devstack.threads import thread_names
from tests.conftest import BridgeFactory, DeviceFactory
from tests.helpers import wait_until
from tests.support.audio import stream_samples

CHUNK = 1600  # 100 ms


def spoken(line: str) -> Int16Array:
    samples = speech(line)
    assert samples is not None, "espeak-ng is needed (scripts/setup.sh installs it)"
    return samples


async def test_a_quiet_track_is_parked_and_its_next_words_are_heard_whole(
    bridge_factory: BridgeFactory, device_factory: DeviceFactory, room_name: str
) -> None:
    bridge = await bridge_factory(track_quiet_ms=1000)
    device = await device_factory(room_name, "device")
    await bridge.join("quiet", room_name)
    session = bridge.server.registry.get("quiet")
    assert session is not None
    first = spoken("Good morning, the kettle is on.")
    again = spoken("Seven purple elephants are waiting at the station.")
    silence = np.zeros(CHUNK, dtype=np.int16)
    async with bridge.client.stream("quiet") as stream:
        await stream_samples(stream, first)
        before = await device.wait_for_track("speaker")
        track = session.tracks.get(0)
        assert track.published
        publishing = thread_names()
        # the cloud keeps streaming silence: silence does not keep a track published
        parked_at = time.monotonic()
        while not track.parked:
            assert time.monotonic() - parked_at < 10, "the quiet track was never parked"
            await stream.send(to_bytes(silence))
            await asyncio.sleep(0.1)
        publisher = device.room.remote_participants["cloud-agent:quiet"]
        await wait_until(lambda: not publisher.track_publications, 5, "the device to see it go")
        parked = thread_names()
        assert not track.published and track.parks == 1
        # the source's 10 ms timer was a thread of its own; it is gone with the source
        gone = publishing - parked
        assert sum(gone.values()) >= 1, f"no thread ended: {publishing} -> {parked}"
        await stream_samples(stream, np.concatenate([silence] * 5))
        assert track.parked, "streamed silence woke the parked track"
        await stream_samples(stream, again)
        assert track.published and track.parks == 1  # published again by the words
        await stream_samples(stream, np.concatenate([silence] * 5))
        after = await device.wait_for_track("speaker")
        await wait_until(lambda: len(after.samples()) >= len(again), 5, "the words to play out")
    assert after is not before and device.earlier_recordings == [before]
    heard = after.samples()
    match = speech_match(again, heard)
    assert match.turns == 1 and match.correlation > 0.6, match
    # heard from its first words: the first loud 10 ms heard sits where the turn's best lag puts
    # the first loud 10 ms sent (a clipped first word would move it later by the word's length)
    sent_onset, heard_onset = first_loud(again), first_loud(heard)
    assert sent_onset is not None and heard_onset is not None
    shift_ms = (heard_onset - sent_onset) / 16 - match.lag_ms
    assert abs(shift_ms) <= 60, f"the first words moved {shift_ms:.0f} ms: {match}"
    assert match.heard_loud_s >= match.sent_loud_s - 0.15, match
