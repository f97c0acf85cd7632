/**
 * Broker faults, injected by a byte-level proxy between the sidecar and the broker, so the same
 * specs run against the test broker and (FLUX_CONTRACT_REAL=1 inside `flux start`) a real one:
 * the broker killed mid-request and mid-stream, restarted, slow, sending garbage or an oversized
 * frame, absent at start. Every request ends in a clear JSON 503/504 (or an error event on an
 * SSE stream), never a hang or a 500; service resumes within 2 s of the broker's return; nothing
 * is left behind (pending broker calls, open streams, sockets, timers).
 */
import assert from "node:assert/strict";
import { startBroker } from "../support/broker";
import { FaultProxy, GARBAGE_BYTES, oversizedFrameHeader } from "./support/fault-proxy";
import { startHarness, submit, type Broker, type Harness } from "./support/harness";
import { StreamReader } from "./support/stream-reader";

/** The promise: the first successful answer comes at most this long after the broker is back. */
const RESUME_WITHIN_MS = 2_000;
/** A request to a broker that has gone must be answered at least this quickly (never hang). */
const FAIL_WITHIN_MS = 2_000;
/** Realistic downtime with clients polling meanwhile, long enough for reconnect backoff to grow. */
const DOWNTIME_MS = 3_500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Network handles and timers of this process, by kind. */
function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** The sidecar client's in-flight broker calls (asked for as a public FluxClient.pendingCount). */
function pendingBrokerCalls(h: Harness): number {
  const rpc = (h.flux as unknown as { rpc?: { pendingCount?: unknown } }).rpc;
  assert.equal(typeof rpc?.pendingCount, "number", "FluxClient no longer exposes rpc.pendingCount");
  return rpc!.pendingCount as number;
}

async function openStreamsGauge(h: Harness): Promise<number> {
  const text = await (await h.api("/metrics")).text();
  const match = /^flux_sidecar_open_streams (\d+)/m.exec(text);
  assert.ok(match, "open streams gauge missing from /metrics");
  return Number(match[1]);
}

/** Asserts a clear broker-unavailable answer: 503, JSON detail naming the broker, Retry-After. */
async function assertUnavailable(res: Response, what: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, 503, `${what}: ${res.status} ${text}`);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  assert.match(JSON.parse(text).detail, /^The Flux broker is not available: /, what);
  assert.ok(Number(res.headers.get("retry-after")) > 0, "Retry-After");
}

/** Polls `path` every 50 ms until it answers 200; returns the time that took. */
async function msUntilOk(h: Harness, path: string, limitMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const res = await h.api(path);
    await res.arrayBuffer();
    if (res.status === 200) return performance.now() - started;
    assert.ok([503, 504].includes(res.status), `unexpected ${res.status} while waiting for ${path}`);
    if (performance.now() - started > limitMs) throw new Error(`${path} not back within ${limitMs} ms`);
    await sleep(50);
  }
}

/** Asserts the first 200 on `path` comes within RESUME_WITHIN_MS of the broker's return (just now). */
async function assertResumed(h: Harness, path: string): Promise<void> {
  const ms = await msUntilOk(h, path, 10_000);
  assert.ok(ms <= RESUME_WITHIN_MS, `service resumed ${ms.toFixed(0)} ms after the broker came back (promise: ${RESUME_WITHIN_MS} ms)`);
}

/** Keeps clients polling while the broker is away (as load balancers and users do). */
async function pollWhileDown(h: Harness, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const started = performance.now();
    const res = await h.api("/v1/nodes");
    await res.arrayBuffer();
    assert.equal(res.status, 503);
    assert.ok(performance.now() - started < FAIL_WITHIN_MS, "a request to a missing broker took too long");
    await sleep(50);
  }
}

/** A job that prints one line, then keeps running, so its output stream stays open. */
async function startLongJob(h: Harness): Promise<string> {
  const id = await submit(h, "sh -c 'echo first; exec sleep 60'");
  const started = performance.now();
  for (;;) {
    const body = (await (await h.api(`/v1/jobs/${id}/output`)).json()) as { Output?: string[] };
    if (body.Output?.includes("first\n")) return id;
    if (performance.now() - started > 10_000) throw new Error(`job ${id} printed nothing`);
    await sleep(50);
  }
}

