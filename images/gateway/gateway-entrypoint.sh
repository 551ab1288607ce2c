#!/usr/bin/env bash
# Starts nginx in front of the stack's services, found through Docker's embedded DNS.
#
#   GATEWAY_ROUTES="<service>=<listen port>=<dns name>:<port> ..."   (space-separated, required)
#   e.g. GATEWAY_ROUTES="api=10001=tasks.opsbook-staging-api:8080 web=10002=tasks.opsbook-staging-web:8080"
#
# One nginx server per route listens on <listen port> and proxies to <dns name>:<port>, resolved
# at request time (resolver 127.0.0.11, valid 1 s): `tasks.<swarm service>` returns one address
# per running task, nginx spreads requests over them and sends a request refused by a task that
# is stopping (connection error, timeout, 502, 503) to another one. A release therefore needs no
# change here. Port 9901 (127.0.0.1 only) answers GET /ready. The config is rendered into
# /tmp/opsbook-gateway (the root filesystem may be read-only; /tmp must be writable, nginx keeps
# its temp files there too). SIGQUIT (the image's STOPSIGNAL) stops nginx gracefully: open
# requests finish first.
set -Eeuo pipefail

die() {
	echo "gateway: error: $*" >&2
	exit 1
}

example="api=10001=tasks.opsbook-staging-api:8080"
# Split on whitespace without glob expansion.
read -r -d '' -a entries <<<"${GATEWAY_ROUTES:-}" || true
[ "${#entries[@]}" -gt 0 ] || die "GATEWAY_ROUTES is not set: give one <service>=<listen port>=<dns name>:<port> per service, space-separated (e.g. $example)"

# Validated strictly: every part ends up in nginx config, so nothing else may get through.
name_re='^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$'
host_re='^[A-Za-z0-9]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?$'
port_re='^[1-9][0-9]{0,4}$'
dir=/tmp/opsbook-gateway
mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ] || die "cannot write $dir: /tmp must be writable (a tmpfs when the root filesystem is read-only)"
conf="$dir/routes.conf"
tmp="$conf.tmp"
declare -A seen_name=() seen_port=()
{
	echo "# Rendered by gateway-entrypoint.sh from GATEWAY_ROUTES at $(date -u +%FT%TZ)."
	for route in "${entries[@]}"; do
		IFS='=' read -r svc listen target extra <<<"$route"
		host="${target%:*}"
		port="${target##*:}"
		if [ -n "${extra:-}" ] || [ -z "$svc" ] || [ -z "$listen" ] || [ "$host" = "$target" ]; then
			die "GATEWAY_ROUTES entry '$route' is not <service>=<listen port>=<dns name>:<port> (e.g. $example)"
		fi
		[[ "$svc" =~ $name_re ]] || die "GATEWAY_ROUTES entry '$route': service name '$svc' must be letters, digits, _ or - (at most 63)"
		[[ "$listen" =~ $port_re ]] && ((listen >= 1024 && listen <= 65535)) ||
			die "GATEWAY_ROUTES entry '$route': listen port '$listen' must be 1024-65535 (the gateway runs unprivileged)"
		((listen != 9901)) || die "GATEWAY_ROUTES entry '$route': listen port 9901 is the gateway's own /ready port"
		[[ "$host" =~ $host_re ]] || die "GATEWAY_ROUTES entry '$route': '$host' is not a DNS name (letters, digits, . _ -)"
		[[ "$port" =~ $port_re ]] && ((port <= 65535)) || die "GATEWAY_ROUTES entry '$route': upstream port '$port' must be 1-65535"
		[ -z "${seen_name[$svc]:-}" ] || die "GATEWAY_ROUTES names service '$svc' twice"
		[ -z "${seen_port[$listen]:-}" ] || die "GATEWAY_ROUTES uses listen port $listen twice (${seen_port[$listen]} and $svc)"
		seen_name[$svc]=1
		seen_port[$listen]=$svc
		cat <<-NGINX

			# $svc: :$listen -> $host:$port
			server {
			    listen $listen;
			    location / {
			        # A variable makes nginx resolve the name per request (cached for the resolver's
			        # valid= time) and use every address it returns, in turn.
			        set \$opsbook_upstream "$host:$port";
			        proxy_pass http://\$opsbook_upstream;
			        proxy_http_version 1.1;
			        proxy_set_header Connection close;
			        proxy_set_header Host \$host;
			        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
			        proxy_set_header X-Forwarded-Proto \$scheme;
			        # A task that refuses the connection (stopping, gone) or answers 502/503 is
			        # skipped for another; a request that reached an app is only sent again when
			        # its method is idempotent (nginx's rule).
			        proxy_next_upstream error timeout http_502 http_503;
			        proxy_next_upstream_tries 3;
			        proxy_next_upstream_timeout 10s;
			        # Short: the address of a task that was killed (not stopped) stops answering
			        # at all, and nginx keeps it for up to 2 s after it leaves DNS.
			        proxy_connect_timeout 500ms;
			        proxy_send_timeout 60s;
			        proxy_read_timeout 60s;
			    }
			}
		NGINX
	done
} >"$tmp" || exit 1
mv "$tmp" "$conf"
echo "gateway: ${#entries[@]} route(s): ${entries[*]}" >&2
exec nginx -c /etc/nginx/opsbook.conf -g 'daemon off;'
