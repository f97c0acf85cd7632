/**
 * Client and CLI end to end: our sidecar in-process on the shared broker harness (the test
 * broker, or the real instance under `flux start` with FLUX_CONTRACT_REAL=1).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../sidecar/config";
import { startSidecar, type SidecarHandle } from "../../sidecar/server";
import { BIG_ID_START_MS } from "../test-broker";
import { FluxRestfulClient, parseJson, type JobEvent } from "flux-restful-client";
import { startBroker, type BrokerHandle } from "../support/broker";
import { runCli, spawnCli, spawnShell, spawnTs } from "./support/run-cli";
import { stackOutputs, standInPulumi } from "./support/stand-in-pulumi";

const AUTH = { FLUX_USER: "alice", FLUX_TOKEN: "wonderland", FLUX_SECRET_KEY: "e2e-secret-key-of-some-length" };

interface Sidecar {
  handle: SidecarHandle;
  url: string;
  /** Stops the server and starts a new one on the same port (a restart). */
  restart(downMs: number): Promise<void>;
  close(): Promise<void>;
}

async function sidecar(broker: BrokerHandle, env: Record<string, string> = {}, clock?: () => number): Promise<Sidecar> {
  const config = (port: number) =>
    loadConfig({ PORT: String(port), HOST: "127.0.0.1", FLUX_URI: broker.uri, FLUX_LOG_LEVEL: "silent", FLUX_JOB_PATH: process.env.PATH, ...env });
  let handle = await startSidecar(config(0), { clock });
  const self: Sidecar = {
    handle,
    url: handle.url,
    async restart(downMs) {
      const port = handle.port;
      await handle.close();
      await new Promise((r) => setTimeout(r, downMs));
      handle = self.handle = await startSidecar(config(port), { clock });
    },
    close: () => handle.close(),
  };
  return self;
}

const idOf = (stdout: string) => String((parseJson(stdout) as { id: bigint }).id);

/** Cancelled once running, a job's shell gets SIGTERM (143); before RUN flux reports returncode -128. */
async function untilRunning(client: FluxRestfulClient, id: string): Promise<void> {
  while ((await client.jobInfo(id)).state !== "RUN") await new Promise((r) => setTimeout(r, 20));
}

