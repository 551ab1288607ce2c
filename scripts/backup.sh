#!/usr/bin/env bash
# Backups of a deployed stack, carried out by its backup agent: the commands run in the running
# task of the stack's backup swarm service, `backups.agentService` (README, "Backups").
#
#   npm run backup -- now     [--stack S]              back up now, verify by restoring, print the result
#   npm run backup -- list    [--stack S]              backups with status, size and age (* = restore default)
#   npm run backup -- list --offsite [--stack S]       the backups the off-site copy holds (opsbook:backups.offsite)
#   npm run backup -- status  [--stack S]              the agent's status JSON (age of the last verified backup)
#   npm run backup -- verify  [NAME] [--stack S]       restore a stored backup into a scratch database again
#   npm run backup -- restore [NAME] [--force] [--stack S]
#        restore NAME (default: the newest verified backup) after a safety backup of the live data;
#        asks you to type the stack name first. --force skips the question and allows a backup
#        that is not verified.
#   npm run backup -- restore --from-offsite [NAME] [--force] [--stack S]
#        after the loss of the backup location (or the whole host): bring NAME (default: every
#        verified backup missing here; the newest of them is restored) back from the off-site copy
#        alone into the stack's backup location, then restore it as above
#   npm run backup -- fetch-offsite [NAME] [--stack S]  only bring backups back from the off-site copy
#   npm run backup -- restore --from-offsite --to latest|TIME [--force] [--stack S]
#        after the loss of the whole host (database AND backup location): bring the lost stack's
#        pgBackRest repository back from the off-site copy alone (the newest shipment, at most
#        `backups.offsite.walEverySeconds` old), then restore Postgres from it: the newest proven
#        base backup plus every shipped WAL segment (latest) or up to TIME. The stack must run with
#        the lost stack's key: `pulumi config set --secret PITR_REPOSITORY_KEY` (its
#        `pitrRepositoryKey`, kept offline) and deploy first; without it, or with another key,
#        the restore is refused before anything changes. The fetched repository becomes the
#        stack's (its own is kept aside as pgbackrest.replaced-<stamp>); read-only until `confirm`.
#
# Point-in-time recovery (Postgres with pgBackRest, `backups.pointInTime`, on by default):
#   npm run backup -- restore --to "2026-12-01 14:04:00" [--scratch] [--force] [--stack S]
#        restore Postgres as it was at that time (UTC unless it ends in Z or +hh:mm), from the
#        newest proven base backup before it plus the archived WAL. Also --to latest (everything
#        archived) or --to <label> (a pgBackRest backup as it ended, e.g. 20261201-030000F).
#        A time before the oldest proven backup or in the future is refused, naming the range.
#        Into the live database: after a pgBackRest safety backup and your confirmation, Postgres
#        restarts, replays WAL to the time, and stays READ-ONLY until `confirm`.
#        --scratch: into a new database <db>_pitr_<stamp> beside the live one, to inspect first.
#   npm run backup -- confirm [--stack S]    the data is checked: allow writes again after a restore
#   now --full                               with pgBackRest, a full base backup (default incremental)
#   verify <label>                           prove a pgBackRest backup again (pgbackrest verify of
#                                            every archived WAL file + restore into a scratch instance)
# list and status include the pgBackRest backups, their proofs and the WAL archive lag.
# --stack defaults to the selected Pulumi stack; --json prints machine-readable results.
# Progress goes to stderr as `[backup] <step> (<elapsed>)`; results go to stdout.
set -euo pipefail

# The help is the comment block at the top of this file.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/progress.sh
source "$ROOT/scripts/lib/progress.sh"

