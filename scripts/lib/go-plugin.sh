# What the project's Go builds share: the Go environment, and installing a built provider plugin
# into Pulumi's plugin cache. Sourced by scripts/toolchain.sh and scripts/lib/plugin-*.sh after
# scripts/lib/progress.sh (messages carry its tool name).

# Go from the module proxy only: no toolchain download, no cgo, no VCS stamping of copies.
go_env() {
    local proxy="${OPSBOOK_GOPROXY:-$(go env GOPROXY 2>/dev/null | sed -e 's/[,|]direct//g' -e 's/^direct[,|]\{0,1\}//')}"
    export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOPROXY="${proxy:-https://proxy.golang.org}"
}

# The Pulumi CLI: on PATH, else the toolchain's build of it, which may still be under way in the
# background (wait for it rather than build it twice).
pulumi_cli() {
    if command -v pulumi >/dev/null 2>&1; then
        command -v pulumi
        return
    fi
    local v cli waited=0
    v="$(node -p "require('$ROOT/package.json').dependencies['@pulumi/pulumi']")"
    cli="${OPSBOOK_CACHE:-$HOME/.cache/opsbook}/pulumi/v$v/pulumi"
    while [[ ! -x "$cli" ]]; do
        if ((waited == 0)); then echo "[$PROGRESS_TOOL] waiting for the Pulumi CLI at $cli ..." >&2; fi
        if ((waited >= 1800)); then
            echo "[$PROGRESS_TOOL] FAILED: no Pulumi CLI on PATH nor at $cli after 30 min; run scripts/toolchain.sh" >&2
            exit 1
        fi
        sleep 5
        waited=$((waited + 5))
    done
    echo "$cli"
}

# Where the engine looks for plugin NAME at VERSION (it takes only an exact version from its cache).
installed_plugin() {
    echo "${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-$1-v$2/pulumi-resource-$1"
}

# install_plugin NAME VERSION BINARY: installs the built binary unless it is installed already,
# and checks that the engine's copy is that binary.
install_plugin() {
    local name="$1" version="$2" bin="$3" installed cli
    installed="$(installed_plugin "$name" "$version")"
    if cmp -s "$bin" "$installed"; then
        return 0
    fi
    cli="$(pulumi_cli)"
    # --reinstall: a build of older sources may be installed under the same version.
    run_step "pulumi plugin install resource $name $version" "$cli" plugin install resource "$name" "$version" --file "$bin" --reinstall
    if ! cmp -s "$bin" "$installed"; then
        echo "[$PROGRESS_TOOL] FAILED: after installing, $installed is not $bin" >&2
        exit 1
    fi
}

# prune_builds DIR VERSION HASH: builds of older sources of this version are dead weight.
prune_builds() {
    find "$1" -mindepth 1 -maxdepth 1 -type d -name "$2-*" ! -name "$2-$3" -exec rm -rf {} +
}
