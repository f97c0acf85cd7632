/**
 * The library against a stand-in for the Python server (its auth semantics byte for byte),
 * which also proves the client copes with the Python server: no SSE, 403 on expiry, 200 null.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import {
  ApiError,
  AuthenticationError,
  ConnectionError,
  FluxRestfulClient,
  FluxRestfulError,
  InvalidJobIdError,
  JobNotFoundError,
  SubmitOutcomeUnknownError,
  WaitTimeoutError,
  formatF58,
  parseJobId,
  type JobEvent,
  type OutputLine,
} from "flux-restful-client";
import { parseRetryAfter, Transport } from "../../client/src/transport";
import { PythonLikeServer } from "./support/python-like-server";

const AUTH = { user: "fluxuser", token: "12345", secretKey: "notsosecrethoo" };

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** A loopback port with nothing listening. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe("client library", () => {
  describe("ids", () => {
    it("parses decimal and F58 ids and renders F58 like flux", () => {
      assert.equal(formatF58(30937186304n), "ƒp8pAes");
      assert.equal(parseJobId("ƒp8pAes"), 30937186304n);
      assert.equal(parseJobId("fp8pAes"), 30937186304n);
      assert.equal(parseJobId("18446744073709551615"), 2n ** 64n - 1n);
      for (const id of [0n, 1n, 2n ** 53n + 1n, 2n ** 64n - 1n]) assert.equal(parseJobId(formatF58(id)), id);
      for (const bad of ["", "abc", "ƒ0", "-1", "18446744073709551616", "12.5"]) assert.throws(() => parseJobId(bad), InvalidJobIdError);
    });
  });

  describe("transport", () => {
    it("keeps a path prefix of the host and reads both Retry-After forms", () => {
      const transport = new Transport({ baseUrl: "https://example.org/flux/", timeoutMs: 1, retries: 0 });
      assert.equal(transport.url("v1/jobs", { details: "true", limit: 2, skip: undefined }).href, "https://example.org/flux/v1/jobs?details=true&limit=2");
      assert.equal(parseRetryAfter("7"), 7000);
      assert.equal(parseRetryAfter(new Date(60_000).toUTCString(), 30_000), 30_000);
      assert.equal(parseRetryAfter("soon"), undefined);
      assert.equal(parseRetryAfter(null), undefined);
    });
  });

  describe("against a Python-like server without auth", () => {
    let server: PythonLikeServer;
    let client: FluxRestfulClient;
    beforeEach(async () => {
      server = await new PythonLikeServer({ nodes: ["n0", "n1", "n2", "n3"] }).listen();
      client = new FluxRestfulClient({ host: server.url, pollIntervalMs: 20, minDelayMs: 10 });
    });
    afterEach(() => server.close());

    it("lists nodes and submits every option the way the API reads them", async () => {
      assert.deepEqual(await client.nodes(), ["n0", "n1", "n2", "n3"]);
      const { id, message } = await client.submit({
        command: ["printenv", "FOO"],
        numTasks: 2,
        coresPerTask: 1,
        gpusPerTask: 1,
        numNodes: 1,
        exclusive: true,
        optionFlags: { "cpu-affinity": "per-task", ompi: "openmpi@5" },
        workdir: "/tmp",
        runtime: 60,
        envars: { FOO: "bar baz" },
      });
      assert.equal(message, "Job submit.");
      assert.equal(typeof id, "bigint");
      assert.ok(id > 2n ** 53n, "the id survived beyond 2^53");
      const submit = server.requests.find((r) => r.path === "/v1/jobs/submit")!;
      assert.deepEqual(Object.fromEntries(submit.query), {
        command: "printenv FOO",
        num_tasks: "2",
        cores_per_task: "1",
        gpus_per_task: "1",
        num_nodes: "1",
        exclusive: "true",
        option_flags: "cpu-affinity=per-task,ompi=openmpi@5",
        workdir: "/tmp",
        runtime: "60",
      });
      assert.deepEqual(JSON.parse(submit.body), { FOO: "bar baz" }, "envars travel as the JSON body");
      await client.wait(id);
      assert.deepEqual(await client.output(id), ["bar baz\n", "bar baz\n"]);
    });

    it("quotes argv for the server's shell split", async () => {
      await client.submit({ command: ["echo", "it's here", "$HOME"] });
      assert.equal(server.requests.at(-1)!.query.get("command"), `echo 'it'\\''s here' '$HOME'`);
    });

    it("gets info, waits for the final state and reads the output", async () => {
      const { id } = await client.submit({ command: "hostname", numNodes: 4, numTasks: 4 });
      const final = await client.wait(id, { timeoutMs: 10_000 });
      assert.equal(final.id, id);
      assert.equal(final.state, "INACTIVE");
      assert.equal(final.result, "COMPLETED");
      assert.equal(final.returncode, 0);
      assert.equal((await client.jobInfo(formatF58(id))).id, id, "F58 ids are accepted");
      assert.deepEqual(await client.output(String(id)), ["vm\n", "vm\n", "vm\n", "vm\n"]);
    });

    it("lists jobs plain, with details, as a listing and limited", async () => {
      const first = (await client.submit({ command: "true" })).id;
      const second = (await client.submit({ command: "true" })).id;
      assert.deepEqual((await client.jobs()).map((j) => j.id), [second, first]);
      assert.deepEqual(Object.keys(await client.jobs({ details: true })), [String(second), String(first)]);
      assert.deepEqual((await client.jobs({ details: true, listing: true })).map((j) => j.id), [second, first]);
      assert.deepEqual((await client.jobs({ details: true, listing: true, limit: 1 })).map((j) => j.id), [second]);
      const search = await client.search({ draw: 3 });
      assert.equal(search.recordsTotal, 2);
      assert.equal(search.draw, 3);
    });

    it("cancels a running job and reports the server's refusal for a finished one", async () => {
      const { id } = await client.submit({ command: "sleep 30" });
      assert.match(await client.cancel(id), /requested to cancel/);
      const final = await client.wait(id, { timeoutMs: 5000 });
      assert.equal(final.result, "CANCELED");
      await assert.rejects(client.cancel(id), (err: ApiError) => err instanceof ApiError && err.status === 400 && /inactive/.test(err.message));
    });

    it("reports an unknown job as such on every job route", async () => {
      const unknown = 424242n;
      await assert.rejects(client.jobInfo(unknown), JobNotFoundError); // server: 200 null
      await assert.rejects(client.output(unknown), JobNotFoundError); // server: 200 "does not exist yet"
      await assert.rejects(client.cancel(unknown), JobNotFoundError); // server: 400 "unknown job id"
      await assert.rejects(client.wait(unknown), JobNotFoundError);
      await assert.rejects(collect(client.outputLines(unknown)), JobNotFoundError);
    });

    it("streams output lines and synthesized events by polling where SSE is absent", async () => {
      const { id } = await client.submit({ command: "echo hello world", numTasks: 3 });
      const lines = await collect(client.outputLines(id));
      assert.deepEqual(lines.map((l) => l.line), ["hello world", "hello world", "hello world"]);
      const events = await collect(client.events(id));
      assert.deepEqual(events.map((e) => e.name), ["submit", "start", "finish", "clean"]);
      assert.ok(events.every((e) => e.synthesized));
      assert.ok(server.requests.some((r) => r.path.endsWith("/output/events") && r.method === "GET"), "SSE was tried first");
    });

    it("does not time out output requests that the server holds until the job ends", async () => {
      const slow = new FluxRestfulClient({ host: server.url, timeoutMs: 200 });
      const { id } = await slow.submit({ command: "sleep 0.6" });
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await slow.output(id), []);
    });

    it("times a request out, and retries a GET that timed out", async () => {
      const impatient = new FluxRestfulClient({ host: server.url, timeoutMs: 100, retries: 1, minDelayMs: 5 });
      server.stallNext(1, 400);
      assert.equal((await impatient.nodes()).length, 4);
      server.stallNext(2, 400);
      await assert.rejects(impatient.nodes(), (err: Error) => err instanceof ConnectionError && /timed out/.test(err.message));
      await impatient.submit({ command: "true" }); // reads the OpenAPI document: no Idempotency-Key here
      server.stallNext(1, 400);
      const before = server.requests.length;
      await assert.rejects(impatient.submit({ command: "true" }), (err: Error) => {
        assert.ok(err instanceof SubmitOutcomeUnknownError, String(err));
        assert.equal(err.idempotencyKey, undefined);
        assert.match(err.message, /^the job may or may not have been created \(cannot reach .*: timed out \(TIMEOUT\)\); check the job list before submitting again/);
        return true;
      });
      assert.equal(server.requests.length - before, 1, "a submit that timed out may have run: not resent");
    });

    it("retries a POST with an Idempotency-Key like a GET; other POSTs only when surely not sent", async () => {
      const transport = new Transport({ baseUrl: server.url, timeoutMs: 5000, retries: 3, minDelayMs: 5 });
      const count = () => server.requests.filter((r) => r.path === "/v1/nodes").length;
      server.failNext(3, 504);
      const keyed = await transport.send({ method: "POST", path: "v1/nodes", headers: { "Idempotency-Key": '"k1"' } });
      assert.deepEqual([keyed.status, count()], [405, 4], "three 504s, then the route's own answer");
      server.failNext(1, 502);
      assert.equal((await transport.send({ method: "POST", path: "v1/nodes" })).status, 502);
      assert.equal(count(), 5, "a plain POST answered 502 may have run: not resent");
    });

    it("gives up waiting after the timeout", async () => {
      const { id } = await client.submit({ command: "sleep 30" });
      await assert.rejects(client.wait(id, { timeoutMs: 150 }), WaitTimeoutError);
      await client.cancel(id);
    });

    it("refuses a job name where the OpenAPI document has none", async () => {
      await assert.rejects(client.submit({ command: "true", name: "x" }), (err: Error) => err instanceof FluxRestfulError && /does not accept a job name/.test(err.message));
    });

    it("turns submit validation errors into one-line messages", async () => {
      await assert.rejects(client.submit({ command: "hostname", numNodes: 5 }), (err: ApiError) => {
        assert.equal(err.message, "Invalid submit request: The server only has 4 nodes, you requested 5 (HTTP 400)");
        return true;
      });
    });

    it("retries 503 and 429 (honouring Retry-After) but not a failed submit", async () => {
      server.failNext(2, 503);
      assert.equal((await client.nodes()).length, 4);
      server.failNext(1, 429, { "retry-after": "1" });
      const started = Date.now();
      await client.nodes();
      assert.ok(Date.now() - started >= 950, "waited for Retry-After");
      await client.submit({ command: "true" }); // reads the OpenAPI document first
      server.failNext(1, 500);
      const before = server.requests.length;
      await assert.rejects(client.submit({ command: "true" }), (err: ApiError) => err.status === 500);
      assert.equal(server.requests.length - before, 1, "a POST that may have run is not resent");
    });

    it("stops retrying after the configured number of attempts", async () => {
      const few = new FluxRestfulClient({ host: server.url, retries: 2, minDelayMs: 5 });
      server.failNext(10, 502);
      const before = server.requests.length;
      await assert.rejects(few.nodes(), (err: ApiError) => err.status === 502);
      assert.equal(server.requests.length - before, 3);
    });

    it("waits through a server restart", async () => {
      const { id } = await client.submit({ command: "sleep 0.8" });
      const port = Number(new URL(server.url).port);
      const waiting = client.wait(id, { timeoutMs: 15_000 });
      await new Promise((r) => setTimeout(r, 100));
      await server.close();
      await new Promise((r) => setTimeout(r, 300));
      await server.listen(port);
      assert.equal((await waiting).state, "INACTIVE");
    });
  });

  describe("event streams (our sidecar's SSE routes)", () => {
    let server: PythonLikeServer;
    let client: FluxRestfulClient;
    beforeEach(async () => {
      server = await new PythonLikeServer({ sse: true, nodes: ["a", "b"] }).listen();
      client = new FluxRestfulClient({ host: server.url, pollIntervalMs: 20, minDelayMs: 10 });
    });
    afterEach(() => server.close());

    it("reads output lines with their stream and rank, and the eventlog up to clean", async () => {
      const { id } = await client.submit({ command: "echo hi", numTasks: 2 });
      const lines: OutputLine[] = await collect(client.outputLines(id));
      assert.deepEqual(lines, [
        { line: "hi", stream: "stdout", rank: "0" },
        { line: "hi", stream: "stdout", rank: "1" },
      ]);
      const events: JobEvent[] = await collect(client.events(id));
      assert.deepEqual(events.map((e) => e.name), ["submit", "depend", "priority", "alloc", "start", "finish", "release", "free", "clean"]);
      assert.ok(!server.requests.some((r) => r.path.endsWith("/output") && r.method === "GET"), "no polling");
    });

    it("reconnects after a dropped stream without repeating events", async () => {
      const { id } = await client.submit({ command: "sleep 0.2" });
      server.dropStreamAfter = 4;
      const events = await collect(client.events(id));
      assert.deepEqual(events.map((e) => e.name), ["submit", "depend", "priority", "alloc", "start", "finish", "release", "free", "clean"]);
      assert.equal(server.requests.filter((r) => r.path.endsWith("/events")).length, 2);
    });
  });

  describe("authentication (Python server semantics)", () => {
    let server: PythonLikeServer;
    afterEach(() => server.close());

    it("does the handshake once and reuses the token", async () => {
      server = await new PythonLikeServer({ auth: AUTH }).listen();
      const client = new FluxRestfulClient({ host: server.url, ...AUTH });
      assert.deepEqual(await client.nodes(), ["vm"]);
      const { id } = await client.submit({ command: "hostname", envars: { A: "1" } });
      await client.wait(id);
      const tokenRequests = server.requests.filter((r) => r.path === "/v1/token");
      assert.equal(tokenRequests.length, 1);
      assert.equal(server.requests[0].authorization, undefined);
      assert.equal(server.requests.filter((r) => r.path !== "/v1/token").at(-1)!.authorization?.split(" ")[0], "Bearer");
      const submits = server.requests.filter((r) => r.path === "/v1/jobs/submit");
      assert.equal(submits.length, 1, "the submit was sent once, with the cached token");
      assert.equal(submits[0].query.get("command"), "hostname", "and kept its query");
    });

    it("re-authenticates when the token expires (403 Could not validate credentials)", async () => {
      server = await new PythonLikeServer({ auth: { ...AUTH, expiresSeconds: 60 } }).listen();
      const client = new FluxRestfulClient({ host: server.url, ...AUTH });
      await client.nodes();
      server.clockOffsetSeconds = 3600;
      assert.deepEqual(await client.nodes(), ["vm"]);
      assert.equal(server.requests.filter((r) => r.path === "/v1/token").length, 2);
      server.clockOffsetSeconds = 7200;
      const together = await Promise.all(Array.from({ length: 5 }, () => client.nodes()));
      assert.deepEqual(together, Array.from({ length: 5 }, () => ["vm"]));
      assert.equal(server.requests.filter((r) => r.path === "/v1/token").length, 3, "requests refused together share one login");
    });

    it("explains a wrong secret key, a wrong password and missing credentials", async () => {
      server = await new PythonLikeServer({ auth: AUTH }).listen();
      const wrongSecret = new FluxRestfulClient({ host: server.url, ...AUTH, secretKey: "nope" });
      await assert.rejects(wrongSecret.nodes(), (err: Error) => err instanceof AuthenticationError && /secret key/.test(err.message));
      const wrongPassword = new FluxRestfulClient({ host: server.url, ...AUTH, token: "54321" });
      await assert.rejects(wrongPassword.nodes(), (err: Error) => err instanceof AuthenticationError && /HTTP 400: Denied/.test(err.message));
      const anonymous = new FluxRestfulClient({ host: server.url });
      await assert.rejects(anonymous.nodes(), (err: Error) => err instanceof AuthenticationError && /requires authentication/.test(err.message));
    });

    it("answers a Basic challenge with Basic credentials", async () => {
      server = await new PythonLikeServer({ auth: { ...AUTH, challenge: "Basic" } }).listen();
      const client = new FluxRestfulClient({ host: server.url, user: AUTH.user, token: AUTH.token });
      assert.deepEqual(await client.nodes(), ["vm"]);
      assert.equal(server.requests.at(-1)!.authorization, `Basic ${Buffer.from("fluxuser:12345").toString("base64")}`);
      const wrong = new FluxRestfulClient({ host: server.url, user: AUTH.user, token: "bad" });
      await assert.rejects(wrong.nodes(), AuthenticationError);
    });
  });

  it("names an unreachable host in one line", async () => {
    const port = await closedPort();
    const client = new FluxRestfulClient({ host: `http://127.0.0.1:${port}`, retries: 1, minDelayMs: 5 });
    await assert.rejects(client.nodes(), (err: Error) => {
      assert.ok(err instanceof ConnectionError);
      assert.equal(err.message, `cannot reach http://127.0.0.1:${port}: connection refused (ECONNREFUSED)`);
      return true;
    });
  });
});
