"""The stdio protocol the TypeScript tests drive the stack with: answers, errors, shutdown."""

from __future__ import annotations

import asyncio
import io
import json
from contextlib import redirect_stdout

from lkbridge.devstack.harness import serve


async def run(lines: list[str]) -> list[dict[str, object]]:
    reader = asyncio.StreamReader()
    for line in lines:
        reader.feed_data((line + "\n").encode())
    reader.feed_eof()
    out = io.StringIO()
    with redirect_stdout(out):
        await asyncio.wait_for(serve(reader), 10)
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_bad_requests_get_an_error_answer_and_the_harness_goes_on() -> None:
    answers = await run(
        [
            '{"id": 1, "op": "no_such_op"}',
            '{"id": 2, "op": "close"}',
            '{"id": 3, "op": "token", "room": "r", "identity": "i"}',
            "not json",
            '{"id": 4, "op": "device_send_tone", "device": "ghost", "freq": 440, "seconds": 1}',
        ]
    )
    by_id = {a["id"]: a for a in answers}
    assert by_id[1] == {"id": 1, "ok": False, "error": "unknown op 'no_such_op'"}
    assert by_id[2]["error"] == "unknown op 'close'"
    assert by_id[3]["error"] == "start the SFU first (sfu_start)"
    assert by_id[4]["error"] == "no device 'ghost' (device_join first)"
    assert by_id[None]["ok"] is False and "JSONDecodeError" in str(by_id[None]["error"])


async def test_shutdown_answers_then_ends() -> None:
    answers = await run(['{"id": 7, "op": "shutdown"}'])
    assert answers == [{"id": 7, "ok": True, "result": {}}]
