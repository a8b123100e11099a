"""An MP3 streamed through the decoder lasts what was encoded: no encoder padding at the end."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from lkbridge.audio.mp3info import (
    EncoderPadding,
    Mp3Gapless,
    TagWindow,
    parse_gapless,
)
from lkbridge.audio.signal import dominant_frequency
from lkbridge.devstack.tonefile import make_tone_file
from tests.audio_fixtures import by_name
from tests.helpers import stream_decode, stream_decode_pcm

CASES = [(48000, 1), (44100, 2), (22050, 1), (16000, 2)]  # MPEG-1 and MPEG-2 Layer III
HEAD_BYTES = 16 * 1024  # what these tests read of a file: the tag sits in its first frame


@pytest.fixture(scope="module")
def mp3s(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, int], Path]:
    root = tmp_path_factory.mktemp("mp3")
    return {
        (rate, ch): make_tone_file(root / f"t{rate}-{ch}.mp3", 440, 2.0, rate, ch)
        for rate, ch in CASES
    }


@pytest.mark.parametrize(("rate", "channels"), CASES)
def test_the_tags_give_the_encoded_length(
    mp3s: dict[tuple[int, int], Path], rate: int, channels: int
) -> None:
    info = parse_gapless(mp3s[rate, channels].read_bytes()[:HEAD_BYTES])
    assert info is not None
    assert info.samples_per_frame == (1152 if rate >= 32000 else 576)
    assert info.samples == 2 * rate  # 2 s, to the sample


@pytest.mark.parametrize(("rate", "channels"), CASES)
async def test_a_streamed_mp3_ends_where_its_audio_ends(
    mp3s: dict[tuple[int, int], Path], rate: int, channels: int
) -> None:
    assert await stream_decode(mp3s[rate, channels].read_bytes()) == 2 * 16000


async def test_a_committed_vbr_file_with_id3_and_lame_tags_ends_where_its_audio_ends() -> None:
    """A VBR file as encoders write them: an ID3v2 tag (title, artist) in front, then the
    Xing/LAME frame with the encoder delay and padding; 2 s of 440 Hz at 44.1 kHz stereo."""
    fixture = by_name("mp3-vbr-id3-lame-44k-stereo-440.mp3")
    data = fixture.read()
    head = data[:HEAD_BYTES]
    assert data.startswith(b"ID3") and b"Xing" in head and b"LAME" in head
    info = parse_gapless(head)
    assert info is not None
    assert info.samples_per_frame == 1152 and info.samples == 2 * 44100
    pcm = await stream_decode_pcm(data)
    assert len(pcm) == 2 * 16000
    assert dominant_frequency(pcm, 16000) == pytest.approx(440, abs=2)


async def test_without_the_tag_nothing_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "untagged.mp3"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
         "-ar", "48000", "-write_xing", "0", str(path)],
        check=True,
    )  # fmt: skip
    data = path.read_bytes()
    assert parse_gapless(data[:HEAD_BYTES]) is None
    assert await stream_decode(data) >= 2 * 16000  # the padding stays: no figures, no guess


def test_incomplete_or_foreign_heads_give_nothing(mp3s: dict[tuple[int, int], Path]) -> None:
    data = mp3s[48000, 1].read_bytes()
    assert parse_gapless(data[:60]) is None  # the tag frame is cut short
    assert parse_gapless(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert parse_gapless(b"") is None
    huge_id3 = b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f"  # a 256 MB tag: the frame is beyond the head
    assert parse_gapless(huge_id3 + data[:HEAD_BYTES]) is None


async def test_files_joined_end_to_end_keep_all_their_audio(
    mp3s: dict[tuple[int, int], Path],
) -> None:
    """TTS chunks joined into one file keep the first part's tag: it must not cut the rest."""
    first = mp3s[48000, 1].read_bytes()
    frames = first[first.index(b"\xff\xfb") :]  # the next parts without their ID3 header
    joined = first + frames + frames
    assert parse_gapless(joined[:HEAD_BYTES]) is not None  # the tag says 2 s
    decoded = await stream_decode(joined)
    assert decoded >= 3 * 2 * 16000 - 16000 // 10  # about 6 s (the joins keep their padding)


async def test_a_cover_art_sized_id3_tag_still_finds_the_frame(
    mp3s: dict[tuple[int, int], Path],
) -> None:
    plain = mp3s[44100, 2].read_bytes()
    body = 300_000
    syncsafe = bytes([(body >> 21) & 0x7F, (body >> 14) & 0x7F, (body >> 7) & 0x7F, body & 0x7F])
    tagged = b"ID3\x03\x00\x00" + syncsafe + bytes(body) + plain[plain.index(b"\xff\xfb") :]
    window = TagWindow()
    for start in range(0, len(tagged), 1000):
        window.feed(tagged[start : start + 1000])
    info = parse_gapless(window.window)
    assert info is not None and info.samples == 2 * 44100
    assert len(window.window) <= 4096
    assert await stream_decode(tagged) == 2 * 16000


def test_padding_is_held_then_dropped_and_a_wrong_tag_cuts_nothing() -> None:
    info = Mp3Gapless(frames=3, samples_per_frame=1152, delay=576, padding=1000)  # 1880 samples
    ones = np.ones(1152, dtype=np.int16)

    right = EncoderPadding(info)
    out = [right.cut(ones) for _ in range(2)]  # 2304 decoded, what ffmpeg gives on a pipe
    assert sum(len(o) for o in out) == info.samples

    wrong = EncoderPadding(info)  # the stream goes on well past the tag's count
    out = [wrong.cut(ones) for _ in range(6)]
    assert sum(len(o) for o in out) == 6 * 1152 and not wrong.trimming

    untagged = EncoderPadding(None)
    assert len(untagged.cut(ones)) == 1152 and not untagged.trimming
