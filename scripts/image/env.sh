# Sourced by scripts/image-check.sh, or by hand to use the same image store:
#   source scripts/image/env.sh && podman images
# buildah and podman read their settings from the two files written here, so the check never
# touches the machine-wide /var/lib/containers and every setting it needs is in one place.
# shellcheck shell=bash

IMAGE_CACHE="${LKBRIDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lkbridge}/image"
IMAGE_RUNROOT="/run/lkbridge-image"   # locks and mount points: tmpfs, gone after a reboot
mkdir -p "$IMAGE_CACHE/storage" "$IMAGE_RUNROOT"

# overlay is the kernel's own driver (no fuse-overlayfs); LKBRIDGE_IMAGE_DRIVER=vfs where the
# kernel has no overlayfs (vfs copies every layer: about 3 GB for this image's build).
cat > "$IMAGE_CACHE/storage.conf" <<EOF
[storage]
driver = "${LKBRIDGE_IMAGE_DRIVER:-overlay}"
graphroot = "$IMAGE_CACHE/storage"
runroot = "$IMAGE_RUNROOT"
EOF

# What a machine without systemd, on hybrid cgroups (v1 controllers plus an empty v2 tree), as
# root without CAP_SYS_RESOURCE needs (docs/operations.md, "The image without a registry"):
# - crun refuses hybrid cgroups ("cgroups in hybrid mode not supported"): runc does not;
# - no systemd: cgroupfs for cgroups and a plain file for podman's event log;
# - podman's default rlimits (nofile and nproc 1048576) exceed the hard limits it may not raise:
#   ask for no more than these hosts allow.
nofile="$(ulimit -Hn)"
[[ "$nofile" =~ ^[0-9]+$ ]] && ((nofile <= 65536)) || nofile=65536
cat > "$IMAGE_CACHE/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
EOF

export CONTAINERS_STORAGE_CONF="$IMAGE_CACHE/storage.conf"
export CONTAINERS_CONF="$IMAGE_CACHE/containers.conf"
