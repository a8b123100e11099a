"""What `lkbridge play` does: make the source fetchable by the bridge, then follow PlayAudio.

A local file is served where the bridge can fetch it. Against the running dev stack that is the
stack's own file server (inside its network namespace, which the host's 127.0.0.1 cannot
reach): the file is linked into the stack's `files/` for the length of the playback. Against any
other bridge, a server of this process on --serve-host (127.0.0.1 by default).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

from lkbridge._proto import livekit_bridge_pb2 as pb
from lkbridge.cli.common import EXIT_USAGE, Target, fail, message_dict
from lkbridge.client import BridgeClient
from lkbridge.text import printable

EVENT_NAMES = {v: k for k, v in pb.PlayAudioEvent.EventType.items()}


@contextlib.contextmanager
def served(path: Path, target: Target, serve_host: str | None) -> Iterator[str]:
    """The URL the bridge fetches `path` from, valid inside the `with`."""
    if serve_host is None and target.dev is not None and target.dev.files_url:
        name = f"{uuid.uuid4().hex[:8]}-{path.name}"
        link = Path(target.dev.files_dir) / name
        try:
            os.symlink(path.resolve(), link)
        except OSError as exc:
            raise fail(
                f"cannot share {path} with the dev stack ({link}): {exc.strerror or exc}",
                EXIT_USAGE,
            ) from None
        try:
            yield target.dev.files_url + name
        finally:
            with contextlib.suppress(OSError):
                link.unlink()
        return
    from lkbridge.cli.fileserver import OneFileServer

    host = serve_host or "127.0.0.1"
    try:
        server = OneFileServer(path.resolve(), host)
    except OSError as exc:
        raise fail(
            f"cannot serve {path} on {host}: {exc.strerror or exc} (--serve-host must be an "
            "address of this host that the bridge can reach)",
            EXIT_USAGE,
        ) from None
    with server:
        yield server.url


async def follow(
    client: BridgeClient,
    user_id: str,
    url: str,
    *,
    track: int,
    volume: float,
    stop_other: bool,
    request_id: str,
    json_output: bool,
) -> pb.PlayAudioEvent | None:
    """PlayAudio's events as JSON lines or a progress bar; the last event."""
    last: pb.PlayAudioEvent | None = None
    events = client.play(
        user_id, url, request_id=request_id, volume=volume, stop_other=stop_other, track_id=track
    )
    if json_output or not sys.stderr.isatty():
        async for event in events:
            last = event
            if not json_output:
                continue
            data = message_dict(event)
            data["type"] = EVENT_NAMES[event.type]
            print(json.dumps(data), flush=True)
        return last if json_output else _completed(last)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[position]}"),
        TimeElapsedColumn(),
    )
    console = Console(stderr=True)
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("connecting", total=None, position="")
        async for event in events:
            last = event
            total = event.duration_ms or None
            position = f"{event.position_ms / 1000:.1f} s" + (
                f" / {total / 1000:.1f} s" if total else ""
            )
            progress.update(
                bar,
                description=EVENT_NAMES[event.type].lower(),
                total=total,
                completed=event.position_ms,
                position=position,
            )
    return _completed(last)


def _completed(last: pb.PlayAudioEvent | None) -> pb.PlayAudioEvent | None:
    if last is not None and last.type == pb.PlayAudioEvent.COMPLETED:
        print(f"completed: {printable(last.request_id)} ({last.duration_ms} ms)")
    return last


def failure(last: pb.PlayAudioEvent | None) -> str | None:
    """Why the playback did not complete, or None when it did."""
    if last is None:
        return "the bridge sent no events"
    if last.type != pb.PlayAudioEvent.COMPLETED:
        return last.error or f"it ended with {EVENT_NAMES.get(last.type, last.type)}"
    return None
