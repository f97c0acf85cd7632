/**
 * Bad input never hurts: malformed JSON, wrong types, negative and huge counts, oversized
 * bodies, unknown routes, a broker that goes away (503, then recovery). Every answer is JSON with
 * the right status, never a stack trace; metrics count it all.
 */
import assert from "node:assert/strict";
import { startBroker } from "../support/broker";
import { apiFor, type Api, type Broker, q, type Sidecar, sleep, startTestSidecar, submit } from "./support";

describe("sidecar: bad input and broker failures", function () {
  this.timeout(60_000);
  let broker: Broker;
  let sidecar: Sidecar;
  let api: Api;

  before(async () => {
    broker = await startBroker();
    // submit takes bodies up to what its files need (here 2*1024 + 2048 + 64 KiB), other routes FLUX_MAX_BODY_BYTES
    sidecar = await startTestSidecar(broker, { FLUX_MAX_BODY_BYTES: "4096", FLUX_MAX_JOB_FILES_BYTES: "1024", FLUX_MAX_JOB_FILES: "1" });
    api = apiFor(sidecar);
  });
  after(async () => {
    await sidecar?.close();
    await broker?.stop();
  });

  async function expectJson(res: Response, status: number): Promise<any> {
    assert.equal(res.status, status, `${res.url}`);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    const text = await res.text();
    assert.doesNotMatch(text, /\bat .*\.ts:\d+|node:internal|Error:/, "no stack trace");
    return JSON.parse(text);
  }

  it("malformed JSON body: 422 with a JSON detail", async () => {
    const body = await expectJson(await api("/v1/jobs/submit", { method: "POST", headers: { "content-type": "application/json" }, body: '{"command": "true",' }), 422);
    assert.equal(body.detail[0].type, "value_error.jsondecode");
    await expectJson(await api("/v1/jobs/submit", { method: "POST", headers: { "content-type": "application/json" }, body: "[1,2]" }), 422);
  });

  it("wrong types: 422 naming each field and where it came from", async () => {
    const res = await api("/v1/jobs/submit?num_nodes=x", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ command: "true", num_tasks: 1.5, exclusive: "maybe", workdir: { a: 1 } }),
    });
    const body = await expectJson(res, 422);
    const locs = body.detail.map((d: { loc: string[] }) => d.loc.join("."));
    assert.deepEqual(locs.sort(), ["body.exclusive", "body.num_tasks", "body.workdir", "query.num_nodes"]);
  });

  it("negative and huge counts are refused with clear messages", async () => {
    let body = await expectJson(await api(`/v1/jobs/submit?${q({ command: "true", num_tasks: -1, cores_per_task: 0, runtime: -5 })}`, { method: "POST" }), 400);
    assert.deepEqual(body.Errors, ["Runtime must be >= 0, found -5", "Parameter num_tasks must be >= 1", "Parameter cores_per_task must be >= 1"]);
    body = await expectJson(await api(`/v1/jobs/submit?${q({ command: "true", num_tasks: "99999999999999999999" })}`, { method: "POST" }), 422);
    assert.equal(body.detail[0].msg, "value is not a valid integer");
    body = await expectJson(await api(`/v1/jobs/submit?${q({ command: "true", num_tasks: 2 ** 40 })}`, { method: "POST" }), 422);
    assert.match(body.detail[0].msg, /less than or equal to/);
    body = await expectJson(await api(`/v1/jobs/submit?${q({ command: "true", num_tasks: 1000000, num_nodes: 1000000 })}`, { method: "POST" }), 400);
    assert.deepEqual(body.Errors, [`The server only has ${broker.size} nodes, you requested 1000000`]);
    body = await expectJson(await api(`/v1/jobs/submit?${q({ command: "true", num_tasks: 2, num_nodes: 3 })}`, { method: "POST" }), 400);
    assert.deepEqual(body, { Message: "There was an issue submitting that job.", Error: "node count must not be greater than task count" });
    await expectJson(await api("/v1/jobs?limit=-3&details=true"), 422);
    await expectJson(await api("/v1/jobs?details=perhaps"), 422);
  });

  it("unbalanced quotes, bad envars and is_launcher are 400s", async () => {
    let body = await expectJson(await api(`/v1/jobs/submit?${q({ command: "echo 'unbalanced" })}`, { method: "POST" }), 400);
    assert.equal(body.Error, "No closing quotation");
    body = await expectJson(await api("/v1/jobs/submit?command=true", { method: "POST", headers: { "content-type": "application/json" }, body: '{"A":{"nested":1}}' }), 400);
    assert.deepEqual(body.Errors, ["Environment variables must be key/value pairs (dict)"]);
    body = await expectJson(await api(`/v1/jobs/submit?${q({ command: "nextflow run x", is_launcher: true })}`, { method: "POST" }), 400);
    assert.match(body.Errors[0], /is_launcher is not supported/);
  });

  it("an oversized body is 413: past the submit route's own limit, and past FLUX_MAX_BODY_BYTES elsewhere", async () => {
    const limit = 2 * 1024 + 2048 + 64 * 1024;
    let body = await expectJson(await api("/v1/jobs/submit?command=true", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ A: "x".repeat(limit) }) }), 413);
    assert.match(body.detail, new RegExp(`too large \\(limit ${limit} bytes\\)`));
    await expectJson(await api("/v1/jobs/submit?command=true", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ A: "x".repeat(10_000) }) }), 200);
    body = await expectJson(await api("/ui/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "x".repeat(10_000) }) }), 413);
    assert.match(body.detail, /too large \(limit 4096 bytes\)/);
  });

  it("unknown routes are 404 JSON, wrong methods too", async () => {
    assert.deepEqual(await expectJson(await api("/v2/jobs"), 404), { detail: "Not Found" });
    assert.deepEqual(await expectJson(await api("/v1/jobs/1/nothing"), 404), { detail: "Not Found" });
    await expectJson(await api("/v1/nodes", { method: "DELETE" }), 404);
  });

  it("GET /metrics counts requests by route and status", async () => {
    await api("/v1/nodes");
    const text = await (await api("/metrics")).text();
    assert.match(text, /flux_sidecar_http_requests_total\{method="GET",route="\/v1\/nodes",status="200"\} \d+/);
    assert.match(text, /flux_sidecar_process_resident_memory_bytes \d+/);
    assert.match(text, /flux_sidecar_nodejs_eventloop_lag_seconds \d/);
    assert.doesNotMatch(text, /nodejs_gc_duration_seconds/); // left out: it costs memory under load (sidecar/api/metrics.ts)
  });

  it("shutting down ends open streams instead of waiting for them", async () => {
    const own = await startTestSidecar(broker);
    const ownApi = apiFor(own);
    const id = await submit(ownApi, q({ command: "sleep 30" }));
    const res = await ownApi(`/v1/jobs/${id}/output/events`);
    assert.equal(res.status, 200);
    const body = res.text().catch(() => "cut");
    await own.close();
    // Ended by the server (a complete, empty event stream), not cut after the grace period.
    assert.equal(await body, "");
    await api(`/v1/jobs/${id}/cancel`, { method: "POST" });
  });

  it("broker down: 503 with a clear message and /readyz says why; both recover when it returns", async function () {
    const testBroker = broker.testBroker;
    if (!testBroker) this.skip(); // needs the test broker's fault hooks
    assert.equal((await api("/readyz")).status, 200);
    await testBroker.suspend();
    try {
      const body = await expectJson(await api("/v1/jobs"), 503);
      assert.match(body.detail, /^The Flux broker is not available: /);
      const ready = await expectJson(await api("/readyz"), 503);
      assert.equal(ready.status, "unavailable");
      assert.ok(ready.reason.length > 0);
      assert.equal((await api("/healthz")).status, 200);
    } finally {
      await testBroker.resume();
    }
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await api("/v1/jobs")).status;
      if (status !== 200) await sleep(100);
    }
    assert.equal(status, 200);
    assert.equal((await api("/readyz")).status, 200);
  });
});
