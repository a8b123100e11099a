"""The pure logic behind issue 23's string findings: the address rule, the host each client
library dials, and how a client's string is printed. Supplements test_hostile_strings.py (the
real bridge); nothing here dials."""

from __future__ import annotations

import io
import logging

import pytest

from lkbridge._proto import lkbridge_admin_pb2 as admin_pb
from lkbridge.cli.sessions import row
from lkbridge.errors import FetchError, InvalidArgument
from lkbridge.server.logs import JsonFormatter, TextFormatter
from lkbridge.server.policy.addresses import address_refusal
from lkbridge.server.policy.livekit_url import normalise
from lkbridge.server.policy.playback_url import FetchPolicy, check_host
from lkbridge.text import printable


@pytest.mark.parametrize("deny_private", [False, True])
@pytest.mark.parametrize(
    "address,reason",
    [
        ("169.254.169.254", "link-local (cloud metadata) address"),
        ("fd00:ec2::254", "cloud metadata address"),
        ("100.100.100.200", "cloud metadata address"),
        ("168.63.129.16", "cloud metadata address"),
        ("192.0.0.192", "cloud metadata address"),
        ("::ffff:169.254.169.254", "link-local (cloud metadata) address"),
        ("::ffff:100.100.100.200", "cloud metadata address"),
        ("64:ff9b::a9fe:a9fe", "link-local (cloud metadata) address"),
        ("2002:a9fe:a9fe::1", "link-local (cloud metadata) address"),
        ("fe80::1%eth0", "link-local (cloud metadata) address"),
        ("0.0.0.0", "reserved address"),
        ("::", "reserved address"),
        ("ff02::1", "reserved address"),
        ("240.0.0.1", "reserved address"),
    ],
)
def test_refused_whatever_the_settings(address: str, reason: str, deny_private: bool) -> None:
    assert address_refusal(address, deny_private=deny_private) == reason


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "10.1.2.3", "fd12::1", "100.64.0.1"],
)
def test_loopback_and_private_one_rule(address: str) -> None:
    assert address_refusal(address) is None
    assert address_refusal(address, deny_private=True) == "private address"


def test_denied_networks_apply_to_loopback_too() -> None:
    assert address_refusal("127.0.0.2", denied=("127.0.0.2/32",)) == "denied network 127.0.0.2/32"
    assert address_refusal("93.184.216.34") is None  # a public address (never dialled here)


def test_playback_host_literals_as_aiohttp_takes_them() -> None:
    strict = FetchPolicy(deny_private=True)
    for host, message in {
        "127.0.0.1": "host '127.0.0.1' refused by the playback policy: private address",
        "::ffff:7f00:1": "host '::ffff:7f00:1' refused by the playback policy: private address",
        "127.0.0.1.": "host '127.0.0.1.' is not a canonical IP address",
        "2130706433": "host '2130706433' is not a canonical IP address",
    }.items():
        with pytest.raises(FetchError) as err:
            check_host(host, strict)
        assert str(err.value) == message
    check_host("tts.example.com", strict)  # a name: the resolver judges its answers


@pytest.mark.parametrize(
    "url,netloc",
    [
        ("ws://１２７.０.０.１:7880/rtc", "127.0.0.1:7880"),
        ("ws://169。254。169。254", "169.254.169.254"),
        ("ws://0x7f.1:7880", "127.0.0.1:7880"),
        ("ws://2130706433", "127.0.0.1"),
        ("ws://0177.0.0.1", "127.0.0.1"),
        ("ws://127.1.", "127.0.0.1"),
        ("wss://LiveKit.Example.com.", "livekit.example.com."),
        ("wss://ⓛⓘⓥⓔⓚⓘⓣ.example.com", "livekit.example.com"),
        ("wss://☃.com", "xn--n3h.com"),
        ("ws://[::FFFF:127.0.0.1]:7880", "[::ffff:7f00:1]:7880"),
        ("ws://10.77.0.1:7880#frag", "10.77.0.1:7880"),
    ],
)
def test_livekit_url_host_in_the_form_the_sdk_dials(url: str, netloc: str) -> None:
    assert normalise(url).netloc == netloc


@pytest.mark.parametrize(
    "url,message",
    [
        ("ws://1.2.3.4.5", "livekit_url is not a valid URL: its host is neither a name nor an "
         "IPv4 address"),
        ("ws://1.2.3.0x1g", ""),  # ends in a name-like label: a name, left to the resolver
        ("ws://256.0.0.1", "livekit_url is not a valid URL: an IPv4 part of its host is out of "
         "range"),
        ("ws://a%2eb", "livekit_url is not a valid URL: a percent-encoded host is not allowed"),
        ("ws://a b", "livekit_url is not a valid URL: its host holds a character a URL host "
         "cannot"),
        ("ws://u@h", "livekit_url must not carry credentials (user@host)"),
        ("ws://[fe80::1%25eth0]", "livekit_url is not a valid URL: an IPv6 zone id is not "
         "allowed"),
        ("ftp://h", "livekit_url must be a ws://, wss://, http:// or https:// URL (got 'ftp://h')"),
    ],
)  # fmt: skip
def test_livekit_urls_the_parser_would_refuse(url: str, message: str) -> None:
    if not message:
        normalise(url)
        return
    with pytest.raises(InvalidArgument) as err:
        normalise(url)
    assert str(err.value) == message


def test_printable_escapes_what_a_terminal_acts_on() -> None:
    assert printable("plain [b]text[/b] ok") == "plain [b]text[/b] ok"
    assert printable("a\nb\r\x1b]0;t\x07\u202e\u00a0") == "a\\nb\\r\\x1b]0;t\\x07\\u202e\\xa0"


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("lkbridge.x", logging.INFO, __file__, 1, "%s", (message,), None)


def test_log_lines_are_one_line_and_bounded() -> None:
    forged = (
        "x\n2026-12-06 06:00:00,000 INFO    lkbridge.server.session.registry: forged\x1b[2J"
        + "q" * 9000
    )
    text = TextFormatter("%(levelname)s %(message)s").format(_record(forged))
    assert "\n" not in text and "\x1b" not in text and len(text) < 1100
    assert text.startswith("INFO x\\n2026-12-06") and text.endswith("chars)")
    assert len(JsonFormatter().format(_record(forged))) < 1300


def test_the_sessions_table_escapes_what_it_prints() -> None:
    info = admin_pb.SessionInfo(user_id="u\nFAKE ROW", room="r\x1b]52;c;cGF5\x07")
    assert row(info)[:2] == ("u\\nFAKE ROW", "r\\x1b]52;c;cGF5\\x07")
    out = io.StringIO()
    print(*row(info), file=out)
    assert out.getvalue().count("\n") == 1
