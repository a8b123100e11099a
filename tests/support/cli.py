"""The CLI in-process (typer's runner) and the LiveKit environment its commands read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from typer.testing import CliRunner

if TYPE_CHECKING:
    from tests.conftest import LiveKitEnv

runner = CliRunner()


def lk_env(livekit: LiveKitEnv) -> dict[str, str]:
    """LIVEKIT_URL and the API key pair of `livekit`, as a user exports them."""
    cfg = livekit.server.config
    return {
        "LIVEKIT_URL": cfg.url,
        "LIVEKIT_API_KEY": cfg.api_key,
        "LIVEKIT_API_SECRET": cfg.api_secret,
    }
