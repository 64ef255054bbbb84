#!/usr/bin/env bash
# Makes, on this machine, every image compose/docker-compose.yml needs, for machines that reach no
# container registry. Nothing is pulled; nothing gets an official name:
#
#   pickle/debian:bookworm     Debian bookworm, minimal (debootstrap, then docker import)
#   pickle/cassandra:5.0.8     Cassandra 5.0 with nodetool and cqlsh; the official image's
#                              environment variables (see cassandra/docker-entrypoint.sh)
#   pickle/prometheus:bookworm Debian's Prometheus, laid out like prom/prometheus
#   pickle-apps:local          factory, shop, schema, bench: compose/Dockerfile's `prebuilt`
#                              target, from release binaries built here on the host
#   pickle/rust:<version>      only when asked (`build.sh rust`): the host's Rust toolchain on
#                              that base, for the Dockerfile's default target `apps`, which
#                              compiles from source (see compose/README.md, "From source")
#
# What containers cannot download is fetched on the host: Cassandra's jars with Maven (the
# committed ring/cassandra/pom.xml, the same jars `bench ring up` runs), cqlsh with pip.
# Each image is made only when it is missing or its inputs changed (a label holds their hash), so
# a second run takes seconds. Then point compose at them:
#
#   export CASSANDRA_IMAGE=pickle/cassandra:5.0.8 PROMETHEUS_IMAGE=pickle/prometheus:bookworm
#
# Usage: compose/images/build.sh [base|cassandra|prometheus|apps|rust ...]   (default: the first four)
# Settings: DEBIAN_MIRROR (default http://deb.debian.org/debian), CASSANDRA_VERSION (5.0.8),
# PICKLE_APPS_FROM (a folder of built binaries to use instead of a release build; `source`: the
# Dockerfile's default target `apps`, compiled in pickle/rust, as a user with a registry builds it).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
images="$root/compose/images"
stage="$root/target/images"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cassandra_version="${CASSANDRA_VERSION:-5.0.8}"
cqlsh_version=6.2.2
base_image=pickle/debian:bookworm

say() { echo "images: $*" >&2; }
fail() { echo "images: error: $*" >&2; exit 1; }

# BuildKit skips the Dockerfile stages a target does not need (the apps image's Rust stage, which
# needs a registry). Docker's own client has it through buildx; Debian's docker.io client has it
# built in.
docker_build() {
    if docker buildx version >/dev/null 2>&1; then
        docker build "$@"
    elif /usr/bin/docker version --format '{{.Client.Version}}' 2>/dev/null | grep -q '^20\.'; then
        DOCKER_BUILDKIT=1 /usr/bin/docker build "$@"
    else
        fail "building needs BuildKit: install Docker's buildx plugin (docker-buildx) or use Debian's docker.io client"
    fi
}

# The hash of every file an image is made from; an image whose label holds it is up to date.
inputs_hash() {
    (cd "$root" && find "$@" -type f -print0 | sort -z | xargs -0 sha256sum; echo "$cassandra_version $cqlsh_version $mirror") \
        | sha256sum | cut -c1-16
}
up_to_date() { # IMAGE HASH
    [[ "$(docker image inspect --format '{{index .Config.Labels "pickle.inputs"}}' "$1" 2>/dev/null)" == "$2" ]]
}

make_base() {
    if docker image inspect "$base_image" >/dev/null 2>&1; then
        say "$base_image exists"
        return
    fi
    command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install debootstrap"
    local rootfs
    rootfs="$(mktemp -d "${TMPDIR:-/tmp}/pickle-rootfs.XXXXXX")"
    trap 'rm -rf "$rootfs"' RETURN
    say "making $base_image with debootstrap from $mirror (about a minute)"
    if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
        tail -20 "$rootfs.log" >&2
        fail "debootstrap failed (log above)"
    fi
    rm -f "$rootfs.log"
    tar -C "$rootfs" -c . | docker import \
        -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' -m "debootstrap --variant=minbase bookworm" \
        - "$base_image" >/dev/null
}

