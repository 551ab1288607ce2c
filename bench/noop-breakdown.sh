#!/usr/bin/env bash
# Where the time of a no-op `pulumi up` goes (bench/README in the main README's "Benchmarks").
#
#   bash bench/noop-breakdown.sh [RUNS]     # in a shell prepared by the toolchain; default 3 runs
#
# Deploys the bench topology (Postgres, Redis, one api; bench/release.ts's OPSBOOK_CONFIG) as a
# throwaway stack with its own state directory, then times, RUNS times each and in turn, on that
# unchanged stack:
#   up            pulumi up --yes, policy pack (as `npm run deploy` runs it: preview, then update)
#   up-skip       pulumi up --yes --skip-preview, policy pack
#   up-skip-nopol pulumi up --yes --skip-preview, no policy pack
#   preview       pulumi preview, policy pack
#   preview-nopol pulumi preview, no policy pack
#   *-transpile   the same with PULUMI_NODEJS_TRANSPILE_ONLY=true (ts-node without type checking)
#   js-*          the same program compiled to JavaScript first (tsc into a copy of the project
#                 under /tmp, Pulumi.yaml `typescript: false`): no TypeScript at run time at all
# and, outside Pulumi: node + ts-node loading index.ts with and without type checking, node loading
# the compiled index.js, and the start of each provider plugin (until it prints its gRPC port).
# Nothing in the project is changed. Prints a table (median, min-max) and writes
# bench/results/noop-breakdown.json. Load average at start and end is printed: figures taken while
# other test suites use the engine are inflated.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUNS="${1:-3}"
command -v pulumi >/dev/null || { echo "noop-breakdown: no pulumi on PATH; eval \"\$(npm run -s toolchain)\" first" >&2; exit 1; }
[[ -n "${OPSBOOK_PROBE:-}" ]] || { echo "noop-breakdown: OPSBOOK_PROBE is not set; eval \"\$(npm run -s toolchain)\" first" >&2; exit 1; }

STACK="e2e-noop-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
STATE="$(mktemp -d /tmp/opsbook-noop-state-XXXXXX)"
JSDIR="$(mktemp -d /tmp/opsbook-noop-js-XXXXXX)"
OUT="$ROOT/bench/results/noop-breakdown.json"
export PULUMI_BACKEND_URL="file://$STATE" PULUMI_CONFIG_PASSPHRASE="$(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')" PULUMI_CONFIG_PASSPHRASE_FILE=""
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
POLICY=(--policy-pack "$ROOT/policies" --policy-pack-config "$ROOT/policies/config/staging.json")
log() { echo "[noop-breakdown] $* ($SECONDS s)" >&2; }

