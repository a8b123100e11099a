"""`lkbridge device`: the simulated glasses on their own, for compose stacks and manual tests.

With --record it writes what the glasses hear, one WAV per track, so whether `stream --file` or
`play` reached the room can be checked by content (frequency, level), not by "no error". The
files are written as the audio arrives (devstack/wav_sink.py), so an hour costs no memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from lkbridge.cli.common import (
    EXIT_CANNOT_CONNECT,
    EXIT_RPC_FAILED,
    EXIT_USAGE,
    AuthOption,
    BridgeOption,
    CliExit,
    JsonOption,
    fail,
    resolve_auth,
    resolve_target,
)
from lkbridge.cli.rooms import Credentials, DevOption, credentials
from lkbridge.devstack.state import load_dev_info

if TYPE_CHECKING:
    from lkbridge.audio.pcm import Int16Array
    from lkbridge.devstack.device import DevicePeer
    from lkbridge.devstack.wav_sink import TrackFiles

SIGNALS = ("speech", "tone", "none")
DEFAULT_IDENTITY = "device"


def device(
    room: str = typer.Option("dev-room", "--room"),
    identity: str | None = typer.Option(
        None,
        "--identity",
        show_default=False,
        help=f"Participant identity (default: {DEFAULT_IDENTITY}, or {DEFAULT_IDENTITY}-2, -3 ... "
        "when the room holds it already). An identity already in the room is refused: LiveKit "
        "would push its holder out.",
    ),
    url: str | None = typer.Option(None, "--url", envvar="LIVEKIT_URL"),
    signal_kind: str = typer.Option(
        "speech", "--signal", help="speech (espeak-ng), tone, or none (stay quiet)."
    ),
    join_user: str | None = typer.Option(
        None, "--join-user", help="Also ask the bridge to join a session for this user."
    ),
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    bridge_livekit_url: str | None = typer.Option(
        None, "--bridge-livekit-url", help="LiveKit URL as the bridge reaches it (default: --url)."
    ),
    record: Path | None = typer.Option(
        None,
        "--record",
        help="Write what the device hears to WAVs, one per track: FILE with the track's name "
        "before the suffix (heard.wav -> heard.speaker.wav). Written as it arrives, the header "
        "updated every second: a killed run leaves files that play up to their last second.",
    ),
    duration: float | None = typer.Option(None, "--duration", help="Leave after this long."),
    dev: bool = DevOption,
    json_output: bool = JsonOption,
) -> None:
    """Join ROOM as the glasses and speak a test signal as data packets until Ctrl-C.

    LiveKit keys as for `token` (the running dev stack's by default); from the host shell, a
    dev stack's SFU is reached by running this command inside its network namespace, which
    happens by itself when running as root.
    """
    if signal_kind not in SIGNALS:
        raise typer.BadParameter("speech, tone or none", param_hint="--signal")
    if duration is not None and duration <= 0:
        raise typer.BadParameter("must be more than 0 seconds", param_hint="--duration")
    if record is not None and not record.parent.is_dir():
        raise fail(f"cannot write {record}: no directory {record.parent}", EXIT_USAGE)
    creds = credentials(dev, url)
    stack = load_dev_info()
    hint = ""
    owned = stack is not None and creds.url == stack.livekit_url and room == stack.room
    stack_device = stack.device_identity if stack is not None and owned else ""
    if stack is not None and creds.url == stack.livekit_url:
        from lkbridge.devstack import netns

        try:
            netns.reexec_inside()  # the dev stack's SFU listens inside the namespace only
        except (PermissionError, RuntimeError) as exc:
            raise fail(f"cannot enter the network namespace: {exc}", EXIT_USAGE) from None
        if not netns.inside():
            hint = " (the dev stack's SFU is inside network namespace lkb: run this as root)"
    plan = DevicePlan(
        creds, room, identity or "", signal_kind, join_user, resolve_target(bridge),
        resolve_auth(auth_token), bridge_livekit_url or creds.url, record, duration, json_output,
        hint, stack_device,
    )  # fmt: skip
    try:
        asyncio.run(_run(plan))
    except CliExit as exc:  # its line is printed already
        _leave(exc.code)
    _leave(0)


def _leave(code: int) -> NoReturn:
    """Exit without the SDK's atexit dispose: the room is left and the files are closed by now,
    and tearing the native runtime down under a finishing interpreter aborted the process now
    and then (SIGABRT after a tokio worker's "non-unwinding panic", on a loaded machine) instead
    of ending it with the exit code a script checks."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a reader that went away (`| head`)
            stream.flush()
    logging.shutdown()
    os._exit(code)


@dataclass(frozen=True)
class DevicePlan:
    creds: Credentials
    room: str
    identity: str
    signal_kind: str
    join_user: str | None
    bridge: str
    auth_token: str | None
    bridge_livekit_url: str
    record: Path | None
    duration: float | None
    json_output: bool
    hint: str = ""  # said after a failed connect
    stack_device: str = ""  # the running dev stack's own device in this room, if any

    def say(self, event: str, text: str, **fields: object) -> None:
        if self.json_output:
            print(json.dumps({"event": event, **fields}), flush=True)
        else:
            print(text, flush=True)


async def _run(plan: DevicePlan) -> None:
    from lkbridge.devstack.device import DEVICE_RATE, DevicePeer
    from lkbridge.devstack.speech import test_signal
    from lkbridge.devstack.wav_sink import TrackFiles
    from lkbridge.tokens import mint_token

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, RuntimeError):  # main thread only
            loop.add_signal_handler(sig, stop.set)
    if not os.environ.get("LKBRIDGE_DEBUG"):
        # the SDK logs each retry of a failed connect; the one line below says it once
        logging.getLogger("livekit").setLevel(logging.CRITICAL)
    plan = replace(plan, identity=await _free_identity(plan))
    token = mint_token(plan.creds.api_key, plan.creds.api_secret, plan.room, plan.identity)
    record = plan.record
    files = TrackFiles(partial(recording_path, record), DEVICE_RATE) if record else None
    peer = DevicePeer(
        plan.creds.url, token, keep_audio=False, record_to=files.sink_for if files else None
    )
    try:
        await peer.connect()
    except Exception as exc:  # rtc.ConnectError; its text carries the whole token
        reason = str(exc).replace(token, "<token>").splitlines()[0][:200]
        await peer.aclose()
        raise fail(
            f"cannot connect to LiveKit at {plan.creds.url}: {reason}{plan.hint}",
            EXIT_CANNOT_CONNECT,
        ) from None
    try:
        samples, description = (
            (None, "nothing") if plan.signal_kind == "none" else (test_signal(plan.signal_kind))
        )
        plan.say(
            "joined",
            f"device {plan.identity} in {plan.room}, speaking {description}",
            identity=plan.identity,
            room=plan.room,
        )
        if plan.join_user:
            await _join(plan)
        speaker = loop.create_task(_speak(peer, samples)) if samples is not None else None
        waiter = loop.create_task(stop.wait())
        broken = loop.create_task(files.broken.wait()) if files else None
        tasks = [t for t in (waiter, speaker, broken) if t is not None]
        await asyncio.wait(tasks, timeout=plan.duration, return_when=asyncio.FIRST_COMPLETED)
        failed = speaker.exception() if speaker is not None and speaker.done() else None
        for task in tasks:
            task.cancel()
        # gather, not suppress(BaseException): a cancel of this task itself still propagates
        await asyncio.gather(*tasks, return_exceptions=True)
        if failed is not None:
            raise fail(f"the device stopped speaking: {failed}", EXIT_RPC_FAILED)
    finally:
        try:
            await peer.aclose()  # its track readers end before their files close
        finally:
            if files is not None:
                files.close()
    if files is not None:
        _report_recordings(plan, files)


async def _present(plan: DevicePlan) -> set[str] | None:
    """The identities in the room now; None when the SFU's API cannot tell (the connect that
    follows says why, or the room does not exist yet)."""
    from livekit import api

    try:
        async with api.LiveKitAPI(plan.creds.url, plan.creds.api_key, plan.creds.api_secret) as lk:
            listed = await asyncio.wait_for(
                lk.room.list_participants(api.ListParticipantsRequest(room=plan.room)), 5
            )
    except Exception:
        return None
    return {p.identity for p in listed.participants}


async def _free_identity(plan: DevicePlan) -> str:
    """--identity if nobody in the room holds it (LiveKit would push the holder out, as a
    second `device` pushed out the dev stack's own); the first free default otherwise."""
    present = await _present(plan) or set()
    if plan.identity:
        if plan.identity in present:
            whose = " (the dev stack's own device)" if plan.identity == plan.stack_device else ""
            raise fail(
                f"identity {plan.identity!r} is already in room {plan.room}{whose}: joining "
                "would push it out; give another --identity",
                EXIT_USAGE,
            )
        return plan.identity
    taken = present | ({plan.stack_device} if plan.stack_device else set())
    n = 1
    while (name := DEFAULT_IDENTITY if n == 1 else f"{DEFAULT_IDENTITY}-{n}") in taken:
        n += 1
    return name


async def _speak(peer: DevicePeer, samples: Int16Array) -> None:
    while True:
        await peer.send_packets(samples, chunk_ms=100)


async def _join(plan: DevicePlan) -> None:
    from lkbridge.cli.common import cannot_reach, rpc_failed, unreachable_cause
    from lkbridge.client import BridgeClient
    from lkbridge.errors import ClientError
    from lkbridge.tokens import mint_token

    user = plan.join_user or ""
    cause = unreachable_cause(plan.bridge, 2.0)
    if cause is not None:
        raise cannot_reach(plan.bridge, cause)
    jwt = mint_token(plan.creds.api_key, plan.creds.api_secret, plan.room, f"cloud-agent:{user}")
    try:
        async with BridgeClient(plan.bridge, auth_token=plan.auth_token) as client:
            await client.wait_ready(10)
            joined = await client.join(
                user,
                token=jwt,
                livekit_url=plan.bridge_livekit_url,
                room_name=plan.room,
                target_identity=plan.identity,
            )
    except ClientError as exc:
        raise rpc_failed(exc.code, exc.details) from None
    if not joined.success:
        raise fail(f"join failed: {joined.error}", EXIT_RPC_FAILED)
    plan.say("session", f"bridge session for {user}: joined", user_id=user)


def recording_path(record: Path, track: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in track) or "track"
    return record.with_name(f"{record.stem}.{safe}{record.suffix or '.wav'}")


def _report_recordings(plan: DevicePlan, files: TrackFiles) -> None:
    if files.error is not None:
        raise fail(files.error, EXIT_USAGE)
    if not files.sinks:
        print(f"nothing heard: no track was published in {plan.room}", file=sys.stderr)
    for name, sink in sorted(files.sinks.items()):
        publisher = files.publishers[name]
        seconds = round(sink.seconds, 2)
        level = sink.dbfs
        level = round(level, 1) if level is not None else None
        plan.say(
            "recorded",
            f"{sink.path}: track {name} from {publisher}, {seconds} s, {level} dBFS",
            track=name, publisher=publisher, file=str(sink.path), seconds=seconds, dbfs=level,
        )  # fmt: skip