# Cassandra's jars: the local ring's cache when it has them, else Maven into the build folder.
stage_jars() {
    local into="$1"
    local cache="${PICKLE_HOME:-$HOME/.local/share/pickle}/cassandra/$cassandra_version/lib"
    mkdir -p "$into"
    if [[ -f "$cache/cassandra-all-$cassandra_version.jar" ]]; then
        cp "$cache"/*.jar "$into/"
        return
    fi
    command -v mvn >/dev/null || fail "Maven is missing: apt-get install maven"
    say "fetching Cassandra $cassandra_version's jars with Maven"
    local log="$stage/maven.log"
    if ! mvn -B -q -f "$root/ring/cassandra/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime "-Dcassandra.version=$cassandra_version" "-DoutputDirectory=$into" \
        >"$log" 2>&1; then
        tail -20 "$log" >&2
        fail "Maven could not fetch Cassandra $cassandra_version (log above)"
    fi
}

make_cassandra() {
    local image="pickle/cassandra:$cassandra_version" hash context="$stage/cassandra"
    hash="$(inputs_hash compose/images/build.sh compose/images/cassandra ring/cassandra)"
    if up_to_date "$image" "$hash"; then
        say "$image is up to date"
        return
    fi
    rm -rf "$context" && mkdir -p "$context"
    cp -r "$images/cassandra/." "$context/"
    cp "$root/ring/cassandra/jvm17-server.options" "$context/"
    stage_jars "$context/lib"
    # Wheels for the image's Python (Debian bookworm: CPython 3.11), whatever the host runs,
    # unpacked rather than installed: `pip download` works where pip may not install (PEP 668).
    say "fetching cqlsh $cqlsh_version with pip"
    python3 -m pip download --quiet --disable-pip-version-check --dest "$context/wheels" \
        --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11 \
        --implementation cp "cqlsh==$cqlsh_version" ||
        fail "pip could not fetch cqlsh (python3-pip installs pip)"
    local wheel
    for wheel in "$context"/wheels/*.whl; do
        python3 -m zipfile -e "$wheel" "$context/cqlsh-lib/"
    done
    rm -rf "$context/wheels"
    say "building $image"
    docker_build --quiet --label "pickle.inputs=$hash" --build-arg "BASE_IMAGE=$base_image" \
        -t "$image" "$context" >/dev/null
}

make_prometheus() {
    local image=pickle/prometheus:bookworm hash
    hash="$(inputs_hash compose/images/build.sh compose/images/prometheus)"
    if up_to_date "$image" "$hash"; then
        say "$image is up to date"
        return
    fi
    say "building $image"
    docker_build --quiet --label "pickle.inputs=$hash" --build-arg "BASE_IMAGE=$base_image" \
        -t "$image" "$images/prometheus" >/dev/null
}

# The apps' image from binaries built on the host: a release build by default, or the binaries
# already in PICKLE_APPS_FROM (CI passes target/debug, which its tests built), stripped of their
# debug information.
make_apps() {
    local image=pickle-apps:local bins=(factory shop schema bench) binaries=target/release
    if [[ "${PICKLE_APPS_FROM:-}" == source ]]; then
        make_apps_from_source
        return
    fi
    if [[ -n "${PICKLE_APPS_FROM:-}" ]]; then
        binaries=target/images/apps
        rm -rf "${root:?}/$binaries" && mkdir -p "$root/$binaries"
        local bin
        for bin in "${bins[@]}"; do
            [[ -x "$root/$PICKLE_APPS_FROM/$bin" ]] ||
                fail "$PICKLE_APPS_FROM/$bin is missing (PICKLE_APPS_FROM names a folder of built binaries)"
            strip --strip-debug -o "$root/$binaries/$bin" "$root/$PICKLE_APPS_FROM/$bin" 2>/dev/null ||
                cp "$root/$PICKLE_APPS_FROM/$bin" "$root/$binaries/$bin"
        done
    else
        say "building the release binaries on the host"
        (cd "$root" && cargo build --release --locked --quiet "${bins[@]/#/--bin=}")
    fi
    local hash
    hash="$( (cd "$root" && sha256sum compose/Dockerfile "${bins[@]/#/$binaries/}") | sha256sum | cut -c1-16)"
    if up_to_date "$image" "$hash"; then
        say "$image is up to date"
        return
    fi
    say "building $image (target prebuilt, binaries from ${PICKLE_APPS_FROM:-target/release})"
    docker_build --quiet --label "pickle.inputs=$hash" --target prebuilt \
        --build-arg "RUNTIME_IMAGE=$base_image" --build-arg "BINARIES=$binaries" \
        -f "$root/compose/Dockerfile" -t "$image" "$root" >/dev/null
}

# The apps' image as a user with a registry makes it: compose/Dockerfile's default target `apps`,
# compiled in the Rust image made from the host's toolchain, cargo reaching crates.io through the
# host's network (containers here reach nothing but Debian's mirror). About 6 minutes on 2 cores
# the first time; BuildKit's cache makes a rebuild of unchanged sources take seconds.
make_apps_from_source() {
    local image=pickle-apps:local rust started=$SECONDS
    rust="$(make_rust)"
    say "building $image from source (target apps, in $rust; about 6 minutes)"
    docker_build --quiet --network host --label pickle.inputs=source --target apps \
        --build-arg "RUST_IMAGE=$rust" --build-arg "RUNTIME_IMAGE=$base_image" \
        -f "$root/compose/Dockerfile" -t "$image" "$root" >/dev/null
    say "built $image from source in $((SECONDS - started)) s"
}

# A Rust image made from the host's toolchain, tagged with its version (pickle/rust:1.95.0): the
# Dockerfile's `apps` target compiles in it where `rust:*-slim-bookworm` cannot be pulled.
make_rust() {
    command -v rustc >/dev/null || fail "rustc is missing: install Rust with rustup"
    local sysroot version hash context="$stage/rust"
    sysroot="$(rustc --print sysroot)"
    version="$(rustc --version | cut -d' ' -f2)"
    local image="pickle/rust:$version"
    hash="$( (cd "$root" && sha256sum compose/images/rust/Dockerfile; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null; echo "$version $mirror") | sha256sum | cut -c1-16)"
    if up_to_date "$image" "$hash"; then
        say "$image is up to date"
        echo "$image"
        return
    fi
    rm -rf "$context" && mkdir -p "$context/toolchain"
    cp "$images/rust/Dockerfile" "$context/"
    mkdir -p "$context/ca-certificates"
    find /usr/local/share/ca-certificates -name '*.crt' -exec cp {} "$context/ca-certificates/" \; 2>/dev/null || true
    # rustc, cargo and the standard library; the 800 MB of documentation stay behind.
    cp -a "$sysroot/bin" "$sysroot/lib" "$sysroot/libexec" "$context/toolchain/" 2>/dev/null ||
        cp -a "$sysroot/bin" "$sysroot/lib" "$context/toolchain/"
    say "building $image from the host's toolchain ($sysroot)"
    docker_build --quiet --label "pickle.inputs=$hash" --build-arg "BASE_IMAGE=$base_image" \
        -t "$image" "$context" >/dev/null
    rm -rf "$context"
    echo "$image"
}

docker info >/dev/null 2>&1 || fail "no Docker engine answers (start dockerd, or see compose/README.md)"
wanted=("$@")
((${#wanted[@]})) || wanted=(base cassandra prometheus apps)
for what in "${wanted[@]}"; do
    case "$what" in
        base) make_base ;;
        cassandra) make_base && make_cassandra ;;
        prometheus) make_base && make_prometheus ;;
        apps) make_base && make_apps ;;
        rust) make_base && make_rust ;;
        *) fail "unknown image '$what' (base, cassandra, prometheus, apps, rust)" ;;
    esac
done
