#!/usr/bin/env bash
# Build the project's Dockerfile, unchanged, on a machine without a container registry, then run
# the image and check it as a deployment would use it (docs/operations.md, "The image without a
# registry"). As root; takes 3-5 minutes on a warm cache. Not part of scripts/test.sh.
#
#   bash scripts/image-check.sh
#
# 1. apt: buildah, podman, runc, mmdebstrap;   2. the local python:3.11-slim-bookworm, once;
# 3. buildah builds the image;   4. standalone: the container on TCP inside the network
# namespace lkb (where the SFU is): uid 10001, HEALTHCHECK answers SERVING, a session streams
# audio both ways (tests/image), SIGTERM mid-stream ends it with exit 0 within the grace period;
# 5. sidecar: the bridge on a Unix socket in a shared volume, read-only root, no capabilities,
# the HEALTHCHECK pointed at the socket, a cloud uid of the shared group reaches it, the same
# session check, `podman stop` exits 0.
# Exit codes: 0 all checks passed, 1 a check failed, 2 a step this machine cannot do.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
IMAGE="${LKBRIDGE_IMAGE:-localhost/lkbridge:check}"
GRACE=10            # the bridge's default --grace-period, as in the image's CMD
STOP_TIMEOUT=15     # podman's SIGKILL after this; compose's stop_grace_period
APT_PACKAGES=(buildah podman runc mmdebstrap uidmap)

say() { printf '[image] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
blocked() { say "BLOCKED: $*"; exit 2; }
[ "$(id -u)" -eq 0 ] || { say "run as root (buildah, podman and the network namespace need it)"; exit 2; }

# --- tools ---------------------------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash scripts/setup.sh   # the venv that runs the session check, and livekit-server
# shellcheck source=scripts/image/env.sh
source scripts/image/env.sh
.venv/bin/python -m lkbridge.devstack.netns ensure >&2

# --- the images ----------------------------------------------------------------------------------
bash scripts/image/base.sh
say "building $IMAGE from the unchanged Dockerfile"
previous="$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
build_start=$SECONDS
# --format docker keeps HEALTHCHECK (the OCI format has no such field). The build's RUN steps use
# the host's network and its CA bundle (which trusts a TLS-inspecting proxy if there is one),
# mounted only while they run: neither ends up in the image.
buildah bud --format docker --pull=never --layers --network host \
  --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
  --tag "$IMAGE" --file Dockerfile . >"$IMAGE_CACHE/build.log" 2>&1 \
  || { tail -20 "$IMAGE_CACHE/build.log" >&2; fail "buildah bud (log: $IMAGE_CACHE/build.log)"; }
build_s=$((SECONDS - build_start))
if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
  podman rmi "$previous" >/dev/null 2>&1 || true   # the last check's image, now untagged
fi
image_mb="$(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f", $1/1e6}')"
base_mb="$(podman image inspect --format '{{.Size}}' python:3.11-slim-bookworm | awk '{printf "%.0f", $1/1e6}')"
say "built in $build_s s: $image_mb MB (base $base_mb MB)"
[ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = 10001 ] || fail "image USER is not 10001"
podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q 'lkbridge health --standard' \
  || fail "image has no HEALTHCHECK (was it built with --format docker?)"

