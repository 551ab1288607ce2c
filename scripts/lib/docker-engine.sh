#!/usr/bin/env bash
# Ensure a Docker engine answers on this machine.
#
#   bash scripts/lib/docker-engine.sh      # or: source scripts/lib/docker-engine.sh
#
# - `docker info` answers already            -> nothing to do.
# - dockerd missing                          -> apt-get install docker.io debootstrap.
# - otherwise start dockerd detached (setsid/nohup, survives the caller), log to
#   ${OPSBOOK_CACHE:-$HOME/.cache/opsbook}/dockerd.log, wait up to
#   OPSBOOK_DOCKER_TIMEOUT (60) seconds for it to answer.
# Progress goes to stderr as `[docker-engine] <step> (<elapsed>s)`; nothing goes to stdout.
# On failure: the last 20 lines of the log, a message naming the step, non-zero status.
#
# Flags: dockerd picks its storage driver itself (overlay2 on this machine's ext4; a data-root
# used before keeps its driver). OPSBOOK_DOCKER_STORAGE_DRIVER forces one (e.g. vfs). Where
# overlay cannot work (gVisor, data-root on overlayfs) vfs is chosen, and if dockerd dies on a
# storage-driver error it is retried once with vfs. Without a usable iptables nat table it
# runs with --iptables=false. OPSBOOK_DOCKERD_FLAGS adds extra flags.

