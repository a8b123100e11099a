"""What a client-supplied string can carry (issue 23, findings 1, 7, 8, 9, 10), through the real
bridge, the real SFU and a real HTTP server.

Never dials an address outside loopback: a bypass is shown with a loopback form under
`--playback-deny-private` / `livekit_deny_private`, and a metadata address is asserted refused
by the policy (before the bridge is asked) and then by the bridge, which refuses it before any
dial.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
from aiohttp import web
from rich.text import Text

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.audio.signal import dominant_frequency, loud_part
from lkbridge.devstack.tonefile import make_tone_file
from lkbridge.errors import ClientError
from tests.conftest import BridgeEnv, BridgeFactory, DeviceFactory
from tests.helpers import heard_to_the_end, wait_until

E = pb.PlayAudioEvent
TONE_HZ = 440


class CountingHttp:
    """A tone, a 404 page and redirects, on 127.0.0.1, 127.0.0.2 and [::1]; counts requests."""

    def __init__(self, tone: bytes) -> None:
        self.tone = tone
        self.requests: list[str] = []
        self.port = self.port6 = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> CountingHttp:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await web.TCPSite(self._runner, "127.0.0.2", self.port).start()
        site6 = web.TCPSite(self._runner, "::1", 0)
        await site6.start()
        self.port6 = site6._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _any(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"{request.host}{request.path}")
        if request.path.startswith("/to/"):
            # sent as written (HTTPFound would normalise it through yarl first)
            location = request.path[len("/to/") :].replace("|", "/")
            return web.Response(status=302, headers={"Location": location})
        if request.path == "/tone.wav":
            return web.Response(body=self.tone, content_type="audio/wav")
        return web.Response(status=404, text="INTERNAL-PAGE secret=hunter2 " + "x" * 500)


@pytest.fixture(scope="module")
def tone_wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("strings") / "tone.wav"
    return make_tone_file(path, TONE_HZ, 1.0, 16000, 1).read_bytes()


@pytest.fixture
async def http(tone_wav: bytes) -> AsyncIterator[CountingHttp]:
    server = await CountingHttp(tone_wav).start()
    yield server
    await server.stop()


async def play_all(bridge: BridgeEnv, user: str, url: str, **kw: object) -> list[pb.PlayAudioEvent]:
    return [event async for event in bridge.client.play(user, url, **kw)]  # type: ignore[arg-type]


async def refused_play(
    bridge: BridgeEnv, user: str, url: str, request_id: str = "r"
) -> tuple[list[pb.PlayAudioEvent], ClientError]:
    events = []
    with pytest.raises(ClientError) as err:
        async for event in bridge.client.play(user, url, request_id=request_id):
            events.append(event)
    return events, err.value


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not bad, bad
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


# -- 1: the playback host is judged as dialled -----------------------------------------------------

UNICODE_LOOPBACKS = [
    "127。0。0。1",  # ideographic full stops
    "１２７.０.０.１",  # fullwidth digits
    "127．0．0．1",  # fullwidth full stops
    "127｡0｡0｡1",  # halfwidth ideographic full stops
    "1２7｡0．0。1",  # all of them at once
]


async def test_unicode_dots_and_digits_are_judged_as_the_address_dialled(
    bridge_factory: BridgeFactory, device_factory: DeviceFactory, http: CountingHttp, room_name: str
) -> None:
    bridge = await bridge_factory(playback_deny_private=True)
    await device_factory(room_name, "device")
    await bridge.join("uni", room_name)
    refused = "host '127.0.0.1' refused by the playback policy: private address"
    for host in UNICODE_LOOPBACKS:
        events = await play_all(bridge, "uni", f"http://{host}:{http.port}/tone.wav")
        assert [(e.type, e.error) for e in events] == [(E.FAILED, refused)], host
    # forms the issue did not name: IPv4 in IPv6, hex IPv4 (resolved: judged on the answer),
    # a trailing dot, an IDNA name, each dialled as loopback
    others = {
        f"http://[::ffff:127.0.0.1]:{http.port}/tone.wav": (
            "host '::ffff:7f00:1' refused by the playback policy: private address"
        ),
        f"http://0x7f.0.0.1:{http.port}/tone.wav": (
            "host '0x7f.0.0.1' refused by the playback policy: private address"
        ),
        f"http://127.0.0.1.:{http.port}/tone.wav": (
            "host '127.0.0.1.' is not a canonical IP address"
        ),
        f"http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ:{http.port}/tone.wav": (
            "host 'localhost' refused by the playback policy: private address"
        ),
    }
    for url, error in others.items():
        events = await play_all(bridge, "uni", url)
        assert [(e.type, e.error) for e in events] == [(E.FAILED, error)], url
    assert http.requests == [], "the bridge fetched from a refused address"


async def test_a_redirect_to_a_unicode_host_is_judged_as_dialled(http: CountingHttp) -> None:
    """The redirect's target is judged in yarl's form: 127。0。0。2 is the denied 127.0.0.2."""
    from lkbridge.errors import FetchError
    from lkbridge.server.playback.download import open_download
    from lkbridge.server.policy.playback_url import FetchPolicy

    policy = FetchPolicy(extra_denied=("127.0.0.2/32",))
    target = f"http:||127。0。0。2:{http.port}|tone.wav"
    with pytest.raises(FetchError) as err:
        download = await open_download(f"http://127.0.0.1:{http.port}/to/{target}", policy)
        await download.aclose()
    assert str(err.value) == (
        "host '127.0.0.2' refused by the playback policy: denied network 127.0.0.2/32"
    )
    assert http.requests == [f"127.0.0.1:{http.port}/to/{target}"]


async def test_a_redirect_to_a_unicode_loopback_is_refused_by_the_bridge(
    bridge_factory: BridgeFactory, http: CountingHttp, room_name: str
) -> None:
    """Through the bridge: an allowed host (by name) redirects to a Unicode form of another
    address; the allow-list judges the host as dialled, so `127。0。0。2` is 127.0.0.2."""
    bridge = await bridge_factory(playback_allow_hosts=("127.0.0.1",))
    await bridge.join("redir", room_name)
    target = f"http:||127。0。0。2:{http.port}|tone.wav"
    events = await play_all(bridge, "redir", f"http://127.0.0.1:{http.port}/to/{target}")
    assert [(e.type, e.error) for e in events] == [
        (E.FAILED, "host '127.0.0.2' is not in the playback allow-list")
    ]
    assert http.requests == [f"127.0.0.1:{http.port}/to/{target}"]


# -- 10: one rule for both loopbacks; metadata addresses refused always ---------------------------


async def test_ipv6_loopback_plays_by_default_and_is_private_when_denied(
    bridge_factory: BridgeFactory, device_factory: DeviceFactory, http: CountingHttp, room_name: str
) -> None:
    bridge = await bridge_factory()
    device = await device_factory(room_name, "device")
    await bridge.join("six", room_name)
    events = await play_all(bridge, "six", f"http://[::1]:{http.port6}/tone.wav")
    assert events[-1].type == E.COMPLETED, events[-1].error
    recording = await device.wait_for_track("speaker")
    await wait_until(lambda: heard_to_the_end(recording), 10, "the tone's end at the device")
    heard = loud_part(recording.samples(), 16000)
    assert dominant_frequency(heard, 16000) == pytest.approx(TONE_HZ, abs=3)
    strict = await bridge_factory(playback_deny_private=True)
    await strict.join("six-strict", f"{room_name}-b")
    events = await play_all(strict, "six-strict", f"http://[::1]:{http.port6}/tone.wav")
    assert [(e.type, e.error) for e in events] == [
        (E.FAILED, "host '::1' refused by the playback policy: private address")
    ]


METADATA_URLS = {
    "http://[fd00:ec2::254]/latest/meta-data/": "host 'fd00:ec2::254'",
    "http://100.100.100.200/latest/meta-data/": "host '100.100.100.200'",
    "http://100。100。100。200/latest/meta-data/": "host '100.100.100.200'",
    "http://[::ffff:100.100.100.200]/": "host '::ffff:6464:64c8'",
    "http://[64:ff9b::a9fe:a9fe]/": "host '64:ff9b::a9fe:a9fe'",
}


@pytest.mark.parametrize("deny_private", [False, True])
async def test_metadata_addresses_are_refused_before_any_dial(
    bridge_factory: BridgeFactory, room_name: str, deny_private: bool
) -> None:
    from lkbridge.server.policy.addresses import address_refusal  # the guard: never dial one

    for address in ("fd00:ec2::254", "100.100.100.200", "::ffff:6464:64c8", "64:ff9b::a9fe:a9fe"):
        assert address_refusal(address) is not None, address
    bridge = await bridge_factory(playback_deny_private=deny_private)
    await bridge.join("meta", room_name)
    for url, host in METADATA_URLS.items():
        events = await play_all(bridge, "meta", url)
        assert len(events) == 1 and events[0].type == E.FAILED, url
        assert events[0].error.startswith(f"{host} refused by the playback policy: "), url
        assert events[0].error.endswith("metadata) address") or events[0].error.endswith(
            "cloud metadata address"
        )


# -- 9: a URL that does not parse is INVALID_ARGUMENT, not UNKNOWN and a traceback -----------------

BAD_URLS = {
    "http://[::1/a.mp3": "audio_url is not a valid URL: Invalid IPv6 URL",
    "http://a\uff03b/a.mp3": "audio_url is not a valid URL: netloc 'a＃b' contains invalid "
    "characters under NFKC normalization",
    "http://a\uff0fb/a.mp3": "audio_url is not a valid URL: netloc 'a／b' contains invalid "
    "characters under NFKC normalization",
}


async def test_urls_that_do_not_parse_are_invalid_argument(
    bridge: BridgeEnv, room_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    await bridge.join("bad", room_name)
    with caplog.at_level(logging.INFO):
        for url, message in BAD_URLS.items():
            events, err = await refused_play(bridge, "bad", url)
            assert (err.code, err.details) == ("INVALID_ARGUMENT", message), url
            assert [(e.type, e.request_id, e.error) for e in events] == [(E.FAILED, "r", message)]
        token = bridge.livekit.token(room_name, "cloud-agent:x")
        for url, message in {
            "ws://[::1/": "livekit_url is not a valid URL: Invalid IPv6 URL",
            "ws://a\uff03b/": "livekit_url is not a valid URL: netloc 'a＃b' contains invalid "
            "characters under NFKC normalization",
            "ws://a\uff0fb/": "livekit_url is not a valid URL: netloc 'a／b' contains invalid "
            "characters under NFKC normalization",
            f"ws://user:pw@127.0.0.1:{bridge.livekit.server.config.port}": (
                "livekit_url must not carry credentials (user@host)"
            ),
            "ws://[fe80::1%25lo]:7880": "livekit_url is not a valid URL: an IPv6 zone id is not "
            "allowed",
            "ws://256.1.1.1:7880": "livekit_url is not a valid URL: an IPv4 part of its host is "
            "out of range",
        }.items():
            with pytest.raises(ClientError) as err_join:
                await bridge.client.join("bad2", token=token, livekit_url=url)
            assert (err_join.value.code, err_join.value.details) == ("INVALID_ARGUMENT", message)
    no_errors_logged(caplog)


async def test_malformed_protobuf_is_invalid_argument_and_one_log_line(
    bridge: BridgeEnv, caplog: pytest.LogCaptureFixture
) -> None:
    garbage = b"\xff\xff\xff\x0f"
    prefix = "/mentra.livekit.bridge.LiveKitBridge/"
    async with grpc.aio.insecure_channel(bridge.target) as channel:

        async def call(method: str) -> grpc.aio.AioRpcError:
            try:
                if method == "PlayAudio":
                    async for _ in channel.unary_stream(prefix + method)(garbage):
                        pass
                elif method == "StreamAudio":
                    async for _ in channel.stream_stream(prefix + method)(iter([garbage])):
                        pass
                else:
                    await channel.unary_unary(prefix + method)(garbage)
            except grpc.aio.AioRpcError as exc:
                return exc
            raise AssertionError(f"{method} accepted garbage")

        with caplog.at_level(logging.INFO):
            for _ in range(20):
                for method in ("JoinRoom", "GetStatus", "PlayAudio", "StreamAudio", "LeaveRoom"):
                    err = await call(method)
                    assert (err.code(), err.details()) == (
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"malformed request: the bytes do not parse as a {method} message "
                        "(DecodeError)",
                    )
    no_errors_logged(caplog)
    lines = [r for r in caplog.records if "malformed request" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]  # 100 refusals, one line per 10 s
    await bridge.client.status("nobody")  # and the bridge still answers


# -- 8: livekit_url under the address policy; no fetched body comes back ---------------------------


async def test_livekit_url_host_is_judged_as_the_sdk_dials_it(
    bridge_factory: BridgeFactory, room_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    from lkbridge.server.policy.addresses import address_refusal  # the guard: never dial one

    assert address_refusal("169.254.169.254") and address_refusal("fd00:ec2::254")
    bridge = await bridge_factory(livekit_deny_private=True)
    port = bridge.livekit.server.config.port
    token = bridge.livekit.token(room_name, "cloud-agent:lk")
    refusals = {
        f"ws://１２７.０.０.１:{port}": "livekit_url host '127.0.0.1' refused by the address "
        "policy: private address",
        f"ws://127。0。0。1:{port}": "livekit_url host '127.0.0.1' refused by the address policy: "
        "private address",
        f"ws://0x7f.1:{port}": "livekit_url host '127.0.0.1' refused by the address policy: "
        "private address",
        f"ws://localhost:{port}": "livekit_url host 'localhost' (127.0.0.1) refused by the "
        "address policy: private address",
        f"ws://[::1]:{port}": "livekit_url host '::1' refused by the address policy: private "
        "address",
        "ws://169。254。169。254/": "livekit_url host '169.254.169.254' refused by the address "
        "policy: link-local (cloud metadata) address",
        "wss://[fd00:ec2::254]/": "livekit_url host 'fd00:ec2::254' refused by the address "
        "policy: cloud metadata address",
    }
    with caplog.at_level(logging.INFO):
        for url, message in refusals.items():
            with pytest.raises(ClientError) as err:
                await bridge.client.join("lk", token=token, livekit_url=url, room_name=room_name)
            assert (err.value.code, err.value.details) == ("INVALID_ARGUMENT", message), url
    no_errors_logged(caplog)
    assert len(bridge.server.registry) == 0
    # the default (what the dev stack and the tests use): a loopback SFU, in any spelling, joins
    # through the URL rebuilt around the host the SDK dials
    open_bridge = await bridge_factory()
    for user, url in (("lk1", f"ws://127。0。0。1:{port}"), ("lk2", f"ws://0x7f.1:{port}")):
        answer = await open_bridge.client.join(
            user, token=open_bridge.livekit.token(room_name, f"cloud-agent:{user}"),
            livekit_url=url, room_name=room_name,
        )  # fmt: skip
        assert answer.success, (url, answer.error)


async def test_join_never_returns_a_body_the_bridge_fetched(
    bridge: BridgeEnv, http: CountingHttp, room_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = bridge.livekit.token(room_name, "cloud-agent:body")
    with caplog.at_level(logging.DEBUG, logger="lkbridge"):
        answer = await bridge.client.join(
            "body", token=token, livekit_url=f"ws://127.0.0.1:{http.port}/", room_name=room_name
        )
    assert not answer.success
    assert http.requests, "the SDK asked the HTTP server"
    assert "INTERNAL-PAGE" not in answer.error and "hunter2" not in answer.error, answer.error
    assert answer.error.startswith("connection failed: "), answer.error
    assert answer.error.endswith("404 Not Found (response body of 529 bytes withheld)"), (
        answer.error
    )
    assert not [r for r in caplog.records if "hunter2" in r.getMessage()]


async def test_a_livekit_name_is_dialled_at_the_address_judged(
    bridge: BridgeEnv, http: CountingHttp, room_name: str
) -> None:
    """DNS rebinding: the SDK is handed the address the policy judged, not the name to resolve
    again. `localhost` answers 127.0.0.1 and ::1; the SDK's request reaches 127.0.0.1 with it as
    the Host (before: `Host: localhost:PORT`, the name the SDK resolved itself), and a real SFU
    joins the same way."""
    token = bridge.livekit.token(room_name, "cloud-agent:pin")
    answer = await bridge.client.join(
        "pin", token=token, livekit_url=f"ws://localhost:{http.port}/", room_name=room_name
    )
    assert not answer.success
    assert http.requests, "the SDK asked the HTTP server"
    assert all(r.startswith(f"127.0.0.1:{http.port}/") for r in http.requests), http.requests
    port = bridge.livekit.server.config.port
    joined = await bridge.client.join(
        "pin2", token=bridge.livekit.token(room_name, "cloud-agent:pin2"),
        livekit_url=f"ws://localhost:{port}", room_name=room_name,
    )  # fmt: skip
    assert joined.success, joined.error


async def test_a_livekit_host_that_does_not_resolve_fails_the_join_before_the_sdk(
    bridge: BridgeEnv, room_name: str
) -> None:
    """Handed to the SDK unchecked, a name whose first answer is slow or missing would be
    resolved again by the SDK, past the address policy: the bridge fails the join itself."""
    token = bridge.livekit.token(room_name, "cloud-agent:nodns")
    answer = await bridge.client.join(
        "nodns", token=token, livekit_url="ws://no-such-host.invalid:7880", room_name=room_name
    )
    assert not answer.success
    assert answer.error.startswith(
        "cannot resolve livekit_url host 'no-such-host.invalid' to check it: "
    ), answer.error
    assert (await bridge.client.status("nodns")).connected is False


# -- 7: what a name can carry ----------------------------------------------------------------------

PRINTABLE = "holds a control or format character ({}): ids must be printable text"
FORGED = (
    "admin\n2026-12-06 06:00:00,000 INFO    lkbridge.server.session.registry: session admin joined"
)


async def test_names_with_control_characters_are_refused(
    bridge: BridgeEnv, room_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = bridge.livekit.token(room_name, "cloud-agent:x")
    url = bridge.livekit.url
    newline = "holds a control or format character (U+000A at 5): ids must be printable text"
    with caplog.at_level(logging.DEBUG):
        for field in ("user_id", "room_name", "target_identity"):
            fields = {"user_id": "ok", "room_name": room_name, "target_identity": "device"}
            fields[field] = FORGED
            with pytest.raises(ClientError) as err:
                await bridge.client.join(
                    fields["user_id"], token=token, livekit_url=url,
                    room_name=fields["room_name"], target_identity=fields["target_identity"],
                )  # fmt: skip
            assert (err.value.code, err.value.details) == ("INVALID_ARGUMENT", f"{field} {newline}")
        esc = "title\x1b]0;pwned\x07"
        message = "user_id holds a control or format character (U+001B at 5): ids must be "
        for call in (
            bridge.client.leave(esc),
            bridge.client.status(esc),
            bridge.client.stop(esc),
            bridge.client.join(esc, token=token, livekit_url=url),
            bridge.client.stream(esc).open(),
        ):
            with pytest.raises(ClientError) as err:
                await call
            assert (err.value.code, err.value.details) == (
                "INVALID_ARGUMENT",
                message + "printable text",
            )
        await bridge.join("named", room_name)
        events, err_play = await refused_play(
            bridge, "named", "http://127.0.0.1:9/a.wav", request_id="r\u202eevil"
        )
        expected = "request_id " + PRINTABLE.format("U+202E at 1")
        assert (err_play.code, err_play.details) == ("INVALID_ARGUMENT", expected)
        assert [(e.type, e.request_id, e.error) for e in events] == [(E.FAILED, "", expected)]
        with pytest.raises(ClientError) as err:
            await bridge.client.stop("named", request_id=FORGED)
        assert err.value.details == f"request_id {newline}"
    for record in caplog.records:
        text = record.getMessage()
        assert "\n" not in text and "\x1b" not in text and "\u202e" not in text, text


async def test_reasons_are_kept_escaped_and_log_lines_stay_short(
    bridge: BridgeEnv,
    device_factory: DeviceFactory,
    http: CountingHttp,
    room_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await device_factory(room_name, "device")
    await bridge.join("reasons", room_name)
    with caplog.at_level(logging.DEBUG):
        # an 8 KB URL answered with a 404: the FAILED error and the log line quote it clipped
        long_url = f"http://127.0.0.1:{http.port}/missing?" + "q" * 8000
        events = await play_all(bridge, "reasons", long_url)
        assert events[-1].type == E.FAILED
        assert events[-1].error.startswith(f"HTTP 404 Not Found for http://127.0.0.1:{http.port}/")
        assert len(events[-1].error) < 300, len(events[-1].error)
        # stopped once it plays (STARTED), not after a guessed sleep: a stop that came first
        # would find nothing to stop, and the tone would play to COMPLETED
        events = []
        async for event in bridge.client.play("reasons", f"http://127.0.0.1:{http.port}/tone.wav"):
            events.append(event)
            if event.type == E.STARTED:
                stopped = await bridge.client.stop("reasons", reason="bye\nINFO forged\x1b[2J")
                assert stopped.success
        assert events[-1].error == "stopped: bye\\nINFO forged\\x1b[2J"
        left = await bridge.client.leave("reasons", reason="gone\r\nINFO lkbridge: forged line")
        assert left.success
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("lkbridge")]
    assert any("gone\\r\\nINFO lkbridge: forged line" in line for line in lines), lines
    for line in lines:
        assert "\n" not in line and "\r" not in line and "\x1b" not in line, line
        assert len(line) <= 600, (len(line), line[:200])


MARKUP_IDS = ("zzz[/]", "[@click=app.quit]click[/]", "[b]bold[/b] [link=x]y")


async def test_the_tui_shows_markup_in_ids_as_text(
    bridge_factory: BridgeFactory, device_factory: DeviceFactory, http: CountingHttp, room_name: str
) -> None:
    from lkbridge.tui.app import BridgeDashboard
    from lkbridge.tui.widgets.detail import SessionDetail
    from lkbridge.tui.widgets.eventlog import EventLog
    from lkbridge.tui.widgets.sessions import SessionTable

    bridge = await bridge_factory()
    await device_factory(room_name, "device")
    app = BridgeDashboard(bridge.target, interval_ms=200)
    async with app.run_test(size=(140, 45)) as pilot:
        for user in MARKUP_IDS:
            await bridge.join(user, room_name)
        table = app.query_one(SessionTable)

        async def settle(predicate: Callable[[], bool]) -> None:
            for _ in range(100):
                if predicate():
                    return
                await pilot.pause(0.1)
            raise AssertionError("the dashboard never showed it")

        await settle(lambda: set(table.shown_users) == set(MARKUP_IDS))
        playing = asyncio.create_task(
            play_all(bridge, MARKUP_IDS[1], f"http://127.0.0.1:{http.port}/tone.wav",
                     request_id="[@click=app.quit]r[/]")
        )  # fmt: skip
        table.move_cursor(row=table.get_row_index(MARKUP_IDS[1]))
        await settle(lambda: "[@click=app.quit]r[/]" in str(app.query_one(SessionDetail).content))
        for user in MARKUP_IDS:
            table.move_cursor(row=table.get_row_index(user))
            await settle(lambda u=user: str(app.query_one(SessionDetail).content).startswith(u))
            rendered = table.get_row(user)[0]
            assert Text.from_markup(str(rendered)).plain == user  # the cell shows it as written
        log = "\n".join(str(line.text) for line in app.query_one(EventLog).lines)
        assert all(f"join: {user}" in log for user in MARKUP_IDS), log
        # the questions and notices quote the id as written too
        from lkbridge.tui.screens.confirm import Confirm

        table.move_cursor(row=table.get_row_index(MARKUP_IDS[0]))
        await settle(lambda: table.selected_user == MARKUP_IDS[0])
        await pilot.press("l")
        await settle(lambda: isinstance(app.screen, Confirm))
        question = app.screen.query_one("#question").render()
        assert f"Leave the session of {MARKUP_IDS[0]}?" in str(question)
        await pilot.press("y")
        await settle(lambda: MARKUP_IDS[0] not in table.shown_users)
        assert app.is_running
        await playing
