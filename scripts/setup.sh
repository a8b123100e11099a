#!/usr/bin/env bash
# Set up a machine for lkbridge: Debian packages, a virtualenv with the locked Python deps,
# livekit-server and grpcurl built from the Go module proxy into a cache outside the clone.
# Idempotent: every step checks what is there first, so a rerun takes seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${LKBRIDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lkbridge}"
LIVEKIT_VERSION="v1.13.5"   # keep in step with lkbridge/devstack/livekit.py
GRPCURL_VERSION="v1.9.4"
APT_PACKAGES=(ffmpeg libportaudio2 iproute2 nftables espeak-ng sox tmux pulseaudio pulseaudio-utils libasound2-plugins docker-compose openssl util-linux)
VENV="$ROOT/.venv"

say() { printf '[setup] %s\n' "$*" >&2; }

# --- Debian packages ----------------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Go tools into the cache --------------------------------------------------------------------
mkdir -p "$CACHE/bin"
go_install() {  # go_install <module@version> <built name> <final name>
  local target="$CACHE/bin/$3"
  [ -x "$target" ] && return 0
  command -v go >/dev/null || { say "Go >= 1.26 is needed to build $1"; exit 1; }
  say "building $1 (about 2 minutes on a cold cache)"
  GOBIN="$CACHE/gobin" GOMODCACHE="$CACHE/gomod" GOCACHE="$CACHE/gocache" GOFLAGS=-mod=mod \
    go install "$1"
  mv "$CACHE/gobin/$2" "$target"
}
go_install "github.com/livekit/livekit-server/cmd/server@$LIVEKIT_VERSION" server "livekit-server-$LIVEKIT_VERSION"
go_install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION" grpcurl "grpcurl-$GRPCURL_VERSION"
ln -sf "livekit-server-$LIVEKIT_VERSION" "$CACHE/bin/livekit-server"
ln -sf "grpcurl-$GRPCURL_VERSION" "$CACHE/bin/grpcurl"

# --- Python virtualenv --------------------------------------------------------------------------
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { say "Python >= 3.11 is needed"; exit 1; }
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
stamp="$VENV/.lkbridge-deps"
want="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python dependencies (locked in constraints.txt)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # setuptools' editable install always adds a notice that a folder named like the package in
  # the working directory may shadow it: true of any `python -m` started there, which is why
  # lkbridge starts its children with `python -P` (lkbridge/procs.py); the notice is noise here
  PYTHONWARNINGS="ignore:Editable installation" \
    "$VENV/bin/python" -m pip install -q -c "$ROOT/constraints.txt" -e "$ROOT[dev,audio]"
  echo "$want" > "$stamp"
fi

# -- the TypeScript client: Node.js >= 18 and its locked npm dependencies ------------------------
TS="$ROOT/clients/typescript"
if ! command -v node >/dev/null || ! node -e 'process.exit(parseInt(process.versions.node) < 18 ? 1 : 0)'; then
  if [ "$(id -u)" -ne 0 ]; then
    say "Node.js >= 18 with npm is needed for clients/typescript (sudo apt-get install nodejs npm)"
    exit 1
  fi
  say "installing Node.js from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
ts_stamp="$TS/node_modules/.lkbridge-deps"
ts_want="$(sha256sum "$TS/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$ts_stamp" 2>/dev/null)" != "$ts_want" ]; then
  say "installing the TypeScript client's npm dependencies (locked in package-lock.json)"
  (cd "$TS" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$ts_want" > "$ts_stamp"
fi

say "ready: $VENV, $CACHE/bin/livekit-server-$LIVEKIT_VERSION, $TS/node_modules"
