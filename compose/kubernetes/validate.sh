#!/usr/bin/env bash
# Checks the Kubernetes manifests without a cluster (none runs here, so they have never run on
# one): each against Kubernetes 1.30's API schemas, strictly (an unknown or misspelt field fails),
# with kubernetes-validate from PyPI unpacked under target/; then what no schema knows: an Indexed
# job's completions and parallelism are PICKLE_SHARDS, each shard writes a report of its own, and
# every ConfigMap, Secret key and volume claim a job names is defined here.
#
#   compose/kubernetes/validate.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
lib="$root/target/kubernetes-validate"
say() { echo "kubernetes: $*" >&2; }

if [[ ! -d "$lib/kubernetes_validate" ]]; then
    # Unpacked rather than installed: `pip download` works where pip may not install (PEP 668).
    say "fetching kubernetes-validate with pip"
    rm -rf "$lib"
    python3 -m pip download --quiet --disable-pip-version-check --dest "$lib/wheels" \
        kubernetes-validate==1.37.0 ||
        { say "pip could not fetch kubernetes-validate (python3-pip installs pip)"; exit 1; }
    for wheel in "$lib"/wheels/*.whl; do
        python3 -m zipfile -e "$wheel" "$lib"
    done
fi

PYTHONPATH="$lib" python3 -m kubernetes_validate --strict --quiet -k 1.30 "$here"/*.yaml

PYTHONPATH="$lib" python3 - "$here" <<'PY'
import glob, os, sys
import yaml

docs = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.yaml"))):
    for doc in yaml.safe_load_all(open(path)):
        docs[(doc["kind"], doc["metadata"]["name"])] = doc
settings = docs[("ConfigMap", "pickle-settings")]["data"]
shards = int(settings["PICKLE_SHARDS"])
problems = []
for (kind, name), doc in docs.items():
    if kind != "Job":
        continue
    spec, pod = doc["spec"], doc["spec"]["template"]["spec"]
    indexed = spec.get("completionMode") == "Indexed"
    if indexed:
        for key in ("completions", "parallelism"):
            if spec.get(key) != shards:
                problems.append(f"job {name}: {key} is {spec.get(key)}, PICKLE_SHARDS is {shards}")
    for container in pod["containers"]:
        args = " ".join(container.get("args", []))
        if indexed and "{shard}" not in args:
            problems.append(f"job {name}: the shards' reports would overwrite each other (no {{shard}} in --report)")
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef", {}).get("name")
            if ref and ("ConfigMap", ref) not in docs:
                problems.append(f"job {name}: no ConfigMap {ref}")
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                secret = docs.get(("Secret", ref["name"]))
                if secret is None or ref["key"] not in secret.get("stringData", {}):
                    problems.append(f"job {name}: no key {ref['key']} in Secret {ref['name']}")
    for volume in pod.get("volumes", []):
        claim = volume.get("persistentVolumeClaim", {}).get("claimName")
        if claim and ("PersistentVolumeClaim", claim) not in docs:
            problems.append(f"job {name}: no PersistentVolumeClaim {claim}")
for problem in problems:
    print(f"kubernetes: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
jobs = sorted(n for k, n in docs if k == "Job")
print(f"kubernetes: {len(docs)} manifests valid against Kubernetes 1.30; jobs {', '.join(jobs)} "
      f"agree with PICKLE_SHARDS={shards}", file=sys.stderr)
PY
