#!/bin/sh
# Starts nginx with the routes the stack last wrote. Before the first routes arrive, every
# listener named in GATEWAY_LISTEN ("api=10001 web=10002") answers 503, so a fresh gateway is
# up (and healthy) before any service is behind it.
set -eu
routes=/etc/opsbook-gateway/routes.conf
if [ ! -s "$routes" ]; then
    : >"$routes.tmp"
    for pair in ${GATEWAY_LISTEN:-}; do
        port="${pair#*=}"
        printf 'server { listen %s; location / { return 503 "no release yet\\n"; } }\n' "$port" >>"$routes.tmp"
    done
    mv "$routes.tmp" "$routes"
fi
exec nginx -c /etc/nginx/opsbook.conf -g 'daemon off;'
