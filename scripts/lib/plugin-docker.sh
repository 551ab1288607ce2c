#!/usr/bin/env bash
# Builds and installs @pulumi/docker's provider plugin (pulumi-resource-docker 5.2.0), bridged
# from the Terraform docker provider with pulumi-terraform-bridge out of Go modules alone (the
# official provider module is refused by the Go module proxy). Sources: toolchain/providers/docker.
#
#   bash scripts/lib/plugin-docker.sh install   # build if needed, install into Pulumi's plugin cache
#   bash scripts/lib/plugin-docker.sh test      # the plugin's Go tests (schema vs the npm SDK, real engine)
#
# The binary is cached in ${OPSBOOK_CACHE:-~/.cache/opsbook}/plugins/docker/5.2.0-<hash>/, the hash
# being that of every file under toolchain/providers/docker (patches included); builds run in a
# writable copy under .../plugins/docker/build. A cold build takes about 10 min on 2 cores, a
# rebuild after a source change well under a minute; a cached and installed plugin costs a second.
# `test` fails (non-zero) when the Docker engine does not answer: its tests never skip.
# Progress and errors go to stderr, nothing to stdout.
# Env: OPSBOOK_CACHE, OPSBOOK_GOPROXY (default: `go env GOPROXY` without `direct`), DOCKER_HOST.
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
progress_init plugin-docker

verb="${1:-}"
case "$verb" in
    install | test) ;;
    *) echo "[plugin-docker] usage: plugin-docker.sh install|test (--help for more)" >&2; exit 2 ;;
esac

# The engine takes a plugin from its cache only at the exact version of @pulumi/docker's
# `pulumi.version`; the schema test checks the SDK this label is meant for.
VERSION=5.2.0
SRC="$ROOT/toolchain/providers/docker"
GO_MODULE=opsbook/toolchain/providers/docker
# Pulumi's fork of terraform-plugin-sdk/v2, the only version the proxy serves; patched at build time.
SDK_FORK=github.com/pulumi/terraform-plugin-sdk/v2
SDK_FORK_VERSION=v2.0.0-20250923233607-7f1981c8674a
UPSTREAM=github.com/terraform-providers/terraform-provider-docker
# no_compose leaves out upstream's docker_compose resource (not in @pulumi/docker) and with it
# docker/compose's large dependency tree: a shorter build and a smaller binary.
BUILD_TAGS=no_compose

CACHE="${OPSBOOK_CACHE:-$HOME/.cache/opsbook}"
PLUGIN_CACHE="$CACHE/plugins/docker"
BUILD="$PLUGIN_CACHE/build"
mkdir -p "$PLUGIN_CACHE"


# Names and contents of every file of the plugin's sources, so a renamed or added file counts too.
src_hash="$(cd "$SRC" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
OUT_DIR="$PLUGIN_CACHE/$VERSION-$src_hash"
BIN="$OUT_DIR/pulumi-resource-docker"

# One build at a time per cache: the toolchain may run `install` while someone runs `test`, and
# two cold builds at once would only starve each other on two cores.
exec 9>"$PLUGIN_CACHE/.lock"
if ! flock -n 9; then
    echo "[plugin-docker] waiting for another plugin-docker run to finish ..." >&2
    flock 9
fi