cmd=""
name=""
stack=""
force=0
json=0
from_offsite=0
offsite_list=0
to=""
scratch=0
full=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --stack) [[ $# -ge 2 ]] || { echo "backup: --stack needs a stack name" >&2; exit 2; }; stack="$2"; shift ;;
        --stack=*) stack="${1#--stack=}" ;;
        --force) force=1 ;;
        --to) [[ $# -ge 2 ]] || { echo "backup: --to needs a time (UTC, \"YYYY-MM-DD HH:MM:SS\"), latest, or a backup label" >&2; exit 2; }; to="$2"; shift ;;
        --to=*) to="${1#--to=}" ;;
        --scratch) scratch=1 ;;
        --full) full=1 ;;
        --json) json=1 ;;
        --from-offsite) from_offsite=1 ;;
        --offsite) offsite_list=1 ;;
        -*) echo "backup: unknown option $1; see 'npm run backup -- --help'" >&2; exit 2 ;;
        *)
            if [[ -z "$cmd" ]]; then cmd="$1"
            elif [[ -z "$name" ]]; then name="$1"
            else echo "backup: unexpected argument $1; see 'npm run backup -- --help'" >&2; exit 2
            fi ;;
    esac
    shift
done
case "$cmd" in
    now | list | status | verify | restore | confirm | fetch-offsite) ;;
    "") usage >&2; exit 2 ;;
    *) echo "backup: unknown command '$cmd'; use now, list, status, verify, restore, confirm or fetch-offsite (see --help)" >&2; exit 2 ;;
esac
if [[ $from_offsite == 1 && "$cmd" != restore ]]; then
    echo "backup: --from-offsite is an option of 'restore'" >&2
    exit 2
fi
if [[ $offsite_list == 1 && "$cmd" != list ]]; then
    echo "backup: --offsite is an option of 'list' (to restore from the off-site copy: restore --from-offsite)" >&2
    exit 2
fi
if [[ ( -n "$to" || $scratch == 1 ) && "$cmd" != restore ]]; then
    echo "backup: --to and --scratch belong to 'restore'" >&2
    exit 2
fi
if [[ $scratch == 1 && -z "$to" ]]; then
    echo "backup: --scratch restores to a point in time; add --to \"YYYY-MM-DD HH:MM:SS\" (or latest)" >&2
    exit 2
fi
if [[ -n "$to" && $from_offsite == 1 && $scratch == 1 ]]; then
    echo "backup: --from-offsite --to restores the lost stack's database into this one; --scratch is for the repository here" >&2
    exit 2
fi
if [[ -n "$name" && "$cmd" != verify && "$cmd" != restore && "$cmd" != fetch-offsite ]]; then
    echo "backup: '$cmd' takes no backup name" >&2
    exit 2
fi

progress_init backup
cd "$ROOT"
if ! command -v pulumi >/dev/null 2>&1; then
    eval "$(bash "$ROOT/scripts/toolchain.sh")"
fi
if [[ -z "$stack" ]]; then
    stack="$(pulumi stack --show-name --non-interactive 2>/dev/null || true)"
    [[ -n "$stack" ]] || { echo "backup: no Pulumi stack is selected; pass --stack <name>" >&2; exit 2; }
fi

# The agent is found from the stack's outputs, so the command follows a redeploy that replaced it.
outputs="$(pulumi stack output --json --stack "$stack" 2>&1)" || {
    echo "backup: cannot read the outputs of stack $stack: $outputs" >&2
    exit 1
}
json_get() { # json_get JSON EXPRESSION [ARG...]: EXPRESSION (ours, constant) over the parsed JSON `j` and the args `a`
    # shellcheck disable=SC2016 # the backticks are JavaScript's
    node -e 'const [text, expr, ...a] = process.argv.slice(1); const j = JSON.parse(text); const v = new Function("j", "a", `return (${expr});`)(j, a);
if (v !== undefined && v !== null) console.log(typeof v === "string" ? v : JSON.stringify(v));' "$@"
}
# Every docker call below goes to the stack's engine (a server over SSH, or this machine's).
engine_env="$(node --import tsx "$ROOT/scripts/lib/engine-env.ts" <<<"$outputs")" || exit 1
eval "$engine_env"
agent_service="$(json_get "$outputs" 'j.backups && j.backups.agentService')"
if [[ -z "$agent_service" ]]; then
    echo "backup: stack $stack has no backup agent (its outputs have no \`backups\`); it needs Postgres or a SQLite volume and \`opsbook:backups.enabled\` not false, then 'npm run deploy -- $stack'" >&2
    exit 1
