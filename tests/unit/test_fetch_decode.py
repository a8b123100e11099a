from __future__ import annotations

import math

import pytest

from lkbridge.audio.decode import SNIFF_BYTES, sniff_format
from lkbridge.errors import DecodeError, FetchError
from lkbridge.server.playback.player import gain_of
from lkbridge.server.policy.playback_url import FetchPolicy, check_url
from tests.audio_fixtures import DECODABLE, FIXTURE_AUDIO, NOT_AUDIO, TRUNCATED, AudioFixture


@pytest.mark.parametrize(
    "head,fmt",
    [
        (b"RIFF\x24\x08\x00\x00WAVEfmt ", "wav"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00", "mp3"),
        (b"\xff\xfb\x90\x64\x00\x00\x00\x00\x00\x00\x00\x00", "mp3"),
        (b"\xff\xf1\x50\x80\x00\x1f\xfc\x00\x00\x00\x00\x00", "aac"),
        (b"OggS\x00\x02\x00\x00\x00\x00\x00\x00", "ogg"),
        (b"fLaC\x00\x00\x00\x22\x00\x00\x00\x00", "flac"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00", "mov"),
    ],
)
def test_sniff_format_from_bytes(head: bytes, fmt: str) -> None:
    assert sniff_format(head) == fmt


@pytest.mark.parametrize("fixture", DECODABLE + TRUNCATED, ids=lambda f: f.name)
def test_sniff_format_of_committed_files(fixture: AudioFixture) -> None:
    """Real files' first bytes: an ID3 tag, RIFF/WAVE, OggS, fLaC, an ADTS header."""
    assert sniff_format(fixture.read()[:SNIFF_BYTES]) == fixture.fmt


def test_sniff_format_of_an_html_page_named_mp3() -> None:
    head = (FIXTURE_AUDIO / NOT_AUDIO).read_bytes()[:SNIFF_BYTES]
    with pytest.raises(DecodeError, match="not audio: the server sent an HTML/XML page"):
        sniff_format(head)


@pytest.mark.parametrize(
    "head,message",
    [
        (b"", "the response body is empty"),
        (b"ab", "too short"),
        (b"  <!DOCTYPE html><html>", "HTML/XML page"),
        (b'{"error": "denied"}', "JSON"),
        (b"\x00\x01\x02\x03\x04\x05\x06\x07", "unrecognised format (first bytes 0001020304050607)"),
    ],
)
def test_sniff_format_refuses_what_is_not_audio(head: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match="not audio") as err:
        sniff_format(head)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "url,message",
    [
        ("", "audio_url is empty"),
        ("file:///etc/passwd", "scheme 'file' not allowed"),
        ("gopher://x/", "scheme 'gopher' not allowed"),
        ("http://", "audio_url has no host"),
        ("/relative.mp3", "scheme '(none)' not allowed"),
    ],
)
def test_check_url(url: str, message: str) -> None:
    with pytest.raises(FetchError) as err:
        check_url(url)
    assert message in str(err.value)
    check_url("https://tts.example.com/a.mp3?sig=1")


def test_policy_refuses_metadata_and_reserved_addresses() -> None:
    policy = FetchPolicy()
    assert policy.address_refusal("169.254.169.254") == "link-local (cloud metadata) address"
    assert policy.address_refusal("fe80::1%eth0") == "link-local (cloud metadata) address"
    assert policy.address_refusal("0.0.0.0") == "reserved address"
    assert policy.address_refusal("224.0.0.1") == "reserved address"
    assert policy.address_refusal("127.0.0.1") is None
    assert policy.address_refusal("10.1.2.3") is None
    strict = FetchPolicy(deny_private=True, extra_denied=("8.8.8.0/24",))
    assert strict.address_refusal("10.1.2.3") == "private address"
    assert strict.address_refusal("127.0.0.1") == "private address"
    assert strict.address_refusal("8.8.8.9") == "denied network 8.8.8.0/24"


def test_policy_allow_list() -> None:
    policy = FetchPolicy(allow_hosts=("tts.example.com", "*.cdn.example.net"))
    assert policy.host_allowed("tts.example.com")
    assert policy.host_allowed("TTS.example.com.")
    assert policy.host_allowed("a.b.cdn.example.net") and policy.host_allowed("cdn.example.net")
    assert not policy.host_allowed("evil.com") and not policy.host_allowed("xcdn.example.net")
    assert FetchPolicy().host_allowed("anything")


def test_volume_zero_means_full() -> None:
    assert gain_of(0.0) == 1.0
    assert gain_of(math.nan) == 1.0
    assert gain_of(0.5) == 0.5
    assert gain_of(2.0) == 2.0
    assert gain_of(-1.0) == 0.0
