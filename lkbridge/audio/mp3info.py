"""How many samples an MP3 really holds, from its Xing/Info and LAME tags (gapless playback).

An MP3 encoder adds silence at both ends: a delay before the audio and padding to fill the last
frame. Encoders that write the LAME tag (LAME, ffmpeg/Lavc) record both, and the frame count,
in the file's first frame. ffmpeg drops the delay when it decodes a stream, but drops the
padding only when it can seek: a stream fed through a pipe, as playback's is, ends with up to
one frame of silence (17 ms for a 2 s tone at 48 kHz) that would be played and counted in the
reported duration. The decoder stops at `Mp3Gapless.samples` instead, unless more audio than
that padding follows: then the tag is wrong (files joined end to end, as TTS chunks often are,
keep the first part's tag) and nothing is cut, as ffmpeg does when it can check the size.

Layout (per channel counts): the first MPEG frame carries "Xing" or "Info" right after its side
information, then a flags word and the fields it announces (frames, bytes, a 100-byte seek table,
quality), then 9 bytes of encoder name, 12 bytes of LAME fields, and 3 bytes holding the
12-bit delay and the 12-bit padding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from lkbridge.audio.pcm import Int16Array

FRAME_WINDOW = 4096  # from the first MPEG frame on: the tag sits in its first ~200 bytes

_FRAMES, _BYTES, _TOC, _QUALITY = 1, 2, 4, 8
_LAME_TAGGERS = (b"LAME", b"Lavc", b"Lavf")  # encoders that write the LAME fields (as ffmpeg)
DECODER_DELAY = 529  # samples an MP3 decoder adds at the start (ffmpeg skips them with the delay)


@dataclass(frozen=True)
class Mp3Gapless:
    frames: int
    samples_per_frame: int
    delay: int
    padding: int

    @property
    def samples(self) -> int:
        """Audio samples per channel the encoder was given: what a player should output."""
        return self.frames * self.samples_per_frame - self.delay - self.padding


def _id3_end(head: bytes) -> int:
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]  # "syncsafe"
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


class TagWindow:
    """Collects an MP3's first frame from a download in pieces, however big its ID3 tag
    (cover art can make it hundreds of KB), keeping at most FRAME_WINDOW bytes."""

    def __init__(self) -> None:
        self._seen = 0
        self._prefix = b""
        self._start: int | None = None  # where the first frame begins, once known
        self.window = b""

    def feed(self, data: bytes) -> None:
        offset, self._seen = self._seen, self._seen + len(data)
        if self._start is None:
            self._prefix += data[: 10 - len(self._prefix)]
            if len(self._prefix) < 10:
                return
            self._start = _id3_end(self._prefix)
        low, high = max(self._start, offset), min(self._start + FRAME_WINDOW, self._seen)
        if high > low:
            self.window += data[low - offset : high - offset]


def parse_gapless(head: bytes) -> Mp3Gapless | None:
    """The gapless figures of an MP3 from its first bytes; None if absent or not all there."""
    start = _id3_end(head)
    header = head[start : start + 4]
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer, mode = (header[1] >> 3) & 3, (header[1] >> 1) & 3, (header[3] >> 6) & 3
    if layer != 1 or version == 1:  # Layer III only; version 1 is reserved
        return None
    mpeg1 = version == 3
    mono = mode == 3
    side_info = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    at = start + 4 + side_info
    if head[at : at + 4] not in (b"Xing", b"Info") or len(head) < at + 8:
        return None
    (flags,) = struct.unpack_from(">I", head, at + 4)
    if not flags & _FRAMES:
        return None
    at += 8
    (frames,) = struct.unpack_from(">I", head, at) if len(head) >= at + 4 else (0,)
    at += 4 + (4 if flags & _BYTES else 0) + (100 if flags & _TOC else 0)
    at += 4 if flags & _QUALITY else 0
    fields = at + 9 + 12  # encoder name, then the LAME fields before delay/padding
    if frames <= 0 or len(head) < fields + 3 or head[at : at + 4] not in _LAME_TAGGERS:
        return None  # a bare Xing tag (no LAME part) says nothing of delay and padding
    packed = int.from_bytes(head[fields : fields + 3], "big")
    info = Mp3Gapless(frames, 1152 if mpeg1 else 576, packed >> 12, packed & 0xFFF)
    return info if info.samples > 0 else None


class EncoderPadding:
    """Cuts the encoder's end padding off decoded mono samples (source rate), as they come.

    Samples past the tag's count are held back rather than dropped: if more arrive than the
    padding can be (plus a frame of slack), the tag is wrong and they all go through, as does
    everything after. What is still held at the end is the padding, never played.
    """

    def __init__(self, gapless: Mp3Gapless | None) -> None:
        self._left = gapless.samples if gapless else None
        slack = gapless.samples_per_frame + DECODER_DELAY if gapless else 0
        self._most = (gapless.padding if gapless else 0) + slack
        self._held: list[Int16Array] = []
        self._held_count = 0

    @property
    def trimming(self) -> bool:
        return self._left is not None

    def cut(self, samples: Int16Array) -> Int16Array:
        if self._left is None:
            return samples
        keep, extra = samples[: self._left], samples[self._left :]
        self._left -= len(keep)
        if not len(extra):
            return keep
        self._held.append(extra)
        self._held_count += len(extra)
        if self._held_count <= self._most:
            return keep
        self._left = None  # more than padding: the tag does not describe this stream
        held, self._held = self._held, []
        return np.concatenate([keep, *held])