cleanup() {
    log "teardown"
    pulumi destroy --yes --non-interactive --skip-preview --stack "$STACK" >/dev/null 2>&1 || true
    for kind in service secret config; do
        ids="$(docker "$kind" ls -q --filter "label=opsbook.stack=$STACK" 2>/dev/null || true)"
        [[ -z "$ids" ]] || docker "$kind" rm $ids >/dev/null 2>&1 || true
    done
    ids="$(docker ps -aq --filter "label=opsbook.stack=$STACK")"; [[ -z "$ids" ]] || docker rm -f $ids >/dev/null 2>&1 || true
    ids="$(docker network ls -q --filter "label=opsbook.stack=$STACK")"; [[ -z "$ids" ]] || docker network rm $ids >/dev/null 2>&1 || true
    ids="$(docker volume ls -q --filter "label=opsbook.stack=$STACK")"; [[ -z "$ids" ]] || docker volume rm -f $ids >/dev/null 2>&1 || true
    pulumi stack rm --yes --force --non-interactive --stack "$STACK" >/dev/null 2>&1 || true
    rm -rf "$STATE" "$JSDIR" "$ROOT/Pulumi.$STACK.yaml"
}
trap cleanup EXIT

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
node -e '
const m = require("fs").readFileSync("bench/release.ts", "utf8").match(/const OPSBOOK_CONFIG = `([^`]*)`/);
if (!m) { process.exit(1); }
process.stdout.write(m[1]);' >"Pulumi.$STACK.yaml"
pulumi stack init "$STACK" --non-interactive >/dev/null

# The compiled copy: same project name, stack and state; only the program is JavaScript.
log "compiling the program to JavaScript in $JSDIR"
cp Pulumi.yaml package.json tsconfig.json "$JSDIR/"
ln -s "$ROOT/node_modules" "$JSDIR/node_modules"
# tsc emits even when files outside the program (tests) have type errors; what counts is that the
# program and the pack were emitted.
node_modules/.bin/tsc -p tsconfig.json --outDir "$JSDIR/dist" --sourceMap false >/dev/null || true
[[ -f "$JSDIR/dist/index.js" && -f "$JSDIR/dist/policies/index.js" ]] || { echo "noop-breakdown: tsc emitted no dist/index.js" >&2; exit 1; }
cp "Pulumi.$STACK.yaml" "$JSDIR/"
# Plain .js the program requires (the backup agent's plan) is not emitted by tsc: copied beside.
mkdir -p "$JSDIR/dist/images/backup" && cp -r images/backup/agent "$JSDIR/dist/images/backup/"
# The policy pack compiled too (dist/policies, next to the compiled components it imports).
cp policies/PulumiPolicy.yaml "$JSDIR/dist/policies/"
node -e 'const p=require("./policies/package.json"); p.main="index.js"; process.stdout.write(JSON.stringify(p))' >"$JSDIR/dist/policies/package.json"
sed -i -e 's/typescript: true/typescript: false/' "$JSDIR/Pulumi.yaml"
printf 'main: dist/index.js\n' >>"$JSDIR/Pulumi.yaml"
POLICY_JS=(--policy-pack "$JSDIR/dist/policies" --policy-pack-config "$ROOT/policies/config/staging.json")
# The ts-node the Node SDK runs TypeScript programs with (its vendored copy), for the timings
# outside Pulumi.
TSNODE="$(node -p 'require("@pulumi/pulumi/tsutils").typeScriptRequireStrings().tsnodeRequire')"

log "cold deploy of $STACK"
pulumi up --yes --non-interactive --skip-preview --stack "$STACK" "${POLICY[@]}" >/tmp/noop-cold-$STACK.log 2>&1 || { tail -30 /tmp/noop-cold-$STACK.log >&2; exit 1; }

declare -A RESULTS
timed() { # name dir env... -- cmd...
    local name="$1" dir="$2"; shift 2
    local envs=()
    while [[ "$1" != "--" ]]; do envs+=("$1"); shift; done
    shift
    local t0 t1 out
    t0="$(date +%s%N)"
    if ! out="$(cd "$dir" && env "${envs[@]}" "$@" 2>&1)"; then
        echo "$out" | tail -20 >&2
        log "$name FAILED"
        RESULTS[$name]+=" null"
        return 0
    fi
    t1="$(date +%s%N)"
    if [[ "$*" == *" up "* ]] && ! grep -qE '^\s+[0-9]+ unchanged' <<<"$out"; then
        log "$name: not a no-op: $(grep -A4 '^Resources:' <<<"$out" | tr '\n' ' ')"
    fi
    RESULTS[$name]+=" $(( (t1 - t0) / 1000000 ))"
}

UP=(pulumi up --yes --non-interactive --stack "$STACK")
PREVIEW=(pulumi preview --non-interactive --stack "$STACK")
for i in $(seq 1 "$RUNS"); do
    log "round $i/$RUNS"
    timed up "$ROOT" X=1 -- "${UP[@]}" "${POLICY[@]}"
    timed up-skip "$ROOT" X=1 -- "${UP[@]}" --skip-preview "${POLICY[@]}"
    timed up-skip-nopol "$ROOT" X=1 -- "${UP[@]}" --skip-preview
    timed preview "$ROOT" X=1 -- "${PREVIEW[@]}" "${POLICY[@]}"
    timed preview-nopol "$ROOT" X=1 -- "${PREVIEW[@]}"
    timed up-transpile "$ROOT" PULUMI_NODEJS_TRANSPILE_ONLY=true -- "${UP[@]}" "${POLICY[@]}"
    timed up-skip-transpile "$ROOT" PULUMI_NODEJS_TRANSPILE_ONLY=true -- "${UP[@]}" --skip-preview "${POLICY[@]}"
    timed js-up "$JSDIR" X=1 -- "${UP[@]}" "${POLICY_JS[@]}"
    timed js-up-skip "$JSDIR" X=1 -- "${UP[@]}" --skip-preview "${POLICY_JS[@]}"
    timed js-up-skip-nopol "$JSDIR" X=1 -- "${UP[@]}" --skip-preview
    timed js-preview-nopol "$JSDIR" X=1 -- "${PREVIEW[@]}"
    # Outside Pulumi: loading the program (its imports, the SDKs, the compile), not running it.
    timed node-ts-typecheck "$ROOT" X=1 -- node -e "require('$TSNODE').register({typeCheck:true,compiler:'typescript',project:'tsconfig.json'}); require('./index.ts')"
    timed node-ts-transpile "$ROOT" X=1 -- node -e "require('$TSNODE').register({transpileOnly:true,compiler:'typescript',project:'tsconfig.json'}); require('./index.ts')"
    timed node-ts-policies-typecheck "$ROOT/policies" X=1 -- node -e "require('$TSNODE').register({typeCheck:true,compiler:'typescript',skipProject:true,compilerOptions:{target:'ES2020',module:'nodenext',moduleResolution:'nodenext'}}); require('./pack.ts')"
    timed node-js "$JSDIR" X=1 -- node -e 'require("./dist/index.js")'
    timed node-bare "$ROOT" X=1 -- node -e '0'
    for plugin in docker random; do
        bin="$(ls -d ~/.pulumi/plugins/resource-$plugin-v*/pulumi-resource-$plugin | head -1)"
        # A provider plugin prints its gRPC port on stdout once it serves; kill it then.
        timed "plugin-$plugin-start" "$ROOT" X=1 -- bash -c "coproc P { exec '$bin' 127.0.0.1:0 2>/dev/null; }; read -r -u \${P[0]} port; kill \$P_PID; wait \$P_PID 2>/dev/null; true"
    done
done
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"

{
    printf '{"stack":"%s","runs":%s,"cpus":%s,"loadAverageStart":"%s","loadAverageEnd":"%s","ms":{' "$STACK" "$RUNS" "$(nproc)" "$LOAD_START" "$LOAD_END"
    first=1
    for k in "${!RESULTS[@]}"; do
        [[ $first == 1 ]] || printf ','
        first=0
        printf '"%s":[%s]' "$k" "$(echo ${RESULTS[$k]} | tr ' ' ',')"
    done
    printf '}}\n'
} >"$OUT"
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const med = (xs) => { const s = xs.filter((x) => x !== null).sort((a, b) => a - b); if (!s.length) return "failed"; const m = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; return `${(m / 1000).toFixed(2)} s (${(s[0] / 1000).toFixed(2)}-${(s[s.length - 1] / 1000).toFixed(2)})`; };
console.log(`no-op breakdown, ${r.runs} runs each, median (min-max); load average ${r.loadAverageStart} at start, ${r.loadAverageEnd} at end, ${r.cpus} cores`);
for (const k of Object.keys(r.ms).sort()) console.log(`  ${k.padEnd(22)} ${med(r.ms[k])}`);' "$OUT"
