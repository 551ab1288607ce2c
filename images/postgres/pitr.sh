#!/usr/bin/env bash
# pitr: point-in-time recovery of opsbook/postgres with pgBackRest (Debian's 2.45).
#
# Why pgBackRest runs here, in the Postgres container, and not in the backup agent: a base backup
# reads PGDATA as uid 999 on the node that holds the data volume, archive-push is run by the
# server itself (archive_command), and a restore must write PGDATA while no server runs on it.
# Inside this container all three hold by construction: same uid, same volume, same socket, and a
# restore is done by the entrypoint before the server starts (a restore request, see
# `request-restore`). A sidecar service would need the socket directory and the data volume
# shared across containers and pinned to one node, and still could not stop the server.
#
# The repository lives under the stack's backup location (OPSBOOK_PITR_REPO, /backups/pgbackrest),
# so whatever copies that location off-site carries it; it is encrypted (aes-256-cbc) with a
# passphrase read from a swarm secret file. The passphrase is written only into a 0600 config
# file on this container's private tmpfs (never an argument, never the environment).
#
#   pitr write-config              generate $PGBACKREST_CONFIG from the secret file
#   pitr serve                     background loop: stanza, scheduled full backups, proofs
#   pitr backup [--type full|incr|diff] [--trigger WHY] [--no-prove]
#   pitr prove [LABEL]             pgbackrest verify + restore LABEL (default newest) into a
#                                  scratch instance + sanity query; records the proof
#   pitr verify                    pgbackrest verify of the whole repository (WAL and backups)
#   pitr info                      JSON: backups with proofs, archive lag, restorable range
#   pitr repo-info DIR             the same for another repository (one fetched from the off-site
#                                  copy); exit 3 when this stack's key does not open it
#   pitr restore-scratch --set LABEL [--to TIME | --to latest]
#                                  restore into a scratch instance, copy the database into the
#                                  live server as <db>_pitr_<stamp> for inspection
#   pitr request-restore --set LABEL [--to TIME | --to latest]
#                                  ask the entrypoint to restore PGDATA at the next start
#   pitr restore-now               (entrypoint only) carry out a pending request
#   pitr restored                  JSON: the last live restore and whether it is confirmed
#   pitr confirm                   lift the read-only guard a live restore left
#   pitr sabotage-wal              (tests) corrupt the newest archived WAL file
# TIME is what recovery_target_time accepts, e.g. "2026-12-01 14:04:00.123+00"; the range
# checks happen before (npm run backup, components/backup/pitrPlan.ts).
set -Eeuo pipefail

STANZA=main
REPO="${OPSBOOK_PITR_REPO:-/backups/pgbackrest}"
SCRATCH="${OPSBOOK_PITR_SCRATCH:-/var/lib/postgresql/scratch}"
CONF="${PGBACKREST_CONFIG:-/tmp/pgbackrest/pgbackrest.conf}"
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
DB="${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"
DBUSER="${POSTGRES_USER:-postgres}"
PROOFS="$REPO/opsbook-proofs.json"
REQUEST="$SCRATCH/restore-request"
RESTORED="$SCRATCH/restored.json"
LOCK="/tmp/pgbackrest/opsbook.lock"
SOCKET=/var/run/postgresql

log() { echo "[pitr] $*" >&2; }
die() { log "error: $*"; exit 1; }
now_epoch() { date +%s; }
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

psql_live() { psql -X -At -v ON_ERROR_STOP=1 --no-password -h "$SOCKET" -p 5432 -U "$DBUSER" "$@"; }

