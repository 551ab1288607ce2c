#!/usr/bin/env bash
# Builds and installs @pulumi/random's provider plugin (pulumi-resource-random 4.21.2): opsbook's
# own native provider in toolchain/providers/random, since the official one is not served by the
# package sources this project can use (npm, Debian, the Go module proxy).
#
#   bash scripts/lib/plugin-random.sh install   # build if needed, install into Pulumi's plugin cache
#   bash scripts/lib/plugin-random.sh test      # the plugin's Go tests (schema vs the npm SDK included)
#
# The binary is cached in ${OPSBOOK_CACHE:-~/.cache/opsbook}/plugins/random/4.21.2-<hash>/, the
# hash being that of the plugin's sources (every file under toolchain/providers/random except the
# *_test.go files, names included). A cold build takes about 2 min on 2 cores; a cached and
# installed plugin costs well under a second and prints one line.
# `install` needs the Pulumi CLI: `pulumi` on PATH, else it waits for the toolchain's build of it.
# Progress and errors go to stderr, nothing to stdout.
# Env: OPSBOOK_CACHE, OPSBOOK_GOPROXY (default: `go env GOPROXY` without `direct`), PULUMI_HOME.
set -euo pipefail

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
    # The help is the comment block at the top of this file.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib/progress.sh
source "$ROOT/scripts/lib/progress.sh"
# shellcheck source=scripts/lib/go-plugin.sh
source "$ROOT/scripts/lib/go-plugin.sh"
progress_init plugin-random

verb="${1:-}"
case "$verb" in
    install | test) ;;
    *) echo "[plugin-random] usage: plugin-random.sh install|test (--help for more)" >&2; exit 2 ;;
esac

# The engine takes a plugin from its cache only at exactly @pulumi/random's `pulumi.version`.
VERSION=4.21.2
SRC="$ROOT/toolchain/providers/random"
CACHE="${OPSBOOK_CACHE:-$HOME/.cache/opsbook}"
PLUGIN_CACHE="$CACHE/plugins/random"
mkdir -p "$PLUGIN_CACHE"


src_hash="$(cd "$SRC" && find . -type f ! -name '*_test.go' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
OUT_DIR="$PLUGIN_CACHE/$VERSION-$src_hash"
BIN="$OUT_DIR/pulumi-resource-random"
INSTALLED="$(installed_plugin random "$VERSION")"

build() {
    go_env
    run_step "go build pulumi-resource-random $VERSION" bash -c "
        set -e; cd '$SRC'; mkdir -p '$OUT_DIR'
        go build -trimpath -ldflags '-s -w' -o '$BIN.tmp' .
        mv '$BIN.tmp' '$BIN'"
    prune_builds "$PLUGIN_CACHE" "$VERSION" "$src_hash"
}


install() {
    if [[ -x "$BIN" ]] && cmp -s "$BIN" "$INSTALLED"; then
        step_done "random $VERSION: cached and installed ($src_hash)"
        return 0
    fi
    # One build and install at a time: the toolchain may run while someone runs this by hand.
    exec 9>"$PLUGIN_CACHE/.lock"
    if ! flock -n 9; then
        echo "[plugin-random] waiting for another plugin-random run to finish ..." >&2
        flock 9
    fi
    if [[ ! -x "$BIN" ]]; then
        build
    fi
    install_plugin random "$VERSION" "$BIN"
    step_done "random $VERSION: installed ($src_hash)"
}

run_tests() {
    go_env
    # -count=1: the tests draw random values, a cached pass proves nothing about this run.
    run_step "go test (generation, Check/Diff rules, secrets, schema vs @pulumi/random)" bash -c "
        set -e; cd '$SRC'
        go test -count=1 -timeout 10m ./... 2>&1"
    step_done "random plugin tests passed"
}

case "$verb" in
    install) install ;;
    test) run_tests ;;
esac
