import assert from "node:assert/strict";
import { jobInfo, jobInfoToDict, resultName, returnCode, stateName, statusName, type JobRecord } from "../../sidecar/flux/jobinfo";

// A real inactive job from a 0.88 broker (reference §4.4): `exit 3`.
const EXITED: JobRecord = {
  id: 5972688896n, userid: 1000, urgency: 16, priority: 16, t_submit: 100.0, t_depend: 100.1, t_run: 101.0, t_cleanup: 103.5,
  t_inactive: 104.0, state: 64, name: "myjob", cwd: "/tmp", ntasks: 1, ncores: 1, duration: 0.0, nnodes: 1, ranks: "0",
  nodelist: "vm", success: false, exception_occurred: false, result: 2, expiration: 0.0,
  annotations: { sched: { resource_summary: "rank0/core0" } }, waitstatus: 768,
};

describe("flux JobInfo derivations", () => {
  it("names states, results and status like flux_job_statetostr/resulttostr", () => {
    assert.deepEqual([1, 2, 4, 8, 16, 32, 64].map((s) => stateName(s)), ["NEW", "DEPEND", "PRIORITY", "SCHED", "RUN", "CLEANUP", "INACTIVE"]);
    assert.deepEqual([1, 2, 4, 8, 16, 32, 64].map((s) => stateName(s, true)), ["N", "D", "P", "S", "R", "C", "I"]);
    assert.equal(stateName(3), "(unknown)");
    assert.deepEqual([1, 2, 4, 8].map((r) => resultName(r)), ["COMPLETED", "FAILED", "CANCELED", "TIMEOUT"]);
    assert.deepEqual([1, 2, 4, 8].map((r) => resultName(r, true)), ["CD", "F", "CA", "TO"]);
    assert.equal(resultName(""), "");
    assert.equal(statusName(16, ""), "RUN");
    assert.equal(statusName(8, ""), "SCHED");
    assert.equal(statusName(64, 1), "COMPLETED");
  });

  it("derives returncode from the wait status, or from the result when there is none", () => {
    assert.equal(returnCode(0, 1), 0);
    assert.equal(returnCode(768, 2), 3); // exit 3
    assert.equal(returnCode(36608, 2), 143); // shell exited 128+SIGTERM (observed for flux job kill)
    assert.equal(returnCode(9, 2), -9); // killed by SIGKILL
    assert.equal(returnCode("", 4), -128); // canceled before running
    assert.equal(returnCode("", 2), 1); // fatal exception before running
    assert.equal(returnCode("", ""), "");
  });

  it("gives the Python fields of an inactive job that exited 3", () => {
    const info = jobInfo(EXITED, 1000);
    assert.equal(info.jobid, "ƒA6nbKm");
    assert.equal(info.state, "INACTIVE");
    assert.equal(info.result, "FAILED");
    assert.equal(info.status, "FAILED");
    assert.equal(info.returncode, 3);
    assert.equal(info.runtime, 2.5);
    assert.equal(info.t_remaining, 0);
    assert.equal(info.t_sched, 0); // absent keys default to 0.0 ...
    assert.equal(info.queue, ""); // ... or ""
    assert.equal(info.username, "1000");
    assert.deepEqual(info.exception, { occurred: false, severity: "", type: "", note: "" });
    assert.equal(info.inactive_reason, "Exit 3");
  });

  it("computes runtime and t_remaining of a running job from now", () => {
    const running: JobRecord = { id: 1n, userid: 0, urgency: 16, state: 16, t_submit: 10, t_run: 50, expiration: 200 };
    const info = jobInfo(running, 80);
    assert.equal(info.status, "RUN");
    assert.equal(info.runtime, 30);
    assert.equal(info.t_remaining, 120);
    assert.equal(info.returncode, "");
    assert.equal(info.result, "");
    assert.equal(jobInfo(running, 500).t_remaining, 0);
    assert.equal(jobInfo({ ...running, state: 8 }, 80).t_remaining, 0);
  });

  it("explains how inactive jobs ended", () => {
    const base: JobRecord = { id: 1n, userid: 0, urgency: 16, state: 64, t_submit: 1 };
    const reason = (extra: Record<string, unknown>) => jobInfo({ ...base, ...extra }, 0).inactive_reason;
    assert.equal(reason({ result: 4, exception_occurred: true, exception_type: "cancel", exception_severity: 0, exception_note: "bye" }), "Canceled: bye");
    assert.equal(reason({ result: 4, exception_occurred: true, exception_type: "cancel", exception_severity: 0 }), "Canceled");
    assert.equal(reason({ result: 2, exception_occurred: true, exception_type: "alloc", exception_severity: 0, exception_note: "unsatisfiable" }), "Exception: type=alloc note=unsatisfiable");
    assert.equal(reason({ result: 2, waitstatus: 36608 }), "Terminated");
    assert.equal(reason({ result: 2, waitstatus: 127 << 8 }), "command not found");
    assert.equal(reason({ result: 2, waitstatus: 126 << 8 }), "Command invoked cannot execute");
    assert.equal(reason({ result: 8, waitstatus: 36608 }), "Timeout");
    assert.equal(reason({ result: 1, waitstatus: 0 }), "Exit 0");
    assert.equal(jobInfo({ ...base, state: 16 }, 0).inactive_reason, "");
  });

  it("to_dict: unfiltered keeps every key; filtered drops empty values and zero times", () => {
    const info = jobInfo(EXITED, 1000);
    const full = jobInfoToDict(info, false);
    assert.equal(full.queue, "");
    assert.equal(full.t_sched, 0);
    const filtered = jobInfoToDict(info);
    assert.ok(!("queue" in filtered) && !("t_sched" in filtered) && !("expiration" in filtered));
    assert.equal(filtered.t_run, 101.0);
    assert.equal(filtered.duration, 0); // duration is not a t_* key: kept
    assert.deepEqual(filtered.exception, { occurred: false });
    assert.equal(filtered.jobid, "ƒA6nbKm");
    assert.equal(filtered.id, 5972688896n);
  });
});
