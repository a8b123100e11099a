"""The streaming decoder: the committed real-world files come out whole and right; it skips a
damaged packet or two, and fails on a stream of them."""

from __future__ import annotations

import random

import pytest

from lkbridge.audio.signal import dominant_frequency, loud_spans
from lkbridge.devstack.tonefile import make_tone_file
from lkbridge.errors import DecodeError
from tests.audio_fixtures import DECODABLE, FIXTURE_AUDIO, NOT_AUDIO, TRUNCATED, AudioFixture
from tests.helpers import stream_decode, stream_decode_pcm


@pytest.fixture(scope="module")
def mp3(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("decode") / "tone.mp3"
    return make_tone_file(path, 440, 2.0, 48000, 1).read_bytes()


async def test_whole_mp3_files_joined_play_whole(mp3: bytes) -> None:
    """Each part keeps its ID3 tag: the decoder meets a tag between two frames, twice."""
    assert mp3.startswith(b"ID3")
    decoded = await stream_decode(mp3 + mp3 + mp3)
    assert decoded >= 3 * 2 * 16000 - 16000 // 10  # about 6 s


async def test_garbage_after_a_good_frame_fails(mp3: bytes) -> None:
    noise = random.Random(7).randbytes(200_000)
    with pytest.raises(DecodeError, match=r"undecodable mp3 audio: 5 damaged packets in a row"):
        await stream_decode(mp3[:600] + noise)


async def test_a_glitch_in_the_middle_is_skipped(mp3: bytes) -> None:
    middle = len(mp3) // 2
    glitched = mp3[:middle] + b"\x00" * 300 + mp3[middle:]
    assert await stream_decode(glitched) >= 2 * 16000 - 16000 // 10


@pytest.mark.parametrize("fixture", DECODABLE, ids=lambda f: f.name)
async def test_committed_files_decode_whole_and_right(fixture: AudioFixture) -> None:
    """MP3 (VBR, ID3, LAME tag), WAV (8/16/24-bit, float; 8-48 kHz, mono and stereo), Opus, FLAC
    and AAC: the file's own tone, every sample of it, at 16 kHz mono."""
    pcm = await stream_decode_pcm(fixture.read())
    assert dominant_frequency(pcm, 16000) == pytest.approx(fixture.freq, abs=2)
    expected = round(fixture.seconds * 16000)
    assert expected <= len(pcm) <= expected + round(fixture.extra_s * 16000)
    spans = loud_spans(pcm, 16000)
    assert sum(end - start for start, end in spans) >= fixture.seconds * 1000 - 60  # no gaps


@pytest.mark.parametrize("fixture", TRUNCATED, ids=lambda f: f.name)
async def test_a_file_cut_short_plays_the_part_that_is_there(fixture: AudioFixture) -> None:
    """The tag or header still claims the whole length: the decoder gives what the bytes hold
    (about half), of the right tone, and no error (a download cut short is fetch's to fail)."""
    pcm = await stream_decode_pcm(fixture.read())
    assert dominant_frequency(pcm, 16000) == pytest.approx(fixture.freq, abs=2)
    assert 0.4 <= len(pcm) / (fixture.seconds * 16000) <= 0.6


async def test_an_html_page_named_mp3_is_not_audio() -> None:
    page = (FIXTURE_AUDIO / NOT_AUDIO).read_bytes()
    with pytest.raises(DecodeError, match="not audio: the server sent an HTML/XML page"):
        await stream_decode(page)
