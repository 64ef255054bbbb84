#!/usr/bin/env bash
# Builds Docker Compose v5 from source, fetched from the Go module proxy (which machines without a
# registry or GitHub still reach), and installs it as a Docker CLI plugin in a folder of its own,
# so that a user's ~/.docker is never touched:
#
#   dir=$(compose/images/compose-v5.sh)        # prints the folder; about 3 minutes the first time
#   DOCKER_CONFIG=$dir docker compose version   # Docker Compose version v5.6.0
#
# A second run takes a second (the binary is kept under target/compose-v5/). Needs a Go of at
# least the version the module's go.mod names (v5.6.0: Go 1.26.8).
# Settings: COMPOSE_VERSION (default v5.6.0, the newest that Go 1.26.8 builds).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
version="${COMPOSE_VERSION:-v5.6.0}"
dir="$root/target/compose-v5/$version"
plugin="$dir/cli-plugins/docker-compose"

say() { echo "compose-v5: $*" >&2; }
fail() { echo "compose-v5: error: $*" >&2; exit 1; }

if [[ -x "$plugin" ]] && "$plugin" version 2>/dev/null | grep -qF "$version"; then
    say "Compose $version is built ($plugin)"
    echo "$dir"
    exit 0
fi
command -v go >/dev/null || fail "Go is missing: Compose $version is built from source with Go (go.dev/dl)"
module="github.com/docker/compose/v5@$version"
say "fetching $module from the Go module proxy"
source_dir="$(go mod download -json "$module" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')" ||
    fail "go mod download $module failed"
# The module cache is read-only, and `go install module@version` refuses this module (its go.mod
# has exclude directives): build in a writable copy.
work="$(mktemp -d "${TMPDIR:-/tmp}/compose-v5.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -r "$source_dir/." "$work/" && chmod -R u+w "$work"
say "building Compose $version with $(go version | cut -d' ' -f3) (about 2 minutes on 2 cores)"
mkdir -p "$(dirname "$plugin")"
(cd "$work" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$version" \
    -o "$plugin" ./cmd) || fail "go build of Compose $version failed (its go.mod names the Go it needs: $(grep -m1 '^go ' "$work/go.mod"))"
"$plugin" version >&2
echo "$dir"
