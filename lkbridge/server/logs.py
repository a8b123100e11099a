"""Log setup for `lkbridge serve`: plain text for people, JSON lines for collectors.

Both print a record's message as one line: every character that is not printable is escaped
(a newline in a string a client chose cannot start a forged line, an ESC cannot reach the
terminal), and a message is clipped at MESSAGE_CLIP characters, whatever quoted what. This is
the backstop: the bridge clips what it quotes at 200-400 characters (redact.clip).
"""

from __future__ import annotations

import json
import logging
import sys
import time

from lkbridge.server.config import LogFormat
from lkbridge.server.redact import clip

MESSAGE_CLIP = 1000


def one_line(record: logging.LogRecord) -> str:
    """The record's message, printable and clipped."""
    return clip(record.getMessage(), MESSAGE_CLIP)


class TextFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": one_line(record),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str = "info", fmt: LogFormat = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("livekit").setLevel(max(root.level, logging.WARNING))
