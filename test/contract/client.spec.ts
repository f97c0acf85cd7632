/**
 * The contract suite: FluxClient against whichever broker startBroker() gives, the test broker
 * (always) or a real `flux start --test-size=4` instance (npm run test:flux). Every assertion
 * here must hold on both.
 */
import { strict as assert } from "node:assert";
import {
  expandHostlist,
  FluxError,
  JobInactiveError,
  type JobRecord,
  JobResult,
  JobState,
  UnknownJobError,
  formatJobId,
  jobInfo,
  parseJobId,
} from "../../sidecar/flux";
import { BIG_ID_START_MS } from "../test-broker";
import { collectOutput, jobspec, runJob, textByStreamAndRank, useBroker, waitForClean, waitForEvent, type ContractContext } from "./helpers";

const LIFECYCLE = ["submit", "validate", "depend", "priority", "alloc", "start", "finish", "release", "free", "clean"];
/** An id no broker has issued: timestamp 1 ms, sequence 1. */
const UNKNOWN_ID = (1n << 24n) | 1n;

describe("contract: FluxClient against a broker", function () {
  this.timeout(30000);
  const ctx = useBroker({ size: 4 });

  describe("broker", () => {
    it("answers ping as the instance owner and reports size, hostlist and version", async () => {
      const ping = await ctx.client.ping();
      assert.equal(ping.rolemask & 1, 1, "owner role");
      assert.equal(ping.userid, process.getuid!());
      const info = await ctx.client.brokerInfo();
      assert.equal(info.size, ctx.broker.size);
      assert.deepEqual(info.hostlist, ctx.broker.hostnames);
      assert.equal(info.hostlist.length, 4);
      assert.match(info.version, /^\d+\.\d+\.\d+/);
      assert.equal(info.owner, process.getuid!());
    });

    it("gives a FluxError with errno ENOENT for an unknown attribute", async () => {
      await assert.rejects(ctx.client.getAttr("no-such-attribute"), (err: FluxError) => err instanceof FluxError && err.code === "ENOENT");
    });
  });

  describe("jobs", () => {
    it("runs a 4-node x 4-task job with output from every rank and the full lifecycle", async () => {
      const { id, events, record } = await runJob(ctx.client, jobspec(["sh", "-c", "echo hello from $FLUX_TASK_RANK"], { numTasks: 4, numNodes: 4 }));
      assert.deepEqual(events, LIFECYCLE);
      const out = textByStreamAndRank(await collectOutput(ctx.client, id));
      for (const rank of ["0", "1", "2", "3"]) assert.equal(out.get(`stdout/${rank}`), `hello from ${rank}\n`);
      assert.equal(record.state, JobState.INACTIVE);
      assert.equal(record.result, JobResult.COMPLETED);
      assert.equal(record.ntasks, 4);
      assert.equal(record.nnodes, 4);
      assert.equal(record.ranks, "[0-3]", "ranks are bracketed when there is more than one");
      assert.deepEqual(expandHostlist(String(record.nodelist)), ctx.broker.hostnames);
      assert.equal(record.waitstatus, 0);
      const info = jobInfo(record);
      assert.equal(info.status, "COMPLETED");
      assert.equal(info.returncode, 0);
    });

    it("keeps unicode stdout and stderr apart", async () => {
      const { id } = await runJob(ctx.client, jobspec(["sh", "-c", "printf 'ünïcødé ✓ 日本\\n'; echo oops >&2"]));
      const events = await collectOutput(ctx.client, id);
      const out = textByStreamAndRank(events);
      assert.equal(out.get("stdout/0"), "ünïcødé ✓ 日本\n");
      assert.equal(out.get("stderr/0"), "oops\n");
      assert.ok(events.some((e) => e.kind === "data" && e.stream === "stdout" && e.eof), "stdout ends with eof");
      assert.ok(events.some((e) => e.kind === "data" && e.stream === "stderr" && e.eof), "stderr ends with eof");
    });

    it("decodes output that is not valid UTF-8 (sent base64-encoded)", async () => {
      const { id } = await runJob(ctx.client, jobspec(["printf", "ab\\377\\376\\n"]));
      const out = textByStreamAndRank(await collectOutput(ctx.client, id));
      assert.equal(out.get("stdout/0"), "ab\ufffd\ufffd\n");
    });

    it("follows output while the job runs, in order, and ends when the job does", async () => {
      const id = await ctx.client.submit(jobspec(["sh", "-c", "echo first; sleep 0.3; echo second"]));
      const data: string[] = [];
      for await (const e of ctx.client.output(id, { follow: true })) if (e.kind === "data" && e.data) data.push(e.data);
      assert.deepEqual(data, ["first\n", "second\n"]);
    });

    it("follows the output of short jobs from the moment they are submitted: none missed, every stream ends", async () => {
      // On flux-core 0.88 a WAITCREATE watch of guest.output opened this early sometimes hung.
      for (let i = 0; i < 30; i++) {
        const id = await ctx.client.submit(jobspec(["echo", `line ${i}`]));
        await new Promise((resolve) => setTimeout(resolve, [0, 10, 20, 50][i % 4]));
        const data: string[] = [];
        for await (const e of ctx.client.output(id, { follow: true, signal: AbortSignal.timeout(10_000) })) {
          if (e.kind === "data" && e.data) data.push(e.data);
        }
        assert.deepEqual(data, [`line ${i}\n`], `job ${i}`);
      }
    });

    it("ends a follow of a job's output with nothing when the job is cancelled before it starts", async () => {
      const id = await ctx.client.submit(jobspec(["echo", "never"]), { urgency: 0 });
      const following = collectOutput(ctx.client, id);
      await waitUntilState(ctx, id, JobState.SCHED);
      await ctx.client.cancel(id);
      assert.deepEqual(await following, []);
    });

    it("gives a snapshot of a finished job's eventlog and output", async () => {
      const { id } = await runJob(ctx.client, jobspec(["echo", "snap"]));
      const names: string[] = [];
      for await (const e of ctx.client.eventlog(id)) names.push(e.name);
      assert.deepEqual(names, LIFECYCLE);
      const out = textByStreamAndRank(await (async () => {
        const events = [];
        for await (const e of ctx.client.output(id)) events.push(e);
        return events;
      })());
      assert.equal(out.get("stdout/0"), "snap\n");
    });

    it("reports a failing command: result FAILED, returncode from waitstatus", async () => {
      const { record } = await runJob(ctx.client, jobspec(["sh", "-c", "exit 3"]));
      assert.equal(record.result, JobResult.FAILED);
      assert.equal(record.waitstatus, 3 << 8);
      assert.equal(jobInfo(record).returncode, 3);
    });

    it("reports a command that does not exist as an exec exception with returncode 127", async () => {
      const { id, record } = await runJob(ctx.client, jobspec(["no-such-command-xyz"]));
      assert.equal(record.result, JobResult.FAILED);
      assert.equal(record.exception_type, "exec");
      assert.match(String(record.exception_note), /start failed: no-such-command-xyz: No such file or directory/);
      assert.equal(jobInfo(record).returncode, 127);
      const logs = (await collectOutput(ctx.client, id)).filter((e) => e.kind === "log");
      assert.ok(logs.length > 0, "the shell logs the failure");
    });

    it("ends a job at its time limit with result TIMEOUT", async () => {
      const { events, record } = await runJob(ctx.client, jobspec(["sleep", "30"], { duration: 1 }));
      assert.ok(events.includes("exception"));
      assert.equal(record.result, JobResult.TIMEOUT);
      assert.equal(record.exception_type, "timeout");
      assert.equal(record.duration, 1);
      assert.ok(Number(record.expiration) > Number(record.t_run));
    });

    it("rejects an invalid jobspec with the validator's message", async () => {
      const spec = jobspec(["true"]);
      (spec.attributes.system as Record<string, unknown>).duration = "1m";
      await assert.rejects(ctx.client.submit(spec), (err: FluxError) => err instanceof FluxError && err.message === "attributes.system.duration must be a number");
    });
  });

  describe("cancel and kill", () => {
    it("cancels a running job (result CANCELED, SIGTERM'd wait status) and then reports it inactive", async () => {
      const id = await ctx.client.submit(jobspec(["sleep", "60"]));
      await waitForEvent(ctx.client, id, "start");
      await ctx.client.cancel(id, "contract test");
      const events = await waitForClean(ctx.client, id);
      assert.deepEqual(events, ["submit", "validate", "depend", "priority", "alloc", "start", "exception", "finish", "release", "free", "clean"]);
      const record = await ctx.client.getJob(id);
      assert.equal(record.result, JobResult.CANCELED);
      assert.equal(record.exception_type, "cancel");
      assert.equal(record.exception_note, "contract test");
      // The shell exits 128+SIGTERM once its tasks die (36608); a real broker gives a bare 15 when
      // the signal reaches the shell before it has started its tasks.
      assert.ok([143 << 8, 15].includes(Number(record.waitstatus)), `waitstatus ${record.waitstatus}`);
      await assert.rejects(ctx.client.cancel(id), JobInactiveError);
    });

    it("cancels a pending (held) job, which never gets resources", async () => {
      const id = await ctx.client.submit(jobspec(["true"]), { urgency: 0 });
      const held = await waitUntilState(ctx, id, JobState.SCHED);
      assert.equal(held.priority, 0);
      for (const key of ["t_run", "ranks", "nodelist", "result", "waitstatus"]) assert.ok(!(key in held), `${key} is absent until known`);
      await ctx.client.cancel(id);
      assert.deepEqual(await waitForClean(ctx.client, id), ["submit", "validate", "depend", "priority", "exception", "clean"]);
      const record = await ctx.client.getJob(id);
      assert.equal(record.result, JobResult.CANCELED);
      assert.ok(!("waitstatus" in record));
      assert.equal(jobInfo(record).returncode, -128);
      assert.deepEqual(await collectOutput(ctx.client, id), [], "a job that never started has no output");
    });

    it("distinguishes a finished job from an unknown id", async () => {
      const { id } = await runJob(ctx.client, jobspec(["true"]));
      await assert.rejects(ctx.client.cancel(id), JobInactiveError);
      await assert.rejects(ctx.client.cancel(UNKNOWN_ID), UnknownJobError);
      await assert.rejects(ctx.client.kill(id), JobInactiveError);
      await assert.rejects(ctx.client.kill(UNKNOWN_ID), UnknownJobError);
    });

    it("kills a running job's tasks: result FAILED with exit 143", async () => {
      const id = await ctx.client.submit(jobspec(["sleep", "60"]));
      await waitForEvent(ctx.client, id, "start");
      await ctx.client.kill(id);
      await waitForClean(ctx.client, id);
      const record = await ctx.client.getJob(id);
      assert.equal(record.result, JobResult.FAILED);
      assert.equal(jobInfo(record).returncode, 143);
    });
  });

  describe("unknown ids", () => {
    it("rejects every per-job call with UnknownJobError", async () => {
      await assert.rejects(ctx.client.getJob(UNKNOWN_ID), UnknownJobError);
      await assert.rejects(drain(ctx.client.eventlog(UNKNOWN_ID)), UnknownJobError);
      await assert.rejects(drain(ctx.client.eventlog(UNKNOWN_ID, { follow: true })), UnknownJobError);
      await assert.rejects(drain(ctx.client.output(UNKNOWN_ID)), UnknownJobError);
    });
  });

  describe("listing", () => {
    it("lists inactive jobs newest first, honours the limit, and finds a job by id", async () => {
      const ids: bigint[] = [];
      for (let i = 0; i < 3; i++) ids.push((await runJob(ctx.client, jobspec(["true"], { name: `list-${i}` }))).id);
      const all = await ctx.client.listJobs();
      const listed = all.map((j) => j.id);
      for (const id of ids) assert.ok(listed.includes(id), `job ${id} is listed`);
      const positions = ids.map((id) => listed.indexOf(id));
      assert.ok(positions[0] > positions[1] && positions[1] > positions[2], "most recently inactive first");
      const limited = await ctx.client.listJobs({ limit: 2 });
      assert.equal(limited.length, 2);
      const byId = await ctx.client.getJob(ids[1]);
      assert.equal(byId.name, "list-1");
      assert.equal(byId.state, JobState.INACTIVE);
      for (const key of ["t_submit", "t_run", "t_cleanup", "t_inactive", "ntasks", "ncores", "nnodes", "ranks", "nodelist", "success", "result", "waitstatus"]) {
        assert.ok(key in byId, `${key} is present for a finished job`);
      }
    });

    it("lists only the attributes, states and recently inactive jobs asked for, in the broker's order", async () => {
      await Promise.all([runJob(ctx.client, jobspec(["true"])), runJob(ctx.client, jobspec(["true"]))]);
      const running = await ctx.client.submit(jobspec(["sleep", "60"]));
      const held = await ctx.client.submit(jobspec(["true"]), { urgency: 0 });
      try {
        await waitForEvent(ctx.client, running, "start");
        await waitUntilState(ctx, held, JobState.SCHED);
        const full = await ctx.client.listJobs();
        const ids = (jobs: JobRecord[]) => jobs.map((j) => j.id);
        // "id" always comes first, then the attributes in the order asked for
        const brief = await ctx.client.listJobs({ attrs: ["state", "t_submit"] });
        assert.deepEqual(brief.map((j) => Object.keys(j)), full.map(() => ["id", "state", "t_submit"]));
        assert.deepEqual(brief, full.map(({ id, state, t_submit }) => ({ id, state, t_submit })));
        const active = full.filter((j) => j.state !== JobState.INACTIVE);
        assert.deepEqual(ids(active), [held, running]);
        const activeOnly = await ctx.client.listJobs({ attrs: ["state"], constraint: { states: [JobState.ACTIVE] } });
        assert.deepEqual(activeOnly, active.map(({ id, state }) => ({ id, state })));
        // since: every active job, and only the inactive ones that ended after it
        const inactive = full.filter((j) => j.state === JobState.INACTIVE);
        const since = inactive[1].t_inactive as number;
        const recent = await ctx.client.listJobs({ since });
        assert.deepEqual(ids(recent), [...ids(active), ...ids(inactive.filter((j) => (j.t_inactive as number) > since))]);
        assert.ok(ids(recent).includes(inactive[0].id) && !ids(recent).includes(inactive[1].id));
        assert.deepEqual(recent.find((j) => j.id === inactive[0].id), inactive[0]);
        await assert.rejects(ctx.client.listJobs({ since: -1 }), RangeError);
      } finally {
        await ctx.client.cancel(running);
        await ctx.client.cancel(held);
        await waitForClean(ctx.client, running);
      }
    });

    it("lists pending and running jobs before inactive ones", async () => {
      const running = await ctx.client.submit(jobspec(["sleep", "60"]));
      const held = await ctx.client.submit(jobspec(["true"]), { urgency: 0 });
      try {
        await waitForEvent(ctx.client, running, "start");
        await waitUntilState(ctx, held, JobState.SCHED);
        const states = (await ctx.client.listJobs()).map((j) => j.state);
        const firstInactive = states.indexOf(JobState.INACTIVE);
        assert.equal(states[0], JobState.SCHED);
        assert.ok(states.indexOf(JobState.RUN) < firstInactive);
        assert.ok(states.slice(firstInactive).every((s) => s === JobState.INACTIVE));
      } finally {
        await ctx.client.cancel(running);
        await ctx.client.cancel(held);
        await waitForClean(ctx.client, running);
      }
    });
  });

  describe("resources", () => {
    it("reports nodes up, allocated and down", async () => {
      const idle = await ctx.client.resources();
      assert.equal(idle.nodes.length, 4);
      assert.deepEqual(idle.up, ctx.broker.hostnames);
      assert.deepEqual(idle.down, []);
      assert.ok(idle.cores.total >= 4);

      const id = await ctx.client.submit(jobspec(["sleep", "60"], { numTasks: 2, numNodes: 2 }));
      try {
        await waitForEvent(ctx.client, id, "start");
        const busy = await ctx.client.resources();
        assert.deepEqual(busy.nodes.filter((n) => n.allocated).map((n) => n.rank), [0, 1]);
        assert.equal(busy.cores.allocated, 2);
      } finally {
        await ctx.client.cancel(id);
        await waitForClean(ctx.client, id);
      }

      await ctx.broker.setNodeDown(3, true);
      try {
        const drained = await ctx.client.resources();
        assert.deepEqual(drained.down, [ctx.broker.hostnames[3]]);
        assert.equal(drained.nodes[3].state, "down");
        assert.equal(drained.up.length, 3);
      } finally {
        await ctx.broker.setNodeDown(3, false);
      }
    });
  });
});