write_config() {
	local file="${PITR_CIPHER_PASS_FILE:-}" pass tmp
	[ -n "$file" ] || die "PITR_CIPHER_PASS_FILE is not set: the repository passphrase comes from a swarm secret file"
	[ -r "$file" ] || die "$file is not readable by uid $(id -u)"
	pass="$(< "$file")"
	[ "${#pass}" -ge 32 ] || die "the repository passphrase in $file is shorter than 32 characters"
	umask 077
	mkdir -p "$(dirname "$CONF")"
	tmp="$(mktemp "$(dirname "$CONF")/conf.XXXXXX")"
	# printf is a shell builtin: the passphrase is never an argument of a process.
	{
		printf '[global]\n'
		printf 'repo1-path=%s\n' "$REPO"
		printf 'repo1-cipher-type=aes-256-cbc\n'
		printf 'repo1-cipher-pass=%s\n' "$pass"
		printf 'repo1-retention-full-type=count\n'
		printf 'repo1-retention-full=%s\n' "${OPSBOOK_PITR_KEEP_FULL:-7}"
		# WAL needed by every kept backup stays (pgBackRest's default follows retention-full).
		printf 'start-fast=y\n'
		printf 'compress-type=lz4\n'
		printf 'process-max=1\n'
		printf 'lock-path=/tmp/pgbackrest\n'
		# The root filesystem is read-only: logs go to stderr, which the container log keeps.
		printf 'log-level-file=off\n'
		printf 'log-level-console=warn\n'
		printf 'log-level-stderr=off\n'
		printf '[%s]\n' "$STANZA"
		printf 'pg1-path=%s\n' "$PGDATA"
		printf 'pg1-socket-path=%s\n' "$SOCKET"
		printf 'pg1-port=5432\n'
		printf 'pg1-user=%s\n' "$DBUSER"
	} > "$tmp"
	chmod 0600 "$tmp"
	mv -f "$tmp" "$CONF"
}

ensure_config() { [ -s "$CONF" ] || write_config; }

pgbr() { ensure_config; pgbackrest --stanza="$STANZA" "$@"; }

# The repository directory is created by the backup agent (it owns the location, uid 10001) with
# the set-group-id bit and group 10001, which this container holds as a supplementary group: files
# pgBackRest writes stay readable by the agent and by whatever copies the location off-site.
repo_ready() { [ -d "$REPO" ] && [ -w "$REPO" ]; }

# Serialises our own multi-step work (backup + proof, scratch restores); pgBackRest locks its own.
with_lock() { mkdir -p /tmp/pgbackrest; exec 9>"$LOCK"; flock -w 3600 9 || die "another pitr command holds $LOCK"; "$@"; }

proof_record() { # proof_record LABEL OK PROBLEM SANITY_JSON
	local label="$1" ok="$2" problem="$3" sanity="$4" cur tmp
	cur="$(cat "$PROOFS" 2>/dev/null || echo '{}')"
	echo "$cur" | jq -e 'type == "object"' >/dev/null 2>&1 || cur='{}'
	tmp="$(mktemp "$REPO/.proofs.XXXXXX")"
	echo "$cur" | jq --arg l "$label" --argjson ok "$ok" --arg p "$problem" --arg at "$(iso "$(now_epoch)")" --argjson s "$sanity" \
		'.[$l] = ({ ok: $ok, provenAt: $at, sanity: $s } + (if $p == "" then {} else { problem: $p } end))' > "$tmp"
	chmod 0640 "$tmp"
	mv -f "$tmp" "$PROOFS"
}

newest_label() { pgbr info --output=json | jq -r '.[0].backup[-1].label // empty'; }

# A second server on a copy restored from the repository: port 5433, socket in /tmp, no archiving.
scratch_start() { # scratch_start DIR
	local dir="$1"
	mkdir -p /tmp/pitr-scratch-socket
	pg_ctl -D "$dir" -l "$SCRATCH/scratch.log" -w -t 600 \
		-o "-c port=5433 -c listen_addresses='' -c unix_socket_directories=/tmp/pitr-scratch-socket -c archive_mode=off -c shared_buffers=16MB" start >&2
}
scratch_psql() { psql -X -At -v ON_ERROR_STOP=1 --no-password -h /tmp/pitr-scratch-socket -p 5433 -U "$DBUSER" "$@"; }
scratch_wait_promoted() {
	local i
	for i in $(seq 1 600); do
		if [ "$(scratch_psql -d postgres -c 'select pg_is_in_recovery()' 2>/dev/null || true)" = f ]; then return 0; fi
		sleep 1
	done
	return 1
}
scratch_stop() { # scratch_stop DIR
	pg_ctl -D "$1" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$1"
}

