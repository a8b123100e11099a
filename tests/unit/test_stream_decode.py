"""The streaming decoder skips a damaged packet or two, and fails on a stream of them."""

from __future__ import annotations

import random

import pytest

from lkbridge.devstack.tonefile import make_tone_file
from lkbridge.errors import DecodeError
from tests.helpers import stream_decode


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
