#!/usr/bin/env bash
# Entry point for opsbook/redis. The password (REDIS_PASSWORD_FILE, a swarm secret file, or
# REDIS_PASSWORD) goes into a config file of mode 0600 on tmpfs (/run/redis, else /tmp) that
# includes /etc/redis/opsbook.conf; redis-server is started with that file's path, so the password
# is never in any process's argv (ps, docker top) nor in the server's environment, and never on
# the data volume. Started as root, it fixes /data ownership and drops to redis (uid 999).
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

# A tmpfs for runtime files (the stack mounts one at /run/redis); /tmp when there is none.
rundir=/run/redis
if ! { mkdir -p "$rundir" 2>/dev/null && [ -w "$rundir" ]; }; then
	rundir=/tmp
	[ -w "$rundir" ] || die "neither /run/redis nor /tmp is writable by uid $(id -u): mount a tmpfs at /run/redis"
fi
conf="$rundir/redis-auth.conf"
# Quote for redis' config parser: backslash and double quote escaped inside "...".
esc="${pw//\\/\\\\}"
esc="${esc//\"/\\\"}"
# Written by shell builtins only (no command line holds the password), readable by redis alone.
rm -f "$conf"
(
	umask 077
	printf 'include /etc/redis/opsbook.conf\nrequirepass "%s"\n' "$esc" >"$conf"
)
unset pw esc
log "starting redis-server (appendonly, dir /data; password from $conf, mode 0600)"
exec redis-server "$conf" "$@"