# Every user table of the database read in full: the pages restored from the repository are readable.
SANITY_SQL="select json_build_object('tables', count(*), 'rows', coalesce(sum((xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', table_schema, table_name), false, true, '')))[1]::text::bigint), 0)) from information_schema.tables where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')"

verify_repo() {
	# pgBackRest's own check of every archived WAL segment and backup file against the checksums
	# it recorded. 2.45 exits 0 even when it finds damage ("completed successfully" after
	# "status: error"), so its report is read: any invalid file or an error status is a failure,
	# and the lines that name the damaged files are printed.
	local out rc=0
	out="$(pgbr verify --log-level-console=info --job-retry=0 2>&1)" || rc=$?
	if [ "$rc" -ne 0 ] || grep -Eq 'status: error|invalid result|ERROR' <<<"$out"; then
		printf '%s\n' "$out" | grep -E 'status: error|invalid|missing|ERROR|checked' | sed -E 's/^[0-9-]+ [0-9:.]+ P[0-9]+ +[A-Z]+: //; s/^ +//' >&2
		return 1
	fi
	return 0
}

prove() { # prove [LABEL] -> records the proof; exit 1 when it failed
	local label="${1:-}" dir started ok=true problem="" sanity='null' t0
	repo_ready || die "the repository $REPO is not there or not writable yet"
	[ -n "$label" ] || label="$(newest_label)"
	[ -n "$label" ] || die "there is no pgBackRest backup to prove yet; run: npm run backup -- pitr-backup"
	t0="$(date +%s%N)"
	log "$label: pgbackrest verify (every archived WAL file and backup file)"
	local vout
	if ! vout="$(verify_repo 2>&1)"; then
		ok=false
		problem="pgbackrest verify failed: $(printf '%s' "$vout" | tr '\n' ' ' | cut -c1-600)"
		log "$problem"
	fi
	if [ "$ok" = true ]; then
		dir="$SCRATCH/proof-pgdata"
		rm -rf "$dir"; mkdir -m 0700 "$dir"
		log "$label: restoring into a scratch instance"
		if pgbr restore --set="$label" --pg1-path="$dir" --type=immediate --target-action=promote --archive-mode=off >&2 2>"$SCRATCH/proof.err" && scratch_start "$dir" && scratch_wait_promoted; then
			if sanity="$(scratch_psql -d "$DB" -c "$SANITY_SQL" 2>"$SCRATCH/proof.err")"; then
				log "$label: sanity query: $sanity"
			else
				ok=false; problem="sanity query failed: $(tr '\n' ' ' < "$SCRATCH/proof.err" | cut -c1-400)"; sanity='null'
			fi
		else
			ok=false; problem="restore into a scratch instance failed: $(tr '\n' ' ' < "$SCRATCH/proof.err" | cut -c1-400)"
		fi
		scratch_stop "$dir"
	fi
	proof_record "$label" "$ok" "$problem" "$sanity"
	log "$label: $([ "$ok" = true ] && echo PROVEN || echo "PROOF FAILED: $problem") ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
	[ "$ok" = true ]
}