fi
# task_container SERVICE: the running task container of a swarm service (the newest), or nothing.
task_container() {
    docker ps --filter "label=com.docker.swarm.service.name=$1" --filter status=running --format '{{.Names}}' 2>/dev/null | head -n 1
}
agent="$(task_container "$agent_service")"
if [[ -z "$agent" ]]; then
    echo "backup: no task of the agent service $agent_service of stack $stack is running ('docker service ps $agent_service' shows why); 'npm run deploy -- $stack' starts it again" >&2
    exit 1
fi
step_done "stack $stack, agent service $agent_service (task $agent), backups in $(json_get "$outputs" 'j.backups.location')"

agent_cmd() { docker exec "$agent" backup-agent "$@"; }

# Point-in-time recovery runs in the Postgres task (images/postgres/pitr.sh says why).
pitr_on=0
[[ -n "$(json_get "$outputs" 'j.backups.pointInTime && "on"')" ]] && pitr_on=1
postgres_service="$(json_get "$outputs" 'j.postgresService')"
pg_task() {
    local t
    t="$(task_container "$postgres_service")"
    [[ -n "$t" ]] || { echo "backup: no task of $postgres_service is running ('docker service ps $postgres_service' shows why)" >&2; return 1; }
    echo "$t"
}
pitr_cmd() { local t; t="$(pg_task)" || return 1; docker exec "$t" pitr "$@"; }
pitr_target() { node --import tsx "$ROOT/scripts/lib/pitr-target.ts" "$@"; }
need_pitr() {
    if [[ $pitr_on == 0 ]]; then
        echo "backup: stack $stack has no point-in-time recovery (\`backups.pointInTime\` is off or there is no Postgres); restore a dump by name instead (see 'list')" >&2
        exit 2
    fi
}
# confirm_by_stack_name WHAT SAFETY: says what will be replaced and what is taken first, then asks
# for the stack's name on stdin; anything else aborts with nothing changed.
confirm_by_stack_name() {
    echo "$1" >&2
    echo "$2 Type the stack name ($stack) to go on:" >&2
    local answer=""
    read -r answer || true
    if [[ "$answer" != "$stack" ]]; then
        echo "backup: aborted (you typed '${answer}'); nothing was changed" >&2
        exit 1
    fi
}
is_label() { [[ "$1" =~ ^[0-9]{8}-[0-9]{6}F(_[0-9]{8}-[0-9]{6}[DI])?$ ]]; }
if [[ "$cmd" == restore && -n "$name" ]] && is_label "$name"; then
    # A pgBackRest backup named like a dump: the same as --to <label>.
    to="$name"
    name=""
fi

# restore_pitr: the point-in-time restore (see the help above).
# plan_restore INFO: the backup and recovery target that meet --to over INFO (`pitr info`'s JSON),
# into the caller's set, type, target, describe and flags_to; exits when --to cannot be met.
plan_restore() {
    local plan plan_flags=(plan --to "$to")
    [[ $force == 1 ]] && plan_flags+=(--force)
    plan="$(pitr_target "${plan_flags[@]}" <<<"$1")" || exit $?
    set="$(json_get "$plan" 'j.set')"
    type="$(json_get "$plan" 'j.type')"
    target="$(json_get "$plan" 'j.target || ""')"
    describe="$(json_get "$plan" 'j.describe')"
    case "$type" in
        time) flags_to=(--to "$target") ;;
        default) flags_to=(--to latest) ;;
        *) flags_to=() ;;
    esac
}

