# Raw RPCs for the "errors" capture (run with `flux python`): error replies, list/list-id,
# watches with WAITCREATE and INITIAL_SENTINEL, lookup, kill. Output is for humans; the wire
# exchange is what the recording proxy keeps.
import flux, json, sys, time
from flux.job import JobspecV1
h = flux.Flux()
def call(topic, payload, nodeid=flux.constants.FLUX_NODEID_ANY, flags=0):
    try:
        f = h.rpc(topic, payload, nodeid=nodeid, flags=flags)
        r = f.get()
        print(topic, "OK", json.dumps(r)[:200])
    except OSError as e:
        print(topic, "ERR", e.errno, e.strerror)
js = JobspecV1.from_command(["sh", "-c", "echo out; sleep 0.5; echo done"], num_tasks=1)
js.environment = {"PATH": "/usr/bin:/bin"}
jobid = flux.job.submit(h, js)
call("job-list.list-id", {"id": str(jobid), "attrs": ["all"]})
call("job-list.list-id", {"id": 123456, "attrs": ["all"]})
call("job-list.list-id", {"id": jobid, "attrs": ["nosuchattr"]})
call("job-list.list-id", {"id": jobid, "attrs": ["all"]})
call("job-list.list", {"max_entries": 2, "attrs": ["all"], "since": 0.0, "constraint": {"and": []}})
call("job-info.eventlog-watch", {"id": jobid, "path": "eventlog", "flags": 0})
call("job-info.eventlog-watch", {"id": 123456, "path": "eventlog", "flags": 0}, flags=flux.constants.FLUX_RPC_STREAMING)
call("job-info.eventlog-watch", {"id": jobid, "path": "nosuchpath", "flags": 0}, flags=flux.constants.FLUX_RPC_STREAMING)
call("job-info.lookup", {"id": 123456, "keys": ["jobspec"], "flags": 0})
call("job-manager.kill", {"id": 123456, "signum": 15})
call("job-manager.raise", {"id": jobid, "type": "cancel", "severity": 9})
call("job-ingest.submit", {"J": "garbage", "urgency": 16, "flags": 0})
call("job-ingest.submit", {"J": "garbage", "urgency": 16})
call("job-ingest.submit", {"J": "garbage", "urgency": 99, "flags": 0})
call("sched.resource-status", None, nodeid=0)
call("attr.get", {"name": "rundir"})
call("attr.get", {"name": "broker.starttime"})
# streaming with sentinel, follow to end
f = h.rpc("job-info.eventlog-watch", {"id": jobid, "path": "guest.output", "flags": 3}, flags=flux.constants.FLUX_RPC_STREAMING)
n = 0
while True:
    try:
        r = f.get(); print("output", json.dumps(r)[:200]); f.reset()
    except OSError as e:
        print("output end", e.errno); break
f = h.rpc("job-info.eventlog-watch", {"id": jobid, "path": "eventlog", "flags": 2}, flags=flux.constants.FLUX_RPC_STREAMING)
while True:
    try:
        r = f.get(); print("eventlog", json.dumps(r)[:120]); f.reset()
    except OSError as e:
        print("eventlog end", e.errno); break
call("job-manager.kill", {"id": jobid, "signum": 15})
