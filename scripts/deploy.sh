#!/usr/bin/env bash
# Deploys a stack on the local Docker engine: toolchain, then `pulumi up` with the policy pack
# (policies/config/<stack>.json, else production.json), then the endpoints.
#
#   npm run deploy                      # the staging stack
#   npm run deploy -- production        # another stack (its Pulumi.<stack>.yaml must exist)
#
# Before `pulumi up`, a lock that a killed deploy left in the file state backend (Pulumi.yaml's
# file://~/.opsbook/state, or PULUMI_BACKEND_URL) is cleared when its process is gone, and said so
# on stderr; a lock whose process still runs, or that another host took, is left alone and named,
# and the deploy stops (scripts/lib/stale-locks.js).
#
# Progress goes to stderr; the last thing printed is the stack's endpoints as JSON.
set -euo pipefail

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
    # The help is the comment block at the top of this file.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="${1:-staging}"
if [[ ! -f "$ROOT/Pulumi.$STACK.yaml" ]]; then
    echo "deploy: no Pulumi.$STACK.yaml in $ROOT; create it (see README, 'Spec keys') or pick staging/production." >&2
    exit 2
fi
# shellcheck source=scripts/lib/progress.sh
source "$ROOT/scripts/lib/progress.sh"

eval "$(bash "$ROOT/scripts/toolchain.sh")"
progress_init deploy
cd "$ROOT"

if ! select_out="$(pulumi stack select --create --non-interactive "$STACK" 2>&1)"; then
    echo "$select_out" >&2
    # Pulumi.<stack>.yaml's encryptionsalt belongs to the passphrase the stack was made with; a
    # new machine generates its own passphrase, and Pulumi's message alone does not say which file
    # disagrees with which.
    if grep -q 'incorrect passphrase' <<<"$select_out" && grep -q '^encryptionsalt:' "$ROOT/Pulumi.$STACK.yaml"; then
        echo "deploy: Pulumi.$STACK.yaml's encryptionsalt was made with another passphrase than ${PULUMI_CONFIG_PASSPHRASE_FILE:-PULUMI_CONFIG_PASSPHRASE}." >&2
        echo "deploy: use that passphrase (PULUMI_CONFIG_PASSPHRASE_FILE, README 'State and secrets'), or, if the file holds no 'secure:' value, delete its encryptionsalt line and deploy again." >&2
    fi
    exit 1
fi
step_done "stack $STACK selected"
# A `pulumi up` killed mid-release leaves its lock behind, and every later one would fail with
# "the stack is currently locked": clear it if its process is gone from this host.
if ! node "$ROOT/scripts/lib/stale-locks.js" "$STACK"; then
    echo "deploy: stack $STACK is still locked (see above); not starting pulumi up." >&2
    exit 1
fi
# The policy pack checks the resource graph before anything changes; staging and production differ
# only by their config files. A stack without its own file gets production's, the strict one.
policy_config="$ROOT/policies/config/$STACK.json"
[[ -f "$policy_config" ]] || policy_config="$ROOT/policies/config/production.json"
run_step "pulumi up ($STACK, policy pack with ${policy_config#"$ROOT"/})" \
    pulumi up --yes --non-interactive --stack "$STACK" --policy-pack "$ROOT/policies" --policy-pack-config "$policy_config"
echo "Endpoints of $STACK:" >&2
pulumi stack output endpoints --json --stack "$STACK"
progress_total
