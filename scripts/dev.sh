#!/usr/bin/env bash
# The README's main job: set up, then start the local dev stack (SFU, bridge, simulated device)
# inside the project's network namespace. Ctrl-C stops everything.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
exec .venv/bin/lkbridge dev "$@"
