/**
 * The test broker against exchanges captured from a real flux-core broker: the captured requests
 * are replayed to the test broker (job ids mapped to the test broker's own, `none` envelopes
 * re-signed for this uid) and its replies must match the real ones in flags, errnum, error text,
 * payload key sets and stream shape. Eventlog sequences of captured scenarios are compared too.
 */
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { signNone, unwrapNone } from "../../sidecar/flux/codec";
import { FluxClient, buildJobspec } from "../../sidecar/flux";
import { captureVersions, framed, loadCapture as loadCaptureOf, lookedUpEventlogs, responsesTo, type CaptureFixture, type CapturedMessage } from "../fixtures/flux/captured";
import { fluxExecutable } from "../support/broker";
import { TestBroker } from "./index";
import { RawClient, type RawReply } from "./raw-client";

const execFileAsync = promisify(execFile);
const uid = process.getuid!();

type Decoded = NonNullable<CapturedMessage["decoded"]>;

/** Requests of a capture, each with the broker's replies (Python clients reuse matchtags sequentially). */
function exchanges(fixture: CaptureFixture, conn: number): Array<{ request: Decoded; replies: Decoded[] }> {
  const out: Array<{ request: Decoded; replies: Decoded[] }> = [];
  for (const m of framed(fixture).filter((x) => x.conn === conn)) {
    if (m.dir === "c2s") out.push({ request: m.decoded, replies: [] });
    else [...out].reverse().find((e) => e.request.aux2 === m.decoded.aux2 && e.request.topic === m.decoded.topic)?.replies.push(m.decoded);
  }
  return out;
}

/** Top-level keys, and the keys one level down for object members (job records, R sets). */
function shape(payload: string | undefined): unknown {
  if (payload === undefined || payload === "") return undefined;
  const value = JSON.parse(payload) as Record<string, unknown>;
  const keysOf = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.length ? keysOf(v[0]) : [];
    if (v && typeof v === "object") return Object.keys(v).sort();
    return typeof v;
  };
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, keysOf(v)]));
}

/** The state of the job in a list-id reply, if it is one. */
function jobState(payload: string | undefined): number | undefined {
  if (!payload) return undefined;
  const job = (JSON.parse(payload) as { job?: { state?: unknown } }).job;
  return typeof job?.state === "number" ? job.state : undefined;
}

/** What a stream reply was: "sentinel", the eventlog entry name, or "errno N". */
function streamItem(r: { flags: number; aux1: number; payload?: string }): string {
  if (r.aux1 !== 0) return `errno ${r.aux1}`;
  if (r.payload === undefined) return "sentinel";
  const event = (JSON.parse(r.payload) as { event: string }).event;
  return (JSON.parse(event) as { name: string }).name;
}

function asDecoded(r: RawReply): { flags: number; aux1: number; payload?: string } {
  return { flags: r.msg.flags, aux1: r.errnum, payload: r.msg.payload ? r.text : undefined };
}

