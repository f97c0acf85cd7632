/**
 * flux-restful-api v1 compatibility with auth off: paths, JSON keys and key order, messages,
 * status codes, exact integer ids, and the expectations of the Python client's own test-suite.
 */
import assert from "node:assert/strict";
import { formatJobId } from "../../sidecar/flux";
import { startBroker } from "../support/broker";
import { apiFor, type Api, type Broker, parseSse, q, type Sidecar, sleep, startTestSidecar, submit, waitInactive, waitRunning } from "./support";

describe("sidecar: flux-restful-api v1 compatibility (auth off)", function () {
  this.timeout(60_000);
  let broker: Broker;
  let sidecar: Sidecar;
  let api: Api;

  before(async () => {
    broker = await startBroker();
    sidecar = await startTestSidecar(broker);
    api = apiFor(sidecar);
  });
  after(async () => {
    await sidecar?.close();
    await broker?.stop();
  });

  it("GET /v1/nodes lists each up host once", async () => {
    const res = await api("/v1/nodes");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json");
    const body = (await res.json()) as { nodes: string[] };
    assert.deepEqual(Object.keys(body), ["nodes"]);
    assert.deepEqual(body.nodes, [...new Set(broker.hostnames)]);
  });

  it("GET /v1/cluster summarises nodes, cores, GPUs and the submit limits", async () => {
    const blocker = await submit(api, q({ command: "sleep 30" }));
    await waitRunning(api, blocker);
    const res = await api("/v1/cluster");
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, any>;
    assert.deepEqual(Object.keys(body), ["up", "down", "allocated", "free", "cores", "gpus", "limits", "fluxVersion"]);
    assert.equal(body.fluxVersion, broker.version);
    assert.equal(body.up.length, broker.size);
    assert.deepEqual(body.down, []);
    assert.equal(body.allocated.length, 1);
    assert.equal(body.cores.allocated, 1);
    assert.ok(body.cores.up >= broker.size, JSON.stringify(body.cores));
    assert.deepEqual(body.limits, { maxNodes: broker.size, gpus: false });
    await api(`/v1/jobs/${blocker}/cancel`, { method: "POST" });
    await waitInactive(api, blocker);
  });

  it("submit answers {Message, id} with the id as a bare JSON integer", async () => {
    const res = await api(`/v1/jobs/submit?${q({ command: "hostname", num_nodes: 1, num_tasks: 1 })}`, { method: "POST" });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^\{"Message":"Job submit\.","id":\d+\}$/);
  });

  it("GET /v1/jobs/{id} has the Python key order, string state, floats with .0 and the exception object", async () => {
    const id = await submit(api, q({ command: "true" }));
    await waitInactive(api, id);
    const res = await api(`/v1/jobs/${id}`);
    const text = await res.text();
    assert.equal(res.status, 200);
    assert.ok(text.startsWith(`{"id":${id},"userid":`), text);
    assert.match(text, /"duration":0\.0[,}]/);
    assert.match(text, /"expiration":0\.0[,}]/);
    const body = JSON.parse(text) as Record<string, unknown>;
    const keys = Object.keys(body);
    assert.deepEqual(keys.slice(0, 4), ["id", "userid", "urgency", "priority"]);
    assert.deepEqual(keys.slice(-4), ["waitstatus", "returncode", "runtime", "exception"]);
    assert.ok(keys.length > 20, `only ${keys.length} keys`);
    assert.equal(body.state, "INACTIVE");
    assert.equal(body.result, "COMPLETED");
    assert.equal(body.returncode, 0);
    assert.deepEqual(body.exception, { occurred: false, severity: "", type: "", note: "" });
  });

  it("a job that has not finished has empty-string result, returncode and exception fields", async () => {
    const id = await submit(api, q({ command: "sleep 30" }));
    const body = (await (await api(`/v1/jobs/${id}`)).json()) as Record<string, unknown>;
    assert.equal(body.result, "");
    assert.equal(body.returncode, "");
    assert.deepEqual(body.exception, { occurred: "", severity: "", type: "", note: "" });
    await api(`/v1/jobs/${id}/cancel`, { method: "POST" });
  });

  it("submit takes a job name (beyond the Python API), kept as text", async () => {
    const name = "<b>nightly</b> run";
    const id = await submit(api, q({ command: "true", name }));
    const body = (await (await api(`/v1/jobs/${id}`)).json()) as Record<string, unknown>;
    assert.equal(body.name, name);
  });

  it("envars sent as a Python dict in the query string (what the Python client does) reach the job", async () => {
    const id = await submit(api, q({ command: "printenv GREETING", envars: "{'GREETING': 'hello'}" }));
    await waitInactive(api, id);
    const body = (await (await api(`/v1/jobs/${id}/output`)).json()) as { Output: string[] };
    assert.deepEqual(body.Output, ["hello\n"]);
  });

  it("ids are accepted as f58 in paths", async () => {
    const id = await submit(api, q({ command: "true" }));
    const f58 = formatJobId(BigInt(id), "f58");
    const res = await api(`/v1/jobs/${encodeURIComponent(f58)}`);
    assert.equal(res.status, 200);
    assert.ok((await res.text()).startsWith(`{"id":${id},`));
  });

  it("unknown ids get 404 and malformed ids 400, with a JSON message", async () => {
    for (const path of ["/v1/jobs/123456789", "/v1/jobs/123456789/output"]) {
      const res = await api(path);
      assert.equal(res.status, 404, path);
      assert.match(((await res.json()) as { Message: string }).Message, /no job with id 123456789/);
    }
    for (const path of ["/v1/jobs/abc", "/v1/jobs/abc/output", "/v1/jobs/99999999999999999999999/output/stream"]) {
      const res = await api(path);
      assert.equal(res.status, 400, path);
      assert.match(((await res.json()) as { Message: string }).Message, /^Invalid job id/);
    }
  });

  it("cancel: 'requested to cancel', then 'cannot be cancelled'; malformed 400, unknown 404", async () => {
    const id = await submit(api, q({ command: "sleep 30" }));
    let res = await api(`/v1/jobs/${id}/cancel`, { method: "POST" });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), `{"Message":"Job is requested to cancel.","id":"${id}"}`);
    const info = await waitInactive(api, id);
    assert.equal(info.result, "CANCELED");
    res = await api(`/v1/jobs/${id}/cancel`, { method: "POST" });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { Message: string }).Message, /^Job cannot be cancelled: .*inactive/);
    res = await api("/v1/jobs/abc/cancel", { method: "POST" });
    assert.equal(res.status, 400);
    assert.deepEqual(Object.keys((await res.json()) as object), ["Message", "id"]);
    res = await api("/v1/jobs/123456789/cancel", { method: "POST" });
    assert.equal(res.status, 404);
    assert.match(((await res.json()) as { Message: string }).Message, /^Job cannot be cancelled: /);
  });

  it("output: an immediate snapshot of a running job, lines ending in \\n", async () => {
    const id = await submit(api, q({ command: "sh -c 'echo first; echo second; sleep 30'" }));
    await waitRunning(api, id);
    let output: string[] | undefined;
    for (let i = 0; i < 100 && !output?.includes("second\n"); i++) {
      output = ((await (await api(`/v1/jobs/${id}/output`)).json()) as { Output?: string[] }).Output;
      await sleep(50);
    }
    assert.deepEqual(output, ["first\n", "second\n"]);
    // answered while the job still runs: the snapshot did not wait for the end
    assert.equal(((await (await api(`/v1/jobs/${id}`)).json()) as { state: string }).state, "RUN");
    await api(`/v1/jobs/${id}/cancel`, { method: "POST" });
  });

  it("output of a job that has not started says it does not exist yet", async () => {
    // More nodes than the instance has cores free is not needed: a dependency-free job that
    // cannot start keeps the answer deterministic: exclusive on every node, queued behind one.
    const blocker = await submit(api, q({ command: "sleep 30", num_nodes: broker.size, num_tasks: broker.size, exclusive: true }));
    const id = await submit(api, q({ command: "true", num_nodes: broker.size, num_tasks: broker.size, exclusive: true }));
    const res = await api(`/v1/jobs/${id}/output`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '{"Message":"The output does not exist yet, or the jobid is incorrect."}');
    await api(`/v1/jobs/${blocker}/cancel`, { method: "POST" });
    await api(`/v1/jobs/${id}/cancel`, { method: "POST" });
  });

  it("output/stream is chunked text until the output ends", async () => {
    const id = await submit(api, q({ command: "sh -c 'echo one; sleep 0.3; echo two'" }));
    const res = await api(`/v1/jobs/${id}/output/stream`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    assert.equal(await res.text(), "one\ntwo\n");
  });

  it("output/events and events are Server-Sent Events ending with `end`", async () => {
    const id = await submit(api, q({ command: "sh -c 'echo out; echo err >&2'" }));
    let res = await api(`/v1/jobs/${id}/output/events`);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const output = parseSse(await res.text());
    assert.equal(output.at(-1)?.event, "end");
    const chunks = output.filter((e) => e.event === "output").map((e) => e.data as { stream: string; rank: string; data: string });
    assert.deepEqual(chunks.map((c) => `${c.stream}:${c.rank}:${c.data}`).sort(), ["stderr:0:err\n", "stdout:0:out\n"]);

    res = await api(`/v1/jobs/${id}/events`);
    const events = parseSse(await res.text());
    assert.equal(events.at(-1)?.event, "end");
    const names = events.filter((e) => e.event === "eventlog").map((e) => (e.data as { name: string }).name);
    assert.equal(names[0], "submit");
    assert.equal(names.at(-1), "clean");
    assert.ok(names.includes("start") && names.includes("finish"), names.join(","));
  });

  it("unknown job streams answer 404 before streaming", async () => {
    for (const path of ["/v1/jobs/123456789/output/stream", "/v1/jobs/123456789/output/events", "/v1/jobs/123456789/events"]) {
      assert.equal((await api(path)).status, 404, path);
    }
  });

  it("submit takes fields from a JSON body, a form body, or the query with envars as the body", async () => {
    let res = await api("/v1/jobs/submit", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ command: "printenv FOO", num_tasks: "2", envars: { FOO: "json" } }),
    });
    const fromJson = ((await res.json()) as { id: number }).id;
    res = await api("/v1/jobs/submit", { method: "POST", body: new URLSearchParams({ command: "printenv FOO", envars: '{"FOO":"form"}' }) });
    const fromForm = ((await res.json()) as { id: number }).id;
    const fromQuery = await submit(api, q({ command: "printenv FOO", option_flags: "cpu-affinity=off" }), {
      headers: { "content-type": "application/json" },
      body: '{"FOO":"query"}',
    });
    const outputs: string[][] = [];
    for (const id of [String(fromJson), String(fromForm), fromQuery]) {
      const info = await waitInactive(api, id);
      assert.equal(info.result, "COMPLETED", JSON.stringify(info));
      outputs.push(((await (await api(`/v1/jobs/${id}/output`)).json()) as { Output: string[] }).Output);
    }
    assert.deepEqual(outputs, [["json\n", "json\n"], ["form\n"], ["query\n"]]);
  });

  it("submit validation: Python's messages and status codes", async () => {
    const cases: Array<[string, number, unknown]> = [
      ["", 400, { Message: "A 'command' is minimally required." }],
      [q({ command: "true", option_flags: "-ompi=noodles" }), 400, { Message: "Invalid submit request", Errors: ["Please provide keys without -o, -ompi is invalid."] }],
      [q({ command: "true", gpus_per_task: 1 }), 400, { Message: "Invalid submit request", Errors: ["This server does not support gpus: gpus_per_task cannot be set."] }],
      [q({ command: "true", num_nodes: broker.size + 1 }), 400, { Message: "Invalid submit request", Errors: [`The server only has ${broker.size} nodes, you requested ${broker.size + 1}`] }],
      [q({ command: "true", num_tasks: "abc" }), 422, { detail: [{ loc: ["query", "num_tasks"], msg: "value is not a valid integer", type: "type_error.integer" }] }],
    ];
    for (const [query, status, body] of cases) {
      const res = await api(`/v1/jobs/submit?${query}`, { method: "POST" });
      assert.equal(res.status, status, query);
      assert.deepEqual(await res.json(), body, query);
    }
  });

  it("GET /v1/jobs: plain records (state as integer), details keyed by id, listing, limit", async () => {
    const id = await submit(api, q({ command: "true" }));
    await waitInactive(api, id);
    const plain = (await (await api("/v1/jobs")).json()) as { jobs: Array<Record<string, unknown>> };
    const entry = plain.jobs.find((j) => String(j.id) === id);
    assert.ok(entry);
    assert.equal(entry.state, 64);
    assert.equal(entry.result, 1);
    assert.ok(!("returncode" in entry));
    const detailsText = await (await api("/v1/jobs?details=true")).text();
    assert.match(detailsText, new RegExp(`"${id}":\\{"id":${id},`));
    const listing = (await (await api("/v1/jobs?details=true&listing=true")).json()) as unknown[];
    assert.ok(Array.isArray(listing) && listing.length === plain.jobs.length);
    assert.equal(await (await api("/v1/jobs?details=true&limit=0")).text(), "{}");
    const limited = (await (await api("/v1/jobs?details=true&limit=2")).json()) as object;
    assert.equal(Object.keys(limited).length, Math.min(2, plain.jobs.length));
  });

  it("GET /v1/jobs/search: DataTables paging as the Python client's tests expect", async () => {
    for (let i = 0; i < 5; i++) await submit(api, q({ command: "true" }));
    const all = (await (await api("/v1/jobs/search")).json()) as { data: unknown[]; recordsTotal: number; recordsFiltered: number; draw: number };
    assert.deepEqual(Object.keys(all).sort(), ["data", "draw", "recordsFiltered", "recordsTotal"]);
    assert.equal(all.data.length, all.recordsTotal);
    assert.equal(all.draw, 1);
    const from1 = (await (await api("/v1/jobs/search?start=1")).json()) as typeof all;
    assert.equal(from1.recordsFiltered, all.recordsTotal - 1);
    assert.equal(from1.recordsTotal, all.recordsTotal);
    const page = (await (await api("/v1/jobs/search?start=1&length=3")).json()) as typeof all;
    assert.equal(page.recordsFiltered, 3);
    const filtered = (await (await api(`/v1/jobs/search?${q({ "search[value]": "nomatch-xyz" })}`)).json()) as typeof all;
    assert.equal(filtered.recordsFiltered, 0);
    // The search text is a case-insensitive substring, not a regex: "(" is just a character.
    const named = await submit(api, q({ command: "true", name: "Needle(1)" }));
    const found = (await (await api(`/v1/jobs/search?${q({ "search[value]": "needle(" })}`)).json()) as { data: Array<{ id: number }> };
    assert.deepEqual(found.data.map((job) => String(job.id)), [String(named)]);
  });
});
