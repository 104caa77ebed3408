#!/bin/sh
# Build the local Debian base image that warp's image tests use, once.
#
# No image can be pulled where the tests run, so `python:X.Y-slim` is out of
# reach; instead debootstrap a minimal Debian with python3 and python3-venv
# (python3 -m venv gives the build stage its own pip) and import it as an
# image.  Idempotent: an existing image with the tag is reused as is.
#
# Usage: tests/images/debian-base.sh [TAG]      (default warp-test-base:bookworm)
# Needs: root, debootstrap, a running Docker engine.  The Debian mirror is
# debootstrap's own default; set DEBOOTSTRAP_MIRROR to use another.
set -eu

tag="${1:-warp-test-base:bookworm}"
suite="${DEBIAN_SUITE:-bookworm}"

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "$tag already present; reusing it"
    exit 0
fi

root="$(mktemp -d "${TMPDIR:-/tmp}/warp-base.XXXXXX")"
trap 'rm -rf "$root"' EXIT INT TERM

# minbase: essential packages and apt only, the closest thing to a slim image.
# ca-certificates lets pip verify TLS in the build stage; a host CA bundle
# forwarded by warp is added on top of it only while building.
# shellcheck disable=SC2086
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$suite" "$root" ${DEBOOTSTRAP_MIRROR:-} >"$root.log" 2>&1 || {
    tail -n 20 "$root.log" >&2
    echo "debootstrap failed (full log: $root.log)" >&2
    exit 1
}
rm -f "$root.log"

# Drop what an image never needs: apt lists and caches, docs, man pages.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
    "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/locale/*

# `docker import` gives no config; set the same defaults python:*-slim has
# (PATH, C.UTF-8 locale) so the base behaves like the default one.
tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$tag" >/dev/null
echo "built $tag"
