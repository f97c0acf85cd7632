/**
 * Authentication is decided on the route that matched, after the one parsing of the request
 * target: no spelling of a protected route's path reaches its handler without credentials.
 * Generated spellings percent-encode any character (either hex case) and add the decorations
 * that split readings apart before (fragments, ";", dot segments, doubled or encoded slashes,
 * absolute-form origins). Sent over a raw socket, so the bytes are exactly the generated ones.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { startBroker } from "../../support/broker";
import { rawRequest, type RawResponse } from "../support/raw-http";
import { startHarness, submit, type Broker, type Harness } from "../support/harness";

/** Signs that a handler ran: data of the listing, nodes, jobs, metrics, or a submit. */
const LEAKS = /"jobs":|"nodes":|flux_sidecar_|"Message":"Job|"Output"|"id":|"up":|"entries":|"size":|workspace-secret/;

/** Every protected route as [method, path] (ids filled in), with the query a call needs. */
function protectedRoutes(id: string): Array<{ method: string; path: string; query?: string }> {
  return [
    { method: "GET", path: "/v1/jobs" },
    { method: "GET", path: "/v1/jobs/search" },
    { method: "GET", path: `/v1/jobs/${id}` },
    { method: "GET", path: `/v1/jobs/${id}/output` },
    { method: "GET", path: `/v1/jobs/${id}/output/stream` },
    { method: "GET", path: `/v1/jobs/${id}/output/events` },
    { method: "GET", path: `/v1/jobs/${id}/events` },
    { method: "GET", path: "/v1/nodes" },
    { method: "GET", path: "/v1/cluster" },
    { method: "GET", path: "/metrics" },
    { method: "HEAD", path: "/v1/jobs" },
    { method: "POST", path: "/v1/jobs/submit", query: "?command=true" },
    { method: "POST", path: `/v1/jobs/${id}/cancel` },
    { method: "POST", path: "/v1/service/stop" },
    { method: "GET", path: "/v1/files", query: "?path=" },
    { method: "GET", path: "/v1/files/content", query: "?path=secret.txt" },
    { method: "PUT", path: "/v1/files/content", query: "?path=planted.txt" },
    { method: "DELETE", path: "/v1/files/content", query: "?path=secret.txt" },
    { method: "GET", path: `/v1/jobs/${id}/files` },
  ];
}

const percent = (ch: string, upper: boolean) => {
  const hex = ch.charCodeAt(0).toString(16).padStart(2, "0");
  return `%${upper ? hex.toUpperCase() : hex}`;
};

/** The same path with any of its characters (slashes aside) percent-encoded: it decodes to the route. */
function equivalentSpelling(path: string): fc.Arbitrary<string> {
  const chars = [...path].map((ch) =>
    ch === "/" ? fc.constant("/") : fc.oneof(fc.constant(ch), fc.boolean().map((upper) => percent(ch, upper))),
  );
  return fc.tuple(...chars).map((parts) => parts.join(""));
}

const PREFIXES = ["", "/", "//", "/.", "/x/..", "/%2e", "/%2E%2E", "http://127.0.0.1", "HTTP://x:1", "/v1/.."];
const SUFFIXES = ["", "/", "//", "#", "#x", "#%ff", "#/../../healthz", ";x", ";", "%23", "%3F", "%2F", "%2f", "/.", "/..", "%00", "%ff", "%", "%zz", "?"];

function decoratedSpelling(path: string): fc.Arbitrary<string> {
  return fc
    .tuple(fc.constantFrom(...PREFIXES), equivalentSpelling(path), fc.constantFrom(...SUFFIXES))
    .map(([prefix, body, suffix]) => `${prefix}${body}${suffix}`);
}

describe("reliability: protected routes under any spelling (property)", function () {
  this.timeout(120_000);
  let broker: Broker;
  let h: Harness;
  let jobId: string;
  let authorization: string;
  let workspace: string;

  before(async () => {
    broker = await startBroker();
    // A workspace with a file, so the file routes have something to leak, plant or delete.
    workspace = fs.mkdtempSync(path.join(os.tmpdir(), "spellings-ws-"));
    fs.writeFileSync(path.join(workspace, "secret.txt"), "workspace-secret");
    h = await startHarness({ broker, env: { FLUX_AUTH_MAX_FAILURES: "100000", FLUX_WORKSPACE: workspace } });
    jobId = await submit(h, "echo spelled");
    authorization = await h.authorization();
  });

  after(async () => {
    await h?.stop();
    await broker?.stop();
    fs.rmSync(workspace, { recursive: true, force: true });
  });

  const send = (method: string, target: string, headers: Record<string, string> = {}): Promise<RawResponse> =>
    rawRequest(h.port, { method, path: target, headers }, 5000);

  it("answers no spelling of a protected route with 2xx without credentials, and leaks nothing", async () => {
    for (const route of protectedRoutes(jobId)) {
      await fc.assert(
        fc.asyncProperty(decoratedSpelling(route.path), async (spelled) => {
          const res = await send(route.method, spelled + (route.query ?? ""));
          assert.ok(res.status >= 400, `${route.method} ${spelled} answered ${res.status} without credentials: ${res.body.slice(0, 120)}`);
          assert.doesNotMatch(res.body, LEAKS, `${route.method} ${spelled} leaked data`);
        }),
        { numRuns: 60 },
      );
    }
    assert.deepEqual(fs.readdirSync(workspace).sort(), ["jobs", "secret.txt"], "nothing planted, nothing deleted");
  });

  it("reaches the route with credentials when the spelling decodes to its path (the generator is not vacuous)", async () => {
    for (const route of protectedRoutes(jobId).filter((r) => r.method === "GET")) {
      await fc.assert(
        fc.asyncProperty(equivalentSpelling(route.path), async (spelled) => {
          const target = spelled + (route.query ?? "");
          const anonymous = await send("GET", target);
          assert.equal(anonymous.status, 401, `GET ${spelled} without credentials`);
          // Stream routes end once the finished job's output or eventlog has been sent.
          const res = await send("GET", target, { authorization });
          assert.equal(res.status, 200, `GET ${spelled} with credentials: ${res.body.slice(0, 120)}`);
        }),
        { numRuns: 15 },
      );
    }
  });

  it("answers the reported bypasses 400 before routing or auth", async () => {
    for (const [method, target] of [
      ["GET", "/%761/jobs#%ff"],
      ["POST", "/%761/jobs/submit#%ff"],
      ["GET", "/metrics#x"],
      ["GET", `/v1/jobs/${jobId}/output#`],
      ["GET", "/v1/jobs%zz"],
    ]) {
      const res = await send(method, target, method === "POST" ? { "content-type": "application/json" } : {});
      assert.equal(res.status, 400, `${method} ${target}: ${res.body}`);
      assert.match(res.body, /Invalid request target/);
    }
  });
});
