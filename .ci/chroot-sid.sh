#!/usr/bin/env bash
# A Debian unstable (sid) chroot with CPython 3.14 and 3.15, for the versions
# this machine's Debian release and pyenv do not have.
#   .ci/chroot-sid.sh setup           make it (idempotent; cached under $WSFRAME_CHROOT)
#   .ci/chroot-sid.sh run CMD...      run CMD inside it, with proc/dev mounted and the
#                                     repository bind-mounted at /src (unmounted on exit)
# The chroot uses the mirror of the host's apt sources and a copy of the host's
# pip configuration (files, PIP_* variables, the CA bundle and local package
# directories it names, bind-mounted read-only) and resolv.conf.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=${WSFRAME_CHROOT:-/var/cache/wsframe-chroot/sid}
packages=python3.14,python3.14-dev,python3.14-venv,python3.15,python3.15-dev,python3.15-venv,gcc,libc6-dev,ca-certificates

mirror() {  # the first Debian mirror of the host's apt sources
    local m
    m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ')
    echo "${m:-http://deb.debian.org/debian}"
}

pip_paths() {  # local directories named in the host's pip configuration
    { python3 -m pip config list 2>/dev/null; env | grep '^PIP_'; } \
        | grep -oE "(file://)?/[^' ]+" | sed 's#^file://##' | while read -r p; do
        [ -d "$p" ] && echo "${p%/simple}"
    done | sort -u
}

setup() {
    if [ -x "$root/usr/bin/python3.15" ] && [ -x "$root/usr/bin/python3.14" ] && [ -f "$root/.wsframe-ready" ]; then
        copy_config
        return 0
    fi
    command -v debootstrap >/dev/null || {
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    rm -rf "$root"
    mkdir -p "$root"
    echo "debootstrap sid into $root from $(mirror)"
    debootstrap --variant=minbase --include="$packages" sid "$root" "$(mirror)" >"$root.log" 2>&1 \
        || { tail -n 30 "$root.log"; return 1; }
    copy_config
    touch "$root/.wsframe-ready"
}

copy_config() {
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    mkdir -p "$root/etc/ssl/certs" "$root/etc/xdg/pip" "$root/root/.config/pip"
    cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    for f in /etc/pip.conf /etc/xdg/pip/pip.conf /etc/xdg/pip/constraints.txt /root/.config/pip/pip.conf; do
        if [ -f "$f" ]; then cp -L "$f" "$root$f"; fi
    done
    env | grep '^PIP_' | sed 's/^/export /; s/=/="/; s/$/"/' >"$root/etc/wsframe-pip.env" || true
}

mounts=()
unmount_all() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
}

bind() {  # bind SRC DEST [ro]
    mkdir -p "$2"
    mount --bind "$1" "$2"
    mounts+=("$2")
    if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}

run() {
    setup
    trap unmount_all EXIT
    mount -t proc proc "$root/proc"
    mounts+=("$root/proc")
    bind /dev "$root/dev"
    bind /dev/pts "$root/dev/pts"
    bind "$here" "$root/src"
    # The CI tools' cache (Zig's compiled libc, tool venvs per Python) is shared with the host.
    mkdir -p "${WSFRAME_TOOLS:-/var/cache/wsframe-tools}"
    bind "${WSFRAME_TOOLS:-/var/cache/wsframe-tools}" "$root/var/cache/wsframe-tools"
    local p
    for p in $(pip_paths); do bind "$p" "$root$p" ro; done
    chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 CI="${CI:-}" \
        WSFRAME_PYVERSION_TIMEOUT="${WSFRAME_PYVERSION_TIMEOUT:-}" WSFRAME_PYVERSION_TESTS="${WSFRAME_PYVERSION_TESTS:-}" \
        WSFRAME_TOOLS=/var/cache/wsframe-tools ZIG_GLOBAL_CACHE_DIR=/var/cache/wsframe-tools/zig-cache \
        bash -c 'set -a; . /etc/wsframe-pip.env; set +a; cd /src; "$@"' bash "$@"
}

case "${1:-}" in
    setup) setup; chroot "$root" python3.14 -V; chroot "$root" python3.15 -V ;;
    run) shift; run "$@" ;;
    *) echo "usage: $0 setup | run CMD..." >&2; exit 2 ;;
esac