build() {
    go_env
    local patched="$BUILD/terraform-plugin-sdk"
    run_step "patched copy of $SDK_FORK@$SDK_FORK_VERSION" bash -c "
        set -e
        dir=\$(go mod download -json '$SDK_FORK@$SDK_FORK_VERSION' | node -pe 'JSON.parse(require(\"fs\").readFileSync(0)).Dir')
        rm -rf '$patched' && mkdir -p '$BUILD' && cp -r \"\$dir\" '$patched' && chmod -R u+w '$patched'
        for p in '$SRC'/patches/terraform-plugin-sdk-*.patch; do
            patch -d '$patched' -p1 --batch --forward --quiet <\"\$p\"
        done"
    # A copy, so that generated files (schema.json, bridge-metadata.json) and the swapped replace
    # never land in the repository; a fixed path keeps Go's build cache warm across source changes.
    run_step "build copy of toolchain/providers/docker" bash -c "
        set -e
        rm -rf '$BUILD/src' && cp -r '$SRC' '$BUILD/src'
        cd '$BUILD/src'
        go mod edit -replace 'github.com/hashicorp/terraform-plugin-sdk/v2=$patched'"
    local ldflags="-s -w -X $GO_MODULE.Version=$VERSION"
    run_step "go build pulumi-tfgen-docker (about 10 min cold)" bash -c "
        set -e; cd '$BUILD/src'
        go build -trimpath -tags '$BUILD_TAGS' -ldflags '$ldflags' -o '$BUILD/pulumi-tfgen-docker' ./cmd/tfgen"
    # tfgen reports hundreds of lines on upstream's docs: they go to a log, shown on failure.
    run_step "schema (pulumi-tfgen-docker schema)" bash -c "
        set -e; cd '$BUILD/src'
        upstream=\$(go list -m -f '{{with .Replace}}{{.Dir}}{{else}}{{.Dir}}{{end}}' '$UPSTREAM')
        OPSBOOK_DOCKER_UPSTREAM=\"\$upstream\" '$BUILD/pulumi-tfgen-docker' schema --out '$BUILD/src/cmd/resource' \\
            --skip-examples >'$BUILD/tfgen.log' 2>&1 || { tail -n 40 '$BUILD/tfgen.log'; exit 1; }
        test -s '$BUILD/src/cmd/resource/schema.json'
        test -s '$BUILD/src/cmd/resource/bridge-metadata.json'"
    run_step "go build pulumi-resource-docker $VERSION" bash -c "
        set -e; cd '$BUILD/src'; mkdir -p '$OUT_DIR'
        go build -trimpath -tags '$BUILD_TAGS' -ldflags '$ldflags' -o '$BIN.tmp' ./cmd/resource
        mv '$BIN.tmp' '$BIN'"
    echo "$src_hash" >"$BUILD/.src-hash"
    # Older builds of this version are dead weight (100 MB each): only the current sources count.
    prune_builds "$PLUGIN_CACHE" "$VERSION" "$src_hash"
}

ensure_built() {
    if [[ -x "$BIN" ]]; then
        return 0
    fi
    build
}


install() {
    if [[ -x "$BIN" ]] && cmp -s "$BIN" "$(installed_plugin docker "$VERSION")"; then
        step_done "docker $VERSION: cached and installed ($src_hash)"
        return 0
    fi
    ensure_built
    install_plugin docker "$VERSION" "$BIN"
    step_done "docker $VERSION: installed ($src_hash)"
}

run_tests() {
    local why
    if ! why="$(docker version --format '{{.Server.Version}}' 2>&1)"; then
        echo "[plugin-docker] FAILED: the Docker engine does not answer (${DOCKER_HOST:-unix:///var/run/docker.sock}): $why" >&2
        echo "[plugin-docker] the engine tests need it and never skip; start it with scripts/lib/docker-engine.sh" >&2
        exit 1
    fi
    # The tests run in the build copy, which must hold the current sources even when the binary
    # for this hash is cached (another checkout's build may have replaced the copy since).
    if [[ ! -x "$BIN" || "$(cat "$BUILD/.src-hash" 2>/dev/null)" != "$src_hash" ]]; then
        build
    fi
    go_env
    # The tests run from the build copy (its go.mod has the patched SDK) and find the npm SDK
    # through OPSBOOK_ROOT; -count=1 because a real engine's answers are never cached results.
    run_step "go test (schema vs @pulumi/docker, CRUD against the engine)" bash -c "
        set -e; cd '$BUILD/src'
        OPSBOOK_ROOT='$ROOT' OPSBOOK_DOCKER_PLUGIN='$BIN' \
            go test -count=1 -trimpath -tags '$BUILD_TAGS' -timeout 20m ./tests/ 2>&1"
    step_done "docker plugin tests passed"
}

case "$verb" in
    install) install ;;
    test) run_tests ;;
esac
