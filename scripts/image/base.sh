#!/usr/bin/env bash
# Build a stand-in for python:3.11-slim-bookworm from Debian's own packages, for machines that
# reach Debian's mirrors but no container registry. Built once into the image store that
# scripts/image/env.sh names, and rebuilt only when this recipe changes.
#
# Same name and the layout the project's Dockerfile relies on: Debian 12 (bookworm, merged /usr),
# `python` and `python3` on PATH in /usr/local/bin, a working `python -m venv` with pip,
# useradd, CA certificates, tzdata, netbase, LANG=C.UTF-8, CMD python3. What differs from the
# registry's image: Python is Debian's python3.11 (3.11.2 with Debian's patches) under /usr/bin,
# linked from /usr/local/bin, instead of the latest 3.11 built from source into /usr/local; pip
# in the base itself is absent (venvs get Debian's pip 23.0.1 wheel).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/image/env.sh
source "$ROOT/scripts/image/env.sh"

NAME="docker.io/library/python:3.11-slim-bookworm"
MIRROR="${LKBRIDGE_DEBIAN_MIRROR:-http://deb.debian.org}"
recipe="$(sha256sum < "${BASH_SOURCE[0]}" | cut -c1-16)-$(echo "$MIRROR" | sha256sum | cut -c1-8)"

say() { printf '[image] %s\n' "$*" >&2; }

have="$(podman image inspect --format '{{index .Labels "org.lkbridge.base-recipe"}}' "$NAME" 2>/dev/null || true)"
if [ "$have" = "$recipe" ]; then
  say "base $NAME: cached (recipe $recipe)"
  exit 0
fi

say "building the base $NAME with mmdebstrap from $MIRROR (about a minute)"
start=$SECONDS
tarball="$IMAGE_CACHE/base-rootfs.tar"
version_file="$IMAGE_CACHE/base-python-version"
# shellcheck disable=SC2016  # $1 is the new root, expanded by mmdebstrap's hook shell
link_python='for n in python python3; do ln -s /usr/bin/python3.11 "$1/usr/local/bin/$n"; done'
# debian:bookworm-slim's trimming (no man pages, docs but copyright, locales, info), the
# merged-/usr hook instead of the usrmerge package (which pulls in perl), no apt lists left.
mmdebstrap --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --include=python3.11,python3.11-venv,ca-certificates,netbase,tzdata \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' --aptopt='Acquire::Languages "none"' \
  --customize-hook="$link_python" \
  --customize-hook="chroot \"\$1\" python -c 'import platform; print(platform.python_version())' > '$version_file'" \
  bookworm "$tarball" \
  "deb $MIRROR/debian bookworm main" "deb $MIRROR/debian bookworm-updates main" \
  "deb $MIRROR/debian-security bookworm-security main" >"$IMAGE_CACHE/mmdebstrap.log" 2>&1 \
  || { tail -20 "$IMAGE_CACHE/mmdebstrap.log" >&2; say "mmdebstrap failed (log: $IMAGE_CACHE/mmdebstrap.log)"; exit 1; }

ctr="$(buildah from scratch)"
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true; rm -f "$tarball"' EXIT
buildah add --quiet "$ctr" "$tarball" / >/dev/null
buildah config \
  --env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 --env PYTHON_VERSION="$(cat "$version_file")" \
  --cmd python3 \
  --label org.lkbridge.base-recipe="$recipe" \
  --label org.lkbridge.base-note="local stand-in built by scripts/image/base.sh from Debian packages" \
  "$ctr"
buildah commit --quiet --format docker "$ctr" "$NAME" >/dev/null
podman image prune --force >/dev/null  # the previous base and the build cache made on it
say "base $NAME built in $((SECONDS - start)) s: Python $(cat "$version_file"), $(podman image inspect --format '{{.Size}}' "$NAME" | awk '{printf "%.0f MB", $1/1e6}')"
