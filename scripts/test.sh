#!/usr/bin/env bash
# The README's test command: setup, lint, type check, then the whole suite inside the project's
# network namespace (where the real livekit-server, the bridge and the SDK peers meet).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k playback -x`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
echo "[test] ruff" >&2
.venv/bin/ruff check .
echo "[test] mypy" >&2
.venv/bin/mypy
echo "[test] pytest (inside network namespace lkb)" >&2
.venv/bin/python -m lkbridge.devstack.netns ensure >&2
exec ip netns exec lkb .venv/bin/python -m pytest "$@"
