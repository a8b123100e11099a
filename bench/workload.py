"""What the benchmark's sessions say: speech in turns, tones, or silence, both ways.

Speech is espeak-ng reading two short scripts, the glasses' user and the cloud's assistant taking
turns with a pause between, as in a real exchange: each direction is silent while the other
speaks, so the encoders meet speech, pauses and the switches between them. Tones hide the
encoder's cost (a tone is coded by CELT whatever the bitrate; speech at 48 kbit/s and below by
SILK, docs/operations.md) and silence shows the floor.

Also here: how the speech heard at a device is compared with what was sent (envelopes), when
each turn was heard, and the receiver's RTP figures.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from lkbridge.audio.pcm import Int16Array
from lkbridge.audio.signal import tone
from lkbridge.devstack.speech import speech

if TYPE_CHECKING:
    from livekit import rtc

Content = Literal["speech", "tone", "silence", "mix"]
CONTENTS: tuple[Content, ...] = ("speech", "tone", "silence", "mix")
# "mix", production's shape: the device speaks all the time, the cloud streams MIX_BURST_S of
# speech every MIX_PERIOD_S (silence between), each session at its own phase (`for_session`)
MIX_PERIOD_S, MIX_BURST_S = 20.0, 4.0
RATE = 16000
TURN_GAP_S = 0.5  # silence between one side's turn and the other's
LOUD = 1000.0  # RMS of a loud 10 ms frame (about -30 dBFS), as the latency probes count it

USER_LINES = (
    "Hey, what is the weather going to be like this afternoon?",
    "Remind me to call the bakery before five.",
    "Read me the last message from Sam.",
    "How long does it take to walk to the station from here?",
    "Add oat milk and two lemons to the shopping list.",
    "What was the name of the song playing in the cafe?",
)
ASSISTANT_LINES = (
    "It will stay dry until about four, then light rain moves in from the west.",
    "Done. I will remind you at half past four to call the bakery.",
    "Sam wrote: running ten minutes late, save me a seat near the window.",
    "About eighteen minutes at an easy pace, most of it along the river path.",
    "Oat milk and two lemons are on your shopping list now.",
    "That was a live recording of an old jazz standard, played on piano and bass.",
)


@dataclass(frozen=True)
class Workload:
    """One session's audio for the whole run, 16 kHz mono, and where the client's turns start."""

    device: Int16Array  # what the glasses send as data packets
    client: Int16Array  # what the cloud streams to the bridge
    client_onsets: tuple[int, ...]  # sample index of the first loud frame of each client turn
    phase_period: int = 0  # samples: `for_session` shifts the client side by a share of this

    def for_session(self, index: int, chunk: int) -> Workload:
        """Session `index`'s copy: the client side shifted to a phase of its own (golden-ratio
        steps over the period, whole chunks), so the sessions' bursts do not line up."""
        if not self.phase_period:
            return self
        shift = int((index * 0.618034) % 1.0 * self.phase_period) // chunk * chunk
        total = len(self.client)
        onsets = tuple(sorted((o + shift) % total for o in self.client_onsets))
        return Workload(self.device, np.roll(self.client, shift), onsets, self.phase_period)


@functools.cache
def _spoken(line: str) -> Int16Array:
    samples = speech(line, RATE)
    if samples is None:
        raise SystemExit("--content speech needs espeak-ng (scripts/setup.sh installs it)")
    return samples


async def inbound_audio(room: rtc.Room) -> list[Any]:
    """The inbound RTP figures of every track `room` receives (bytes, jitter buffer, ...)."""
    found = []
    for participant in room.remote_participants.values():
        for publication in participant.track_publications.values():
            if publication.track is not None:
                for stats in await publication.track.get_stats():
                    if stats.WhichOneof("stats") == "inbound_rtp":
                        found.append(stats.inbound_rtp.inbound)
    return found