restore_pitr() {
    need_pitr
    local info set type target describe flags_to=() t0 result
    info="$(pitr_cmd info)" || exit 1
    plan_restore "$info"
    t0=$(date +%s%N)
    if [[ $scratch == 1 ]]; then
        step_done "restoring $describe into a scratch instance"
        result="$(pitr_cmd restore-scratch --set "$set" "${flags_to[@]}")" || { echo "backup: the scratch restore failed; the live database was not touched" >&2; exit 1; }
        step_done "scratch restore finished"
        if [[ $json == 1 ]]; then echo "$result"; return 0; fi
        local db
        db="$(json_get "$result" 'j.database')"
        echo "Restored $describe into database $db of stack $stack (the live database is untouched)."
        echo "Inspect it:  docker exec -it -u postgres \"\$(docker ps -q --filter label=com.docker.swarm.service.name=$postgres_service --filter status=running)\" psql -U opsbook_admin -d $db"
        echo "Drop it:     ... psql -U opsbook_admin -d postgres -c 'DROP DATABASE \"$db\"'"
        echo "Restore the live database to the same point:  npm run backup -- restore --to \"$to\" --stack $stack"
        return 0
    fi
    if [[ $force == 0 ]]; then
        confirm_by_stack_name "This replaces ALL data of Postgres in stack $stack with $describe." \
            "A pgBackRest safety backup is taken first; Postgres restarts and stays read-only until 'npm run backup -- confirm'."
    fi
    local safety safety_label
    safety="$(pitr_cmd backup --type incr --trigger pre-restore --no-prove)" || { echo "backup: the safety backup failed; nothing was changed" >&2; exit 1; }
    safety_label="$(json_get "$safety" 'j.label')"
    step_done "safety backup $safety_label"
    pitr_cmd request-restore --set "$set" "${flags_to[@]}"
    step_done "restore requested; restarting Postgres ($postgres_service) to carry it out"
    docker service update --force --detach=false --quiet "$postgres_service" >/dev/null
    wait_restored "$t0" "$safety_label" "$describe"
}

# wait_restored T0 UNDO DESCRIBE: waits until Postgres has restored and promoted, then reports.
wait_restored() {
    local t0="$1" safety_label="$2" describe="$3" status="" i result
    for i in $(seq 1 600); do
        status="$(json_get "$(pitr_cmd restored 2>/dev/null || echo null)" 'j && j.requestedAt && j.status' 2>/dev/null || true)"
        if [[ "$status" == failed ]]; then break; fi
        if [[ "$status" == restored ]] && [[ "$(docker exec "$(pg_task)" psql -X -At -U opsbook_admin -d postgres -h /var/run/postgresql -c 'select pg_is_in_recovery()' 2>/dev/null)" == f ]]; then break; fi
        status=""
        sleep 1
    done
    result="$(pitr_cmd restored)"
    if [[ "$status" != restored ]]; then
        echo "backup: the restore did not finish ($result); see 'docker service logs $postgres_service'. The safety backup is $safety_label: npm run backup -- restore $safety_label --force --stack $stack" >&2
        exit 1
    fi
    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    step_done "restored and promoted"
    if [[ $json == 1 ]]; then
        json_get "$result" '({ ...j, safetyBackup: a[0], durationMs: Number(a[1]), describe: a[2] })' "$safety_label" "$ms" "$describe"
        return 0
    fi
    echo "Restored Postgres of stack $stack to $describe in $((ms / 1000)) s."
    echo "The database is READ-ONLY (every session) until you confirm. Next:"
    echo "  1. Make the services read-only too (writes answer 503, seed 004):  npx opsbook read-only on --stack $stack"
    echo "  2. Check the data; then allow writes:  npm run backup -- confirm --stack $stack  &&  npx opsbook read-only off --stack $stack"
    echo "  Undo (the data as it was just before): npm run backup -- restore $safety_label --stack $stack"
}

# wait_task_exited SERVICE: waits until no task of SERVICE still runs. `docker service scale
# --detach=false SERVICE=0` returns as soon as no task is meant to run, while the last container
# may still be shutting down on the data volume: a task started then finds its postmaster.pid
# (pgBackRest refuses to restore over it) or, worse, a live server on the same PGDATA.
wait_task_exited() {
    local i
    for i in $(seq 1 120); do
        if ! docker service ps "$1" --format '{{.CurrentState}}' 2>/dev/null | grep -Eq '^(New|Pending|Assigned|Accepted|Preparing|Ready|Starting|Running)'; then
            return 0
        fi
        sleep 1
    done
    echo "backup: a task of $1 still runs 120 s after it was told to stop ('docker service ps $1' shows it); nothing was restored. Start it again with 'docker service scale $1=1'" >&2
    exit 1
}

