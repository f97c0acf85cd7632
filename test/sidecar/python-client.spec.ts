/**
 * The Python flux-restful-client's test-suite (clients/python/flux_restful_client/tests/test_api.py)
 * replayed in file order against a fresh single-node instance, through a model of the client's
 * request mechanics (FluxRestfulClient.do_request): fields as query parameters, and after a 401
 * one POST /v1/token and one retry with the same dict as a JSON body and no query string.
 */
import assert from "node:assert/strict";
import { startBroker } from "../support/broker";
import { type Broker, type Sidecar, sleep, startTestSidecar, tokenRequestJwt } from "./support";

/** What FluxRestfulClient.do_request + authenticate_request do on the wire. */
class PythonClientModel {
  private authorization?: string;
  readonly calls: string[] = [];
  constructor(private readonly s: Sidecar) {}

  async request(endpoint: string, method: "GET" | "POST", data?: Record<string, unknown>, params?: Record<string, unknown>): Promise<{ status: number; body: any }> {
    const url = `${this.s.url}/v1/${endpoint}`;
    const fields = method === "POST" ? data : params;
    const query = fields ? `?${new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, String(v)]))}` : "";
    const headers: Record<string, string> = this.authorization ? { Authorization: this.authorization } : {};
    let res = await fetch(url + query, { method, headers });
    this.calls.push(`${method} /v1/${endpoint}${query} -> ${res.status}`);
    if (res.status === 401) {
      if (!res.headers.has("www-authenticate")) return { status: 401, body: await res.json() };
      const jwt = await tokenRequestJwt(this.s.user, this.s.token, this.s.secretKey);
      const token = await fetch(`${this.s.url}/v1/token`, { method: "POST", headers: { Authorization: `Bearer ${jwt}` } });
      this.calls.push(`POST /v1/token -> ${token.status}`);
      if (token.status !== 200) return { status: 401, body: await res.json() };
      this.authorization = `Bearer ${((await token.json()) as { access_token: string }).access_token}`;
      // httpx session.request(method, url, json=data): a JSON body (null for GETs), no params
      res = await fetch(url, { method, headers: { Authorization: this.authorization, "content-type": "application/json" }, body: method === "POST" ? JSON.stringify(data ?? null) : undefined });
      this.calls.push(`${method} /v1/${endpoint} (json retry) -> ${res.status}`);
    }
    return { status: res.status, body: await res.json() };
  }

  listNodes = () => this.request("nodes", "GET").then((r) => r.body);
  jobs = () => this.request("jobs", "GET", undefined, {}).then((r) => r.body);
  submit = (command: string, kwargs: Record<string, unknown> = {}) => this.request("jobs/submit", "POST", { command, ...kwargs }).then((r) => r.body);
  cancel = (id: unknown) => this.request(`jobs/${id}/cancel`, "POST").then((r) => r.body);
  output = (id: unknown) => this.request(`jobs/${id}/output`, "GET").then((r) => r.body);
  search = (params: Record<string, unknown> = {}) => this.request("jobs/search", "GET", undefined, params).then((r) => r.body);
}

for (const auth of [false, true]) {
  describe(`sidecar: the Python client's test-suite, auth ${auth ? "on" : "off"}`, function () {
    this.timeout(60_000);
    let broker: Broker;
    let sidecar: Sidecar;
    let cli: PythonClientModel;

    before(async () => {
      broker = await startBroker({ size: 1 });
      sidecar = await startTestSidecar(broker, auth ? { FLUX_REQUIRE_AUTH: "true" } : {});
      cli = new PythonClientModel(sidecar);
    });
    after(async () => {
      await sidecar?.close();
      await broker?.stop();
    });

    it("test_list_nodes", async () => {
      const nodes = await cli.listNodes();
      assert.ok("nodes" in nodes);
      if (broker.kind === "test") assert.equal(nodes.nodes.length, 1);
      else assert.ok(nodes.nodes.length >= 1);
      if (auth) assert.deepEqual(cli.calls, ["GET /v1/nodes -> 401", "POST /v1/token -> 200", "GET /v1/nodes (json retry) -> 200"]);
    });

    it("test_submit_list_job", async () => {
      const before = await cli.jobs();
      if (broker.kind === "test") assert.deepEqual(before, { jobs: [] });
      const res = await cli.submit("sleep 5");
      assert.ok("Message" in res && "id" in res);
      await sleep(500);
      const jobs = (await cli.jobs()).jobs as Array<{ id: number }>;
      assert.equal(jobs.length - (before.jobs as unknown[]).length, 1);
      assert.equal(jobs[0].id, res.id);
      await cli.cancel(res.id);
    });

    it("test_cancel_job", async () => {
      const res = await cli.submit("sleep 10");
      assert.match((await cli.cancel(res.id)).Message, /requested to cancel/);
      await sleep(1000);
      assert.match((await cli.cancel(res.id)).Message, /cannot be cancelled/);
    });

    it("test_job_output", async () => {
      const res = await cli.submit("echo pancakes 🥞️🥞️🥞️");
      const first = await cli.output(res.id);
      if ("Message" in first) assert.match(first.Message, /not exist yet/);
      await sleep(1000);
      assert.ok((await cli.output(res.id)).Output.includes("pancakes 🥞️🥞️🥞️\n"));
    });

    it("test_option_flags", async () => {
      // the client flattens {"-ompi": "noodles"} to "-ompi=noodles"
      const res = await cli.submit("sleep 1", { option_flags: "-ompi=noodles" });
      assert.ok(res.Errors.length > 0);
      assert.match(res.Errors[0], /keys without -o/);
    });

    it("test_job_query", async () => {
      for (let i = 0; i < 5; i++) await cli.submit("sleep 1");
      const all = await cli.search();
      for (const key of ["recordsTotal", "recordsFiltered", "draw", "data"]) assert.ok(key in all, key);
      assert.equal(all.data.length, all.recordsTotal);
      const from1 = await cli.search({ start: 1 });
      assert.equal(from1.recordsFiltered, all.recordsTotal - 1);
      assert.equal(from1.recordsTotal, all.recordsTotal);
      assert.equal((await cli.search({ start: 1, length: 3 })).recordsFiltered, 3);
    });
  });
}