for (const line of captureVersions()) describe(`test broker fidelity to captured exchanges (flux-core ${line}, emulated as ${line}.0)`, function () {
  this.timeout(30000);
  let broker: TestBroker;
  let raw: RawClient;
  const loadCapture = (name: string) => loadCaptureOf(name, line);

  before(async () => {
    broker = await TestBroker.start({ size: 4, version: `${line}.0` });
    raw = await RawClient.connect(broker.socketPath);
  });
  after(async () => {
    raw?.close();
    await broker?.stop();
  });

  /** Replays one exchange and checks the test broker's replies against the captured ones. */
  async function replay(request: Decoded, replies: Decoded[], rewrite: (payload: string) => string = (p) => p) {
    const payload = request.payload === undefined ? undefined : Buffer.from(rewrite(request.payload) + "\0");
    const tag = raw.send(request.topic!, payload, { flags: request.flags & 0xc4, nodeid: request.aux1 });
    const streaming = (request.flags & 0x40) !== 0 && request.topic !== "job-list.list";
    const got = (await raw.collect(tag, streaming ? "stream" : 1)).map(asDecoded);
    const label = `${request.topic} ${request.payload ?? ""}`;
    const last = replies[replies.length - 1];
    const mine = got[got.length - 1];
    assert.equal(mine.aux1, last.aux1, `errnum of ${label}`);
    assert.equal(mine.flags, last.flags, `flags of ${label}`);
    if (last.aux1 !== 0) assert.equal(mine.payload, last.payload, `error text of ${label}`);
    else if (!streaming) {
      const [a, b] = [jobState(mine.payload), jobState(last.payload)];
      if (a !== undefined && b !== undefined && a !== b) {
        // The real job had not got as far (timing): its keys are a subset of a job further on.
        const keys = (p?: string) => (shape(p) as { job: string[] }).job;
        const missing = keys(last.payload).filter((k) => !keys(mine.payload).includes(k));
        assert.ok(a > b && missing.length === 0, `payload keys of ${label}: state ${a} vs captured ${b}, missing ${missing.join(",")}`);
      } else assert.deepEqual(shape(mine.payload), shape(last.payload), `payload keys of ${label}`);
    }
    return got;
  }

  it("answers attr.get, broker.ping and unknown services like the real broker", async () => {
    const fixture = loadCapture("attrs");
    const conns = [...new Set(framed(fixture).map((m) => m.conn))];
    for (const conn of conns) {
      for (const { request, replies } of exchanges(fixture, conn)) await replay(request, replies);
    }
  });

  it("rejects the captured invalid jobspecs with the validator's errnum and message", async () => {
    const fixture = loadCapture("bad-jobspec");
    const resign = (payload: string) => {
      const p = JSON.parse(payload) as { J: string };
      const { jobspecJson } = unwrapNone(p.J);
      return JSON.stringify({ ...p, J: signNone(jobspecJson, uid) });
    };
    let compared = 0;
    for (const conn of [...new Set(framed(fixture).map((m) => m.conn))]) {
      for (const { request, replies } of exchanges(fixture, conn)) {
        if (request.topic !== "job-ingest.submit") continue;
        await replay(request, replies, resign);
        compared++;
      }
    }
    assert.ok(compared >= 2);
  });

  it("replays the captured raw RPCs (errors, list, list-id, watches with sentinels, lookup, kill) with matching replies", async () => {
    const fixture = loadCapture("errors");
    const [submit, ...rest] = exchanges(fixture, 1);
    assert.equal(submit.request.topic, "job-ingest.submit");
    const realId = (JSON.parse(submit.replies[0].payload!) as { id: number }).id;
    const { jobspecJson } = unwrapNone((JSON.parse(submit.request.payload!) as { J: string }).J);
    const client = new FluxClient({ uri: broker.uri });
    try {
      const myId = await client.submit(JSON.parse(jobspecJson));
      await new Promise((r) => setTimeout(r, 50)); // let it start, as it had on the real broker
      const mapId = (payload: string) => payload.split(String(realId)).join(myId.toString());
      for (const { request, replies } of rest) {
        const got = await replay(request, replies, mapId);
        if (request.flags & 0x40 && replies.length > 1) {
          const theirs = replies.map(streamItem);
          const mine = got.map(streamItem);
          // the sentinel's position depends on timing; the entries and the end must match
          assert.deepEqual(mine.filter((x) => x !== "sentinel"), theirs.filter((x) => x !== "sentinel"), `stream of ${request.payload}`);
          assert.equal(mine.filter((x) => x === "sentinel").length, theirs.filter((x) => x === "sentinel").length);
          if (request.payload!.includes("guest.output")) assert.equal(mine[0], "sentinel", "guest watches send the sentinel first");
        }
      }
    } finally {
      await client.close();
    }
  });

  it("writes the same main eventlog sequences as the real broker for each captured scenario", async () => {
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
    const client = new FluxClient({ uri: broker.uri });
    const runs: Array<[string, () => Promise<bigint>]> = [
      ["exit3", () => client.submit(buildJobspec({ command: ["sh", "-c", "exit 3"], environment: env }))],
      ["timeout", () => client.submit(buildJobspec({ command: ["sleep", "30"], duration: 1, environment: env }))],
      ["nocmd", () => client.submit(buildJobspec({ command: ["nosuchcmd-xyz"], environment: env }))],
      [
        "cancel",
        async () => {
          const id = await client.submit(buildJobspec({ command: ["sleep", "100"], environment: env }));
          await untilEvent(client, id, "start");
          await client.cancel(id);
          return id;
        },
      ],
      [
        "kill",
        async () => {
          const id = await client.submit(buildJobspec({ command: ["sleep", "100"], environment: env }));
          await untilEvent(client, id, "start");
          await client.kill(id);
          return id;
        },
      ],
    ];
    try {
      for (const [scenario, run] of runs) {
        const expected = lookedUpEventlogs(loadCapture(scenario))[0];
        const id = await run();
        const names: string[] = [];
        for await (const e of client.eventlog(id, { follow: true })) names.push(e.name);
        assert.deepEqual(names, expected, scenario);
      }
    } finally {
      await client.close();
    }
  });

  it("reports resources in the captured shape (whichever of sched-status, sched.resource-status and resource.status the CLI asked)", async () => {
    const fixture = loadCapture("resource");
    let compared = 0;
    for (const topic of ["resource.sched-status", "sched.resource-status", "resource.status"]) {
      const reply = responsesTo(fixture, topic)[0];
      if (!reply) continue;
      compared++;
      const theirs = reply.decoded;
      const mine = await raw.rpc(topic, undefined, { nodeid: 0 });
      assert.equal(mine.errnum, theirs.aux1, topic);
      assert.equal(mine.msg.flags, theirs.flags, topic);
      if (theirs.aux1 === 0) assert.deepEqual(shape(mine.text), shape(theirs.payload), topic);
      else assert.equal(mine.text, theirs.payload ?? "", `error text of ${topic}`);
    }
    assert.ok(compared >= 2, "the capture holds the resource calls");
  });
});