# restore_pitr_offsite: after the loss of the host, the lost stack's repository from the off-site
# copy alone (see the help above). Every refusal comes before anything of the stack changes.
restore_pitr_offsite() {
    need_pitr
    local key_source fetched dir info rc=0 set type target describe flags_to=() t0 safety_label
    key_source="$(json_get "$outputs" 'j.backups.pointInTime.keySource || "generated"')"
    if [[ "$key_source" != PITR_REPOSITORY_KEY ]]; then
        echo "backup: \`opsbook:PITR_REPOSITORY_KEY\` is not set: stack $stack runs with a key it generated, which cannot open the lost stack's pgBackRest repository. Set it to the lost stack's \`pitrRepositoryKey\` you kept offline (\`pulumi config set --secret PITR_REPOSITORY_KEY --stack $stack\`, paste it), deploy (\`npm run deploy -- $stack\`), and run this again; nothing was changed" >&2
        exit 2
    fi
    t0=$(date +%s%N)
    fetched="$(agent_cmd fetch-offsite-repository)" || { echo "backup: nothing was changed" >&2; exit 1; }
    dir="$(json_get "$fetched" 'j.directory')"
    step_done "fetched the pgBackRest repository of database $(json_get "$fetched" 'j.systemId') from the off-site copy: snapshot $(json_get "$fetched" 'j.snapshot') of $(json_get "$fetched" 'j.snapshotTime') ($(json_get "$fetched" 'j.bytes') bytes in $(json_get "$fetched" '(j.durationMs / 1000).toFixed(1)') s)"
    info="$(pitr_cmd repo-info "$dir")" || rc=$?
    if [[ $rc == 3 ]]; then
        echo "backup: \`opsbook:PITR_REPOSITORY_KEY\` does not open the pgBackRest repository fetched from the off-site copy (snapshot $(json_get "$fetched" 'j.snapshot')): it is not the \`pitrRepositoryKey\` of the stack that made it. Set the right key (\`pulumi config set --secret PITR_REPOSITORY_KEY --stack $stack\`), deploy, and run this again; nothing was changed" >&2
        exit 2
    elif [[ $rc != 0 ]]; then
        echo "backup: the fetched repository cannot be read; nothing was changed" >&2
        exit 1
    fi
    plan_restore "$info"
    describe="$describe of the lost database $(json_get "$fetched" 'j.systemId')"
    if [[ $force == 0 ]]; then
        confirm_by_stack_name "This replaces ALL data of Postgres in stack $stack with $describe, restored from the off-site copy." \
            "A verified dump of the current data is taken first; Postgres restarts and stays read-only until 'npm run backup -- confirm'."
    fi
    # The safety copy is a dump by the agent: this stack's own pgBackRest repository is about to
    # be set aside, and after a key change it may not even open.
    agent_cmd now >/dev/null || { echo "backup: the safety backup (a dump of the current data) failed; nothing was changed" >&2; exit 1; }
    safety_label="$(json_get "$(agent_cmd list --json)" 'j.backups.filter((b) => b.restoreDefault).map((b) => b.name)[0]')"
    step_done "safety backup $safety_label"
    pitr_cmd request-restore --set "$set" "${flags_to[@]}"
    # Postgres archives into the live repository directory: it is stopped while the fetched one takes its place.
    docker service scale --detach=false "$postgres_service=0" >/dev/null 2>&1
    wait_task_exited "$postgres_service"
    step_done "Postgres ($postgres_service) stopped"
    agent_cmd swap-repository >/dev/null
    step_done "the fetched repository is the stack's now (its own kept as pgbackrest.replaced-<stamp>); starting Postgres to restore"
    docker service scale --detach=false "$postgres_service=1" >/dev/null 2>&1
    wait_restored "$t0" "$safety_label" "$describe"
    [[ $json == 1 ]] && return 0
    echo "  3. The database's roles have the lost stack's passwords: once confirmed, apply this stack's again (any new value re-applies every role):"
    echo "       pulumi config set --path 'opsbook:rotation.POSTGRES_APP_PASSWORD' 1 --stack $stack && npm run deploy -- $stack   (README, \"After losing the host\")"
}
flags=()
[[ $json == 1 ]] && flags+=(--json)
[[ $force == 1 ]] && flags+=(--force)

