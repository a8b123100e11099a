#!/usr/bin/env bash
# docs/tui-screen.svg: `lkbridge tui` on a live stack with sessions streaming, in textual's own
# SVG export, for the README.
#   bash scripts/tui-screenshot.sh [out.svg]          (default docs/tui-screen.svg)
# The stack is private: its own state directory (LKBRIDGE_CACHE), free LiveKit and bridge ports,
# so a developer's `lkbridge dev` or a test run is never touched. The capture waits until the
# dashboard shows the sessions streaming (never a "disconnected" screen), and everything the
# script started is stopped on every exit path: success, failure, Ctrl-C.
# Exit codes: 0 captured, 1 the stack or the capture failed, 2 not set up (run scripts/setup.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/docs/tui-screen.svg}"
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
LKB="$ROOT/.venv/bin/lkbridge"
LIVEKIT_BIN="${LKBRIDGE_LIVEKIT_SERVER:-$HOME/.cache/lkbridge/bin/livekit-server-v1.13.5}"
DURATION=60  # seconds the streams run: longer than any capture

say() { printf '[tui-screenshot] %s\n' "$*" >&2; }
[ -x "$PY" ] && [ -x "$LKB" ] || { say "error: no .venv here (run scripts/setup.sh)"; exit 2; }
[ -x "$LIVEKIT_BIN" ] || { say "error: no livekit-server at $LIVEKIT_BIN (run scripts/setup.sh)"; exit 2; }

STATE="$(mktemp -d -t lkbridge-tui-shot.XXXXXX)"
PIDS=()  # clients and the capture, stopped before the stack
DEV=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  if [ -n "$DEV" ]; then  # SIGINT is the stack's Ctrl-C: it leaves the room and stops the SFU
    kill -INT "$DEV" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$DEV" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$DEV" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  rm -rf "$STATE"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- a private dev stack ------------------------------------------------------------------------
"$PY" -m lkbridge.devstack.netns ensure >&2
# free inside the namespace, where the stack listens: LiveKit's TCP port, its UDP port (+2), the bridge
read -r LK_PORT BRIDGE_PORT < <(ip netns exec lkb "$PY" - <<'EOF'
import socket
from lkbridge.devstack.ports import free_port

def udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True

livekit = next(p for p in iter(free_port, None) if p + 2 < 65536 and udp_free(p + 2))
print(livekit, next(p for p in iter(free_port, None) if abs(p - livekit) > 2))
EOF
)
[ -n "${BRIDGE_PORT:-}" ] || { say "error: found no free ports in namespace lkb"; exit 1; }
export LKBRIDGE_CACHE="$STATE/cache" LKBRIDGE_LIVEKIT_SERVER="$LIVEKIT_BIN"
export LKBRIDGE_DEV_LIVEKIT_PORT="$LK_PORT"
say "starting a private stack (LiveKit :$LK_PORT, bridge :$BRIDGE_PORT, state $STATE)"
"$LKB" dev --signal tone --bridge-port "$BRIDGE_PORT" >"$STATE/dev.out" 2>"$STATE/dev.err" &
DEV=$!
for _ in $(seq 120); do
  grep -q "lkbridge dev ready" "$STATE/dev.out" 2>/dev/null && break
  kill -0 "$DEV" 2>/dev/null || { say "error: the dev stack exited: $(grep -v '^[[:space:]]*$' "$STATE/dev.err" | tail -n 1)"; exit 1; }
  sleep 0.5
done
grep -q "lkbridge dev ready" "$STATE/dev.out" || { say "error: the dev stack was not ready within 60 s"; exit 1; }
BRIDGE="unix:$LKBRIDGE_CACHE/dev/bridge.sock"

# --- sessions: two streaming both ways, one joined that nobody reads (it drops) -----------------
ffmpeg -v error -y -f lavfi -i "sine=frequency=330:sample_rate=16000:duration=$DURATION" \
  -af volume=3 "$STATE/low.wav"
ffmpeg -v error -y -f lavfi -i "sine=frequency=880:sample_rate=16000:duration=$DURATION" \
  "$STATE/high.wav"
for user in glasses-2 glasses-3; do
  "$LKB" join "$user" --room dev-room --dev --target device --bridge "$BRIDGE" >/dev/null
done
"$LKB" stream dev-user --file "$STATE/low.wav" --record /dev/null --duration "$DURATION" \
  --bridge "$BRIDGE" >/dev/null 2>&1 &
PIDS+=($!)
"$LKB" stream glasses-2 --file "$STATE/high.wav" --record /dev/null --duration "$DURATION" \
  --bridge "$BRIDGE" >/dev/null 2>&1 &
PIDS+=($!)

# --- the capture: headless, through textual's pilot -----------------------------------------------
"$PY" -m lkbridge.tui.screenshot --bridge "$BRIDGE" --out "$STATE/screen.svg" --sessions 3 \
  --settle 10 --timeout 60 --size 130x36 &
PIDS+=($!)
wait "${PIDS[-1]}"
if grep -q "disconnected" "$STATE/screen.svg"; then
  say "error: the capture shows a disconnected bridge"
  exit 1
fi
mkdir -p "$(dirname "$OUT")"
mv "$STATE/screen.svg" "$OUT"
say "captured $OUT"