describe("the real flux CLI against the test broker", function () {
  this.timeout(60000);

  it("submits, attaches, lists, cancels and shows resources", async function () {
    const flux = fluxExecutable();
    if (!flux) {
      console.log("      flux not on PATH: flux CLI check skipped");
      this.skip();
    }
    const broker = await TestBroker.start({ size: 4 });
    const run = async (...args: string[]) =>
      (await execFileAsync(flux, args, { env: { ...process.env, FLUX_URI: broker.uri }, timeout: 20000 }).catch((err: { stdout: string; stderr: string; code: number }) => err));
    try {
      const id = String((await run("submit", "-N4", "-n4", "sh", "-c", "echo hi $FLUX_TASK_RANK")).stdout).trim();
      const attach = await run("job", "attach", id);
      assert.deepEqual(String(attach.stdout).trim().split("\n").sort(), ["hi 0", "hi 1", "hi 2", "hi 3"]);
      assert.match(String((await run("jobs", "-a", "-o", "{id.f58} {status} {nodelist}")).stdout), /CD flux-sample-\[0-3\]|COMPLETED flux-sample-\[0-3\]/);
      const sleeper = String((await run("submit", "sleep", "30")).stdout).trim();
      await run("job", "wait-event", sleeper, "start");
      await run("cancel", sleeper);
      assert.match(String((await run("cancel", sleeper)).stderr), /job is inactive/);
      assert.match(String((await run("resource", "list")).stdout), /free\s+4\s+16\s+0 flux-sample-\[0-3\]/);
    } finally {
      await broker.stop();
    }
  });
});

describe("the real flux CLI's files and batch jobs on the test broker", function () {
  this.timeout(60000);

  it("flux submit --add-file: every node's shell writes the file into its FLUX_JOB_TMPDIR; flux batch runs the script", async function () {
    const flux = fluxExecutable();
    if (!flux) {
      console.log("      flux not on PATH: flux --add-file / flux batch check skipped");
      this.skip();
    }
    const broker = await TestBroker.start({ size: 4 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flux-cli-files-"));
    const run = async (...args: string[]) =>
      (await execFileAsync(flux, args, { cwd: dir, env: { ...process.env, FLUX_URI: broker.uri }, timeout: 20000 }).catch((err: { stdout: string; stderr: string; code: number }) => err));
    try {
      fs.writeFileSync(path.join(dir, "in.txt"), "from the cli\n");
      const id = String((await run("submit", "-N4", "-n4", "--add-file", path.join(dir, "in.txt"), "sh", "-c", "echo $FLUX_TASK_RANK $(cat {{tmpdir}}/in.txt)")).stdout).trim();
      const attach = await run("job", "attach", id);
      assert.deepEqual(String(attach.stdout).trim().split("\n").sort(), [0, 1, 2, 3].map((r) => `${r} from the cli`));
      fs.writeFileSync(path.join(dir, "job.sh"), '#!/bin/sh\necho "batch $1" > out.txt\n');
      const batch = String((await run("batch", "-N2", "--output=none", "job.sh", "one")).stdout).trim();
      await run("job", "wait-event", batch, "clean");
      assert.equal(fs.readFileSync(path.join(dir, "out.txt"), "utf8"), "batch one\n");
      assert.match(String((await run("jobs", "-a", "-o", "{name} {status}")).stdout), /job\.sh\s+(CD|COMPLETED)/);
    } finally {
      await broker.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("job-info.lookup of a jobspec with files, test broker against the real one", function () {
  this.timeout(90000);

  it("the KVS jobspec (flux job info --base) and the current one (flux job info) are the same text: compact, without the environment", async function () {
    const flux = fluxExecutable();
    if (!flux) {
      console.log("      flux not on PATH: jobspec lookup comparison skipped");
      this.skip();
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flux-jobspec-"));
    const file = path.join(dir, "jobspec.json");
    // spaced text, as `flux job submit` of a hand-written file sends it
    fs.writeFileSync(file, JSON.stringify(buildJobspec({ command: ["true"], cwd: "/tmp", environment: { PATH: "/usr/bin:/bin" }, files: { "a.txt": { mode: 0o100644, data: "x", encoding: "utf-8" } } }), null, 1));
    const script = `id=$(flux job submit ${file}) && flux job wait-event $id clean >/dev/null && flux job info --base $id jobspec && flux job info $id jobspec`;
    try {
      const version = (await execFileAsync(flux, ["start", "--test-size=1", "flux", "getattr", "version"], { timeout: 60000 })).stdout.trim();
      const real = (await execFileAsync(flux, ["start", "--test-size=1", "sh", "-c", script], { timeout: 60000 })).stdout;
      const broker = await TestBroker.start({ size: 1, version });
      try {
        const emulated = (await execFileAsync("sh", ["-c", script], { env: { ...process.env, FLUX_URI: broker.uri }, timeout: 20000 })).stdout;
        assert.equal(emulated, real, `flux-core ${version}`);
      } finally {
        await broker.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function untilEvent(client: FluxClient, id: bigint, name: string): Promise<void> {
  for await (const e of client.eventlog(id, { follow: true })) if (e.name === name) return;
}
