"""Generate the Python stubs of proto/*.proto into lkbridge/_proto/.

The stubs are committed so that a plain `pip install` from a clean clone works without
grpcio-tools; tests/unit/test_proto_stubs.py regenerates them into a temporary folder and fails
when the committed copy is stale. Run: python scripts/gen_proto.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "lkbridge" / "_proto"


def generate(out_dir: Path = OUT_DIR) -> list[Path]:
    """Run protoc on every .proto and make the grpc modules import their messages relatively."""
    from grpc_tools import protoc  # dev dependency only

    out_dir.mkdir(parents=True, exist_ok=True)
    protos = sorted(PROTO_DIR.glob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(p) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    written = []
    for proto in protos:
        stem = proto.stem
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            path = out_dir / f"{stem}{suffix}"
            text = path.read_text()
            text = re.sub(
                rf"^import {stem}_pb2 as", f"from . import {stem}_pb2 as", text, flags=re.M
            )
            # protoc stamps its version: keep the files stable across grpcio-tools patches
            text = re.sub(r"^# Protobuf Python Version: .*\n", "", text, flags=re.M)
            path.write_text(text)
            written.append(path)
    return written


if __name__ == "__main__":
    for p in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR):
        print(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p)