describe("reliability: broker faults", function () {
  this.timeout(30_000);
  let broker: Broker;
  let proxy: FaultProxy;
  let h: Harness;
  let baseline: Map<string, number>;
  const longJobs: string[] = [];

  before(async () => {
    broker = await startBroker();
    baseline = activeResources();
  });

  after(async () => {
    await broker?.stop();
  });

  describe("each fault", () => {
    beforeEach(async () => {
      proxy = await FaultProxy.start(broker.uri);
      h = await startHarness({ broker, fluxUri: proxy.uri });
    });

    /** One successful call, so the fault hits an established broker connection. */
    async function connected(): Promise<void> {
      const res = await h.api("/v1/nodes");
      await res.arrayBuffer();
      assert.equal(res.status, 200);
    }

    afterEach(async () => {
      await proxy.resume();
      proxy.replyDelayMs = 0;
      for (const id of longJobs.splice(0)) await (await h.api(`/v1/jobs/${id}/cancel`, { method: "POST" })).arrayBuffer();
      await h.stop();
      await proxy.stop();
    });

    /** Nothing of this fault is left in the sidecar: no broker call pending, no stream open. */
    async function assertSettled(): Promise<void> {
      const deadline = performance.now() + 2_000;
      while (pendingBrokerCalls(h) > 0 || (await openStreamsGauge(h)) > 0) {
        assert.ok(performance.now() < deadline, `left behind: ${pendingBrokerCalls(h)} broker calls, ${await openStreamsGauge(h)} streams`);
        await sleep(50);
      }
    }

    it("socket missing at start: 503 with the reason at once, /healthz up, service within 2 s of the broker's arrival", async () => {
      await proxy.suspend();
      await assertUnavailable(await h.api("/v1/jobs"), "GET /v1/jobs");
      const ready = await fetch(`${h.url}/readyz`);
      assert.equal(ready.status, 503);
      const { reason } = (await ready.json()) as { reason: string };
      // How the socket goes away (removed, refusing, reset mid-connect) decides the code.
      assert.match(reason, /socket cannot be reached \((ENOENT|ECONNREFUSED|ECONNRESET)\)/, "readyz says why");
      assert.ok(!reason.includes(proxy.socketPath), "readyz names no path to an unauthenticated caller");
      assert.ok(h.logLines.some((line) => line.includes(proxy.socketPath)), "the log names the socket");
      assert.equal((await fetch(`${h.url}/healthz`)).status, 200);
      await pollWhileDown(h, DOWNTIME_MS);
      await proxy.resume();
      await assertResumed(h, "/v1/jobs");
      await assertSettled();
    });

    it("broker killed mid-request: every in-flight request gets a 503, then service resumes within 2 s", async () => {
      await connected();
      proxy.replyDelayMs = 1_000;
      const started = performance.now();
      const inFlight = ["/v1/jobs", "/v1/nodes", "/v1/jobs?details=true", "/v1/jobs/search"].map((path) => h.api(path));
      await sleep(200);
      const killedAt = performance.now();
      await proxy.suspend();
      for (const [i, res] of (await Promise.all(inFlight)).entries()) await assertUnavailable(res, `in-flight request ${i}`);
      assert.ok(performance.now() - killedAt < FAIL_WITHIN_MS, `answered ${(performance.now() - started).toFixed(0)} ms after start`);
      proxy.replyDelayMs = 0;
      await pollWhileDown(h, DOWNTIME_MS);
      await proxy.resume();
      await assertResumed(h, "/v1/nodes");
      await assertSettled();
    });

    it("broker killed mid-stream: SSE streams end with an error event, the text stream ends, new streams work after restart", async () => {
      const id = await startLongJob(h);
      longJobs.push(id);
      const sse = new StreamReader(await h.api(`/v1/jobs/${id}/output/events`));
      const events = new StreamReader(await h.api(`/v1/jobs/${id}/events`));
      const text = new StreamReader(await h.api(`/v1/jobs/${id}/output/stream`));
      await sse.waitFor((t) => t.includes("first"), 5_000);
      await events.waitFor((t) => t.includes('"name":"start"'), 5_000);
      await text.waitFor((t) => t.includes("first"), 5_000);
      await proxy.suspend();
      for (const [name, reader] of [["output events", sse], ["job events", events]] as const) {
        await reader.endWithin(FAIL_WITHIN_MS);
        assert.match(reader.text, /event: error\ndata: \{"detail":"[^"]+"\}\n\n$/, `${name} stream ends with an error event`);
      }
      const end = await text.endWithin(FAIL_WITHIN_MS);
      assert.ok(end.error, "the plain text stream must break off (not end cleanly) so the client knows it is incomplete");
      await proxy.resume();
      await assertResumed(h, `/v1/jobs/${id}`);
      const again = new StreamReader(await h.api(`/v1/jobs/${id}/output/events`));
      await again.waitFor((t) => t.includes("first"), 5_000);
      await (await h.api(`/v1/jobs/${id}/cancel`, { method: "POST" })).arrayBuffer();
      await again.endWithin(5_000);
      longJobs.splice(0);
      await assertSettled();
    });

    it("broker restarted: every route answers 503 while it is away and 200 within 2 s of its return", async () => {
      const id = await submit(h, "true");
      await proxy.suspend();
      const routes: Array<[string, RequestInit?]> = [
        ["/v1/jobs"],
        ["/v1/jobs?details=true&listing=true"],
        ["/v1/jobs/search"],
        [`/v1/jobs/${id}`],
        [`/v1/jobs/${id}/output`],
        [`/v1/jobs/${id}/output/stream`],
        [`/v1/jobs/${id}/output/events`],
        [`/v1/jobs/${id}/events`],
        ["/v1/jobs/submit?command=true", { method: "POST" }],
        [`/v1/jobs/${id}/cancel`, { method: "POST" }],
        ["/v1/nodes"],
      ];
      for (const [path, init] of routes) await assertUnavailable(await h.api(path, init), path);
      await pollWhileDown(h, DOWNTIME_MS);
      await proxy.resume();
      await assertResumed(h, "/v1/nodes");
      for (const [path, init] of routes.filter(([p]) => !p.includes("/cancel"))) {
        const res = await h.api(path, init);
        await res.arrayBuffer();
        assert.equal(res.status, 200, path);
      }
      await assertSettled();
    });

    it("slow broker: slow answers still succeed", async () => {
      proxy.replyDelayMs = 300;
      const res = await h.api("/v1/jobs");
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      await assertSettled();
    });

    it("broker slower than the call timeout: 504 with a clear message, and later calls are unaffected", async () => {
      await h.stop();
      h = await startHarness({ broker, fluxUri: proxy.uri, fluxTimeoutMs: 1_000 });
      await connected();
      proxy.replyDelayMs = 2_500;
      const started = performance.now();
      const res = await h.api("/v1/jobs");
      const body = (await res.json()) as { detail: string };
      assert.equal(res.status, 504);
      assert.match(body.detail, /^The Flux broker did not answer in time: /);
      assert.ok(performance.now() - started < 2_500, "answered at the timeout, not when the broker did");
      proxy.replyDelayMs = 0;
      await sleep(2_000); // the late replies arrive and must be ignored
      await assertResumed(h, "/v1/jobs");
      await assertSettled();
    });

    for (const [fault, bytes] of [
      ["garbage bytes", GARBAGE_BYTES],
      ["an oversized frame", oversizedFrameHeader()],
    ] as const) {
      it(`broker sending ${fault} mid-request: a clear 503, never a 500, then service within 2 s`, async () => {
        await connected();
        proxy.replyDelayMs = 500;
        const pending = h.api("/v1/jobs");
        await sleep(100);
        proxy.injectToClients(bytes);
        await assertUnavailable(await pending, "in-flight request");
        proxy.replyDelayMs = 0;
        await assertResumed(h, "/v1/jobs");
        await assertSettled();
      });

      it(`broker sending ${fault} mid-stream: the SSE stream ends with an error event`, async () => {
        const id = await startLongJob(h);
        longJobs.push(id);
        const sse = new StreamReader(await h.api(`/v1/jobs/${id}/output/events`));
        await sse.waitFor((t) => t.includes("first"), 5_000);
        proxy.injectToClients(bytes);
        await sse.endWithin(FAIL_WITHIN_MS);
        assert.match(sse.text, /event: error\ndata: \{"detail":"[^"]+"\}\n\n$/);
        await assertResumed(h, `/v1/jobs/${id}`);
      });
    }

    it("100 requests in flight when the broker dies: all answered 503, none pending afterwards", async () => {
      await connected();
      proxy.replyDelayMs = 1_000;
      const inFlight = Array.from({ length: 100 }, (_, i) => h.api(i % 2 ? "/v1/jobs" : "/v1/nodes"));
      await sleep(300);
      await proxy.suspend();
      const statuses = await Promise.all(inFlight.map(async (p) => (await p).status));
      assert.deepEqual([...new Set(statuses)], [503]);
      assert.equal(pendingBrokerCalls(h), 0);
      proxy.replyDelayMs = 0;
      await proxy.resume();
      await assertResumed(h, "/v1/nodes");
      await assertSettled();
    });
  });

  describe("afterwards", () => {
    it("leaves no sockets, servers or timers behind once every sidecar of this suite has closed", async () => {
      // Runs after "each fault": every sidecar and proxy there has been closed by its afterEach.
      const deadline = performance.now() + 5_000;
      for (;;) {
        const grown = [...activeResources()].filter(([kind, n]) => n > (baseline.get(kind) ?? 0));
        if (grown.length === 0) return;
        assert.ok(performance.now() < deadline, `left behind: ${JSON.stringify(grown)}`);
        await sleep(100);
      }
    });
  });
});