describe("client end to end (sidecar on the broker)", function () {
  this.timeout(60_000);
  let broker: BrokerHandle;
  before(async () => {
    broker = await startBroker({ size: 4, fluidStartMs: BIG_ID_START_MS });
  });
  after(() => broker?.stop());

  describe("auth off", () => {
    let server: Sidecar;
    let host: string[];
    before(async () => {
      server = await sidecar(broker);
      host = ["--host", server.url];
    });
    after(() => server?.close());

    it("nodes, submit on one node, info, output, jobs", async () => {
      const nodes = await runCli(["nodes", ...host, "--json"]);
      // nodes are unique hostnames (a real `flux start --test-size` has one, repeated)
      assert.deepEqual([...(JSON.parse(nodes.stdout).nodes as string[])].sort(), [...new Set(broker.hostnames)].sort());

      const submitted = await runCli(["submit", ...host, "--json", "-N", "1", "--", "hostname"]);
      assert.equal(submitted.code, 0, submitted.stderr);
      const id = idOf(submitted.stdout);
      if (broker.kind === "test") assert.ok(BigInt(id) > 2n ** 53n, "ids beyond 2^53 survive the round trip");
      assert.equal((await runCli(["wait", ...host, id])).code, 0);
      const info = parseJson((await runCli(["info", ...host, "--json", id])).stdout) as Record<string, unknown>;
      assert.equal(String(info.id), id);
      assert.equal(info.result, "COMPLETED");
      assert.equal(info.nnodes, 1);
      // tasks run on this machine under both brokers, so they print its hostname
      assert.deepEqual(await runCli(["output", ...host, id]), { code: 0, stdout: hostname() + "\n", stderr: "" });
      const jobs = await runCli(["jobs", ...host]);
      assert.ok(jobs.stdout.split("\n").some((l) => l.startsWith(id + " ")), jobs.stdout);
    });

    it("submit on 4 nodes with 4 tasks --wait, and --follow of stdout and stderr", async () => {
      const wide = await runCli(["submit", ...host, "--json", "-N", "4", "-n", "4", "--wait", "--", "hostname"]);
      assert.equal(wide.code, 0, wide.stderr);
      const info = parseJson(wide.stdout) as { id: bigint; nnodes: number; ntasks: number };
      assert.deepEqual([info.nnodes, info.ntasks], [4, 4]);
      const lines = (await runCli(["output", ...host, String(info.id)])).stdout.trim().split("\n");
      assert.deepEqual(lines, [hostname(), hostname(), hostname(), hostname()]);

      const followed = await runCli(["submit", ...host, "--follow", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
      assert.equal(followed.code, 3);
      assert.ok(followed.stdout.startsWith("out\n"), followed.stdout);
      assert.match(followed.stderr, /^submitted job \d+ \(ƒ\w+\)\nerr\n$/);
    });

    it("passes environment, workdir, time limit and shell options", async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "flux-restful-e2e-"));
      try {
        const result = await runCli([
          "submit", ...host, "--follow", "--env", "GREETING=hello there", "--workdir", dir, "--time", "5m",
          "-o", "cpu-affinity=off", "--", "sh", "-c", 'echo "$GREETING from $(pwd)"',
        ]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout.split("\n")[0], `hello there from ${dir}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("cancel, wait for the cancelled job, and errors for an unknown job", async () => {
      const id = idOf((await runCli(["submit", ...host, "--json", "--", "sleep", "60"])).stdout);
      await untilRunning(new FluxRestfulClient({ host: server.url }), id);
      const cancel = await runCli(["cancel", ...host, id]);
      assert.equal(cancel.code, 0, cancel.stderr);
      const waited = await runCli(["wait", ...host, "--json", id]);
      assert.equal(waited.code, 143);
      assert.equal((parseJson(waited.stdout) as { result: string }).result, "CANCELED");
      for (const command of ["info", "output", "cancel", "wait"]) {
        const unknown = await runCli([command, ...host, "1234567"]);
        assert.deepEqual(unknown, { code: 1, stdout: "", stderr: "flux-restful: job 1234567 not found\n" }, command);
      }
    });

    it("streams output and the eventlog through SSE", async () => {
      const client = new FluxRestfulClient({ host: server.url });
      const { id } = await client.submit({ command: ["sh", "-c", "echo one; echo two"], numTasks: 2 });
      const lines = [];
      for await (const line of client.outputLines(id)) lines.push(line);
      assert.deepEqual(lines.map((l) => l.line).sort(), ["one", "one", "two", "two"]);
      assert.deepEqual([...new Set(lines.map((l) => l.rank))].sort(), ["0", "1"]);
      assert.ok(lines.every((l) => l.stream === "stdout"));
      const events: JobEvent[] = [];
      for await (const event of client.events(id)) events.push(event);
      assert.equal(events[0].name, "submit");
      assert.equal(events.at(-1)!.name, "clean");
      assert.ok(events.some((e) => e.name === "finish") && !events.some((e) => e.synthesized));
      const search = await client.search({ length: 1 });
      assert.equal(search.data.length, 1);
    });

    it("rides out a server restart during wait and output --follow", async () => {
      const id = idOf((await runCli(["submit", ...host, "--json", "--", "sh", "-c", "echo before; sleep 3; echo after"])).stdout);
      await new Promise((r) => setTimeout(r, 300));
      const waiting = runCli(["wait", ...host, id]);
      const following = runCli(["output", ...host, "--follow", id]);
      await new Promise((r) => setTimeout(r, 500));
      await server.restart(300);
      const [waited, followed] = await Promise.all([waiting, following]);
      assert.equal(waited.code, 0, waited.stderr);
      assert.deepEqual(followed, { code: 0, stdout: "before\nafter\n", stderr: "" });
    });

    it("runs the walkthrough (examples/submit.ts)", async () => {
      const { stdout, stderr, code } = await spawnTs("examples/submit.ts", ["--host", server.url]);
      assert.equal(code, 0, stderr);
      const sections = stdout.split("\n== ").map((section) => section.split("\n")[0]);
      assert.deepEqual(sections.slice(1), [`nodes (${new Set(broker.hostnames).size})`, "hostname on one node", "hostname on 4 nodes, 4 tasks"]);
      assert.equal(stdout.match(/^result\s+COMPLETED$/gm)?.length, 2);
      const outputs = stdout.split("output:\n").slice(1).map((part) => part.split("\n== ")[0].trim().split(/\n\s*/));
      assert.deepEqual(outputs, [[hostname()], [hostname(), hostname(), hostname(), hostname()]]);
    });

    it("exits with the job's return code as a subprocess", async () => {
      const result = await spawnCli(["submit", "--wait", "--host", server.url, "--", "sh", "-c", "exit 7"]);
      assert.equal(result.code, 7, result.stderr);
      assert.match(result.stdout, /^result\s+FAILED$/m);
    });
  });

  describe("auth on", () => {
    let server: Sidecar;
    let clockOffsetMs = 0;
    const env = { FLUX_RESTFUL_HOST: "", ...AUTH };
    before(async () => {
      server = await sidecar(broker, { FLUX_REQUIRE_AUTH: "true", FLUX_ACCESS_TOKEN_EXPIRES_MINUTES: "1", ...AUTH }, () => Date.now() + clockOffsetMs);
      env.FLUX_RESTFUL_HOST = server.url;
    });
    after(() => server?.close());

    it("every command works with the handshake, from the environment variables", async () => {
      assert.equal((await runCli(["nodes"], env)).code, 0);
      const id = idOf((await runCli(["submit", "--json", "--", "sleep", "30"], env)).stdout);
      assert.equal((await runCli(["jobs"], env)).code, 0);
      assert.equal((await runCli(["info", id], env)).code, 0);
      assert.equal((await runCli(["output", id], env)).code, 0);
      await untilRunning(new FluxRestfulClient({ host: server.url, user: AUTH.FLUX_USER, token: AUTH.FLUX_TOKEN, secretKey: AUTH.FLUX_SECRET_KEY }), id);
      assert.equal((await runCli(["cancel", id], env)).code, 0);
      assert.equal((await runCli(["wait", id], env)).code, 143);
      const anonymous = await runCli(["nodes", "--host", server.url]);
      assert.match(anonymous.stderr, /^flux-restful: http:\/\/127\.0\.0\.1:\d+ requires authentication: give a user and token \(and the secret key\)\n$/);
    });

    it("re-authenticates when the access token expires", async () => {
      const realFetch = globalThis.fetch;
      let tokenRequests = 0;
      globalThis.fetch = (input, init) => {
        if (String(input).endsWith("/v1/token")) tokenRequests++;
        return realFetch(input, init);
      };
      try {
        const client = new FluxRestfulClient({ host: server.url, user: AUTH.FLUX_USER, token: AUTH.FLUX_TOKEN, secretKey: AUTH.FLUX_SECRET_KEY });
        await client.nodes();
        await client.nodes();
        assert.equal(tokenRequests, 1);
        clockOffsetMs += 2 * 60_000;
        assert.deepEqual((await client.nodes()).sort(), [...new Set(broker.hostnames)].sort());
        assert.equal(tokenRequests, 2);
      } finally {
        globalThis.fetch = realFetch;
        clockOffsetMs = 0;
      }
    });

    it("clear errors for a wrong secret and wrong token; Basic user:token without the secret", async () => {
      const wrongSecret = await runCli(["nodes"], { ...env, FLUX_SECRET_KEY: "not-the-secret" });
      assert.equal(wrongSecret.code, 1);
      assert.match(wrongSecret.stderr, /^flux-restful: http:\/\/127\.0\.0\.1:\d+ refused the credentials of user "alice" \(HTTP 400: Denied\): check the user, token and secret key\n$/);
      const wrongToken = await runCli(["nodes", "--token", "guess"], { ...env, FLUX_SECRET_KEY: "" });
      assert.match(wrongToken.stderr, /rejected the Basic credentials of user "alice" \(the server may need the secret key\)/);
      const basic = await runCli(["nodes", "--json"], { ...env, FLUX_SECRET_KEY: "" });
      assert.equal(basic.code, 0, basic.stderr);
    });

    it("runs the clientCommand the stack prints, from the project directory", async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "flux-restful-stack-"));
      try {
        const auth = { user: AUTH.FLUX_USER, token: AUTH.FLUX_TOKEN, secretKey: AUTH.FLUX_SECRET_KEY };
        const outputs = stackOutputs("gke", server.url, auth);
        const PATH = standInPulumi(dir, "gke", outputs);
        const id = idOf((await runCli(["submit", "--json", "--", "true"], env)).stdout);
        const result = await spawnShell(outputs.clientCommand, { PATH, HOME: process.env.HOME });
        // the command and the newest job (this one), for the record
        console.log(`      $ ${outputs.clientCommand}\n${result.stdout.split("\n").slice(0, 2).map((line) => `      ${line}\n`).join("")}`);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^ID\s+F58\s+NAME\s+STATE\s+RESULT/);
        assert.ok(result.stdout.split("\n").some((line) => line.startsWith(`${id} `)), result.stdout);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
