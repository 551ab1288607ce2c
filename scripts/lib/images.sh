#!/usr/bin/env bash
# Ensure opsbook's container images exist locally, building only what is missing.
#
#   eval "$(bash scripts/lib/images.sh)"
#
# stdout: exactly one line per image, the pinned content-hashed tag:
#   export OPSBOOK_IMAGE_POSTGRES=opsbook/postgres:15-<hash>
#   export OPSBOOK_IMAGE_REDIS=opsbook/redis:7-<hash>
#   export OPSBOOK_IMAGE_APP=opsbook/app:<hash>
# The same images are also tagged with stable names: opsbook/postgres:15, opsbook/redis:7,
# opsbook/app:reference. Progress on stderr as `[images] <step> (<elapsed>s)`; a failing step names
# itself and the command that failed; build output goes to ${OPSBOOK_CACHE}/logs/.
#
# Images (no registry needed, everything is built here):
#   opsbook/base:bookworm   debootstrap --variant=minbase bookworm, docker import. The rootfs
#                           tarball is kept in ${OPSBOOK_CACHE}/base-bookworm.tar, so a lost
#                           image is re-imported without debootstrapping again.
#   opsbook/postgres|redis|gateway
#                           docker build --network host images/<name>/ (classic builder)
#   opsbook/monitoring      Debian's prometheus (with promtool), alertmanager, blackbox, redis and
#                           node exporters, and opsbook's task memory exporter (Go, built here
#                           with the host's go into a staging copy of images/monitoring)
#   opsbook/backup          images/backup/ staged with the agent's npm dependencies (npm ci
#                           --omit=dev on the host), then docker build of the staged copy.
#   opsbook/app             app/ compiled on the host (npm ci + tsc in a staging dir, devDeps
#                           pruned), then docker build of images/app/Dockerfile.
# A tag's hash covers the base rootfs, the image's directory and (app) app/'s sources, manifests
# and lockfile, so changing any of them builds a new image.
#
# Env: OPSBOOK_CACHE (default ~/.cache/opsbook), OPSBOOK_DEBIAN_MIRROR (default: the Debian
# mirror in /etc/apt/sources.list*, else http://deb.debian.org/debian), OPSBOOK_VERBOSE=1 to
# stream build output to stderr.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${OPSBOOK_CACHE:-$HOME/.cache/opsbook}"
LOGS="$CACHE/logs"
BASE_IMAGE=opsbook/base:bookworm
BASE_TAR="$CACHE/base-bookworm.tar"
export DOCKER_BUILDKIT=0
export LC_ALL=C
T0=$(date +%s)

progress() { CURRENT_STEP="$1"; echo "[images] $1 ($(($(date +%s) - T0))s)" >&2; }

fail() { # fail STEP MESSAGE [LOGFILE]
	if [ -n "${3:-}" ] && [ -s "$3" ]; then
		echo "[images] last 30 lines of $3:" >&2
		tail -n 30 "$3" >&2
	fi
	echo "[images] FAILED at step '$1': $2 ($(($(date +%s) - T0))s)" >&2
	exit 1
}

# run STEP LOGFILE CMD...: output to LOGFILE (and stderr if OPSBOOK_VERBOSE=1).
run() {
	local step="$1" logf="$2" rc=0
	shift 2
	echo "==== $(date -u +%FT%TZ) $*" >>"$logf"
	if [ "${OPSBOOK_VERBOSE:-0}" = 1 ]; then
		"$@" 2>&1 | tee -a "$logf" >&2 || rc=${PIPESTATUS[0]}
	else
		"$@" >>"$logf" 2>&1 || rc=$?
	fi
	[ "$rc" = 0 ] || fail "$step" "command failed (exit $rc): $*" "$logf"
}

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null; }

# hash_inputs EXTRA PATH...: short hash over EXTRA and the content of every file under PATHs
# (relative to the repo root, so the checkout location does not matter).
hash_inputs() {
	local extra="$1"
	shift
	(
		cd "$ROOT"
		{
			printf '%s\n' "$extra"
			find "$@" -type f ! -path '*/node_modules/*' ! -path '*/dist/*' -print0 |
				sort -z | xargs -0 -r sha256sum
		} | sha256sum | cut -c1-12
	)
}

