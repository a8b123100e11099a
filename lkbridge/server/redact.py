"""What the bridge prints about untrusted text: secrets scrubbed, sizes bounded.

The SFU's refusals quote the rejected token whole ("401 Unauthorized - invalid token: eyJ...",
or a signalling URL with `access_token=`), and a token with its signature admits anyone to the
room until it expires. Clients and logs get the sentence without it. Strings a client chose
(user ids, reasons) are bounded at the RPC boundary; what a log line quotes is clipped as well,
so no request can make a log line large, and shown with its control characters escaped
(`printable`), so no request can forge a log line or drive the terminal that shows it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from lkbridge.text import printable

REDACTED = "[redacted]"

# A JWS in compact form: base64url header (always `{"...`, hence eyJ), payload, signature.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_TOKEN_PARAM = re.compile(r"((?:access_token|token)=)[^&\s\"'#]+", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[^\s\"',;]+", re.IGNORECASE)

LOG_CLIP = 200  # characters of client-chosen text a log line quotes


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without tokens: the given secrets verbatim, JWTs, token query parameters."""
    for secret in secrets:
        if len(secret) >= 8:  # a shorter "secret" would blank out ordinary words
            text = text.replace(secret, REDACTED)
    text = _JWT.sub(REDACTED, text)
    text = _TOKEN_PARAM.sub(lambda m: m.group(1) + REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


def clip(text: str, limit: int = LOG_CLIP) -> str:
    """At most `limit` characters, printable, saying how much was left out."""
    if len(text) <= limit:
        return printable(text)
    return f"{printable(text[:limit])}...(+{len(text) - limit} chars)"


class RedactingFilter(logging.Filter):
    """Scrubs tokens from the records of a logger whose text the bridge does not write (the
    SDK's, when its native records are routed into Python logging)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = redact(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True