case "$cmd" in
    now)
        rc=0
        agent_cmd now "${flags[@]}" || rc=$?
        step_done "backup now: $([[ $rc == 0 ]] && echo verified || echo FAILED)"
        if [[ $pitr_on == 1 ]]; then
            prc=0
            pitr_cmd backup --type "$([[ $full == 1 ]] && echo full || echo incr)" --trigger manual || prc=$?
            step_done "pgBackRest backup now: $([[ $prc == 0 ]] && echo proven || echo FAILED)"
            [[ $prc == 0 ]] || rc=$prc
        fi
        exit "$rc"
        ;;
    list)
        if [[ $offsite_list == 1 ]]; then
            agent_cmd list --offsite "${flags[@]}"
        else
            agent_cmd list "${flags[@]}"
            if [[ $pitr_on == 1 && $json == 0 ]]; then
                echo
                pitr_cmd info | pitr_target show
            elif [[ $pitr_on == 1 ]]; then
                echo "(--json: the pgBackRest backups are in 'status --json' under pointInTime)" >&2
            fi
        fi
        ;;
    fetch-offsite)
        agent_cmd fetch-offsite ${name:+"$name"} "${flags[@]}"
        step_done "fetched from the off-site copy"
        ;;
    status)
        if [[ $pitr_on == 1 ]]; then
            agent_status="$(agent_cmd status)"
            # The agent's status stands even when Postgres does not answer: pgBackRest's part then says why.
            pitr_info="$(pitr_cmd info 2>&1)" || true
            combined="$(json_get "$agent_status" '({ ...j, pointInTime: (() => { try { return JSON.parse(a[0]); } catch { return { problem: "pitr info failed: " + a[0].trim().slice(0, 300) }; } })() })' "$pitr_info")"
            node -e 'process.stdout.write(JSON.stringify(JSON.parse(process.argv[1]), null, 2) + "\n")' "$combined"
            if [[ $json == 0 && -z "$(json_get "$combined" 'j.pointInTime.problem')" ]]; then pitr_target show <<<"$pitr_info" >&2; fi
        else
            agent_cmd status
        fi
        ;;
    verify)
        rc=0
        if [[ -n "$name" ]] && is_label "$name"; then
            need_pitr
            pitr_cmd prove "$name" || rc=$?
            step_done "prove $name: $([[ $rc == 0 ]] && echo proven || echo FAILED)"
            exit "$rc"
        fi
        agent_cmd verify ${name:+"$name"} "${flags[@]}" || rc=$?
        step_done "verify: $([[ $rc == 0 ]] && echo verified || echo FAILED)"
        if [[ -z "$name" && $pitr_on == 1 ]]; then
            prc=0
            pitr_cmd prove || prc=$?
            step_done "pgBackRest verify + scratch restore: $([[ $prc == 0 ]] && echo proven || echo FAILED)"
            [[ $prc == 0 ]] || rc=$prc
        fi
        exit "$rc"
        ;;
    confirm)
        need_pitr
        pitr_cmd confirm
        step_done "writes allowed again"
        echo "Postgres of stack $stack accepts writes again. If the services are read-only: npx opsbook read-only off --stack $stack"
        ;;
    restore)
        if [[ -n "$to" && $from_offsite == 1 ]]; then
            restore_pitr_offsite
            progress_total
            exit 0
        fi
        if [[ -n "$to" ]]; then
            restore_pitr
            progress_total
            exit 0
        fi
        if [[ $from_offsite == 1 ]]; then
            # The off-site copy alone: the backup (and its manifest entry, with the checksum it was
            # verified with) comes back into the location first; the restore below then checks it
            # and takes a safety backup as always.
            fetched="$(agent_cmd fetch-offsite ${name:+"$name"} --json)" || exit 1
            step_done "fetched from the off-site copy: $(json_get "$fetched" 'j.fetched.map((e) => e.name).join(", ") || "nothing new"') ($(json_get "$fetched" 'j.bytes') bytes in $(json_get "$fetched" '(j.durationMs / 1000).toFixed(1)') s)"
            if [[ -z "$name" ]]; then
                name="$(json_get "$fetched" 'j.restoreCandidates.join(" ")')"
                if [[ -z "$name" ]]; then
                    echo "backup: the off-site copy holds no verified backup that is not already here; name one (see 'npm run backup -- list --offsite --stack $stack')" >&2
                    exit 1
                fi
                if [[ "$name" == *" "* ]]; then
                    echo "backup: the stack has several databases; name the backup to restore (newest fetched: $name)" >&2
                    exit 2
                fi
            fi
        fi
        listing="$(agent_cmd list --json)"
        if [[ -z "$name" ]]; then
            name="$(json_get "$listing" 'j.backups.filter((b) => b.restoreDefault).map((b) => b.name).join(" ")')"
            if [[ -z "$name" ]]; then
                echo "backup: there is no verified backup to restore in $(json_get "$outputs" 'j.backups.location'); see 'npm run backup -- list --stack $stack'" >&2
                exit 1
            fi
            if [[ "$name" == *" "* ]]; then
                echo "backup: the stack has several databases; name the backup to restore (newest verified: $name)" >&2
                exit 2
            fi
        fi
        chosen="$(json_get "$listing" 'j.backups.find((b) => b.name === a[0])' "$name")"
        if [[ -z "$chosen" ]]; then
            echo "backup: no backup named $name; see 'npm run backup -- list --stack $stack'" >&2
            exit 1
        fi
        status="$(json_get "$chosen" 'j.status')"
        if [[ "$status" != verified && $force == 0 ]]; then
            echo "backup: $name is $status ($(json_get "$chosen" 'j.reason')); nothing was changed. Pick a verified backup (see 'list') or pass --force" >&2
            exit 1
        fi
        target="$(json_get "$chosen" 'j.target || j.kind')"
        age="$(json_get "$chosen" 'j.ageSeconds < 120 ? j.ageSeconds + " s" : j.ageSeconds < 7200 ? Math.round(j.ageSeconds / 60) + " min" : Math.round(j.ageSeconds / 3600) + " h"')"
        describe="$name ($status, taken $age ago)"
        if [[ $force == 0 ]]; then
            confirm_by_stack_name "This replaces the live data of $target in stack $stack with $describe." "A safety backup of the current data is taken first."
        fi
        step_done "restoring $describe"
        restore_flags=(--confirmed --json)
        [[ $force == 1 ]] && restore_flags+=(--force)
        result="$(agent_cmd restore "$name" "${restore_flags[@]}")"
        step_done "restore finished"
        if [[ $json == 1 ]]; then
            echo "$result"
            exit 0
        fi
        safety="$(json_get "$result" 'j.safetyBackup')"
        previous="$(json_get "$result" 'j.previousDatabase')"
        services="$(json_get "$outputs" 'Object.keys(j.services || {}).join(", ")')"
        echo "Restored $name into $(json_get "$result" 'j.into') of stack $stack."
        [[ -n "$safety" ]] && echo "The data as it was just before is in $safety."
        echo "Next:"
        echo "  1. Check the data read-only before trading resumes (seed 004): for each service that writes ($services),"
        echo "       pulumi config set --path 'opsbook:services.<service>.env.READ_ONLY' true --stack $stack && npm run deploy -- $stack"
        echo "     then look at the data, set READ_ONLY back to false and deploy again."
        if [[ -n "$previous" ]]; then
            echo "  2. If the backup predates the last migration, change \`opsbook:release\` and deploy, so migrations run again."
            echo "  3. The previous database is kept as $previous; once you are sure, drop it:"
            postgres_service="$(json_get "$outputs" 'j.postgresService')"
            echo "       docker exec -u postgres \"\$(docker ps -q --filter label=com.docker.swarm.service.name=$postgres_service --filter status=running)\" psql -U opsbook_admin -d postgres -c 'DROP DATABASE \"$previous\"'"
        fi
        [[ -n "$safety" ]] && echo "  Undo: npm run backup -- restore $safety --stack $stack"
        ;;
esac
progress_total
