#!/usr/bin/env bash
# Test servers on this machine: a Docker engine and an sshd in their own network namespace, with
# their own address on a host bridge, as a remote server would be reached (only over SSH, only at
# that address). The e2e tests make and remove them; nothing here is used by a deploy.
#
#   bash test/hosts/server.sh up NAME ADDRESS [--sshd-only | --no-swarm | --tls]   # e.g. up opsbook-n1 10.213.0.11
#   bash test/hosts/server.sh down NAME
#   bash test/hosts/server.sh start-engine NAME ADDRESS   # start its dockerd again (after a kill), state kept
#   bash test/hosts/server.sh power-off NAME   # SIGKILL its engine and everything it runs, as a power loss
#   bash test/hosts/server.sh --help
#
# `up` prints, on stdout, shell assignments the caller reads (nothing secret):
#   SERVER_ADDRESS=10.213.0.11
#   SERVER_KNOWN_HOSTS='10.213.0.11 ssh-ed25519 AAAA...'   (the server's host key, as known_hosts)
#   SERVER_IDENTITY_FILE=/root/.cache/opsbook/test-hosts/NAME/client_key
#   SERVER_DOCKER_SOCKET=/run/opsbook-test-hosts/NAME/docker.sock   (not with --sshd-only)
#   SERVER_DATA_DIR=/root/.cache/opsbook/test-hosts/NAME/data       (--sshd-only: an empty directory)
#   SERVER_TLS_DIR=/root/.cache/opsbook/test-hosts/NAME/tls/client  (--tls: ca.pem, cert.pem, key.pem)
# --sshd-only makes a host with sshd (and its SFTP subsystem) and no engine: an off-site backup
# host. The namespace has its own network only, so files sent over SFTP land in SERVER_DATA_DIR
# on this machine's filesystem, where a test can look at what the host stores.
# --no-swarm makes an engine in no swarm: a server for a stack to join as a node.
# --tls makes the engine also listen on tcp://ADDRESS:2376 with --tlsverify: a CA of its own signs
# the server's certificate (for ADDRESS) and one client certificate, which SERVER_TLS_DIR holds.
# The engine is a one-node swarm manager (advertise ADDRESS). sshd allows root with that key only,
# and sets DOCKER_HOST for the session, so `docker system dial-stdio` (what the docker CLI and the
# docker provider run over ssh://) reaches the namespace's engine.
#
# Layout: bridge opsbook-th0 (10.213.0.1/24) on the host, forwarding between its ports accepted
# (the host's dockerd sets the FORWARD policy to DROP); per server a veth pair, state in
# ${OPSBOOK_CACHE:-~/.cache/opsbook}/test-hosts/NAME (removed by `down`) and sockets and pid files
# in /run/opsbook-test-hosts/NAME. Progress on stderr as `[test-host NAME] <step> (<elapsed>s)`.
set -Eeuo pipefail

BRIDGE=opsbook-th0
BRIDGE_CIDR=10.213.0.1/24
CACHE="${OPSBOOK_CACHE:-$HOME/.cache/opsbook}"
T0=$(date +%s)

usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; }