def first_loud(samples: Int16Array, start: int = 0, frame: int = RATE // 100) -> int | None:
    """Index of the first 10 ms frame at or after `start` whose RMS passes LOUD."""
    for at in range(start, len(samples) - frame + 1, frame):
        part = samples[at : at + frame].astype(np.float64)
        if float(np.sqrt(np.mean(part**2))) > LOUD:
            return at
    return None


def onset_latencies(
    heard: list[tuple[Int16Array, float]],
    onsets: tuple[int, ...],
    chunk_sent_at: list[float],
    chunk: int,
    skip_s: float = 0.0,
) -> list[tuple[int, float]]:
    """(chunk index, ms): each onset's first loud frame sent -> the first loud frame heard.

    `heard` is what the device recorded (frame, arrival on the same clock as `chunk_sent_at`).
    A sample at offset x in a chunk plays out x after the chunk's first one, so the send time
    of an onset is its chunk's plus x. Onsets in the first `skip_s` are left out (a new track's
    first audio waits for the device's subscription), and so are onsets heard a second or
    more later (nothing heard: a lost turn, not a latency).
    """
    loud_times = [
        at for part, at in heard if len(part) and first_loud(part, frame=len(part)) is not None
    ]
    out = []
    for onset in onsets:
        if onset < skip_s * RATE:
            continue
        index = onset // chunk
        if index >= len(chunk_sent_at):
            break
        sent = chunk_sent_at[index] + (onset % chunk) / RATE
        at = next((t for t in loud_times if t >= sent), None)
        if at is not None and at - sent < 1.0:
            out.append((index, (at - sent) * 1000))
    return out


def workload(content: Content, seconds: float, chunk_ms: int) -> Workload:
    """The same for every session of a run (the rooms are separate; the load is what counts)."""
    total = int(seconds * RATE)
    chunk = RATE * chunk_ms // 1000
    if content == "silence":
        quiet = np.zeros(total, dtype=np.int16)
        return Workload(quiet, quiet.copy(), ())
    if content == "tone":
        device = np.resize(tone(440, chunk_ms / 1000, RATE), total).astype(np.int16)
        client = np.zeros(total, dtype=np.int16)
        every = 1000 // chunk_ms  # a one-chunk 880 Hz burst each second, silence between
        onsets = []
        for start in range((every - 1) * chunk, total - chunk + 1, every * chunk):
            client[start : start + chunk] = tone(880, chunk_ms / 1000, RATE)
            onsets.append(start)
        return Workload(device, client, tuple(onsets))
    if content == "mix":
        return _mix(total, chunk)
    return _conversation(total, chunk)


def _mix(total: int, chunk: int) -> Workload:
    """The device's lines back to back; the cloud's MIX_BURST_S every MIX_PERIOD_S."""
    device = np.zeros(total, dtype=np.int16)
    at, turn = 0, 0
    while at < total:
        spoken = _spoken(USER_LINES[turn % len(USER_LINES)])[: total - at]
        device[at : at + len(spoken)] = spoken
        at += len(spoken) + int(TURN_GAP_S * RATE)
        turn += 1
    client = np.zeros(total, dtype=np.int16)
    onsets: list[int] = []
    period, burst = int(MIX_PERIOD_S * RATE), int(MIX_BURST_S * RATE)
    for turn, at in enumerate(range(0, total, period)):
        spoken = _spoken(ASSISTANT_LINES[turn % len(ASSISTANT_LINES)])[: min(burst, total - at)]
        client[at : at + len(spoken)] = spoken
        onset = first_loud(client, at)
        if onset is not None and onset < at + len(spoken):
            onsets.append(onset)
    return Workload(device, client, tuple(onsets), period)


def _conversation(total: int, chunk: int) -> Workload:
    """User and assistant lines in turn; every turn starts on a chunk boundary."""
    device = np.zeros(total, dtype=np.int16)
    client = np.zeros(total, dtype=np.int16)
    onsets: list[int] = []
    at, turn = 0, 0
    while at < total:
        lines, target = (USER_LINES, device) if turn % 2 == 0 else (ASSISTANT_LINES, client)
        spoken = _spoken(lines[(turn // 2) % len(lines)])[: total - at]
        target[at : at + len(spoken)] = spoken
        if target is client:
            onset = first_loud(client, at)
            if onset is not None and onset < at + len(spoken):
                onsets.append(onset)
        at += len(spoken) + int(TURN_GAP_S * RATE)
        at = -(-at // chunk) * chunk
        turn += 1
    return Workload(device, client, tuple(onsets))


def envelope(samples: Int16Array, frame_ms: int = 20) -> npt.NDArray[np.float64]:
    """RMS of each `frame_ms` frame."""
    size = RATE * frame_ms // 1000
    frames = len(samples) // size
    cut = samples[: frames * size].astype(np.float64).reshape(frames, size)
    levels: npt.NDArray[np.float64] = np.sqrt(np.mean(cut**2, axis=1))
    return levels


@dataclass(frozen=True)
class SpeechMatch:
    correlation: float  # envelope correlation per turn, weighted by the turns' lengths
    worst_turn: float  # the lowest of the turns' correlations
    turns: int  # turns of the sent audio found in what was heard
    lag_ms: float  # median lag of a turn in `heard` against `sent`
    sent_loud_s: float
    heard_loud_s: float


def speech_match(sent: Int16Array, heard: Int16Array, frame_ms: int = 10) -> SpeechMatch:
    """How well `heard` carries `sent`: envelope correlation and loud seconds of each.

    The envelopes (RMS per 10 ms) are compared rather than the waveforms: a codec keeps the
    loudness contour of speech (syllables, pauses) but not its phase, and that contour is what
    intelligibility follows. Each turn of `sent` is matched on its own, at the lag where it
    fits best (normalised cross-correlation), because the bridge may shorten a pause to catch
    up with a backlog and a busy receiver's jitter buffer shifts the audio: one lag for a
    whole run would score those as distortion. A clipped word lowers its turn's correlation
    and the loud seconds; a codec's noise in the pauses lowers the correlation only.
    """
    a, b = envelope(sent, frame_ms), envelope(heard, frame_ms)
    scores: list[tuple[float, int, int]] = []  # (correlation, frames, lag in frames)
    for first, last in _turns(a, 300 // frame_ms, 100 // frame_ms):
        turn = a[first:last] - a[first:last].mean()
        if len(turn) > len(b) or not turn.any():
            continue
        windows = np.lib.stride_tricks.sliding_window_view(b, len(turn))
        centred = windows - windows.mean(axis=1, keepdims=True)
        norms = np.sqrt(np.sum(centred**2, axis=1) * np.sum(turn**2))
        fits = np.divide(centred @ turn, norms, out=np.full(len(norms), -1.0), where=norms > 0)
        best = int(np.argmax(fits))
        scores.append((float(fits[best]), len(turn), best - first))
    if not scores:
        nan = float("nan")
        return SpeechMatch(nan, nan, 0, nan, _loud_s(sent), _loud_s(heard))
    weight = sum(frames for _, frames, _ in scores)
    return SpeechMatch(
        correlation=round(sum(r * frames for r, frames, _ in scores) / weight, 3),
        worst_turn=round(min(r for r, _, _ in scores), 3),
        turns=len(scores),
        lag_ms=float(np.median([lag for _, _, lag in scores])) * frame_ms,
        sent_loud_s=_loud_s(sent),
        heard_loud_s=_loud_s(heard),
    )


def _turns(levels: npt.NDArray[np.float64], gap: int, pad: int) -> list[tuple[int, int]]:
    """(first, last) frames of the loud runs of an envelope, gaps under `gap` frames joined,
    each widened by `pad` frames so its onset and its fade belong to it."""
    loud = np.flatnonzero(levels > LOUD)
    if not len(loud):
        return []
    breaks = np.flatnonzero(np.diff(loud) > gap)
    starts = np.concatenate([[loud[0]], loud[breaks + 1]])
    ends = np.concatenate([loud[breaks], [loud[-1]]]) + 1
    return [
        (max(0, int(s) - pad), min(len(levels), int(e) + pad))
        for s, e in zip(starts, ends, strict=True)
    ]


def _loud_s(samples: Int16Array) -> float:
    loud = envelope(samples, 10) > LOUD
    return round(float(np.count_nonzero(loud)) / 100, 2)
