"""LiveKit access tokens, for the CLI's production commands as much as for the dev stack."""

from __future__ import annotations

from datetime import timedelta

from livekit import api


def mint_token(
    api_key: str,
    api_secret: str,
    room: str,
    identity: str,
    *,
    ttl: timedelta = timedelta(hours=6),
    name: str | None = None,
    can_publish: bool = True,
    can_subscribe: bool = True,
    can_publish_data: bool = True,
) -> str:
    if ttl <= timedelta(0):
        raise ValueError(f"a token's validity must be positive, not {ttl}")
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=can_publish,
        can_subscribe=can_subscribe,
        can_publish_data=can_publish_data,
    )
    token = (
        api.AccessToken(api_key, api_secret)
        .with_identity(identity)
        .with_name(name or identity)
        .with_ttl(ttl)
        .with_grants(grants)
    )
    return token.to_jwt()
