#!/usr/bin/env bash
# A terminal session of real Flux tools through the proxy, run inside a real instance:
#   PATH=/opt/flux-core-0.88.0/bin:$PATH flux start --test-size=2 bash test/proxy/real-session.sh
# Starts the built sidecar (dist/sidecar.js) on this instance with FLUX_PROXY on, then runs each
# command through `flux-restful proxy`, so FLUX_URI points at the proxy's socket, not the broker's.
set -u
cd "$(dirname "$0")/../.."
port=$((20000 + RANDOM % 20000))
token=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
log=$(mktemp)
FLUX_REQUIRE_AUTH=true FLUX_PROXY=true FLUX_USER=fluxuser FLUX_TOKEN=$token FLUX_SECRET_KEY=$secret \
  HOST=127.0.0.1 PORT=$port node dist/sidecar.js >"$log" 2>&1 &
sidecar=$!
trap 'kill $sidecar 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q listening "$log" && break; sleep 0.1; done
proxy() { FLUX_USER=fluxuser FLUX_TOKEN=$token node client/bin/flux-restful.cjs --host "http://127.0.0.1:$port" proxy -- "$@"; }
broker_uri=$FLUX_URI
step() {
  echo "\$ flux-restful proxy -- $*"
  proxy "$@"
  echo "[exit $?]"
  echo
}
echo "# flux-core $(flux version | awk '/libflux-core/ {print $2}'); broker socket $broker_uri; sidecar http://127.0.0.1:$port with FLUX_PROXY=true"
echo
step bash -c 'echo "FLUX_URI=$FLUX_URI"'
step flux resource list
step flux submit --wait hostname
step bash -c 'id=$(flux submit echo hello from the proxy); flux job attach $id'
step flux jobs -a
step flux run -N2 hostname
step flux python -c 'import flux, flux.job, os; h = flux.Flux(); print("python bindings via", os.environ["FLUX_URI"], "size", h.attr_get("size"), "jobs", len(flux.job.JobList(h).jobs()))'
step flux module load sched-simple
step flux shutdown --quiet
echo "# the sidecar's log lines for the proxied connections (no payloads):"
grep -E 'flux proxy' "$log" | head -40