# tag_stable PINNED STABLE: point STABLE at PINNED's image if it does not already.
tag_stable() {
	local want have
	want="$(image_id "$1")"
	have="$(image_id "$2" || true)"
	if [ "$want" != "$have" ]; then
		docker tag "$1" "$2" || fail "tag $2" "command failed: docker tag $1 $2"
		progress "tagged $2 -> $1"
	fi
}

apt_install() { # apt_install STEP PACKAGES...
	local step="$1"
	shift
	[ "$(id -u)" = 0 ] || fail "$step" "need root to apt-get install $*"
	progress "$step: apt-get install $*"
	run "$step" "$LOGS/apt.log" apt-get update
	run "$step" "$LOGS/apt.log" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

debian_mirror() {
	if [ -n "${OPSBOOK_DEBIAN_MIRROR:-}" ]; then
		echo "$OPSBOOK_DEBIAN_MIRROR"
		return
	fi
	local m
	m="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -v '^\s*#' | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)"
	echo "${m:-http://deb.debian.org/debian}"
}

# Anything failing outside run()/fail() still names itself.
CURRENT_STEP="start"
trap 'fail "$CURRENT_STEP" "command failed (exit $?) at ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND"' ERR

# ---------------------------------------------------------------------------------------------
mkdir -p "$CACHE" "$LOGS"
# Concurrent runs (deploy + tests) build one at a time; the second then finds everything present.
exec 8>"$CACHE/images.lock"
flock -w 1800 8 || fail "lock" "another images.sh holds $CACHE/images.lock"

progress "ensuring the docker engine"
bash "$ROOT/scripts/lib/docker-engine.sh" || fail "docker engine" "command failed: bash scripts/lib/docker-engine.sh (log: $CACHE/dockerd.log)"

# ---- base ------------------------------------------------------------------------------------
ROOTFS_TMP=""
cleanup() {
	if [ -n "$ROOTFS_TMP" ] && [ -d "$ROOTFS_TMP" ]; then
		# debootstrap mounts proc/sys inside the target: unmount before deleting anything.
		grep -o " $ROOTFS_TMP/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r mnt; do
			umount -l "$mnt" 2>/dev/null || true
		done || true
		rm -rf --one-file-system "$ROOTFS_TMP"
	fi
}
trap cleanup EXIT

build_base_tar() {
	command -v debootstrap >/dev/null 2>&1 || apt_install "install debootstrap" debootstrap
	local mirror security
	mirror="$(debian_mirror)"
	mirror="${mirror%/}"
	security="${mirror%/debian}/debian-security"
	mkdir -p "$CACHE/tmp"
	ROOTFS_TMP="$(mktemp -d "$CACHE/tmp/rootfs.XXXXXX")"
	progress "debootstrap --variant=minbase bookworm from $mirror (~1 min)"
	run "debootstrap" "$LOGS/debootstrap.log" \
		debootstrap --variant=minbase bookworm "$ROOTFS_TMP/rootfs" "$mirror"
	local r="$ROOTFS_TMP/rootfs"
	cat >"$r/etc/apt/sources.list" <<-EOF
		deb $mirror bookworm main
		deb $mirror bookworm-updates main
		deb $security bookworm-security main
	EOF
	cat >"$r/etc/apt/apt.conf.d/90opsbook" <<-'EOF'
		APT::Install-Recommends "false";
		APT::Install-Suggests "false";
		Acquire::Languages "none";
	EOF
	# No init system in a container: package scripts must not try to start services.
	printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
	chmod 0755 "$r/usr/sbin/policy-rc.d"
	rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/tmp/* "$r"/var/log/*.log
	: >"$r/etc/machine-id"
	progress "packing rootfs into $BASE_TAR"
	run "pack rootfs" "$LOGS/debootstrap.log" \
		tar --numeric-owner -C "$r" -cf "$BASE_TAR.partial" .
	sha256sum "$BASE_TAR.partial" | cut -d' ' -f1 >"$BASE_TAR.sha256.partial"
	mv "$BASE_TAR.partial" "$BASE_TAR"
	mv "$BASE_TAR.sha256.partial" "$BASE_TAR.sha256"
	cleanup
	ROOTFS_TMP=""
}

if image_id "$BASE_IMAGE" >/dev/null; then
	progress "$BASE_IMAGE present"
else
	if [ -s "$BASE_TAR" ] && [ -s "$BASE_TAR.sha256" ]; then
		progress "$BASE_IMAGE missing; re-importing cached $BASE_TAR"
	else
		build_base_tar
	fi
	sha="$(cat "$BASE_TAR.sha256")"
	progress "importing $BASE_IMAGE"
	run "import base" "$LOGS/import.log" docker import \
		--change 'CMD ["/bin/bash"]' \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV LANG=C.UTF-8' \
		--change "LABEL opsbook.rootfs.sha256=$sha" \
		"$BASE_TAR" "$BASE_IMAGE"
	progress "imported $BASE_IMAGE"
fi
BASE_SUM="$(docker image inspect -f '{{index .Config.Labels "opsbook.rootfs.sha256"}}' "$BASE_IMAGE" 2>/dev/null || true)"
# An unlabelled base (imported by hand) is identified by its image id instead.
[ -n "$BASE_SUM" ] && [ "$BASE_SUM" != "<no value>" ] || BASE_SUM="$(image_id "$BASE_IMAGE")"

# ---- postgres, redis ----------------------------------------------------------------------------
# docker_build NAME IMAGE HASH CONTEXT: the one docker build of every image, logged to build-NAME.log.
docker_build() {
	local name="$1" image="$2" hash="$3" context="$4"
	progress "building $image (log: $LOGS/build-$name.log)"
	run "build $name" "$LOGS/build-$name.log" docker build --network host --force-rm \
		--label "opsbook.inputs=$hash" -t "$image" "$context"
	progress "built $image"
}

# stage_image_dir NAME HASH -> sets STAGE: a fresh copy of images/NAME under the cache, where the
# host adds what the image needs (a Go binary, node_modules) before docker_build.
stage_image_dir() {
	STAGE="$CACHE/build-$1/$2"
	rm -rf "$CACHE/build-$1"
	mkdir -p "$STAGE"
	cp -R "$ROOT/images/$1/." "$STAGE/"
}

build_simple() { # build_simple NAME VERSION -> sets PINNED
	local name="$1" version="$2" hash
	hash="$(hash_inputs "base=$BASE_SUM" "images/$name")"
	PINNED="opsbook/$name:$version-$hash"
	if image_id "$PINNED" >/dev/null; then
		progress "$PINNED present"
	else
		docker_build "$name" "$PINNED" "$hash" "$ROOT/images/$name"
	fi
	tag_stable "$PINNED" "opsbook/$name:$version"
}

build_simple postgres 15
IMAGE_POSTGRES="$PINNED"
build_simple redis 7
IMAGE_REDIS="$PINNED"
build_simple gateway 1
IMAGE_GATEWAY="$PINNED"

# ---- monitoring ----------------------------------------------------------------------------------
# Debian's Prometheus family, plus opsbook's two exporters (images/monitoring/*-exporter, Go,
# standard library only): built static on the host with the toolchain's Go into a staging copy of
# images/monitoring, then docker build of that copy (no Go image needed).
MONITORING_EXPORTERS=(task-memory-exporter telegram-webhook-exporter)
MONITORING_HASH="$(hash_inputs "base=$BASE_SUM" images/monitoring)"
IMAGE_MONITORING="opsbook/monitoring:1-$MONITORING_HASH"
if image_id "$IMAGE_MONITORING" >/dev/null; then
	progress "$IMAGE_MONITORING present"
else
	command -v go >/dev/null 2>&1 || fail "monitoring: go build" "go not found: the host needs Go to build the monitoring image's exporters"
	stage_image_dir monitoring "$MONITORING_HASH"
	for exporter in "${MONITORING_EXPORTERS[@]}"; do
		progress "building opsbook-$exporter (go build; log: $LOGS/build-monitoring-$exporter.log)"
		run "monitoring: go build $exporter" "$LOGS/build-monitoring-$exporter.log" \
			env GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod \
			go build -C "$ROOT/images/monitoring/$exporter" -trimpath -ldflags "-s -w" -o "$STAGE/opsbook-$exporter" .
	done
	docker_build monitoring "$IMAGE_MONITORING" "$MONITORING_HASH" "$STAGE"
	rm -rf "$CACHE/build-monitoring"
fi
tag_stable "$IMAGE_MONITORING" opsbook/monitoring:1

# ---- backup ------------------------------------------------------------------------------------
# The agent's dependencies (croner) come from images/backup/agent/package-lock.json: `npm ci
# --omit=dev` on the host into a staging copy of images/backup, then docker build of that copy
# (the image has Debian's nodejs, which has no npm). The tag's hash covers the manifest and lockfile.
BACKUP_HASH="$(hash_inputs "base=$BASE_SUM" images/backup)"
IMAGE_BACKUP="opsbook/backup:1-$BACKUP_HASH"
if image_id "$IMAGE_BACKUP" >/dev/null; then
	progress "$IMAGE_BACKUP present"
else
	command -v npm >/dev/null 2>&1 || fail "backup agent: npm ci" "npm not found: the host needs Node.js >= 18 with npm to install the backup agent's dependencies"
	[ -f "$ROOT/images/backup/agent/package-lock.json" ] || fail "backup agent: npm ci" "images/backup/agent/package-lock.json is missing (npm ci needs it)"
	stage_image_dir backup "$BACKUP_HASH"
	rm -rf "$STAGE/agent/node_modules" "$STAGE/agent/test"
	progress "installing the backup agent's dependencies (npm ci --omit=dev; log: $LOGS/build-backup.log)"
	run "backup agent: npm ci" "$LOGS/build-backup.log" \
		npm --prefix "$STAGE/agent" ci --omit=dev --no-audit --no-fund --ignore-scripts
	docker_build backup "$IMAGE_BACKUP" "$BACKUP_HASH" "$STAGE"
	rm -rf "$CACHE/build-backup"
fi
tag_stable "$IMAGE_BACKUP" opsbook/backup:1

# ---- app ---------------------------------------------------------------------------------------
APP_HASH="$(hash_inputs "base=$BASE_SUM" images/app app/package.json app/package-lock.json app/tsconfig.json app/src)"
IMAGE_APP="opsbook/app:$APP_HASH"
if image_id "$IMAGE_APP" >/dev/null; then
	progress "$IMAGE_APP present"
else
	command -v npm >/dev/null 2>&1 || fail "compile app" "npm not found: the host needs Node.js >= 18 with npm to compile app/"
	[ -f "$ROOT/app/package-lock.json" ] || fail "compile app" "app/package-lock.json is missing (npm ci needs it)"
	stage="$CACHE/build/app-$APP_HASH"
	rm -rf "$CACHE/build"
	mkdir -p "$stage/work" "$stage/context"
	cp -R "$ROOT/app/package.json" "$ROOT/app/package-lock.json" "$ROOT/app/tsconfig.json" "$ROOT/app/src" "$stage/work/"
	progress "compiling app (npm ci, tsc, prune devDependencies; log: $LOGS/build-app.log)"
	run "compile app: npm ci" "$LOGS/build-app.log" \
		npm --prefix "$stage/work" ci --no-audit --no-fund --ignore-scripts
	run "compile app: tsc" "$LOGS/build-app.log" \
		"$stage/work/node_modules/.bin/tsc" -p "$stage/work/tsconfig.json"
	run "compile app: npm prune" "$LOGS/build-app.log" \
		npm --prefix "$stage/work" prune --omit=dev --no-audit --no-fund --ignore-scripts
	cp -R "$ROOT/images/app/." "$stage/context/"
	cp -R "$stage/work/package.json" "$stage/work/dist" "$stage/work/node_modules" "$stage/context/"
	docker_build app "$IMAGE_APP" "$APP_HASH" "$stage/context"
	rm -rf "$CACHE/build"
fi
tag_stable "$IMAGE_APP" opsbook/app:reference

progress "images ready"
printf 'export OPSBOOK_IMAGE_POSTGRES=%s\n' "$IMAGE_POSTGRES"
printf 'export OPSBOOK_IMAGE_REDIS=%s\n' "$IMAGE_REDIS"
printf 'export OPSBOOK_IMAGE_APP=%s\n' "$IMAGE_APP"
printf 'export OPSBOOK_IMAGE_GATEWAY=%s\n' "$IMAGE_GATEWAY"
printf 'export OPSBOOK_IMAGE_BACKUP=%s\n' "$IMAGE_BACKUP"
printf 'export OPSBOOK_IMAGE_MONITORING=%s\n' "$IMAGE_MONITORING"
