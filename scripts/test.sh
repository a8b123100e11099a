#!/usr/bin/env bash
# The README's test command: setup, lint, type check, then the whole suite inside the project's
# network namespace (where the real livekit-server, the bridge and the SDK peers meet).
# Extra arguments go to pytest (and skip the TypeScript tests), e.g. `bash scripts/test.sh -k playback`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
echo "[test] ruff" >&2
.venv/bin/ruff check .
echo "[test] mypy" >&2
.venv/bin/mypy
.venv/bin/python -m lkbridge.devstack.netns ensure >&2
if [ $# -eq 0 ]; then  # with pytest arguments, only the selected Python tests run
  echo "[test] TypeScript client: tsc --strict, node --test (inside network namespace lkb)" >&2
  # a free port for the bridge the TS tests restart, so a second run never collides with this one
  LKBRIDGE_TS_BRIDGE_PORT="${LKBRIDGE_TS_BRIDGE_PORT:-$(ip netns exec lkb .venv/bin/python -c 'from lkbridge.devstack.ports import free_port; print(free_port())')}" \
    ip netns exec lkb npm --prefix clients/typescript test --silent
fi
echo "[test] pytest (inside network namespace lkb)" >&2
exec ip netns exec lkb .venv/bin/python -m pytest "$@"
