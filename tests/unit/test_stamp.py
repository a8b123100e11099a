"""The lab's one packet stamp codec (lkbridge/devstack/stamp.py), and bench/godevices's Go copy."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from lkbridge.devstack.livekit import cache_dir
from lkbridge.devstack.stamp import (
    SEQ_OFFSET,
    STAMP_BYTES,
    TIME_OFFSET,
    TIME_WORDS,
    missing_between,
    read_stamp,
    sent_ns,
    stamp,
)

GO_DEVICES = Path(__file__).resolve().parents[2] / "bench" / "godevices" / "main.go"
SENT = 1_795_000_000_123_456_789


def test_a_stamp_reads_back_as_its_sequence_and_send_time() -> None:
    pcm = bytes(range(200)) * 16
    now = time.time_ns()
    stamped = stamp(pcm, 70_000, now)  # past 16 bits: the sequence wraps, the time must not
    assert read_stamp(stamped) == (70_000 % 65536, now)
    assert sent_ns(stamped) == now
    assert stamped[STAMP_BYTES:] == pcm[STAMP_BYTES:] and len(stamped) == len(pcm)
    assert read_stamp(b"short") is None and sent_ns(b"short") is None


def test_the_layout_is_sequence_then_four_little_endian_time_words() -> None:
    stamped = stamp(bytes(STAMP_BYTES), 0x0102, SENT)
    assert stamped[SEQ_OFFSET : SEQ_OFFSET + 2] == b"\x02\x01"
    assert stamped[TIME_OFFSET:STAMP_BYTES] == SENT.to_bytes(2 * TIME_WORDS, "little")


def test_missing_packets_by_sequence() -> None:
    assert missing_between(7, 8) == 0
    assert missing_between(7, 10) == 2
    assert missing_between(65535, 1) == 1  # across the wrap
    assert missing_between(9, 9) == 0 and missing_between(9, 3) == 0  # repeat, device restart


def _go_constants(source: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^\s*(stamp\w+)\s*=\s*(\d+)", source, re.M)}


def test_the_go_devices_constants_are_the_codecs() -> None:
    constants = _go_constants(GO_DEVICES.read_text())
    assert constants == {
        "stampSeqOffset": SEQ_OFFSET,
        "stampTimeOffset": TIME_OFFSET,
        "stampTimeWords": TIME_WORDS,
    }


@pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain")
def test_the_go_devices_stamp_reads_back_here(tmp_path: Path) -> None:
    """bench/godevices's own putStamp, compiled alone (standard library only), stamps a packet
    this codec reads back: the Go copy cannot drift from the Python one unnoticed."""
    source = GO_DEVICES.read_text()
    consts = re.search(r"^const \(\n.*?^\)\n", source, re.M | re.S)
    func = re.search(r"^func putStamp\(.*?^}\n", source, re.M | re.S)
    assert consts is not None and func is not None, "putStamp and its constants moved"
    program = (
        'package main\n\nimport (\n\t"encoding/binary"\n\t"os"\n)\n\n'
        + consts[0] + "\n" + func[0]
        + f"\nfunc main() {{\n\tpcm := make([]byte, 16)\n\tputStamp(pcm, 70001, {SENT})\n"
        + "\tos.Stdout.Write(pcm)\n}\n"
    )  # fmt: skip
    (tmp_path / "main.go").write_text(program)
    go = shutil.which("go")
    assert go is not None
    # the setup's build cache (bench/godevices's too): the standard library is built once
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GO111MODULE": "off",
           "GOCACHE": str(cache_dir() / "gocache"), "GOFLAGS": ""}  # fmt: skip
    built = subprocess.run(
        [go, "run", str(tmp_path / "main.go")], capture_output=True, env=env, timeout=300
    )
    assert built.returncode == 0, built.stderr.decode()
    assert read_stamp(built.stdout) == (70001 % 65536, SENT)
    assert built.stdout[STAMP_BYTES:] == bytes(16 - STAMP_BYTES)
