#!/usr/bin/env bash
# Fetches the Prometheus JMX exporter agent that ../ring-metrics.yml attaches to every Cassandra
# node, from Maven Central, next to this script: once, then it is kept.
#
#   compose/monitoring/jmx/fetch.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version=1.0.1
jar="$here/jmx_prometheus_javaagent.jar"
if [[ -s "$jar" ]]; then
    exit 0
fi
command -v mvn >/dev/null || { echo "fetch.sh: needs Maven (apt-get install maven)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mvn -B -q dependency:copy -Dartifact="io.prometheus.jmx:jmx_prometheus_javaagent:$version" \
    -DoutputDirectory="$work" -Dmdep.stripVersion=true
mv "$work/jmx_prometheus_javaagent.jar" "$jar"
echo "fetch.sh: $jar (jmx_prometheus_javaagent $version)" >&2