cmd="${1:-}"
case "$cmd" in
	-h | --help | help) usage; exit 0 ;;
	up) [[ $# -eq 3 || ( $# -eq 4 && ( "${4:-}" == --sshd-only || "${4:-}" == --no-swarm || "${4:-}" == --tls ) ) ]] || { usage >&2; exit 2; } ;;
	down) [[ $# -eq 2 ]] || { usage >&2; exit 2; } ;;
	start-engine) [[ $# -eq 3 ]] || { usage >&2; exit 2; } ;;
	power-off) [[ $# -eq 2 ]] || { usage >&2; exit 2; } ;;
	*) usage >&2; exit 2 ;;
esac
NAME="$2"
SSHD_ONLY=0
NO_SWARM=0
[[ "${4:-}" == --sshd-only ]] && SSHD_ONLY=1
[[ "${4:-}" == --no-swarm ]] && NO_SWARM=1
TLS=0
[[ "${4:-}" == --tls ]] && TLS=1
[[ "$NAME" =~ ^[a-z0-9-]{1,11}$ ]] || { echo "[test-host] NAME must be 1-11 of a-z 0-9 - (it names a veth): $NAME" >&2; exit 2; }
STATE="$CACHE/test-hosts/$NAME"
RUN="/run/opsbook-test-hosts/$NAME"
NETNS="/var/run/netns/$NAME"
SOCKET="$RUN/docker.sock"
VETH="th-$NAME"

progress() { echo "[test-host $NAME] $1 ($(($(date +%s) - T0))s)" >&2; }
fail() {
	echo "[test-host $NAME] FAILED: $1 ($(($(date +%s) - T0))s)" >&2
	[[ -n "${2:-}" && -s "$2" ]] && tail -n 20 "$2" >&2
	exit 1
}
in_ns() { nsenter --net="$NETNS" "$@"; }

stop_pidfile() { # stop_pidfile FILE SECONDS: SIGTERM, then SIGKILL after SECONDS
	local pid
	[[ -s "$1" ]] || return 0
	pid="$(cat "$1")"
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq $(($2 * 5))); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.2
	done
	kill -KILL "$pid" 2>/dev/null || true
}

down() {
	# What sshd refused for load while the server ran: the deploys over SSH must have come through
	# anyway (their ssh wrapper tries again), and the count says how hard they pressed.
	if [[ -s "$STATE/sshd.log" ]]; then
		progress "sshd refused $(grep -c 'no more sessions' "$STATE/sshd.log") sessions past MaxSessions and dropped $(grep -c 'past MaxStartups' "$STATE/sshd.log") connections past MaxStartups"
	fi
	progress "stopping sshd and dockerd"
	stop_pidfile "$RUN/sshd.pid" 5
	stop_pidfile "$RUN/docker.pid" 60
	# What dockerd left mounted under its state (overlay layers, netns files).
	{ grep -o " $STATE[^ ]*\| $RUN[^ ]*" /proc/mounts 2>/dev/null || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	ip link del "$VETH" 2>/dev/null || true
	ip netns del "$NAME" 2>/dev/null || true
	rm -rf "$STATE" "$RUN"
	progress "removed"
}

# ensure_package COMMAND PACKAGE: installs Debian's PACKAGE when COMMAND is missing.
ensure_package() {
	command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]] && return 0
	progress "installing $2 (apt-get)"
	mkdir -p "$CACHE/logs"
	{ apt-get install -y --no-install-recommends "$2" || { apt-get update && apt-get install -y --no-install-recommends "$2"; }; } \
		>>"$CACHE/logs/test-hosts-apt.log" 2>&1 || fail "apt-get install $2" "$CACHE/logs/test-hosts-apt.log"
}

up() {
	local address="$1"
	[[ "$address" =~ ^10\.213\.0\.([0-9]+)$ && ${BASH_REMATCH[1]} -ge 2 && ${BASH_REMATCH[1]} -le 254 ]] ||
		fail "ADDRESS must be in 10.213.0.2-254 (the bridge's network): $address"
	# Test files run two at a time: what their servers share (apt-get, the bridge, the forward
	# rule) is set up by one at a time.
	mkdir -p "$CACHE"
	exec 8>"$CACHE/test-hosts.lock"
	flock -w 600 8 || fail "another test host's set-up held $CACHE/test-hosts.lock for 10 minutes"
	ensure_package sshd openssh-server
	[[ $TLS == 0 ]] || ensure_package openssl openssl
	# A server left by an interrupted run is removed first: tests start from nothing.
	[[ -e "$NETNS" || -d "$STATE" ]] && down
	mkdir -p "$STATE" "$RUN" /run/sshd

	progress "network: bridge $BRIDGE, namespace $NAME at $address"
	if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link add "$BRIDGE" type bridge
		ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
		ip link set "$BRIDGE" up
	fi
	iptables -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null || iptables -I FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
	flock -u 8
	ip netns add "$NAME"
	ip link add "$VETH" type veth peer name eth0 netns "$NAME"
	ip link set "$VETH" master "$BRIDGE" up
	in_ns ip addr add "$address/24" dev eth0
	in_ns ip link set eth0 up
	in_ns ip link set lo up
	in_ns ip route add default via "${BRIDGE_CIDR%/*}"

	if [[ $TLS == 1 ]]; then
		make_tls "$address"
	fi
	if [[ $SSHD_ONLY == 0 ]]; then
		start_engine "$address"
	fi

	progress "starting sshd on $address:22"
	ssh-keygen -q -t ed25519 -N "" -f "$STATE/ssh_host_ed25519_key" -C "$NAME host key"
	ssh-keygen -q -t ed25519 -N "" -f "$STATE/client_key" -C "opsbook e2e client"
	cp "$STATE/client_key.pub" "$STATE/authorized_keys"
	# sshd reads no default config here: the SFTP subsystem (what an off-site backup host serves,
	# and what restic's sftp backend asks for) is named explicitly.
	cat >"$STATE/sshd_config" <<-EOF
		ListenAddress $address
		Port 22
		HostKey $STATE/ssh_host_ed25519_key
		PidFile $RUN/sshd.pid
		AuthorizedKeysFile $STATE/authorized_keys
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		StrictModes no
		Subsystem sftp internal-sftp
	EOF
	[[ $SSHD_ONLY == 1 ]] || echo "SetEnv DOCKER_HOST=unix://$SOCKET" >>"$STATE/sshd_config"
	in_ns /usr/sbin/sshd -f "$STATE/sshd_config" -E "$STATE/sshd.log" || fail "sshd did not start" "$STATE/sshd.log"
	for _ in $(seq 50); do
		[[ -s "$RUN/sshd.pid" ]] && break
		sleep 0.1
	done
	progress "ready"
	printf 'SERVER_ADDRESS=%s\n' "$address"
	printf "SERVER_KNOWN_HOSTS='%s %s'\n" "$address" "$(cut -d' ' -f1,2 "$STATE/ssh_host_ed25519_key.pub")"
	printf 'SERVER_IDENTITY_FILE=%s\n' "$STATE/client_key"
	if [[ $SSHD_ONLY == 1 ]]; then
		mkdir -p "$STATE/data"
		printf 'SERVER_DATA_DIR=%s\n' "$STATE/data"
	else
		printf 'SERVER_DOCKER_SOCKET=%s\n' "$SOCKET"
	fi
	[[ $TLS == 0 ]] || printf 'SERVER_TLS_DIR=%s\n' "$STATE/tls/client"
}

# make_tls ADDRESS: a CA, the engine's certificate for ADDRESS and a client certificate (what
# `dockerd --tlsverify` and a client of it need), in $STATE/tls.
make_tls() {
	local address="$1" dir="$STATE/tls"
	progress "TLS: a CA, the engine's certificate for $address, a client certificate"
	mkdir -p "$dir/client"
	(
		cd "$dir"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=$NAME test CA" -keyout ca-key.pem -out ca.pem
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$address" -keyout server-key.pem -out server.csr
		printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$address" >server.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile server.ext -out server-cert.pem
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=opsbook e2e client" -keyout client/key.pem -out client.csr
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile client.ext -out client/cert.pem
		cp ca.pem client/ca.pem
		chmod 600 ca-key.pem server-key.pem client/key.pem
	) >>"$STATE/tls.log" 2>&1 || fail "openssl (making the test CA and certificates)" "$STATE/tls.log"
}

# power_off: what a server's power loss does to its engine: dockerd, its containerd, the shims
# and every container process SIGKILLed at once (killing dockerd alone leaves its containers
# running under their shims, which no lost machine does). sshd and the namespace stay.
power_off() {
	local ids=() id dir
	mapfile -t ids < <(DOCKER_HOST="unix://$SOCKET" timeout 20 docker ps -q --no-trunc 2>/dev/null)
	[[ -s "$RUN/docker.pid" ]] && kill -KILL "$(cat "$RUN/docker.pid")" 2>/dev/null || true
	# containerd and the shims name the engine's exec root on their command lines.
	pkill -KILL -f -- "$RUN/exec/" || true
	for id in "${ids[@]}"; do
		for dir in /sys/fs/cgroup/pids/docker/"$id" /sys/fs/cgroup/docker/"$id"; do
			[[ -f "$dir/cgroup.procs" ]] && xargs -r kill -KILL <"$dir/cgroup.procs" 2>/dev/null || true
		done
	done
	progress "powered off (engine, containerd, shims and ${#ids[@]} containers killed)"
}

start_engine() {
	local address="$1"
	progress "starting dockerd in the namespace"
	# nsenter --net only (not `ip netns exec`, which remounts /sys and loses the cgroup mounts).
	# Its own bridge range, so its containers never shadow the host's or another server's.
	local n="${address##*.}" tls=()
	# A server made with --tls keeps its TCP listener when its engine is started again.
	[[ -f "$STATE/tls/server-cert.pem" ]] &&
		tls=(-H "tcp://$address:2376" --tlsverify --tlscacert "$STATE/tls/ca.pem" --tlscert "$STATE/tls/server-cert.pem" --tlskey "$STATE/tls/server-key.pem")
	setsid nsenter --net="$NETNS" dockerd \
		--data-root "$STATE/docker" --exec-root "$RUN/exec" --pidfile "$RUN/docker.pid" \
		-H "unix://$SOCKET" "${tls[@]}" --bip "172.$((100 + n % 100)).0.1/24" --default-address-pool "base=10.$((100 + n % 100)).0.0/16,size=24" \
		</dev/null >>"$STATE/dockerd.log" 2>&1 &
	for _ in $(seq 150); do
		DOCKER_HOST="unix://$SOCKET" docker info >/dev/null 2>&1 && break
		sleep 0.2
	done
	DOCKER_HOST="unix://$SOCKET" docker info >/dev/null 2>&1 || fail "dockerd did not answer on $SOCKET within 30 s" "$STATE/dockerd.log"
	[[ $NO_SWARM == 1 ]] && return 0
	progress "swarm init --advertise-addr $address"
	DOCKER_HOST="unix://$SOCKET" docker swarm init --advertise-addr "$address" >/dev/null 2>>"$STATE/dockerd.log" ||
		fail "docker swarm init" "$STATE/dockerd.log"
}

[[ "$(id -u)" == 0 ]] || fail "test hosts need root (network namespaces, dockerd, sshd)"
case "$cmd" in
	up) up "$3" ;;
	down) down ;;
	start-engine)
		[[ -e "$NETNS" && -d "$STATE/docker" ]] || fail "no server $NAME to start the engine of (run up first)"
		# The engine finds its swarm membership in its state: no init, no join.
		NO_SWARM=1 start_engine "$3"
		progress "engine started"
		;;
	power-off)
		[[ -e "$NETNS" ]] || fail "no server $NAME to power off"
		power_off
		;;
esac
