"""Strings from outside (a client's ids and reasons, an SFU's names, a server's error) as a line
of text: the one place that decides how the bridge, its logs, the TUI and the CLI print them.
"""

from __future__ import annotations

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def printable(text: str) -> str:
    """`text` with every character that is not printable (controls: newline, ESC, C1; format
    characters such as bidi overrides; separators other than the space) escaped as `\\n`,
    `\\x1b`, `\\u202e`: one line, nothing a terminal acts on."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)
