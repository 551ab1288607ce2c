#!/usr/bin/env bash
# Runs every test: toolchain first (the e2e tests need the real Pulumi engine and Docker engine),
# then the type check, the reference app's unit tests, the unit tests (Pulumi mocks), the policy
# pack's tests and the e2e tests (real `pulumi up`).
#
#   npm test                 # everything
#   npm test -- unit         # only test/unit and test/policy (no stack deployed; the promtool
#                            # tests run `docker run` of the monitoring image), with the Go tests
#                            # of the monitoring image's two exporters
#   npm test -- e2e          # only test/e2e: first removes what killed test runs left on this
#                            # engine and VXLAN devices the engine leaked, then most files two at a
#                            # time, then those that need the machine alone (engine restarts, more
#                            # engines, measurements under load, a planted VXLAN device)
#   npm test -- plugins      # only the provider plugins' Go tests (random, docker: real engine)
set -euo pipefail

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
    # The help is the comment block at the top of this file.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/progress.sh
source "$ROOT/scripts/lib/progress.sh"
cd "$ROOT"

which="${1:-all}"
eval "$(bash "$ROOT/scripts/toolchain.sh")"
progress_init test
run_step "type check (tsc)" npx --no-install tsc --noEmit -p tsconfig.json

unit_files=(test/unit/*.test.ts test/policy/*.test.ts)
e2e_files=(test/e2e/*.test.ts)
files=()
case "$which" in
    all) files=("${unit_files[@]}" "${e2e_files[@]}") ;;
    unit) files=("${unit_files[@]}") ;;
    e2e) files=("${e2e_files[@]}") ;;
    plugins) files=() ;;
    *) echo "test: unknown selection '$which'; use unit, e2e, plugins or nothing for all." >&2; exit 2 ;;
esac
if [[ "$which" == "all" || "$which" == "plugins" ]]; then
    # The plugins' own tests: schemas against the npm SDKs' types, the docker plugin against the real engine.
    run_step "random plugin tests (go test)" bash scripts/lib/plugin-random.sh test
    run_step "docker plugin tests (go test, real engine)" bash scripts/lib/plugin-docker.sh test
fi
[[ ${#files[@]} -gt 0 ]] || { progress_total; exit 0; }
if [[ "$which" != "e2e" ]]; then
    # The monitoring image's exporters (Go): the task memory exporter's cgroup v1 and v2 layouts on
    # a fake node; the Telegram webhook exporter against a fake Bot API (and never showing the token).
    for exporter in task-memory-exporter telegram-webhook-exporter; do
        run_step "$exporter tests (go test)" env GOTOOLCHAIN=local CGO_ENABLED=0 go test -C "images/monitoring/$exporter" ./...
    done
    # The reference app's SQLite driver runs the sqlite3 CLI (its image has Debian's); a fresh
    # host may not have it, and its tests fail without it.
    if ! command -v sqlite3 >/dev/null 2>&1; then
        [[ "$(id -u)" == 0 ]] || { echo "[test] FAILED: the sqlite3 CLI is missing and installing it needs root (run: apt-get install sqlite3)" >&2; exit 1; }
        run_step "install sqlite3 (apt-get)" bash -c "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends sqlite3 || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends sqlite3; }"
    fi
    # The reference app's own unit tests (cron matcher, preflight, SQLite driver, ...).
    run_step "reference app unit tests" bash -c "cd app && { [[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error; } && npm test --silent"
fi
failed=0
if [[ "$which" != "e2e" ]]; then
    step_done "running ${#unit_files[@]} unit and policy test files"
    # A unit test that waits on an output that never resolves must fail, not hang the run: each
    # test gets two minutes (they take milliseconds to seconds).
    node --import tsx --test --test-concurrency=1 --test-timeout=120000 "${unit_files[@]}" || failed=1
fi
if [[ "$which" != "unit" ]]; then
    # A test run killed before its clean-up (or a machine stopped under one) leaves its stacks
    # running on this engine, restarted with it: they would load every e2e file below.
    run_step "remove stacks left behind by killed test runs" node --import tsx test/e2e/sweep.ts
    # Files that must have the machine to themselves: they restart the Docker engine, run three
    # more engines, measure failed requests, alert delays and outages under load, or plant a
    # leaked VXLAN device for the next overlay network (which another file's network could take).
    alone=(test/e2e/swarmGuarantees.test.ts test/e2e/multiNode.test.ts test/e2e/remoteEngine.test.ts
        test/e2e/release.test.ts test/e2e/rotation.test.ts test/e2e/monitoring.test.ts test/e2e/anyImage.test.ts
        test/e2e/sweep.test.ts)
    shared=()
    for f in "${e2e_files[@]}"; do
        [[ " ${alone[*]} " == *" $f "* ]] || shared+=("$f")
    done
    # The rest run two at a time: each makes its own stacks (random names), test hosts and ports,
    # and most of their time is spent waiting on health checks and schedules. Each suite sets its
    # own timeout.
    step_done "running ${#shared[@]} e2e test files, two at a time"
    node --import tsx --test --test-concurrency=2 "${shared[@]}" || failed=1
    step_done "running ${#alone[@]} e2e test files, one at a time"
    node --import tsx --test --test-concurrency=1 "${alone[@]}" || failed=1
fi
progress_total
if [[ "$failed" != 0 ]]; then
    echo "[test] FAILED: see the 'not ok' lines above" >&2
    exit 1
fi
