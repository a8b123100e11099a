"""How many samples an MP3 really holds, from its Xing/Info and LAME tags (gapless playback).

An MP3 encoder adds silence at both ends: a delay before the audio and padding to fill the last
frame. Encoders that write the LAME tag (LAME, ffmpeg/Lavc) record both, and the frame count,
in the file's first frame. ffmpeg drops the delay when it decodes a stream, but drops the
padding only when it can seek: a stream fed through a pipe, as playback's is, ends with up to
one frame of silence (17 ms for a 2 s tone at 48 kHz) that would be played and counted in the
reported duration. The decoder stops at `Mp3Gapless.samples` instead.

Layout (per channel counts): the first MPEG frame carries "Xing" or "Info" right after its side
information, then a flags word and the fields it announces (frames, bytes, a 100-byte seek table,
quality), then 9 bytes of encoder name, 12 bytes of LAME fields, and 3 bytes holding the
12-bit delay and the 12-bit padding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEAD_BYTES = 16 * 1024  # an ID3 tag larger than this (cover art) just means no trimming

_FRAMES, _BYTES, _TOC, _QUALITY = 1, 2, 4, 8
_LAME_TAGGERS = (b"LAME", b"Lavc", b"Lavf")  # encoders that write the LAME fields (as ffmpeg)


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