backup() {
	local type=full trigger=manual prove_it=1
	while [ $# -gt 0 ]; do
		case "$1" in
			--type) type="$2"; shift ;;
			--trigger) trigger="$2"; shift ;;
			--no-prove) prove_it=0 ;;
			*) die "backup: unknown argument $1" ;;
		esac
		shift
	done
	repo_ready || die "the repository $REPO is not there or not writable yet"
	local t0 t1 label
	t0="$(date +%s%N)"
	log "pgbackrest backup --type=$type ($trigger)"
	pgbr backup --type="$type" >&2
	t1="$(date +%s%N)"
	label="$(newest_label)"
	local size
	size="$(pgbr info --output=json --set="$label" | jq -r '.[0].backup[-1].info.repository.delta // 0')"
	jq -cn --arg l "$label" --arg t "$type" --arg tr "$trigger" --argjson ms "$(( (t1 - t0) / 1000000 ))" --argjson size "$size" \
		'{ label: $l, type: $t, trigger: $tr, durationMs: $ms, repoBytes: $size }'
	if [ "$prove_it" = 1 ]; then prove "$label" >&2; fi
}

info() {
	ensure_config
	local raw lag='null' archiver='{}' ready=0
	raw="$(pgbr --repo1-path="$REPO" info --output=json 2>/dev/null || echo '[]')"
	if archiver="$(psql_live -d postgres -c "select json_build_object('lastArchivedWal', last_archived_wal, 'lastArchivedAt', last_archived_time, 'secondsSinceLastArchived', round(extract(epoch from now() - last_archived_time)), 'failedCount', failed_count, 'lastFailedWal', last_failed_wal, 'lastFailedAt', last_failed_time, 'currentWal', pg_walfile_name(pg_current_wal_lsn()), 'archiveTimeoutSeconds', current_setting('archive_timeout')) from pg_stat_archiver" 2>/dev/null)"; then :; else archiver='null'; fi
	ready="$(find "$PGDATA/pg_wal/archive_status" -name '*.ready' 2>/dev/null | wc -l)"
	jq -n --argjson raw "$raw" --argjson proofs "$(cat "$PROOFS" 2>/dev/null || echo '{}')" --argjson archiver "$archiver" \
		--argjson ready "$ready" --argjson now "$(now_epoch)" --arg repo "$REPO" --argjson keep "${OPSBOOK_PITR_KEEP_FULL:-7}" \
		--argjson restored "$(cat "$RESTORED" 2>/dev/null || echo null)" '
		($raw[0] // {}) as $s |
		{
			repository: $repo,
			stanza: ($s.name // null),
			status: ($s.status.message // "no stanza yet"),
			keepFull: $keep,
			now: $now,
			archive: { min: ($s.archive[0].min // null), max: ($s.archive[-1].max // null), segmentsWaiting: $ready, server: $archiver },
			backups: [($s.backup // [])[] | {
				label: .label, type: .type, prior: .prior,
				startedAt: .timestamp.start, stoppedAt: .timestamp.stop,
				databaseBytes: .info.size, repoBytes: .info.repository.delta,
				walStart: .archive.start, walStop: .archive.stop,
				proof: ($proofs[.label] // null)
			}],
			restored: $restored
		}'
}

# A repository brought back from the off-site copy, read with this stack's key before anything
# changes. pgBackRest 2.45 exits 0 from `info` whatever it finds: a key that does not decrypt
# backup.info shows as the repository's status 99 ("unable to load info file"), and that is
# exit 3 here, without pgBackRest's message (it quotes the undecrypted bytes).
repo_info() {
	local dir="${1:-}" raw code msg
	[ -n "$dir" ] && [ -d "$dir" ] || die "repo-info: no repository directory ${dir:-given}"
	raw="$(pgbr --repo1-path="$dir" info --output=json 2>/dev/null)" || die "pgbackrest info of $dir failed"
	# Read as text first: the message then holds the undecrypted bytes, which are not always
	# valid JSON string content.
	if grep -aEq 'unable to load info file|FormatError|CryptoError' <<<"$raw"; then
		log "this stack's repository key does not decrypt the repository in $dir"
		exit 3
	fi
	code="$(jq -r '(.[0].repo[0].status.code // .[0].status.code // 99)' <<<"$raw" 2>/dev/null || echo 99)"
	msg="$(jq -r '(.[0].repo[0].status.message // .[0].status.message // "")' <<<"$raw" 2>/dev/null || true)"
	if [ "$code" != 0 ] && [ "$code" != 2 ]; then
		die "the repository in $dir cannot be read: $(head -c 300 <<<"$msg" | tr -cd '[:print:] ')"
	fi
	REPO="$dir"
	PROOFS="$dir/opsbook-proofs.json"
	info | jq --arg sys "$(jq -r '.[0].db[-1]["system-id"] // empty' <<<"$raw")" '. + { systemId: $sys }'
}

# Parses --set LABEL and --to TIME|latest into REQ_SET, REQ_TYPE, REQ_TARGET.
parse_target() {
	REQ_SET=""; REQ_TYPE=immediate; REQ_TARGET=""
	while [ $# -gt 0 ]; do
		case "$1" in
			--set) REQ_SET="$2"; shift ;;
			--to)
				if [ "$2" = latest ]; then REQ_TYPE=default; REQ_TARGET=""; else REQ_TYPE=time; REQ_TARGET="$2"; fi
				shift ;;
			*) die "unknown argument $1" ;;
		esac
		shift
	done
	[ -n "$REQ_SET" ] || die "--set LABEL is required (npm run backup chooses it)"
	[[ "$REQ_SET" =~ ^[0-9]{8}-[0-9]{6}F(_[0-9]{8}-[0-9]{6}[DI])?$ ]] || die "$REQ_SET is not a pgBackRest backup label"
	[[ "$REQ_TARGET" =~ ^[0-9:.+\ TZ-]*$ ]] || die "the target time may hold only digits, spaces and -:.+TZ"
}

restore_args() { # the pgbackrest restore options for the parsed request
	RESTORE_ARGS=(--set="$REQ_SET" --type="$REQ_TYPE")
	if [ "$REQ_TYPE" = time ]; then RESTORE_ARGS+=(--target="$REQ_TARGET" --target-action=promote); fi
	if [ "$REQ_TYPE" = immediate ]; then RESTORE_ARGS+=(--target-action=promote); fi
}

restore_scratch() {
	parse_target "$@"
	restore_args
	local dir="$SCRATCH/inspect-pgdata" stamp copy t0
	stamp="$(date -u +%Y%m%dt%H%M%S)"
	copy="${DB}_pitr_${stamp}"
	t0="$(date +%s%N)"
	rm -rf "$dir"; mkdir -m 0700 "$dir"
	log "restoring $REQ_SET (${REQ_TYPE}${REQ_TARGET:+ $REQ_TARGET}) into a scratch instance"
	pgbr restore "${RESTORE_ARGS[@]}" --pg1-path="$dir" --archive-mode=off >&2
	scratch_start "$dir"
	scratch_wait_promoted || { scratch_stop "$dir"; die "the scratch instance did not finish recovery; see $SCRATCH/scratch.log"; }
	log "copying database $DB of the scratch instance into the live server as $copy"
	psql_live -d postgres -c "create database \"$copy\"" >/dev/null
	if ! pg_dump -Fc -h /tmp/pitr-scratch-socket -p 5433 -U "$DBUSER" -d "$DB" | pg_restore --no-owner -h "$SOCKET" -p 5432 -U "$DBUSER" -d "$copy"; then
		scratch_stop "$dir"
		die "copying into $copy failed"
	fi
	scratch_stop "$dir"
	jq -cn --arg db "$copy" --arg set "$REQ_SET" --arg type "$REQ_TYPE" --arg target "$REQ_TARGET" --argjson ms "$(( ($(date +%s%N) - t0) / 1000000 ))" \
		'{ database: $db, set: $set, type: $type, target: $target, durationMs: $ms }'
}

request_restore() {
	parse_target "$@"
	repo_ready || die "the repository $REPO is not there"
	umask 077
	jq -cn --arg set "$REQ_SET" --arg type "$REQ_TYPE" --arg target "$REQ_TARGET" --arg at "$(iso "$(now_epoch)")" \
		'{ set: $set, type: $type, target: $target, requestedAt: $at }' > "$REQUEST.tmp"
	mv -f "$REQUEST.tmp" "$REQUEST"
	log "restore requested: the entrypoint carries it out when Postgres next starts"
}

# Run by the entrypoint before the server starts. The request is renamed first: a failure must
# not make every later start restore again.
restore_now() {
	[ -f "$REQUEST" ] || return 0
	local req t0
	req="$(cat "$REQUEST")"
	mv -f "$REQUEST" "$REQUEST.taken"
	REQ_SET="$(jq -r .set <<<"$req")"; REQ_TYPE="$(jq -r .type <<<"$req")"; REQ_TARGET="$(jq -r .target <<<"$req")"
	restore_args
	t0="$(date +%s%N)"
	log "restoring PGDATA from $REQ_SET (${REQ_TYPE}${REQ_TARGET:+ to $REQ_TARGET}), delta"
	# pgBackRest's own words go to the container log and, shortened, into the record that
	# `npm run backup` reports (they name files and options, never the passphrase).
	# pgBackRest writes its console messages (log-level-console) to stdout: both streams are kept.
	local rc=0
	pgbr restore --delta "${RESTORE_ARGS[@]}" >"$SCRATCH/restore.err" 2>&1 || rc=$?
	cat "$SCRATCH/restore.err" >&2
	if [ "$rc" -ne 0 ]; then
		jq -c --arg at "$(iso "$(now_epoch)")" --arg p "$( { grep -a 'ERROR\|HINT' "$SCRATCH/restore.err" || tail -n 3 "$SCRATCH/restore.err"; } 2>/dev/null | tail -n 3 | tr -cd '[:print:]\n' | tr '\n' ' ' | cut -c1-500)" \
			'. + { status: "failed", failedAt: $at, problem: $p }' <<<"$req" > "$RESTORED"
		die "pgbackrest restore failed; PGDATA may be partly restored. Restore again (npm run backup -- restore --to latest) or from the safety backup"
	fi
	# Read-only until the operator confirms (seed 004): from the server's first session on, for
	# every database, written where ALTER SYSTEM can lift it without a restart.
	printf "default_transaction_read_only = 'on'\n" >> "$PGDATA/postgresql.auto.conf"
	jq -c --arg at "$(iso "$(now_epoch)")" --argjson ms "$(( ($(date +%s%N) - t0) / 1000000 ))" \
		'. + { status: "restored", restoredAt: $at, pgbackrestMs: $ms, confirmed: false }' <<<"$req" > "$RESTORED"
	rm -f "$REQUEST.taken"
	log "PGDATA restored; the server replays WAL to the target, then promotes; read-only until 'npm run backup -- confirm'"
}

confirm() {
	[ -f "$RESTORED" ] || die "no restore to confirm"
	PGOPTIONS='-c default_transaction_read_only=off' psql_live -d postgres -c "alter system reset default_transaction_read_only" >/dev/null
	psql_live -d postgres -c "select pg_reload_conf()" >/dev/null
	local tmp
	tmp="$(jq -c --arg at "$(iso "$(now_epoch)")" '. + { confirmed: true, confirmedAt: $at }' "$RESTORED")"
	printf '%s\n' "$tmp" > "$RESTORED"
	log "writes are allowed again"
}

# After a live restore the superuser password is the one of time T; the deployment's is in the
# secret file. Set it again once the server has promoted (the entrypoint could not: it does that
# on a socket-only server before the restore, and a recovering server refuses ALTER ROLE).
reset_password_after_restore() {
	local file="${POSTGRES_PASSWORD_FILE:-/run/secrets/POSTGRES_PASSWORD}"
	[ -r "$file" ] || return 0
	POSTGRES_PASSWORD="$(< "$file")" PGOPTIONS='-c default_transaction_read_only=off' psql_live -d postgres --quiet >/dev/null <<-'EOSQL'
		SET log_statement = 'none';
		\getenv superuser_password POSTGRES_PASSWORD
		ALTER ROLE CURRENT_USER WITH PASSWORD :'superuser_password';
	EOSQL
}

serve() {
	local every=$(( ${OPSBOOK_PITR_FULL_EVERY_HOURS:-24} * 3600 )) stanza_ok=0 pw_done=0 last newest
	log "serving: a full backup every ${OPSBOOK_PITR_FULL_EVERY_HOURS:-24} h, keep ${OPSBOOK_PITR_KEEP_FULL:-7}, repository $REPO"
	# Checks every 5 s until the stanza is ready (the first deploy waits on it), then every minute.
	local pause=5
	while true; do
		sleep "$pause"
		pg_isready -q -h "$SOCKET" -p 5432 -U "$DBUSER" -d postgres || continue
		[ "$(psql_live -d postgres -c 'select pg_is_in_recovery()' 2>/dev/null || echo t)" = f ] || continue
		if [ "$pw_done" = 0 ] && [ -f "$RESTORED" ]; then reset_password_after_restore && pw_done=1 || log "could not set the superuser password after the restore"; fi
		if ! repo_ready; then [ "$pause" = 5 ] && log "waiting for the backup agent to create $REPO"; pause=6; continue; fi
		if [ "$stanza_ok" = 0 ]; then
			if pgbr stanza-create >&2 && pgbr check >&2; then stanza_ok=1; log "stanza $STANZA ready; WAL is archived to $REPO"; else log "stanza-create/check failed; retrying in 30 s"; pause=30; continue; fi
		fi
		pause=60
		# A full backup when there is none or the newest full one is older than the period.
		last="$(pgbr info --output=json 2>/dev/null | jq -r '[.[0].backup[]? | select(.type == "full") | .timestamp.start] | max // 0')" || last=0
		if [ $(( $(now_epoch) - last )) -ge "$every" ]; then
			(with_lock backup --type full --trigger schedule >/dev/null) || log "scheduled backup failed"
		fi
		# A backup that has no proof yet (the proof failed or was interrupted) is proven again hourly.
		newest="$(newest_label)"
		if [ -n "$newest" ] && ! jq -e --arg l "$newest" '.[$l].ok == true' "$PROOFS" >/dev/null 2>&1; then
			if [ $(( $(now_epoch) - $(stat -c %Y "$PROOFS" 2>/dev/null || echo 0) )) -ge 3600 ] || ! jq -e --arg l "$newest" 'has($l)' "$PROOFS" >/dev/null 2>&1; then
				(with_lock prove "$newest") || log "proof of $newest failed"
			fi
		fi
	done
}

# For the drill: flip bytes in the middle of the newest archived WAL file, as a disk would.
sabotage_wal() {
	local f
	f="$(find "$REPO/archive" -type f -regextype posix-extended -regex '.*/[0-9A-F]{24}-[0-9a-f]{40}(\.[a-z0-9]+)?' -printf '%T@ %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)"
	[ -n "$f" ] || die "no archived WAL file"
	printf 'opsbook-drill-corruption' | dd of="$f" bs=1 seek=64 conv=notrunc status=none
	echo "$f"
}

cmd="${1:-help}"
shift || true
case "$cmd" in
	write-config) write_config ;;
	serve) serve ;;
	backup) with_lock backup "$@" ;;
	prove) with_lock prove "$@" ;;
	verify) verify_repo ;;
	info) info ;;
	repo-info) repo_info "$@" ;;
	restore-scratch) with_lock restore_scratch "$@" ;;
	request-restore) request_restore "$@" ;;
	restore-now) restore_now ;;
	restored) cat "$RESTORED" 2>/dev/null || echo null ;;
	confirm) confirm ;;
	sabotage-wal) sabotage_wal ;;
	help | -h | --help) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//' ;;
	*) die "unknown command $cmd; see pitr help" ;;
esac
