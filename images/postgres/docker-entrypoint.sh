#!/usr/bin/env bash
# Entry point for opsbook/postgres. Mirrors the official image's contract (every POSTGRES_* input
# may come from <NAME>_FILE instead, e.g. POSTGRES_PASSWORD_FILE=/run/secrets/POSTGRES_PASSWORD):
#   first start on an empty PGDATA: initdb with POSTGRES_USER / POSTGRES_PASSWORD(_FILE),
#   create POSTGRES_DB, run /docker-entrypoint-initdb.d/*; later starts: make POSTGRES_PASSWORD the
#   superuser's password again (when set), then run postgres.
# Started as root (e.g. --user 0 with a root-owned bind mount), it fixes ownership of PGDATA
# and re-executes itself as postgres (uid 999); the server never runs as root.
set -Eeuo pipefail

log() { echo "[entrypoint] $*" >&2; }
die() { log "error: $*"; exit 1; }

# file_env VAR [DEFAULT]: VAR from env or from the file named by VAR_FILE (trailing newlines
# dropped); both set is an error. Read with a shell builtin: the value is never on a command line.
file_env() {
	local var="$1" def="${2:-}"
	local fvar="${var}_FILE"
	local val="$def"
	if [ -n "${!var:-}" ] && [ -n "${!fvar:-}" ]; then
		die "both $var and $fvar are set (they are exclusive)"
	fi
	if [ -n "${!var:-}" ]; then
		val="${!var}"
	elif [ -n "${!fvar:-}" ]; then
		[ -r "${!fvar}" ] || die "$fvar=${!fvar} is not readable by uid $(id -u)"
		val="$(< "${!fvar}")"
	fi
	export "$var"="$val"
	unset "$fvar"
}

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" != 'postgres' ]; then
	exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"

if [ "$(id -u)" = '0' ]; then
	# Read secrets while still root (the file may be root-only), then drop privileges.
	file_env POSTGRES_PASSWORD
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	chmod 3777 /var/run/postgresql
	find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' + 2>/dev/null || true
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

