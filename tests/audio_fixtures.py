"""The committed audio files (fixtures/audio/, made by its make.sh) and what each one holds.

Each is a sine tone of its own frequency, so a decode or a playback is checked by content: the
dominant frequency says the right file came out, the sample count says all of it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FIXTURE_AUDIO = Path(__file__).resolve().parent.parent / "fixtures" / "audio"


@dataclass(frozen=True)
class AudioFixture:
    name: str
    fmt: str  # what sniff_format says of its first bytes
    freq: float
    seconds: float  # its audio; decoded at 16 kHz to the sample, but for `extra_s`
    extra_s: float = 0.0  # decoder priming a format cannot tell (ADTS AAC has no gapless data)

    def read(self) -> bytes:
        return (FIXTURE_AUDIO / self.name).read_bytes()


DECODABLE = [
    AudioFixture("mp3-vbr-id3-lame-44k-stereo-440.mp3", "mp3", 440, 2.0),
    AudioFixture("wav-u8-8k-mono-300.wav", "wav", 300, 1.0),
    AudioFixture("wav-s16-44k-stereo-700.wav", "wav", 700, 1.0),
    AudioFixture("wav-s24-48k-stereo-1000.wav", "wav", 1000, 1.0),
    AudioFixture("wav-f32-22k-mono-500.wav", "wav", 500, 1.0),
    AudioFixture("opus-48k-stereo-600.ogg", "ogg", 600, 2.0),
    AudioFixture("flac-44k-mono-800.flac", "flac", 800, 2.0),
    AudioFixture("aac-adts-44k-stereo-900.aac", "aac", 900, 2.0, extra_s=0.06),
]

# Cut short on disk: `seconds` is what the tag or header still claims; about half is there.
TRUNCATED = [
    AudioFixture("truncated-mp3-440.mp3", "mp3", 440, 2.0),
    AudioFixture("truncated-wav-700.wav", "wav", 700, 1.0),
]

NOT_AUDIO = "html-page-named.mp3"  # an HTML error page under an .mp3 name


def by_name(name: str) -> AudioFixture:
    return next(f for f in DECODABLE + TRUNCATED if f.name == name)
