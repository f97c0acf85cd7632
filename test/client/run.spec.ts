/**
 * The everyday commands against our sidecar on the test broker: `run` as `flux run` behaves
 * (exit code, -l, Ctrl-C to cancel, Ctrl-Z to detach; real signals to a real process), bulk
 * submit, job filters, the cluster summary, search, one JSON shape, and an unreachable host.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { FluxRestfulClient, formatF58, parseJson } from "flux-restful-client";
import { main } from "flux-restful-client/cli";
import { loadConfig } from "../../sidecar/config";
import { startSidecar, type SidecarHandle } from "../../sidecar/server";
import { startBroker, type BrokerHandle } from "../support/broker";
import { runCli } from "./support/run-cli";

const BIN = path.resolve(__dirname, "../../client/bin/flux-restful.cjs");

/** The CLI as a real process whose stderr can be awaited line by line and which gets real signals. */
function startCli(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number>((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal ? -1 : 0))));
  return {
    child,
    exited,
    get stdout() { return stdout; },
    get stderr() { return stderr; },
    async untilStderr(pattern: RegExp): Promise<void> {
      for (let waited = 0; !pattern.test(stderr); waited += 20) {
        if (waited > 15_000) throw new Error(`stderr never matched ${pattern}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

describe("flux-restful run, bulk submit, filters, cluster (sidecar on the broker)", function () {
  this.timeout(60_000);
  let broker: BrokerHandle;
  let sidecar: SidecarHandle;
  let host: string[];
  let client: FluxRestfulClient;
  before(async () => {
    broker = await startBroker({ size: 4 });
    sidecar = await startSidecar(loadConfig({ PORT: "0", HOST: "127.0.0.1", FLUX_URI: broker.uri, FLUX_LOG_LEVEL: "silent", FLUX_JOB_PATH: process.env.PATH }));
    host = ["--host", sidecar.url];
    client = new FluxRestfulClient({ host: sidecar.url });
  });
  after(async () => {
    await sidecar?.close();
    await broker?.stop();
  });

  const knownIds = async () => new Set((await client.jobs()).map((job) => job.id));

  /** The id of the job submitted since `known` was taken (run prints none until asked). */
  async function newJob(known: Set<bigint>): Promise<bigint> {
    for (;;) {
      const job = (await client.jobs()).find((j) => !known.has(j.id));
      if (job) return job.id;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function untilRunning(id: bigint): Promise<void> {
    while ((await client.jobInfo(id)).state !== "RUN") await new Promise((r) => setTimeout(r, 20));
  }

  it("run streams the output and exits with the job's code; -l labels lines with the task rank", async () => {
    const ok = await runCli(["run", ...host, "-n", "2", "-l", "--", "sh", "-c", "echo out; echo err >&2"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(ok.stdout.split("\n").filter(Boolean).sort(), ["0: out", "1: out"]);
    assert.deepEqual(ok.stderr.split("\n").filter(Boolean).sort(), ["0: err", "1: err"]);
    const known = await knownIds();
    const failed = await runCli([...host, "run", "sh", "-c", "echo bye; exit 3"]);
    assert.deepEqual(failed, { code: 3, stdout: "bye\n", stderr: `flux-restful: job ${formatF58(await newJob(known))} failed, exit code 3\n` });
  });

  it("run: a first Ctrl-C says what to do, a second within 2s cancels, and the exit code is the job's", async () => {
    const known = await knownIds();
    const cli = startCli(["run", ...host, "--", "sh", "-c", "echo started; sleep 60"]);
    const id = await newJob(known);
    await untilRunning(id);
    cli.child.kill("SIGINT");
    await cli.untilStderr(/one more Ctrl-C/);
    cli.child.kill("SIGINT");
    assert.equal(await cli.exited, 143, cli.stderr);
    const f58 = formatF58(id);
    assert.equal(
      cli.stderr,
      `flux-restful: one more Ctrl-C within 2s cancels job ${f58}; Ctrl-Z detaches (the job keeps running)\n` +
        `flux-restful: cancelling job ${f58}\n` +
        `flux-restful: job ${f58} canceled (cancel), exit code 143\n`,
    );
    assert.equal(cli.stdout, "started\n");
    assert.equal((await client.jobInfo(id)).result, "CANCELED");
  });

  it("run: Ctrl-C more than 2s apart does not cancel; Ctrl-Z detaches and says how to reattach", async () => {
    const known = await knownIds();
    const cli = startCli(["run", ...host, "--", "sh", "-c", "echo started; sleep 3; echo done"]);
    const id = await newJob(known);
    await untilRunning(id);
    cli.child.kill("SIGINT");
    await cli.untilStderr(/one more Ctrl-C/);
    await new Promise((r) => setTimeout(r, 2200));
    cli.child.kill("SIGINT");
    await cli.untilStderr(/one more Ctrl-C[^]*one more Ctrl-C/);
    cli.child.kill("SIGTSTP");
    assert.equal(await cli.exited, 0, cli.stderr);
    const f58 = formatF58(id);
    assert.match(cli.stderr, new RegExp(`flux-restful: detached from job ${f58}, which keeps running; reattach with: flux-restful output --follow ${f58}\n$`));
    assert.equal((await client.jobInfo(id)).state, "RUN", "the job was not cancelled");
    assert.deepEqual(await runCli(["output", "--follow", f58, ...host]), { code: 0, stdout: "started\ndone\n", stderr: "" });
  });

  it("submit --cc submits one job per id with {cc} replaced, printing ids as they come", async () => {
    const result = await runCli(["submit", ...host, "--cc", "1-3", "--name", "copy-{cc}", "--json", "--", "echo", "task {cc}"]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split("\n").map((line) => parseJson(line) as { id: bigint; f58: string; cc: number });
    assert.deepEqual(lines.map((l) => l.cc), [1, 2, 3]);
    for (const { id, f58, cc } of lines) {
      assert.equal(f58, formatF58(id));
      const info = await client.wait(id);
      assert.equal(info.name, `copy-${cc}`);
      assert.deepEqual(await client.output(id), [`task ${cc}\n`]);
    }
    const waited = await runCli(["submit", ...host, "--cc", "0,5", "--wait", "--", "sh", "-c", "exit {cc}"]);
    assert.equal(waited.code, 5, "the largest exit code of the copies");
    assert.equal(waited.stderr.match(/^submitted job \d+ \(ƒ\w+\)$/gm)?.length, 2);
    assert.equal((await runCli(["submit", ...host, "--cc", "3-1", "--", "true"])).code, 2);
  });

  it("jobs filters by state, name and owner, and every command prints one JSON shape", async () => {
    const { id: sleeper } = await client.submit({ command: "sleep 30", name: "filter-sleeper" });
    const { id: done } = await client.submit({ command: "true", name: "filter-done" });
    await client.wait(done);
    await untilRunning(sleeper);
    const ids = async (...args: string[]) => {
      const out = await runCli(["jobs", ...host, "--json", ...args]);
      assert.equal(out.code, 0, out.stderr);
      return (parseJson(out.stdout) as { jobs: Array<{ id: bigint }> }).jobs.map((j) => j.id);
    };
    assert.deepEqual(await ids("--state", "running"), [sleeper]);
    assert.ok((await ids("--state", "completed")).includes(done));
    assert.ok(!(await ids("--state", "inactive,pending")).includes(sleeper));
    assert.deepEqual(await ids("--name", "filter-done"), [done]);
    assert.equal((await ids("--owner", String(process.getuid!()))).length, (await ids()).length);
    assert.deepEqual(await ids("--owner", "nobody-here"), []);
    const bad = await runCli(["jobs", ...host, "--state", "sleepy"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown state "sleepy" \(one of: pending, running, active, new/);

    // the same job, the same shape: state and result as names, the id exact
    const listed = (parseJson((await runCli(["jobs", ...host, "--json", "--name", "filter-done"])).stdout) as { jobs: Record<string, unknown>[] }).jobs[0];
    const info = parseJson((await runCli(["info", ...host, "--json", String(done)])).stdout) as Record<string, unknown>;
    const found = (parseJson((await runCli(["search", ...host, "--json", "filter-done"])).stdout) as { jobs: Record<string, unknown>[] }).jobs[0];
    for (const job of [listed, info, found]) {
      assert.equal(job.id, done);
      assert.equal(job.state, "INACTIVE");
      assert.equal(job.result, "COMPLETED");
    }
    assert.equal((parseJson((await runCli(["jobs", ...host, "--json", "--name", "filter-sleeper"])).stdout) as { jobs: Record<string, unknown>[] }).jobs[0].state, "RUN");
    await client.cancel(sleeper);
  });

  it("cluster shows the summary the web UI shows; search finds jobs", async () => {
    const table = await runCli(["cluster", ...host]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^nodes up\s+4 {2}\S+/m);
    assert.match(table.stdout, /^cores in use\s+\d+ \/ \d+ \(\d+ total\)$/m);
    assert.match(table.stdout, /^max nodes per job\s+4$/m);
    const json = parseJson((await runCli(["--json", "cluster", ...host])).stdout) as { up: string[]; limits: { maxNodes: number } };
    assert.equal(json.up.length, 4);
    assert.equal(json.limits.maxNodes, 4);
    const { id } = await client.submit({ command: "true", name: "needle-in-haystack" });
    await client.wait(id);
    const search = await runCli(["search", ...host, "needle-in"]);
    assert.equal(search.code, 0, search.stderr);
    assert.deepEqual(search.stdout.trim().split("\n").slice(1).map((l) => l.split(/\s+/)[0]), [String(id)]);
  });

  it("says at once that a host does not answer, while it retries", async () => {
    const server = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const { port } = server.address() as { port: number };
    await new Promise((r) => server.close(r));
    const started = Date.now();
    const notices: Array<[number, string]> = [];
    const code = await main(["nodes", "--host", `http://127.0.0.1:${port}`], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => notices.push([Date.now() - started, s]) },
      env: {},
    });
    assert.equal(code, 1);
    assert.deepEqual(notices.map(([, text]) => text), [
      `flux-restful: cannot reach http://127.0.0.1:${port}: connection refused (ECONNREFUSED); retrying (5 more tries), Ctrl-C to give up\n`,
      `flux-restful: cannot reach http://127.0.0.1:${port}: connection refused (ECONNREFUSED)\n`,
    ]);
    assert.ok(notices[0][0] < 1000, `the first notice came after ${notices[0][0]} ms`);
  });
});