# The body runs in a subshell so that sourcing this file changes nothing in the caller's shell.
_opsbook_docker_engine() (
	set -uo pipefail
	cache="${OPSBOOK_CACHE:-$HOME/.cache/opsbook}"
	logf="$cache/dockerd.log"
	timeout_s="${OPSBOOK_DOCKER_TIMEOUT:-60}"
	t0=$(date +%s)

	progress() { echo "[docker-engine] $1 ($(($(date +%s) - t0))s)" >&2; }
	fail() {
		if [ -s "$logf" ]; then
			echo "[docker-engine] last 20 lines of $logf:" >&2
			tail -n 20 "$logf" >&2
		fi
		echo "[docker-engine] FAILED at step '$1': $2 ($(($(date +%s) - t0))s)" >&2
		exit 1
	}
	answers() { command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; }

	progress "checking for a running engine"
	if answers; then
		progress "engine already answering"
		exit 0
	fi

	case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
		unix:///var/run/docker.sock) ;;
		*) fail "check DOCKER_HOST" "DOCKER_HOST=${DOCKER_HOST} does not answer and is not the local socket this script can start" ;;
	esac

	if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
		[ "$(id -u)" = 0 ] || fail "install docker.io" "dockerd is missing and we are not root (run: apt-get install docker.io)"
		progress "installing docker.io debootstrap (apt-get)"
		mkdir -p "$cache"
		if ! apt-get update >>"$cache/apt.log" 2>&1; then
			tail -n 20 "$cache/apt.log" >&2
			fail "install docker.io" "command failed: apt-get update (log: $cache/apt.log)"
		fi
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io debootstrap >>"$cache/apt.log" 2>&1; then
			tail -n 20 "$cache/apt.log" >&2
			fail "install docker.io" "command failed: apt-get install -y docker.io debootstrap (log: $cache/apt.log)"
		fi
		progress "installed docker.io"
		# A packaged service manager may have started it meanwhile.
		if answers; then
			progress "engine answering"
			exit 0
		fi
	fi

	[ "$(id -u)" = 0 ] || fail "start dockerd" "dockerd is not running and starting it needs root"
	mkdir -p "$cache" || fail "start dockerd" "cannot create $cache"

	# One starter at a time; whoever comes second only waits.
	exec 9>"$cache/dockerd.lock"
	flock -w "$timeout_s" 9 || fail "lock" "another process holds $cache/dockerd.lock"

	pidfile=/var/run/docker.pid
	running_pid=""
	if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null &&
		grep -q dockerd "/proc/$(cat "$pidfile")/cmdline" 2>/dev/null; then
		running_pid="$(cat "$pidfile")"
	fi

	choose_flags() { # $1: forced storage driver or ""
		flags=()
		local drv="${1:-${OPSBOOK_DOCKER_STORAGE_DRIVER:-}}" conf=/etc/docker/daemon.json
		if [ -z "$drv" ]; then
			local rootfs_type
			rootfs_type="$(stat -f -c %T /var/lib 2>/dev/null || echo unknown)"
			if ! grep -qw overlay /proc/filesystems 2>/dev/null || [ "$rootfs_type" = overlayfs ] ||
				grep -qi gvisor /proc/version 2>/dev/null || dmesg 2>/dev/null | grep -qi gvisor; then
				drv=vfs
			fi
		fi
		if [ -n "$drv" ] && ! grep -q '"storage-driver"' "$conf" 2>/dev/null; then
			flags+=(--storage-driver="$drv")
		fi
		if ! iptables -t nat -S >/dev/null 2>&1 && ! grep -q '"iptables"' "$conf" 2>/dev/null; then
			flags+=(--iptables=false)
		fi
		# shellcheck disable=SC2206
		flags+=(${OPSBOOK_DOCKERD_FLAGS:-})
	}

	start_dockerd() {
		rm -f "$pidfile"
		echo "==== $(date -u +%FT%TZ) opsbook: dockerd ${flags[*]}" >>"$logf"
		# setsid: own session, no controlling terminal; all fds redirected so that a caller
		# capturing our output (pipes, $(...)) is not held open by the daemon.
		setsid nohup dockerd "${flags[@]}" </dev/null >>"$logf" 2>&1 &
		dpid=$!
		disown "$dpid" 2>/dev/null || true
	}

	wait_answer() { # returns 0 answered, 1 dockerd died, 2 timed out
		local last=-1 now
		while :; do
			now=$(($(date +%s) - t0))
			if answers; then return 0; fi
			if [ -n "${dpid:-}" ] && ! kill -0 "$dpid" 2>/dev/null; then return 1; fi
			if [ "$now" -ge "$timeout_s" ]; then return 2; fi
			if [ $((now / 5)) -ne "$last" ] && [ "$now" -gt 0 ]; then
				last=$((now / 5))
				progress "waiting for dockerd to answer"
			fi
			sleep 0.5
		done
	}

	if [ -n "$running_pid" ]; then
		progress "dockerd (pid $running_pid) is starting; waiting"
		dpid="$running_pid"
	else
		if [ -e "$pidfile" ]; then
			progress "removing stale $pidfile"
		fi
		choose_flags ""
		progress "starting dockerd ${flags[*]:-(default flags)} (log: $logf)"
		log_from=$(wc -l 2>/dev/null <"$logf" || echo 0)
		start_dockerd
	fi

	wait_answer
	rc=$?
	if [ "$rc" = 1 ] && [ -z "$running_pid" ] && [ -z "${OPSBOOK_DOCKER_STORAGE_DRIVER:-}" ] &&
		tail -n +"$((log_from + 1))" "$logf" | grep -qiE 'graphdriver|storage.driver|overlay'; then
		choose_flags vfs
		progress "dockerd died on a storage-driver error; retrying with ${flags[*]}"
		start_dockerd
		wait_answer
		rc=$?
	fi
	case "$rc" in
		0) progress "engine answering (dockerd pid $(cat "$pidfile" 2>/dev/null || echo "${dpid:-?}"))" ;;
		1) fail "start dockerd" "dockerd exited before answering (see $logf)" ;;
		*) fail "wait for dockerd" "no answer from docker info within ${timeout_s}s (see $logf)" ;;
	esac
)

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	_opsbook_docker_engine
	exit $?
else
	_opsbook_docker_engine && _opsbook_docker_engine_rc=0 || _opsbook_docker_engine_rc=$?
	unset -f _opsbook_docker_engine
	return "$_opsbook_docker_engine_rc"
fi
