"""`lkbridge play`, `stop` and `stream`: audio into and out of a room through the bridge.

The commands check their input here; the work is in playing.py and streaming.py, imported
only when a command runs (they pull in numpy, PyAV and rich).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

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
    refused,
    resolve,
    resolve_auth,
    run_call,
    run_on,
)


def play(
    user_id: str = typer.Argument(...),
    source: str = typer.Argument(..., help="An http(s) URL, or a local file to serve."),
    track: int = typer.Option(0, "--track", help="0 speaker, 1 app_audio, 2 tts, n track_n."),
    volume: float = typer.Option(
        1.0,
        "--volume",
        help="Gain, more than 0 and at most 1: 1 plays the file at its own level, 0.5 at half "
        "(-6 dB). No boost: a gain over 1 clips.",
    ),
    stop_other: bool = typer.Option(False, "--stop-other", help="Stop every other playback."),
    request_id: str = typer.Option("", "--request-id"),
    serve_host: str | None = typer.Option(
        None,
        "--serve-host",
        help="Serve a local file on this address of this host (default: through the dev "
        "stack's file server when playing into it, else 127.0.0.1).",
    ),
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    json_output: bool = typer.Option(False, "--json", help="Print each event as a JSON line."),
    timeout: float = TimeoutOption,
) -> None:
    """PlayAudio with a progress bar driven by PROGRESS events (exit 3 when it FAILED)."""
    import contextlib
    from contextlib import AbstractContextManager

    from lkbridge.cli.playing import failure, follow, served

    if not 0 < volume <= 1:  # NaN too: the bridge would take it for full volume
        raise typer.BadParameter(
            f"{volume:g}: give a gain more than 0 and at most 1", param_hint="--volume"
        )
    target = resolve(bridge)
    scheme = urlsplit(source).scheme
    if scheme in ("http", "https"):
        where: AbstractContextManager[str] = contextlib.nullcontext(source)
    elif "://" in source:
        raise fail(f"bad URL {source!r}: only http and https", EXIT_USAGE)
    else:
        from lkbridge.cli.localaudio import check_audio

        path = Path(source)
        check_audio(path)  # as `stream --file` checks it: exit 2, before the bridge is asked
        where = served(path, target, serve_host)
    with where as url:
        last = run_on(
            target.address,
            resolve_auth(auth_token),
            timeout,
            lambda c: follow(
                c, user_id, url, track=track, volume=volume, stop_other=stop_other,
                request_id=request_id, json_output=json_output,
            ),
            user_id,
        )  # fmt: skip
    why = failure(last)
    if why is not None:
        raise fail(f"playback failed: {why}", EXIT_RPC_FAILED)


def stop(
    user_id: str = typer.Argument(...),
    track: int = typer.Option(-1, "--track", help="-1 stops every track."),
    request_id: str = typer.Option("", "--request-id", help="Stop only this playback."),
    reason: str = typer.Option("stopped from the CLI", "--reason"),
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    json_output: bool = JsonOption,
    timeout: float = TimeoutOption,
) -> None:
    """StopAudio: by track, all tracks (-1), or one request id."""
    response = run_call(
        bridge,
        auth_token,
        timeout,
        lambda c: c.stop(user_id, track_id=track, request_id=request_id, reason=reason),
        user_id,
    )
    if json_output:
        print_json(message_dict(response))
    elif response.success:
        print(f"stopped: {response.stopped_request_id or '(nothing was playing)'}")
    if not response.success:
        raise refused(response.error, user_id)


def stream(
    user_id: str | None = typer.Argument(
        None, show_default=False, help="The user whose session streams (not with --list-devices)."
    ),
    file: Path | None = typer.Option(None, "--file", help="Send this audio file in real time."),
    mic: bool = typer.Option(False, "--mic", help="Send the local microphone."),
    input_device: str | None = typer.Option(None, "--input-device", help="Name or index."),
    list_devices: bool = typer.Option(False, "--list-devices", help="List audio devices."),
    track: int = typer.Option(0, "--track", help="Track to send to."),
    record: Path | None = typer.Option(
        None, "--record", help="Write room audio to a WAV (only audio newer than the stream)."
    ),
    speaker: bool = typer.Option(False, "--speaker", help="Play room audio on the speakers."),
    output_device: str | None = typer.Option(None, "--output-device", help="Name or index."),
    duration: float | None = typer.Option(
        None, "--duration", help="Stop after this long (with --record: once it holds this long)."
    ),
    chunk_ms: int = typer.Option(100, "--chunk-ms", help="Chunk size sent to the bridge."),
    bridge: str | None = BridgeOption,
    auth_token: str | None = AuthOption,
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    timeout: float = TimeoutOption,
) -> None:
    """StreamAudio: send a file or the microphone; receive room audio to a WAV or speakers.

    Ends when the file is sent, at --duration, or on Ctrl-C (all exit 0); the session stays.
    """
    from lkbridge.cli import streaming

    if list_devices:
        listed = streaming.sounddevice().query_devices()
        if len(listed) == 0:
            raise fail("no audio devices found (PortAudio sees none)", EXIT_USAGE)
        if json_output:
            print_json([
                {key: d[key] for key in ("index", "name", "max_input_channels",
                                         "max_output_channels", "default_samplerate")}
                for d in listed
            ])  # fmt: skip
        else:
            print(listed)
        return
    if user_id is None:
        raise fail("Missing argument 'USER_ID'. (see `lkbridge stream --help`)", EXIT_USAGE)
    if file is not None and mic:
        raise fail("give --file or --mic, not both", EXIT_USAGE)
    if duration is not None and duration <= 0:
        raise typer.BadParameter("must be more than 0 seconds", param_hint="--duration")
    if not 10 <= chunk_ms <= 1000:
        raise typer.BadParameter("must be 10-1000 ms", param_hint="--chunk-ms")
    if file is None and not mic and duration is None and record is None and not speaker:
        raise fail(
            "nothing to do: give --file, --mic, --record, --speaker or --duration", EXIT_USAGE
        )
    plan = streaming.StreamPlan(
        user_id=user_id,
        samples=streaming.load_audio(file) if file is not None else None,
        mic=mic,
        input_device=streaming.device_id(input_device),
        track=track,
        record=record,
        speaker=speaker,
        output_device=streaming.device_id(output_device),
        duration=duration,
        chunk_ms=chunk_ms,
    )
    summary = run_call(
        bridge, auth_token, timeout, lambda c: streaming.run_stream(c, plan), user_id
    )
    if json_output:
        print_json(summary)
    else:
        import sys

        print(
            f"sent {summary['chunks_sent']} chunks ({summary['bytes_sent']} bytes), "
            f"received {summary['chunks_received']} chunks ({summary['bytes_received']} bytes) "
            f"in {summary['duration_s']:.1f} s",
            file=sys.stderr,
        )
