#!/bin/bash
# Entrypoint of pickle's Cassandra 5.0 image, made on this machine by compose/images/build.sh.
#
# It reads the same environment as the official `cassandra` image's entrypoint, so that
# compose/docker-compose.yml runs unchanged on either image:
#   CASSANDRA_CLUSTER_NAME, CASSANDRA_SEEDS, CASSANDRA_DC, CASSANDRA_RACK,
#   CASSANDRA_ENDPOINT_SNITCH, CASSANDRA_NUM_TOKENS, CASSANDRA_LISTEN_ADDRESS ("auto": the
#   container's address), CASSANDRA_BROADCAST_ADDRESS, CASSANDRA_RPC_ADDRESS (0.0.0.0),
#   CASSANDRA_BROADCAST_RPC_ADDRESS, and cassandra-env.sh's MAX_HEAP_SIZE, HEAP_NEWSIZE,
#   LOCAL_JMX and JVM_EXTRA_OPTS.
# Unlike the official image, which edits a stock cassandra.yaml in place, this one writes the
# whole file from those variables at every start (see `write_config`).
#
# As in the official image, the first argument decides: none, or an option (`-f`), starts the
# node; anything else (`cqlsh ...`, `nodetool ...`, `bash`) is run as it is.
set -euo pipefail

CASSANDRA_CONFIG=${CASSANDRA_CONFIG:-/etc/cassandra}

if [[ $# -eq 0 || $1 == -* ]]; then
    set -- cassandra -f "$@"
fi
if [[ $1 != cassandra ]]; then
    exec "$@"
fi

# Started as root (the default): give the data and log folders to the `cassandra` user, then
# come back as that user. Started with `--user`, run as that user.
if [[ $(id -u) == 0 ]]; then
    chown -R cassandra:cassandra /var/lib/cassandra /var/log/cassandra "$CASSANDRA_CONFIG"
    exec setpriv --reuid=cassandra --regid=cassandra --init-groups "$0" "$@"
fi

# The container's first address other than loopback.
container_address() {
    ip -4 -o address show scope global | awk '{ sub(/\/.*/, "", $4); print $4; exit }'
}

write_config() {
    local listen=${CASSANDRA_LISTEN_ADDRESS:-auto}
    [[ $listen == auto ]] && listen=$(container_address)
    local broadcast=${CASSANDRA_BROADCAST_ADDRESS:-$listen}
    [[ $broadcast == auto ]] && broadcast=$(container_address)
    local rpc=${CASSANDRA_RPC_ADDRESS:-0.0.0.0}
    local broadcast_rpc=${CASSANDRA_BROADCAST_RPC_ADDRESS:-$broadcast}
    local seeds=${CASSANDRA_SEEDS:-$broadcast}
    if [[ -z $listen ]]; then
        echo "docker-entrypoint: no address to listen on (set CASSANDRA_LISTEN_ADDRESS)" >&2
        exit 1
    fi
    cat >"$CASSANDRA_CONFIG/cassandra.yaml" <<YAML
# Written by docker-entrypoint.sh from the environment at $(date -u +%FT%TZ). Keys not set here
# keep Cassandra 5.0's defaults.
cluster_name: '${CASSANDRA_CLUSTER_NAME:-Test Cluster}'
num_tokens: ${CASSANDRA_NUM_TOKENS:-16}
allocate_tokens_for_local_replication_factor: 3
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: ${CASSANDRA_ENDPOINT_SNITCH:-SimpleSnitch}
listen_address: $listen
broadcast_address: $broadcast
rpc_address: $rpc
broadcast_rpc_address: $broadcast_rpc
storage_port: 7000
native_transport_port: 9042
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: '$seeds'
data_file_directories: [/var/lib/cassandra/data]
commitlog_directory: /var/lib/cassandra/commitlog
saved_caches_directory: /var/lib/cassandra/saved_caches
hints_directory: /var/lib/cassandra/hints
cdc_raw_directory: /var/lib/cassandra/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
YAML
    printf 'dc=%s\nrack=%s\n' "${CASSANDRA_DC:-dc1}" "${CASSANDRA_RACK:-rack1}" \
        >"$CASSANDRA_CONFIG/cassandra-rackdc.properties"
}

# cassandra-env.sh's rule: max(min(1/2 RAM, 1 GiB), min(1/4 RAM, 8 GiB)). HEAP_NEWSIZE is
# accepted and, as with the stock G1 settings, not used.
default_heap() {
    local mb half quarter
    mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
    half=$((mb / 2 > 1024 ? 1024 : mb / 2))
    quarter=$((mb / 4 > 8192 ? 8192 : mb / 4))
    echo "$((half > quarter ? half : quarter))M"
}

# JMX as cassandra-env.sh sets it up: local only by default; LOCAL_JMX=no opens it to the
# network on 7199 with authentication from /etc/cassandra/jmxremote.password, unless
# JVM_EXTRA_OPTS (read last, so it wins) says otherwise.
jmx_options() {
    if [[ ${LOCAL_JMX:-yes} == yes ]]; then
        echo "-Dcassandra.jmx.local.port=7199 -Dcom.sun.management.jmxremote.authenticate=false"
    else
        echo "-Dcassandra.jmx.remote.port=7199 -Dcom.sun.management.jmxremote.rmi.port=7199" \
            "-Dcom.sun.management.jmxremote.authenticate=true" \
            "-Dcom.sun.management.jmxremote.password.file=/etc/cassandra/jmxremote.password" \
            "-Djava.rmi.server.hostname=$(hostname)"
    fi
}

write_config
heap=${MAX_HEAP_SIZE:-$(default_heap)}
mapfile -t jvm_options < <(grep -vE '^\s*(#|$)' "$CASSANDRA_CONFIG/jvm17-server.options")
jamm=$(echo /opt/cassandra/lib/jamm-*.jar)
# cassandra-foreground: without it the daemon closes its standard output once set up, and
# `docker logs` would go silent before "Startup complete".
# shellcheck disable=SC2046 # the JMX and extra options are lists of words, as in cassandra-env.sh
exec env MALLOC_ARENA_MAX=4 java \
    "-Xms$heap" "-Xmx$heap" \
    "${jvm_options[@]}" \
    "-javaagent:$jamm" \
    "-Dcassandra.config=file://$CASSANDRA_CONFIG/cassandra.yaml" \
    "-Dcassandra-rackdc.properties=file://$CASSANDRA_CONFIG/cassandra-rackdc.properties" \
    "-Dlogback.configurationFile=$CASSANDRA_CONFIG/logback.xml" \
    -Dcassandra.logdir=/var/log/cassandra \
    -Dcassandra.storagedir=/var/lib/cassandra \
    -Dcassandra-foreground=yes \
    $(jmx_options) \
    ${JVM_EXTRA_OPTS:-} \
    -cp "$CASSANDRA_CONFIG:/opt/cassandra/lib/*" \
    org.apache.cassandra.service.CassandraDaemon