# --- running it ----------------------------------------------------------------------------------
WORK="$(mktemp -d /tmp/lkbridge-image-check.XXXXXX)"
chmod 755 "$WORK"
CONTAINERS=()
cleanup() {
  for c in "${CONTAINERS[@]}"; do podman rm -f "$c" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# podman logs its lack of systemd (no timers for periodic health checks) on every start and stop;
# `podman healthcheck run` below runs the HEALTHCHECK command itself, as the timer would.
quiet() { "$@" 2> >(grep -v 'systemd' >&2); }

start_container() {  # start_container <name> <podman run args...>: waits for "listening"
  local name="$1"; shift
  CONTAINERS+=("$name")
  local t0=$SECONDS
  quiet podman run -d --name "$name" --network ns:/run/netns/lkb --health-interval disable "$@" \
    >/dev/null || blocked "podman run failed: podman run --network ns:/run/netns/lkb $*"
  for _ in $(seq 600); do
    podman logs "$name" 2>/dev/null | grep -q 'lkbridge listening on' && break
    [ "$(podman inspect --format '{{.State.Running}}' "$name")" = true ] \
      || { podman logs "$name" >&2; fail "$name exited at start"; }
    sleep 0.1
  done
  podman logs "$name" 2>/dev/null | grep -q 'lkbridge listening on' || fail "$name: not listening after 60 s"
  say "$name listening after $((SECONDS - t0)) s"
}

check_uid() {  # every process of the container runs as 10001 (real, effective, saved, fs)
  local name="$1" pid
  for pid in $(podman top "$name" hpid | tail -n +2); do
    [ "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")" = "10001 10001 10001 10001" ] \
      || fail "$name: process $pid runs as $(awk '/^Uid:/' "/proc/$pid/status")"
  done
  [ "$(podman exec "$name" id -u)" = 10001 ] || fail "$name: podman exec runs as $(podman exec "$name" id -u)"
  say "$name runs as uid 10001"
}

check_health() {  # the image's HEALTHCHECK command, run by podman, answers SERVING
  # as an engine judges it: unhealthy only after `Retries` failures in a row (each one bounded by
  # the HEALTHCHECK's timeout, which a loaded machine can exceed: the command is a Python start)
  local name="$1" out="" t0 retries
  retries="$(podman image inspect --format '{{.Config.Healthcheck.Retries}}' "$IMAGE")"
  HEALTH_TRIES=()
  for _ in $(seq "$retries"); do
    t0="$(date +%s.%N)"
    if quiet podman healthcheck run "$name" >/dev/null; then
      out="$(podman inspect --format '{{json .State.Health.Log}}' "$name" \
        | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)[-1]["Output"].strip())')"
    else
      out="failed"
    fi
    HEALTH_TRIES+=("$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s $out")
    [ "$out" = SERVING ] && break
  done
  HEALTH_S="$(IFS=,; echo "${HEALTH_TRIES[*]}")"
  HEALTH_S="${HEALTH_S//,/, }"
  [ "$out" = SERVING ] || fail "$name: HEALTHCHECK failed $retries times in a row: $HEALTH_S"
  # and the same command fails when nothing answers at its target: the check is not vacuous
  if podman exec -e LKBRIDGE_HEALTH_TARGET=unix:/tmp/nothing.sock "$name" \
    sh -c "$(podman image inspect --format '{{index .Config.Healthcheck.Test 1}}' "$IMAGE")" \
    >/dev/null 2>&1; then fail "$name: the HEALTHCHECK command passed with no bridge at its target"; fi
  say "$name HEALTHCHECK: $(podman inspect --format '{{.State.Health.Status}}' "$name"), $HEALTH_S (and fails with no bridge at its target)"
}

rss_mb() {  # resident memory of all the container's processes, MB
  local name="$1" total=0 pid kb
  for pid in $(podman top "$name" hpid | tail -n +2); do
    kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")"
    total=$((total + kb))
  done
  awk -v kb="$total" 'BEGIN {printf "%.0f", kb / 1024}'
}

session_check() {  # session_check <label> <bridge target> [container pid to SIGTERM mid-stream]
  local label="$1" target="$2" pid="${3:-}"
  say "$label: session through $target (tests/image)"
  LKBRIDGE_IMAGE_BRIDGE="$target" LKBRIDGE_IMAGE_PID="$pid" \
    LKBRIDGE_IMAGE_REPORT="$WORK/$label.json" LKBRIDGE_IMAGE_GRACE="$GRACE" \
    ip netns exec lkb .venv/bin/python -m pytest tests/image -q -p no:cacheprovider -x >&2 \
    || fail "$label: the session check failed"
}

report() {  # report <label> <key>: one figure the session check wrote
  .venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
    "$WORK/$1.json" "$2"
}

check_exit() {  # check_exit <name>: exit 0 and the bridge's own "stopped" log line
  local name="$1" code
  code="$(timeout $((STOP_TIMEOUT + 5)) podman wait "$name" 2>/dev/null | tail -1)"
  [ "$code" = 0 ] || { podman logs --tail 20 "$name" >&2; fail "$name exited with $code"; }
  podman logs "$name" 2>&1 | grep -q '"msg": "stopped in' || fail "$name: no 'stopped in' log line"
}

# -- standalone, on TCP: the image's own CMD and HEALTHCHECK target ------------------------------
port_taken() { ip netns exec lkb ss -Htln "sport = :$1" | grep -q .; }
TCP="lkbridge-check-tcp-$$"
pick_port() { ip netns exec lkb .venv/bin/python -c 'from lkbridge.devstack.ports import free_port; print(free_port())'; }
env_args=()
port=9090
if port_taken 9090; then  # someone else's bridge in the shared namespace: not the image's port
  port="$(pick_port)"
  env_args=(-e "PORT=$port")
  say "port 9090 is taken in namespace lkb: the standalone container uses $port"
fi
# the image's health port (LKBRIDGE_HEALTH_PORT, 127.0.0.1), where its HEALTHCHECK asks
health_port=9091
if port_taken 9091; then
  health_port="$(pick_port)"
  env_args+=(-e "LKBRIDGE_HEALTH_PORT=$health_port" -e "LKBRIDGE_HEALTH_TARGET=127.0.0.1:$health_port")
  say "port 9091 is taken in namespace lkb: the health port is $health_port"
fi
start_container "$TCP" "${env_args[@]}" "$IMAGE"
check_uid "$TCP"
check_health "$TCP"
tcp_health_s="$HEALTH_S"
sleep 3
tcp_idle="$(rss_mb "$TCP")"
say "$TCP idle RSS: $tcp_idle MB"
session_check standalone "127.0.0.1:$port" "$(podman inspect --format '{{.State.Pid}}' "$TCP")"
check_exit "$TCP"
say "standalone: SIGTERM mid-stream, exit 0 after $(report standalone stop_s) s (grace $GRACE s)"

# -- sidecar: a Unix socket in a volume shared with the cloud container -------------------------
# as deploy/k8s/sidecar.yaml: runAsUser 10001 / runAsGroup 10001, read-only root, no capabilities,
# an emptyDir with fsGroup 10001 (mode 2777, group 10001); the cloud runs as 10002 in group
# 10001. The open folder leaves the socket's own mode (0660) as the only gate.
SIDECAR="lkbridge-check-sidecar-$$"
SOCKDIR="$WORK/bridge-socket"
mkdir -p "$SOCKDIR"
chown root:10001 "$SOCKDIR"
chmod 2777 "$SOCKDIR"
start_container "$SIDECAR" --user 10001:10001 --read-only --cap-drop ALL \
  --security-opt no-new-privileges -v "$SOCKDIR:/run/lkbridge" \
  -e LIVEKIT_GRPC_SOCKET=/run/lkbridge/bridge.sock \
  -e "LKBRIDGE_HEALTH_PORT=$health_port" -e "LKBRIDGE_HEALTH_TARGET=127.0.0.1:$health_port" \
  "$IMAGE" --no-tcp --socket-mode 0660 --grace-period "$GRACE"
check_uid "$SIDECAR"
sidecar_pid="$(podman inspect --format '{{.State.Pid}}' "$SIDECAR")"
# on TCP only the loopback health port (as deploy/k8s/sidecar.yaml's probes ask it)
if ip netns exec lkb ss -Htlnp | grep "pid=$sidecar_pid," | grep -vq " 127.0.0.1:$health_port "; then
  fail "$SIDECAR listens on TCP besides 127.0.0.1:$health_port"
fi
check_health "$SIDECAR"
sidecar_health_s="$HEALTH_S"
sleep 3
sidecar_idle="$(rss_mb "$SIDECAR")"
say "$SIDECAR idle RSS: $sidecar_idle MB"
probe() { setpriv --reuid "$1" --regid "$2" --clear-groups .venv/bin/lkbridge health --standard \
  --timeout 3 --bridge "unix:$SOCKDIR/bridge.sock" 2>&1; }
sock_mode="$(stat -c '%a %u %g' "$SOCKDIR/bridge.sock")"
[ "$sock_mode" = "660 10001 10001" ] || fail "socket mode, owner, group: $sock_mode (want 660 10001 10001)"
[ "$(probe 10002 10001)" = SERVING ] || fail "the cloud's uid 10002 (group 10001) cannot reach the socket: $(probe 10002 10001)"
if probe 10003 10003 >/dev/null; then fail "uid 10003 outside group 10001 reached the 0660 socket"; fi
say "sidecar socket: mode 0660, uid/gid 10001; SERVING for uid 10002 in group 10001, refused to uid 10003"
session_check sidecar "unix:$SOCKDIR/bridge.sock"
sidecar_busy="$(rss_mb "$SIDECAR")"
stop_start="$(date +%s.%N)"
quiet podman stop --time "$STOP_TIMEOUT" "$SIDECAR" >/dev/null
stop_s="$(awk -v a="$stop_start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')"
check_exit "$SIDECAR"
awk -v s="$stop_s" -v g="$GRACE" 'BEGIN {exit !(s < g)}' || fail "podman stop took $stop_s s (grace $GRACE s)"
say "sidecar: podman stop, exit 0 after $stop_s s"

cat <<EOF
image check passed: $IMAGE
  image size            $image_mb MB (base python:3.11-slim-bookworm $base_mb MB), built in $build_s s
  HEALTHCHECK           runs: $tcp_health_s / $sidecar_health_s (timeout 4 s each, 3 failures in a row mark it unhealthy)
  idle RSS              standalone $tcp_idle MB, sidecar $sidecar_idle MB
  RSS after a session   sidecar $sidecar_busy MB
  device -> client      $(report standalone in_hz) Hz / $(report sidecar in_hz) Hz (440 sent)
  client -> device      $(report standalone out_hz) Hz, $(report standalone out_loud_ms) ms loud / $(report sidecar out_hz) Hz, $(report sidecar out_loud_ms) ms loud (523.25 Hz, 2000 ms sent)
  stop                  SIGTERM mid-stream: exit 0 in $(report standalone stop_s) s; podman stop (sidecar): exit 0 in $stop_s s (grace $GRACE s)
EOF
