"""The user's profile: defaults for the bridge address, its auth token and the LiveKit keys.

    # ~/.config/lkbridge/config.toml  (LKBRIDGE_CONFIG names another file)
    bridge = "unix:/run/lkbridge/bridge.sock"
    auth_token = "..."
    livekit_url = "wss://livekit.example.com"
    livekit_api_key = "..."
    livekit_api_secret = "..."

A flag beats the environment, which beats this file, which beats a running `lkbridge dev` stack.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path


class ProfileError(ValueError):
    """The profile exists but cannot be used; the message names the file and the fault."""


@dataclass(frozen=True)
class Profile:
    bridge: str = ""
    auth_token: str = ""
    livekit_url: str = ""
    livekit_api_key: str = ""
    livekit_api_secret: str = ""


def profile_path() -> Path:
    explicit = os.environ.get("LKBRIDGE_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "lkbridge" / "config.toml"


def parse_profile(text: str, where: str) -> Profile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{where}: not valid TOML: {exc}") from None
    known = {f.name for f in fields(Profile)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ProfileError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    wrong = sorted(k for k, v in data.items() if not isinstance(v, str))
    if wrong:
        raise ProfileError(f"{where}: {wrong[0]} must be a string")
    return Profile(**data)


def load_profile() -> Profile:
    """The profile as the file says now; an absent default file is an empty profile, but a
    file named by LKBRIDGE_CONFIG must exist (a typo there would silently drop every default)."""
    path = profile_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        if os.environ.get("LKBRIDGE_CONFIG"):
            raise ProfileError(f"{path}: no such file (named by LKBRIDGE_CONFIG)") from None
        return Profile()
    except OSError as exc:
        if isinstance(exc, PermissionError) and _hidden_default(path):
            return Profile()
        raise ProfileError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_profile(text, str(path))


def _hidden_default(path: Path) -> bool:
    """The default path inside a directory this user may not search: a HOME inherited from
    another user (setpriv, `su` without `-`, a probe run as another uid in a container) holds
    no profile of this user's, so it must not stop `lkbridge health`. A file named by
    LKBRIDGE_CONFIG, or one this user can see but not read, is still an error."""
    if os.environ.get("LKBRIDGE_CONFIG"):
        return False
    try:
        path.stat()
    except PermissionError:
        return True
    except OSError:
        return False
    return False
