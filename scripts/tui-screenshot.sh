#!/usr/bin/env bash
# Capture `lkbridge tui` as text, running against `lkbridge dev`, for the docs:
#   bash scripts/tui-screenshot.sh [out-file]     (default docs/tui-screen.txt)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/docs/tui-screen.txt}"
cd "$ROOT"
.venv/bin/lkbridge dev --signal tone >/tmp/lkbridge-dev.out 2>/dev/null &
DEV=$!
trap 'kill -INT $DEV 2>/dev/null; wait $DEV 2>/dev/null || true; tmux kill-session -t lkbtui 2>/dev/null || true' EXIT
for _ in $(seq 60); do grep -q "ready" /tmp/lkbridge-dev.out 2>/dev/null && break; sleep 0.5; done
# a stream and a playback make the screen show live rates
( timeout 12 .venv/bin/lkbridge stream dev-user --record /dev/null --duration 10 >/dev/null 2>&1 & )
tmux new-session -d -s lkbtui -x 120 -y 36 ".venv/bin/lkbridge tui --interval 0.5"
sleep 6
tmux capture-pane -t lkbtui -p > "$OUT"
echo "captured $(wc -l < "$OUT") lines into $OUT"
