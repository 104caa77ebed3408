#!/bin/sh
# warp-entrypoint: the ENTRYPOINT of images made by `warp image`.
#
# Gives the UID the container runs as a name and a writable HOME, then execs
# the command (`warp start` unless one is given), which so becomes PID 1. A
# first word that is no program (a Procfile type, or a flag such as --all) is
# handed to `warp start`.
#
# Why: OpenShift and friends run images as an arbitrary UID in group 0 that
# /etc/passwd does not know; libraries that call getpwuid() (getpass.getuser,
# os.path.expanduser, psycopg, ...) then fail. In these images /etc/passwd is
# a link to /tmp/warp-passwd, so an entry can be added at start even when the
# root filesystem is read-only (docker run --read-only --tmpfs /tmp). When a
# tmpfs hides the copy the image holds, it is remade from /etc/passwd.warp.
passwd=/tmp/warp-passwd
if [ ! -s "$passwd" ]; then
    cat /etc/passwd.warp >"$passwd" 2>/dev/null || :
fi

# HOME is the group-writable app folder; with a read-only root it cannot be
# written, so use a folder on /tmp instead.
if [ -z "${HOME:-}" ] || ! [ -w "$HOME" ]; then
    HOME=/tmp/home
    mkdir -p "$HOME" 2>/dev/null || :
    export HOME
fi

uid=$(id -u)
if ! cut -d: -f3 "$passwd" 2>/dev/null | grep -qx "$uid"; then
    printf 'app-%s:x:%s:%s:warp application:%s:/bin/sh\n' "$uid" "$uid" "$(id -g)" "$HOME" >>"$passwd" 2>/dev/null || :
fi

# `docker run IMAGE worker` and `docker run IMAGE --all`: a Procfile process type or
# warp start's own flags, not a program, so they go to `warp start` (in the app
# folder, the WORKDIR). Anything that is a program runs as given.
case "${1:-}" in
    -*) exec warp start "$@" ;;
esac
if [ $# -gt 0 ] && ! command -v "$1" >/dev/null 2>&1; then
    exec warp start "$@"
fi
exec "$@"
