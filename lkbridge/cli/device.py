"""`lkbridge device`: the simulated glasses on their own, for compose stacks and manual tests."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import typer

from lkbridge.cli.rooms import DevOption, credentials
from lkbridge.client import BridgeClient
from lkbridge.devstack.device import DevicePeer
from lkbridge.devstack.speech import test_signal
from lkbridge.devstack.tokens import mint_token


def device(
    room: str = typer.Option("dev-room", "--room"),
    identity: str = typer.Option("device", "--identity"),
    url: str | None = typer.Option(None, "--url", envvar="LIVEKIT_URL"),
    signal_kind: str = typer.Option("speech", "--signal", help="speech (espeak-ng) or tone."),
    join_user: str | None = typer.Option(
        None, "--join-user", help="Also ask the bridge to join a session for this user."
    ),
    bridge: str = typer.Option(
        "127.0.0.1:9090", "--bridge", envvar="LKBRIDGE_TARGET", help="Bridge for --join-user."
    ),
    bridge_livekit_url: str | None = typer.Option(
        None, "--bridge-livekit-url", help="LiveKit URL as the bridge reaches it (default: --url)."
    ),
    dev: bool = DevOption,
) -> None:
    """Join ROOM as the glasses and speak a test signal as data packets until Ctrl-C."""
    creds = credentials(dev, url)
    asyncio.run(_run(creds.url, creds.api_key, creds.api_secret, room, identity, signal_kind,
                     join_user, bridge, bridge_livekit_url or creds.url))  # fmt: skip


async def _run(
    url: str,
    key: str,
    secret: str,
    room: str,
    identity: str,
    signal_kind: str,
    join_user: str | None,
    bridge: str,
    bridge_livekit_url: str,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    samples, description = test_signal(signal_kind)
    peer = DevicePeer(url, mint_token(key, secret, room, identity))
    await peer.connect()
    print(f"device {identity} in {room}, speaking {description}", flush=True)
    if join_user:
        async with BridgeClient(bridge) as client:
            await client.wait_ready(30)
            joined = await client.join(
                join_user,
                token=mint_token(key, secret, room, f"cloud-agent:{join_user}"),
                livekit_url=bridge_livekit_url,
                room_name=room,
                target_identity=identity,
            )
        print(f"bridge session for {join_user}: {joined.success or joined.error}", flush=True)

    async def speak() -> None:
        while True:
            await peer.send_packets(samples, chunk_ms=100)

    speaker = loop.create_task(speak())
    await stop.wait()
    speaker.cancel()
    with contextlib.suppress(BaseException):
        await speaker
    await peer.aclose()
