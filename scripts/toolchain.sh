#!/usr/bin/env bash
# Makes the stack's toolchain available from package sources alone (npm, Debian, the Go module
# proxy), preferring what is already installed and caching what it builds outside the repo.
#
#   eval "$(npm run -s toolchain)"     # a shell where `pulumi` and `docker` work with this stack
#
# stdout carries only `export` lines; progress and errors go to stderr.
# Environment:
#   OPSBOOK_CACHE   where built tools, the Docker log and the base image tarball live
#                   (default ~/.cache/opsbook)
#   OPSBOOK_GOPROXY Go module proxy for building the engine (default: `go env GOPROXY` without `direct`)
set -euo pipefail

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
    # The help is the comment block at the top of this file.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/progress.sh
source "$ROOT/scripts/lib/progress.sh"
# shellcheck source=scripts/lib/go-plugin.sh
source "$ROOT/scripts/lib/go-plugin.sh"
progress_init toolchain

PULUMI_VERSION="$(node -p "require('$ROOT/package.json').dependencies['@pulumi/pulumi']")"
CACHE="${OPSBOOK_CACHE:-$HOME/.cache/opsbook}"
# The default state backend (Pulumi.yaml: file://~/.opsbook/state) and the passphrase live here.
OPSBOOK_HOME="$HOME/.opsbook"
BIN="$CACHE/bin"
mkdir -p "$CACHE" "$BIN" "$OPSBOOK_HOME/state"


# --- 1. The project's npm packages -------------------------------------------------------------
lock_hash="$(sha256sum "$ROOT/package-lock.json" | cut -c1-16)"
if [[ "$(cat "$ROOT/node_modules/.opsbook-lock" 2>/dev/null)" != "$lock_hash" ]]; then
    run_step "npm packages (npm ci)" bash -c "cd '$ROOT' && npm ci --no-audit --no-fund --loglevel=error >&2"
    echo "$lock_hash" >"$ROOT/node_modules/.opsbook-lock"
else
    step_done "npm packages: up to date"
fi

# --- 2. The Pulumi CLI -------------------------------------------------------------------------
pulumi_dir="$CACHE/pulumi/v$PULUMI_VERSION"
existing="$(command -v pulumi || true)"
if [[ -n "$existing" && "$existing" != "$BIN/pulumi" && "$("$existing" version 2>/dev/null)" == "v$PULUMI_VERSION" ]]; then
    step_done "pulumi v$PULUMI_VERSION: found at $existing"
    pulumi_bin="$existing"
elif [[ -x "$pulumi_dir/pulumi" ]]; then
    step_done "pulumi v$PULUMI_VERSION: cached"
else
    go_env
    src="$CACHE/src/pulumi-v$PULUMI_VERSION"
    # pkg/go.mod replaces the sdk with ../sdk, so both module zips are laid side by side, writable.
    run_step "pulumi v$PULUMI_VERSION: fetch pkg and sdk modules" bash -c "
        set -e
        rm -rf '$src' && mkdir -p '$src'
        cd '$src'
        pkg=\$(go mod download -json github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION | node -pe 'JSON.parse(require(\"fs\").readFileSync(0)).Dir')
        sdk=\$(go mod download -json github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION | node -pe 'JSON.parse(require(\"fs\").readFileSync(0)).Dir')
        cp -r \"\$pkg\" pkg && cp -r \"\$sdk\" sdk && chmod -R u+w pkg sdk"
    run_step "pulumi v$PULUMI_VERSION: go build (several minutes on first run)" bash -c "
        set -e; cd '$src/pkg'; mkdir -p '$pulumi_dir'
        go build -o '$pulumi_dir/pulumi.tmp' \
            -ldflags '-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION' ./cmd/pulumi
        mv '$pulumi_dir/pulumi.tmp' '$pulumi_dir/pulumi'"
fi
# A hard link, not a symlink: the CLI looks for its language host beside the path it was started
# from, and a symlink would resolve to the cache folder (the CLI then warns "using ... from $PATH").
ln -f "${pulumi_bin:-$pulumi_dir/pulumi}" "$BIN/pulumi" 2>/dev/null || cp -f "${pulumi_bin:-$pulumi_dir/pulumi}" "$BIN/pulumi"

# --- 3. The Node.js language host (ours: the upstream module is not on the proxy) ---------------
lh_src="$ROOT/toolchain/language-host"
lh_hash="$(cat "$lh_src"/go.mod "$lh_src"/go.sum "$lh_src"/*.go | sha256sum | cut -c1-16)"
lh_dir="$CACHE/language-host/$lh_hash"
if [[ -x "$lh_dir/pulumi-language-nodejs" ]]; then
    step_done "language host: cached ($lh_hash)"
else
    go_env
    run_step "language host: go build" bash -c "
        set -e; cd '$lh_src'; mkdir -p '$lh_dir'
        go build -o '$lh_dir/pulumi-language-nodejs.tmp' .
        mv '$lh_dir/pulumi-language-nodejs.tmp' '$lh_dir/pulumi-language-nodejs'"
fi
ln -f "$lh_dir/pulumi-language-nodejs" "$BIN/pulumi-language-nodejs" 2>/dev/null || cp -f "$lh_dir/pulumi-language-nodejs" "$BIN/pulumi-language-nodejs"

# --- 4. The dynamic-provider launcher -----------------------------------------------------------
# The CLI runs TypeScript dynamic providers through this small script, which it finds on PATH.
launcher="$BIN/pulumi-resource-pulumi-nodejs"
if [[ ! -x "$launcher" ]]; then
    sdk_dir="$(cd "$ROOT" && node -p "require('path').dirname(require.resolve('@pulumi/pulumi/package.json'))")"
    cat >"$launcher" <<SH
#!/bin/sh
# Written by opsbook's toolchain: runs the Node SDK's dynamic provider host of the current project.
exec node "\$(node -p "require.resolve('@pulumi/pulumi/cmd/dynamic-provider')")" "\$@"
SH
    chmod +x "$launcher"
    step_done "dynamic-provider launcher: written (SDK at ${sdk_dir#"$ROOT"/})"
else
    step_done "dynamic-provider launcher: present"
fi

# --- 5. A Docker engine (a one-node swarm unless it is in one) and the stack's images -----------
bash "$ROOT/scripts/lib/docker-engine.sh"
bash "$ROOT/scripts/lib/swarm.sh"

# --- 6. The provider plugins the stack uses: @pulumi/random's and @pulumi/docker's ---------------
PATH="$BIN:$PATH" bash "$ROOT/scripts/lib/plugin-random.sh" install
PATH="$BIN:$PATH" bash "$ROOT/scripts/lib/plugin-docker.sh" install
image_exports="$(bash "$ROOT/scripts/lib/images.sh")"
# The static HTTP probe every service's health check runs (a swarm config; nothing assumed in images).
probe_exports="$(bash "$ROOT/scripts/lib/probe.sh")"

# --- 7. Secrets passphrase for the default local backend --------------------------------------
passphrase_file="$OPSBOOK_HOME/passphrase"
if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" && ! -s "$passphrase_file" ]]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n=+/' >"$passphrase_file")
    step_done "secrets passphrase: generated at $passphrase_file (back it up: it decrypts the stack's secrets)"
fi

progress_total

# --- exports -------------------------------------------------------------------------------------
echo "export PATH=\"$BIN:\${PATH}\""
echo "export PULUMI_SKIP_UPDATE_CHECK=true"
echo "export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true"
if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
    echo "export PULUMI_CONFIG_PASSPHRASE_FILE=\"$passphrase_file\""
fi
echo "$image_exports"
echo "$probe_exports"
