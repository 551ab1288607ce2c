#!/usr/bin/env bash
# Makes the engine that DOCKER_HOST names (default: the local socket) a one-node swarm manager
# when it is in no swarm, and says so on stderr. An engine that is already a manager is left as
# it is; a worker is refused, since a stack can only be deployed through a manager.
#
#   bash scripts/lib/swarm.sh
#
# Env: OPSBOOK_SWARM_ADVERTISE_ADDR  address other nodes would reach (default 127.0.0.1: a
#      one-node swarm needs no outside address, and this one joins no network by accident).
set -euo pipefail
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
    # The help is the comment block at the top of this file.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
fi
t0=$SECONDS
state="$(docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>&1)" || {
    echo "[swarm] FAILED: 'docker info' did not answer: $state" >&2
    exit 1
}
case "$state" in
    "active true")
        echo "[swarm] engine is a swarm manager ($((SECONDS - t0))s)" >&2 ;;
    "active false")
        echo "[swarm] FAILED: this engine is a swarm worker; point DOCKER_HOST at a manager of its swarm" >&2
        exit 1 ;;
    inactive*)
        addr="${OPSBOOK_SWARM_ADVERTISE_ADDR:-127.0.0.1}"
        out="$(docker swarm init --advertise-addr "$addr" 2>&1)" || {
            echo "[swarm] FAILED: docker swarm init --advertise-addr $addr: $out" >&2
            exit 1
        }
        echo "[swarm] the engine was in no swarm: made it a one-node swarm manager (advertise $addr) ($((SECONDS - t0))s)" >&2 ;;
    *)
        echo "[swarm] FAILED: the engine's swarm state is '$state'; see 'docker info' and fix it (docker swarm leave --force, then run again)" >&2
        exit 1 ;;
esac
