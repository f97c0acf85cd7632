/**
 * The test broker's own behaviour beyond the contract suite: version emulation (0.55 vs 0.88),
 * the scheduler's queueing, list-id waiting, FLUIDs, credentials, and the CLI entry.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FluxClient, buildJobspec } from "../../sidecar/flux";
import { MessageFlags, signNone } from "../../sidecar/flux/codec";
import { FluidGenerator } from "./model/fluid";
import { BIG_ID_START_MS, JobState, TestBroker, type TestBrokerOptions } from "./index";
import { RawClient } from "./raw-client";

const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

/** Is the process alive? A zombie is not (in a container nothing may reap it). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}
const STREAMING = MessageFlags.STREAMING;

async function withBroker(opts: TestBrokerOptions, body: (b: TestBroker, raw: RawClient, client: FluxClient) => Promise<void>) {
  const broker = await TestBroker.start(opts);
  const raw = await RawClient.connect(broker.socketPath);
  const client = new FluxClient({ uri: broker.uri });
  try {
    await body(broker, raw, client);
  } finally {
    raw.close();
    await client.close();
    await broker.stop();
  }
}

describe("test broker", function () {
  this.timeout(20000);

  describe("emulating flux-core 0.55", () => {
    it("has no resource.sched-status (ENOSYS), and the client falls back to sched.resource-status", () =>
      withBroker({ version: "0.55.0", size: 2 }, async (_b, raw, client) => {
        const reply = await raw.rpc("resource.sched-status", undefined, { nodeid: 0 });
        assert.equal(reply.errnum, 38);
        assert.equal(reply.text, "No service matching resource.sched-status is registered");
        const summary = await client.resources();
        assert.deepEqual(summary.up, ["flux-sample-0", "flux-sample-1"]);
        const status = JSON.parse((await raw.rpc("resource.status", undefined, { nodeid: 0 })).text);
        assert.ok(!("torpid" in status));
      }));

    it("rejects INITIAL_SENTINEL, ignores job-list STREAMING, and knows no t_priority/t_sched", () =>
      withBroker({ version: "0.55.0" }, async (_b, raw, client) => {
        const id = await client.submit(buildJobspec({ command: ["true"], environment: env }));
        const [watch] = await raw.collect(raw.send("job-info.eventlog-watch", { id, path: "eventlog", flags: 2 }, { flags: STREAMING }), "stream");
        assert.deepEqual([watch.errnum, watch.text], [71, "eventlog-watch request rejected with invalid flag"]);
        const list = await raw.collect(raw.send("job-list.list", { max_entries: 0, attrs: ["all"], constraint: {} }, { flags: STREAMING }), 1);
        const body = JSON.parse(list[0].text);
        assert.ok(Array.isArray(body.jobs) && !("version" in body), "one reply without version");
        const bad = await raw.rpc("job-list.list-id", { id, attrs: ["t_sched"] });
        assert.deepEqual([bad.errnum, bad.text], [22, "t_sched is not a valid attribute"]);
      }));
  });

  describe("emulating flux-core 0.88", () => {
    it("streams job-list.list one job per reply (version on the first), then ENODATA", () =>
      withBroker({}, async (_b, raw, client) => {
        for (let i = 0; i < 3; i++) await client.submit(buildJobspec({ command: ["true"], environment: env }));
        const replies = await raw.collect(raw.send("job-list.list", { max_entries: 0, attrs: [], constraint: { and: [] } }, { flags: STREAMING }), "stream");
        assert.equal(replies.length, 4);
        assert.equal(JSON.parse(replies[0].text).version, 1);
        assert.ok(!("version" in JSON.parse(replies[1].text)));
        assert.deepEqual(Object.keys(JSON.parse(replies[1].text).jobs[0]), ["id"], "attrs [] gives only the id");
        assert.equal(replies[3].errnum, 61);
      }));
  });

  describe("jobs", () => {
    it("loses a kill published between `start` and the shells running their tasks, as real 0.55 and 0.88 do; FluxClient.kill waits for shell.start", () =>
      withBroker({ version: "0.55.0" }, async (_b, _raw, client) => {
        const lost = await client.submit(buildJobspec({ command: ["sleep", "30"], environment: env }));
        for await (const e of client.eventlog(lost, { follow: true })) if (e.name === "start") break;
        await (client as unknown as { rpc: { call(t: string, p: unknown): Promise<unknown> } }).rpc.call("job-manager.kill", { id: lost, signum: 15 });
        await new Promise((r) => setTimeout(r, 300));
        assert.equal((await client.getJob(lost)).state, JobState.RUN, "the raw kill was lost: the job runs on");
        const exec: string[] = [];
        for await (const e of client.eventlog(lost, { path: "guest.exec.eventlog" })) exec.push(e.name);
        assert.deepEqual(exec, ["init", "starting", "shell.init", "shell.start"]);
        await client.cancel(lost);

        const killed = await client.submit(buildJobspec({ command: ["sleep", "30"], environment: env }));
        for await (const e of client.eventlog(killed, { follow: true })) if (e.name === "start") break;
        await client.kill(killed);
        for await (const _ of client.eventlog(killed, { follow: true, signal: AbortSignal.timeout(5000) })) void _;
        const record = await client.getJob(killed);
        assert.equal(record.result, 2, "FAILED");
        assert.equal(record.waitstatus, 143 << 8);
      }));

    it("ends a job cancelled before its shells ran their tasks with a bare 15 and no output", () =>
      withBroker({}, async (_b, _raw, client) => {
        const id = await client.submit(buildJobspec({ command: ["sleep", "30"], environment: env }));
        for await (const e of client.eventlog(id, { follow: true })) if (e.name === "start") break;
        await client.cancel(id);
        for await (const _ of client.eventlog(id, { follow: true, signal: AbortSignal.timeout(5000) })) void _;
        assert.equal((await client.getJob(id)).waitstatus, 15);
        const exec: string[] = [];
        for await (const e of client.eventlog(id, { path: "guest.exec.eventlog" })) exec.push(e.name);
        assert.deepEqual(exec, ["init", "starting", "shell-exit", "complete", "done"], "as captured on 0.88");
        const out = [];
        for await (const e of client.output(id, { follow: true, signal: AbortSignal.timeout(5000) })) out.push(e);
        assert.deepEqual(out, []);
      }));

    it("keeps a job in SCHED while resources are busy and starts it when they free up; list-id waits for a state", () =>
      withBroker({ size: 1, coresPerNode: 1 }, async (_b, raw, client) => {
        const first = await client.submit(buildJobspec({ command: ["sleep", "30"], environment: env }));
        const second = await client.submit(buildJobspec({ command: ["true"], environment: env }));
        for await (const e of client.eventlog(first, { follow: true })) if (e.name === "start") break;
        const running = raw.send("job-list.list-id", { id: second, attrs: ["state"], state: JobState.RUN });
        await new Promise((r) => setTimeout(r, 100));
        assert.equal((await client.getJob(second)).state, JobState.SCHED);
        await client.cancel(first);
        const [reply] = await raw.collect(running, 1);
        assert.equal(reply.errnum, 0);
        assert.ok(JSON.parse(reply.text).job.state >= JobState.RUN);
      }));

    it("allocates GPUs and counts them in the resource summary", () =>
      withBroker({ size: 2, coresPerNode: 2, gpusPerNode: 1 }, async (_b, _raw, client) => {
        const id = await client.submit(buildJobspec({ command: ["sleep", "30"], numTasks: 2, gpusPerTask: 1, environment: env }));
        for await (const e of client.eventlog(id, { follow: true })) if (e.name === "start") break;
        const summary = await client.resources();
        assert.deepEqual(summary.gpus, { total: 2, up: 2, allocated: 2 });
        assert.deepEqual(summary.allocated, ["flux-sample-0", "flux-sample-1"], "one GPU per node, so the tasks spread");
        const record = await client.getJob(id);
        assert.equal((record.annotations as { sched: { resource_summary: string } }).sched.resource_summary, "rank[0-1]/core0,gpu0");
        await client.cancel(id);
      }));

    it("ends a cancelled job's whole process group: nothing the task started outlives it", () =>
      withBroker({}, async (_b, _raw, client) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "test-broker-group-"));
        const pidFile = path.join(dir, "pid");
        try {
          const id = await client.submit(buildJobspec({ command: ["sh", "-c", `sleep 60 & echo $! > ${pidFile}; wait`], environment: env }));
          while (!fs.existsSync(pidFile) || !fs.readFileSync(pidFile, "utf8").endsWith("\n")) await new Promise((r) => setTimeout(r, 20));
          const sleeper = Number(fs.readFileSync(pidFile, "utf8"));
          const cancelled = Date.now();
          await client.cancel(id);
          for await (const e of client.eventlog(id, { follow: true })) if (e.name === "clean") break;
          assert.ok(Date.now() - cancelled < 4000, "the job ended on SIGTERM, not at the SIGKILL escalation");
          assert.equal(running(sleeper), false, "the task's own child is gone too");
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }));

    it("rejects a jobspec holding a NUL like jansson does, instead of crashing on spawn", () =>
      withBroker({}, async (_b, raw) => {
        const J = signNone(JSON.stringify(buildJobspec({ command: ["echo\u0000hi"], environment: env })), process.getuid!());
        const reply = await raw.rpc("job-ingest.submit", { J, urgency: 16, flags: 0 });
        assert.deepEqual([reply.errnum, reply.text], [22, `jobspec: invalid JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near '"echo\\u0000hi"'`]);
      }));

    it("rejects a submission whose signer is not the requesting user", () =>
      withBroker({}, async (_b, raw) => {
        const someoneElse = process.getuid!() + 1;
        const J = signNone(JSON.stringify(buildJobspec({ command: ["true"], environment: env })), someoneElse);
        const reply = await raw.rpc("job-ingest.submit", { J, urgency: 16, flags: 0 });
        assert.deepEqual([reply.errnum, reply.text], [1, `signer=${someoneElse} != requestor=${process.getuid!()}`]);
      }));

    it("refuses connections from other users unless guests are allowed", async () => {
      const broker = await TestBroker.start({ peerUid: process.getuid!() + 1 });
      try {
        await assert.rejects(RawClient.connect(broker.socketPath), /handshake refused with errno 1/);
      } finally {
        await broker.stop();
      }
    });
  });

  describe("FLUIDs", () => {
    it("are increasing and exceed 2^53 with a clock started past 2^29 ms", () => {
      const small = new FluidGenerator(0);
      const ids = Array.from({ length: 2000 }, () => small.next());
      for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1]);
      const big = new FluidGenerator(BIG_ID_START_MS).next();
      assert.ok(big > 2n ** 53n);
      const ms = big >> 24n;
      assert.ok(ms >= BigInt(BIG_ID_START_MS) && ms < BigInt(BIG_ID_START_MS) + 60_000n, "uptime ms in bits 63..24");
      assert.equal((big >> 10n) & 0x3fffn, 0n, "generator id 0 on rank 0");
    });
  });

  describe("CLI", () => {
    it("prints FLUX_URI and serves until killed", async function () {
      this.timeout(30000);
      const main = path.join(__dirname, "main.ts");
      const child = spawn(process.execPath, ["--import", "tsx", main, "--size", "2", "--big-ids"], { stdio: ["ignore", "pipe", "inherit"] });
      try {
        const uri = await new Promise<string>((resolve, reject) => {
          let out = "";
          child.stdout.on("data", (d) => {
            out += d;
            const m = /^FLUX_URI=(\S+)$/m.exec(out);
            if (m) resolve(m[1]);
          });
          child.on("exit", (code) => reject(new Error(`exited ${code}`)));
        });
        const client = new FluxClient({ uri });
        try {
          assert.equal((await client.brokerInfo()).size, 2);
          assert.ok((await client.submit(buildJobspec({ command: ["true"], environment: env }))) > 2n ** 53n);
        } finally {
          await client.close();
        }
      } finally {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
    });
  });
});