describe("contract: job ids beyond 2^53", function () {
  this.timeout(30000);
  const ctx = useBroker({ size: 4, fluidStartMs: BIG_ID_START_MS });

  it("keeps ids exact through submit, list, list-id, eventlog, output and cancel", async () => {
    const id = await ctx.client.submit(jobspec(["sleep", "60"]));
    if (ctx.broker.kind === "test") assert.ok(id > 2n ** 53n, `test broker issued ${id}, expected > 2^53`);
    assert.equal(parseJobId(formatJobId(id, "f58")), id);
    assert.equal(parseJobId(formatJobId(id, "dothex")), id);
    await waitForEvent(ctx.client, id, "start");
    assert.equal((await ctx.client.getJob(id)).id, id);
    assert.ok((await ctx.client.listJobs()).some((j) => j.id === id));
    await ctx.client.cancel(id);
    assert.deepEqual((await waitForClean(ctx.client, id)).slice(-1), ["clean"]);
    assert.equal((await ctx.client.getJob(id)).result, JobResult.CANCELED);
  });
});

async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}

/** Polls list-id until the job is in `state` (bounded). */
async function waitUntilState(ctx: ContractContext, id: bigint, state: number) {
  for (let i = 0; i < 100; i++) {
    const record = await ctx.client.getJob(id);
    if (record.state === state) return record;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`job ${id} never reached state ${state}`);
}
