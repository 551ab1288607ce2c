#!/usr/bin/env bash
# Builds opsbook-probe (toolchain/probe/probe.c), the static HTTP health-check binary that swarm
# services receive as a swarm config mounted at /opsbook-probe (mode 0555), so a health check
# needs nothing inside a team's image.
#
#   eval "$(bash scripts/lib/probe.sh)"      # sets OPSBOOK_PROBE to the binary's path
#
# Built with musl-gcc -static (Debian's musl-tools, installed with apt-get when missing) and
# cached outside the repo by source hash:
#   ${OPSBOOK_CACHE:-$HOME/.cache/opsbook}/probe/<hash>/opsbook-probe
# stdout carries exactly one line, `export OPSBOOK_PROBE="<path>"`; progress and errors go to
# stderr as `[probe] <step> (<elapsed>)`.
set -euo pipefail

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
    # The help is the comment block at the top of this file.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib/progress.sh
source "$ROOT/scripts/lib/progress.sh"
progress_init probe

CACHE="${OPSBOOK_CACHE:-$HOME/.cache/opsbook}"
SRC="$ROOT/toolchain/probe/probe.c"
# Part of the hash: changing how it is built builds it again.
CFLAGS=(-static -Os -s -Wall -Wextra)
# A swarm config holds at most 500 KB.
MAX_BYTES=$((500 * 1024))

[[ -f "$SRC" ]] || { echo "[probe] FAILED: $SRC is missing" >&2; exit 1; }
hash="$({ printf '%s\n' "${CFLAGS[*]}"; cat "$SRC"; } | sha256sum | cut -c1-16)"
dir="$CACHE/probe/$hash"
out="$dir/opsbook-probe"

if [[ -x "$out" ]]; then
    step_done "opsbook-probe: cached ($hash)"
else
    if ! command -v musl-gcc >/dev/null 2>&1; then
        if [[ "$(id -u)" != 0 ]]; then
            echo "[probe] FAILED: musl-gcc is missing and installing it needs root (run: apt-get install musl-tools)" >&2
            exit 1
        fi
        mkdir -p "$CACHE"
        run_step "install musl-tools (apt-get; log: $CACHE/apt.log)" bash -c "
            set -e
            apt-get update >>'$CACHE/apt.log' 2>&1 || { tail -n 20 '$CACHE/apt.log'; exit 1; }
            DEBIAN_FRONTEND=noninteractive apt-get install -y musl-tools >>'$CACHE/apt.log' 2>&1 || { tail -n 20 '$CACHE/apt.log'; exit 1; }"
    fi
    mkdir -p "$dir"
    # Built under a private name and renamed: a concurrent run never sees half a binary.
    tmp="$dir/opsbook-probe.tmp.$$"
    run_step "opsbook-probe: musl-gcc -static ($hash)" musl-gcc "${CFLAGS[@]}" -o "$tmp" "$SRC"
    size="$(stat -c %s "$tmp")"
    if ((size > MAX_BYTES)); then
        rm -f "$tmp"
        echo "[probe] FAILED: opsbook-probe is $size bytes, above the 500 KB a swarm config may hold" >&2
        exit 1
    fi
    if ! "$tmp" --help >/dev/null; then
        rm -f "$tmp"
        echo "[probe] FAILED: the built opsbook-probe does not run" >&2
        exit 1
    fi
    chmod 0555 "$tmp"
    mv -f "$tmp" "$out"
    step_done "opsbook-probe: built, $size bytes"
fi

echo "export OPSBOOK_PROBE=\"$out\""
