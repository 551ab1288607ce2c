#!/usr/bin/env bash
# Entry point for opsbook/redis. The password (REDIS_PASSWORD or REDIS_PASSWORD_FILE) is handed
# to redis-server as config on stdin ("redis-server <conf> -"): it is never in argv (ps/inspect)
# nor written to disk. Started as root, it fixes /data ownership and drops to redis (uid 999).
set -Eeuo pipefail

log() { echo "[entrypoint] $*" >&2; }
die() { log "error: $*"; exit 1; }

file_env() {
	local var="$1" fvar="${1}_FILE" val=""
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

# `docker run img --maxmemory 100mb` or `img /path/x.conf` → redis-server ...
if [ "${1:0:1}" = '-' ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" != 'redis-server' ]; then
	exec "$@"
fi
shift

if [ "$(id -u)" = '0' ]; then
	file_env REDIS_PASSWORD
	mkdir -p /data
	chown redis:redis /data
	find /data \! -user redis -exec chown redis:redis '{}' + 2>/dev/null || true
	exec setpriv --reuid=redis --regid=redis --init-groups "${BASH_SOURCE[0]}" redis-server "$@"
fi

file_env REDIS_PASSWORD
pw="$REDIS_PASSWORD"
unset REDIS_PASSWORD
if [ -z "$pw" ]; then
	die "no password: set REDIS_PASSWORD or REDIS_PASSWORD_FILE (protected-mode is off, so a password is required)"
fi
case "$pw" in *$'\n'*|*$'\r'*) die "REDIS_PASSWORD must be a single line";; esac
[ -w /data ] || die "/data is not writable by uid $(id -u); use a named volume, chown it to 999:999, or start as root (--user 0)"

# Quote for redis' config parser: backslash and double quote escaped inside "...".
esc="${pw//\\/\\\\}"
esc="${esc//\"/\\\"}"
log "starting redis-server (appendonly, dir /data; password passed on stdin)"
exec redis-server /etc/redis/opsbook.conf "$@" - <<REDISCONF
requirepass "$esc"
REDISCONF