file_env POSTGRES_PASSWORD
# A shell variable from here on, not an environment variable: initdb, pg_ctl and the temporary
# server must not inherit it. Only the one psql that sets it gets it (as its env, never argv).
export -n POSTGRES_PASSWORD
file_env POSTGRES_USER postgres
file_env POSTGRES_DB "$POSTGRES_USER"
file_env POSTGRES_INITDB_ARGS
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if ! mkdir -p "$PGDATA" 2>/dev/null || ! [ -w "$PGDATA" ]; then
		die "PGDATA $PGDATA is not writable by uid $(id -u) (owner: $(stat -c %u:%g "$PGDATA" 2>/dev/null || echo '?')). Use a named volume, chown the directory to 999:999, or start the container as root (--user 0) so the entrypoint fixes ownership."
	fi
	chmod 700 "$PGDATA" 2>/dev/null || true
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
		die "database is uninitialized and no superuser password is set. Set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE (or POSTGRES_HOST_AUTH_METHOD=trust, which is insecure)."
	fi
	case "$POSTGRES_PASSWORD" in *$'\n'*) die "POSTGRES_PASSWORD must be a single line";; esac

	log "initialising database cluster in $PGDATA (user: $POSTGRES_USER, db: $POSTGRES_DB)"
	# shellcheck disable=SC2086
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		--encoding=UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD" \
		$POSTGRES_INITDB_ARGS >&2

	# Unix socket (inside the container only): trust. Every TCP connection: password auth.
	{
		echo
		echo "# opsbook: network connections from anywhere need a password"
		echo "host all all all $POSTGRES_HOST_AUTH_METHOD"
	} >> "$PGDATA/pg_hba.conf"
	{
		echo
		echo "# opsbook"
		echo "listen_addresses = '*'"
		echo "password_encryption = scram-sha-256"
	} >> "$PGDATA/postgresql.conf"

	# Temporary server on the unix socket only, for setup.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >&2
	export PGUSER="$POSTGRES_USER" PGHOST=/var/run/postgresql PGPORT=5432
	psql=(psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --dbname postgres)
	if [ "$POSTGRES_DB" != 'postgres' ]; then
		"${psql[@]}" --set db="$POSTGRES_DB" >&2 <<-'EOSQL'
			CREATE DATABASE :"db";
		EOSQL
	fi
	psql+=(--dbname "$POSTGRES_DB")
	shopt -s nullglob
	for f in /docker-entrypoint-initdb.d/*; do
		# shellcheck disable=SC1090
		case "$f" in
			*.sh)     log "running $f"; if [ -x "$f" ]; then POSTGRES_PASSWORD="$POSTGRES_PASSWORD" "$f"; else . "$f"; fi ;;
			*.sql)    log "running $f"; "${psql[@]}" -f "$f" >&2 ;;
			*.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" >&2 ;;
			*)        log "ignoring $f" ;;
		esac
	done
	shopt -u nullglob
	pg_ctl -D "$PGDATA" -m fast -w stop >&2
	unset PGUSER PGHOST PGPORT
	log "initialisation complete; starting postgres"
else
	log "PGDATA $PGDATA already initialised (PG_VERSION $(cat "$PGDATA/PG_VERSION")); skipping init"
	restored=0
	if [ "${OPSBOOK_PITR:-off}" = on ] && [ -f "${OPSBOOK_PITR_SCRATCH:-/var/lib/postgresql/scratch}/restore-request" ]; then
		# A point-in-time restore asked for by `npm run backup -- restore --to ...`: done here,
		# while no server runs on PGDATA. The password step below needs a writable server, which
		# a recovering one is not; `pitr serve` sets the password once the server has promoted.
		pitr write-config
		pitr restore-now
		restored=1
	fi
	if [ -n "$POSTGRES_PASSWORD" ] && [ "$restored" = 0 ]; then
		# The password the deployment holds is the one that works: a data volume kept across a
		# `pulumi destroy` (or a rotated password) must not lock the stack out of its own database.
		# Set on a socket-only server, read by psql from the environment (never an argument), with
		# statement logging off so the server log cannot echo it.
		case "$POSTGRES_PASSWORD" in *$'\n'*) die "POSTGRES_PASSWORD must be a single line";; esac
		pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >&2
		POSTGRES_PASSWORD="$POSTGRES_PASSWORD" PGUSER="$POSTGRES_USER" PGHOST=/var/run/postgresql PGPORT=5432 \
			psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --quiet --dbname postgres >&2 <<-'EOSQL'
				SET log_statement = 'none';
				SET log_min_error_statement = panic;
				\getenv superuser_password POSTGRES_PASSWORD
				ALTER ROLE CURRENT_USER WITH PASSWORD :'superuser_password';
			EOSQL
		pg_ctl -D "$PGDATA" -m fast -w stop >&2
		log "superuser password set from POSTGRES_PASSWORD"
	fi
fi

# The password is only needed for setup: keep it out of the server's environment.
unset POSTGRES_PASSWORD

if [ "${OPSBOOK_PITR:-off}" != on ]; then
	exec "$@"
fi

# Point-in-time recovery: the server archives every WAL segment with pgBackRest, and `pitr serve`
# takes and proves base backups beside it. This shell stays PID 1 instead of exec'ing postgres:
# the postmaster treats an unknown child that exits non-zero as a crashed backend and restarts
# every session, so the loop must be this shell's child, never the server's.
pitr write-config
set -- "$@" \
	-c wal_level=replica \
	-c archive_mode=on \
	-c "archive_command=pgbackrest --stanza=main archive-push %p" \
	-c "archive_timeout=${OPSBOOK_PITR_ARCHIVE_TIMEOUT:-60}"
"$@" &
server=$!
# Docker's stop signal (SIGINT, fast shutdown) and SIGTERM go to the server as they would have.
trap 'kill -INT "$server" 2>/dev/null || true' INT
trap 'kill -TERM "$server" 2>/dev/null || true' TERM
pitr serve &
loop=$!
rc=0
while :; do
	wait "$server" && rc=0 || rc=$?
	kill -0 "$server" 2>/dev/null || break
done
kill "$loop" 2>/dev/null || true
exit "$rc"
