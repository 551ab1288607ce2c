#!/usr/bin/env bash
# Release benchmark: opsbook against Docker Compose and against `docker stack deploy` (Swarm's own
# CLI) on the same engine, images, health checks and topology.
#
#   npm run bench                  # 3 runs per tool; table on stdout, JSON in bench/results/latest.json
#   npm run bench -- --runs 5      # more runs
#   npm run bench -- --only opsbook,stack
#   npm run bench -- --help
#
# Installs Debian's docker-compose (v1) when it is missing, prepares the toolchain (pulumi, the
# Docker engine as a one-node swarm, the provider plugins, the images, the health probe) with
# scripts/toolchain.sh, then runs bench/release.ts. Where a no-op `pulumi up` spends its time:
# bash bench/noop-breakdown.sh (in a shell prepared by the toolchain).
# Progress on stderr as `[bench] <step> (<elapsed>)`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

for arg in "$@"; do
    if [[ "$arg" == "--help" || "$arg" == "-h" ]]; then
        exec node --import tsx bench/release.ts --help
    fi
done

# shellcheck source=scripts/lib/progress.sh
source "$ROOT/scripts/lib/progress.sh"
progress_init bench

if command -v docker-compose >/dev/null 2>&1; then
    step_done "docker-compose: $(docker-compose version --short 2>/dev/null || echo present)"
else
    if [[ "$(id -u)" != 0 ]]; then
        echo "[bench] FAILED: docker-compose is missing and installing it needs root (apt-get install docker-compose)" >&2
        exit 1
    fi
    log="${OPSBOOK_CACHE:-$HOME/.cache/opsbook}/logs/bench-apt.log"
    mkdir -p "$(dirname "$log")"
    run_step "apt-get update (log: $log)" bash -c "apt-get update >>'$log' 2>&1 || { tail -n 20 '$log'; exit 1; }"
    run_step "apt-get install docker-compose" bash -c \
        "DEBIAN_FRONTEND=noninteractive apt-get install -y docker-compose >>'$log' 2>&1 || { tail -n 20 '$log'; exit 1; }"
    step_done "docker-compose: $(docker-compose version --short)"
fi

eval "$(bash "$ROOT/scripts/toolchain.sh")"
step_done "toolchain ready"

exec node --import tsx bench/release.ts "$@"
