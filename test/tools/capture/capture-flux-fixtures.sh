#!/bin/bash
# Records test/fixtures/flux/captured/<major.minor>/*.json from a real broker. Run it inside an instance:
#
#   PATH=/path/to/flux-core/bin:$PATH flux start --test-size=4 test/tools/capture/capture-flux-fixtures.sh
#
# Each scenario runs flux CLI commands (with a minimal environment, so no local variables end up in
# the recorded jobspecs) through test/tools/flux-record-proxy.ts, and the raw capture is converted
# with test/tools/flux-capture-to-fixture.ts.
set -eu
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$ROOT"
BROKER_SOCKET=${FLUX_URI#local://}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
VERSION=$(flux getattr version)
# one directory per release line, beside the others: captured/0.55, captured/0.88, ...
OUT=test/fixtures/flux/captured/$(echo "$VERSION" | sed -E 's/^v?([0-9]+\.[0-9]+).*/\1/')
FLUX_BIN=$(dirname "$(command -v flux)")
mkdir -p "$OUT"

scenario() {
  local name=$1 commands=$2
  node --import tsx test/tools/flux-record-proxy.ts --listen "$WORK/proxy.sock" --upstream "$BROKER_SOCKET" --out "$WORK/$name.json" > "$WORK/proxy.log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do [ -S "$WORK/proxy.sock" ] && break; sleep 0.1; done
  env -i PATH="$FLUX_BIN:/usr/bin:/bin" HOME=/tmp LANG=C.UTF-8 FLUX_URI="local://$WORK/proxy.sock" \
    bash -c "$commands" > "$WORK/$name.out" 2>&1 || true
  sleep 0.3
  kill -TERM $pid; wait $pid || true
  rm -f "$WORK/proxy.sock"
  node --import tsx test/tools/flux-capture-to-fixture.ts --in "$WORK/$name.json" --out "$OUT/$name.json" \
    --flux-version "$VERSION" --commands "$commands"
  echo "captured $name"
}

scenario attrs 'flux getattr size; flux getattr hostlist; flux getattr version; flux getattr security.owner; flux getattr nosuchattr; flux ping --count=1 broker; flux ping --count=1 nosuchservice'
scenario submit-4x4 'id=$(flux submit -N4 -n4 --job-name=fourbyfour sh -c "echo hello from \$FLUX_TASK_RANK; echo ünïcødé ✓; echo err\$FLUX_TASK_RANK >&2"); echo $id; flux job attach $id; flux job eventlog $id; flux job eventlog -p guest.output $id; flux jobs -o "{id} {ranks} {nodelist}" $id'
scenario binary-output 'id=$(flux submit --wait printf "ab\\377\\376\\n"); echo $id; flux job eventlog -p guest.output $id'
scenario exit3 'id=$(flux submit sh -c "exit 3"); flux job wait-event $id clean; flux jobs -a -o "{id} {result} {returncode}" $id; flux job eventlog $id'
scenario cancel 'id=$(flux submit sleep 100); flux job wait-event $id start; flux cancel $id; flux job wait-event $id clean; flux cancel $id; flux cancel 123456789; flux job eventlog $id'
scenario kill 'id=$(flux submit sleep 100); flux job wait-event $id start; flux job kill $id; flux job wait-event $id clean; flux job eventlog $id; flux jobs -a -o "{id} {result} {returncode} {waitstatus}" $id'
scenario timeout 'id=$(flux submit -t 1s sleep 30); flux job wait-event $id clean; flux job eventlog $id'
scenario cancel-pending 'a=$(flux submit -N4 --exclusive sleep 30); b=$(flux submit -N4 --exclusive sleep 30); flux job wait-event $a start; flux jobs; flux cancel $b; flux job attach $b; flux cancel $a; flux job wait-event $a clean'
scenario jobs-list 'flux jobs -a -c 5; flux jobs -a --json -c 2'
scenario resource 'flux resource list; flux resource status; id=$(flux submit -N2 -n2 sleep 30); flux job wait-event $id start; flux resource list; flux cancel $id; flux job wait-event $id clean'
scenario lookup 'id=$(flux submit --wait -n1 true); flux job info $id jobspec; flux job info $id R; flux job info $id eventlog'
scenario bad-jobspec "echo '{\"version\":1,\"resources\":[],\"tasks\":[]}' > /tmp/bad-jobspec.json; flux job submit /tmp/bad-jobspec.json; flux run -n1 --setattr=system.duration=foo true; flux job submit /dev/null"
scenario errors "flux python test/tools/capture/raw-rpcs.py"
scenario nocmd 'id=$(flux submit nosuchcmd-xyz); flux job wait-event $id clean; flux job eventlog $id; flux job eventlog -p guest.output $id; flux job eventlog -p guest.exec.eventlog $id; flux jobs -a -o "{id} {result} {returncode} {waitstatus} {exception.type} {exception.note}" $id
id=$(flux submit -n2 --cwd=/nonexistent-dir true); flux job wait-event $id clean; flux job eventlog $id; flux job eventlog -p guest.output $id
id=$(flux submit -N8 true); flux job wait-event $id clean; flux job eventlog $id; flux jobs -a -o "{id} {result} {returncode} {waitstatus} {exception.type} {exception.note}" $id'
