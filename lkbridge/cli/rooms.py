"""`lkbridge token`, `join` and `leave`: what the cloud does to put a user's bridge in a room."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import typer

from lkbridge.cli.common import (
    EXIT_RPC_FAILED,
    EXIT_USAGE,
    AuthOption,
    BridgeOption,
    JsonOption,
    TimeoutOption,
    fail,
    message_dict,
    print_json,
    profile_or_fail,
    refused,
    run_call,
)
from lkbridge.devstack.state import load_dev_info

DevOption = typer.Option(
    False,
    "--dev",
    help="Use the running `lkbridge dev` stack's LiveKit URL and keys (the default when no "
    "keys are set in the environment or the profile).",
)


@dataclass(frozen=True)
class Credentials:
    url: str
    api_key: str
    api_secret: str


def credentials(dev: bool, url: str | None = None, need_url: bool = True) -> Credentials:
    """LiveKit URL and keys: --dev, else the environment (LIVEKIT_URL, LIVEKIT_API_KEY,
    LIVEKIT_API_SECRET), else the profile, else the running dev stack."""
    info = load_dev_info()
    if dev:
        if info is None:
            raise fail("--dev: no running `lkbridge dev` stack found", EXIT_USAGE)
        return Credentials(url or info.livekit_url, info.api_key, info.api_secret)
    profile = profile_or_fail()
    sources = [
        (os.environ.get("LIVEKIT_API_KEY", ""), os.environ.get("LIVEKIT_API_SECRET", ""), ""),
        (profile.livekit_api_key, profile.livekit_api_secret, profile.livekit_url),
    ]
    if info is not None:
        sources.append((info.api_key, info.api_secret, info.livekit_url))
    key, secret, source_url = next(((k, s, u) for k, s, u in sources if k and s), ("", "", ""))
    resolved_url = url or os.environ.get("LIVEKIT_URL", "") or source_url or profile.livekit_url
    missing = [
        name
        for name, value in (
            ("LIVEKIT_API_KEY", key),
            ("LIVEKIT_API_SECRET", secret),
            ("LIVEKIT_URL (or --url)", resolved_url if need_url else "x"),
        )
        if not value
    ]
    if missing:
        raise fail(
            f"set {', '.join(missing)} (environment or ~/.config/lkbridge/config.toml), "
            "or start `lkbridge dev`",
            EXIT_USAGE,
        )
    return Credentials(resolved_url, key, secret)


def parse_ttl(text: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text[-1] in units:
            ttl = timedelta(seconds=float(text[:-1]) * units[text[-1]])
        else:
            ttl = timedelta(seconds=float(text))
    except (ValueError, IndexError, OverflowError):
        raise typer.BadParameter(f"{text!r}: use e.g. 90s, 30m, 6h", param_hint="--ttl") from None
    if ttl <= timedelta(0):
        raise typer.BadParameter(
            f"{text!r}: a token must be valid for some time (e.g. 90s, 30m, 6h)", param_hint="--ttl"
        )
    return ttl


def token(
    room: str = typer.Option(..., "--room", help="Room the token grants."),
    identity: str = typer.Option(..., "--identity", help="Participant identity."),
    ttl: str = typer.Option("6h", "--ttl", help="Validity: 90s, 30m, 6h, 1d."),
    name: str | None = typer.Option(None, "--name", help="Display name (default: identity)."),
    can_publish: bool = typer.Option(True, "--publish/--no-publish"),
    can_subscribe: bool = typer.Option(True, "--subscribe/--no-subscribe"),
    can_publish_data: bool = typer.Option(True, "--data/--no-data"),
    dev: bool = DevOption,
    json_output: bool = JsonOption,
) -> None:
    """Mint a LiveKit access token (stdout: the token alone, or JSON with --json)."""
    from lkbridge.tokens import mint_token

    lifetime = parse_ttl(ttl)
    creds = credentials(dev, need_url=False)
    jwt = mint_token(
        creds.api_key,
        creds.api_secret,
        room,
        identity,
        ttl=lifetime,
        name=name,
        can_publish=can_publish,
        can_subscribe=can_subscribe,
        can_publish_data=can_publish_data,
    )
    if json_output:
        print_json({"token": jwt, "room": room, "identity": identity, "url": creds.url})
    else:
        print(jwt)


def join(
    user_id: str = typer.Argument(..., help="The user the session is for."),
    room: str | None = typer.Option(
        None, "--room", help="Room to join (default: the running dev stack's room)."
    ),
    target: str = typer.Option(
        "", "--target", help="Identity whose data packets to forward (empty: everyone)."
    ),
    livekit_token: str | None = typer.Option(
        None, "--token", help="Token for the bridge (default: minted, identity cloud-agent:USER)."
    ),
    url: str | None = typer.Option(None, "--url", envvar="LIVEKIT_URL", help="LiveKit URL."),
    dev: bool = DevOption,
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    json_output: bool = JsonOption,
    timeout: float = TimeoutOption,
) -> None:
    """JoinRoom: the bridge joins ROOM for USER_ID (exit 3 when the join fails)."""
    from lkbridge.tokens import mint_token

    if room is None:
        stack = load_dev_info()
        if stack is None:
            raise fail("give --room (no running `lkbridge dev` stack to take it from)", EXIT_USAGE)
        room = stack.room
    joined_room = room

    creds = Credentials(url, "", "") if livekit_token and url else credentials(dev, url)
    jwt = livekit_token or mint_token(
        creds.api_key, creds.api_secret, room, f"cloud-agent:{user_id}"
    )
    response = run_call(
        bridge,
        auth_token,
        max(timeout, 15.0),
        lambda c: c.join(
            user_id,
            token=jwt,
            livekit_url=creds.url,
            room_name=joined_room,
            target_identity=target,
        ),
    )
    if json_output:
        print_json(message_dict(response))
    elif response.success:
        print(
            f"joined {room} as {response.participant_id} "
            f"({response.participant_count} participant(s))"
        )
    if not response.success:
        raise fail(f"join failed: {response.error}", EXIT_RPC_FAILED)


def leave(
    user_id: str = typer.Argument(...),
    reason: str = typer.Option("", "--reason"),
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    json_output: bool = JsonOption,
    timeout: float = TimeoutOption,
) -> None:
    """LeaveRoom: close USER_ID's session (exit 3 when there is none)."""
    response = run_call(bridge, auth_token, timeout, lambda c: c.leave(user_id, reason), user_id)
    if json_output:
        print_json(message_dict(response))
    elif response.success:
        print(f"left: {user_id}")
    if not response.success:
        raise refused(response.error, user_id)
