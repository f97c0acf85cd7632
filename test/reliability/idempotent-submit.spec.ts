/**
 * A submit has a clear outcome even when the broker stalls past the sidecar's call timeout (the
 * fault proxy holds the broker's replies back): without an Idempotency-Key the 504 says the outcome
 * is unknown and what to check; with one, a retry answers the job the first request created and
 * never creates a second. Jobs are counted in the listing by a name unique to each test.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { FluxRestfulClient, parseJson, SubmitOutcomeUnknownError } from "flux-restful-client";
import { runCli } from "../client/support/run-cli";
import { startBroker } from "../support/broker";
import { FaultProxy } from "./support/fault-proxy";
import { startHarness, type Broker, type Harness } from "./support/harness";

/** The sidecar's broker call timeout, and a stall well beyond it. */
const CALL_TIMEOUT_MS = 1_000;
const STALL_MS = 2_500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Answer = { status: number; headers: Headers; body: Record<string, unknown>; text: string };

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: JSON.parse(text.replace(/"id":(\d+)/g, '"id":"$1"')) };
}

describe("reliability: a submit's outcome when the broker stalls", function () {
  this.timeout(60_000);
  let broker: Broker;
  let proxy: FaultProxy;
  let h: Harness;

  before(async () => {
    broker = await startBroker();
  });
  after(async () => {
    await broker?.stop();
  });

  async function start(env: Record<string, string> = {}): Promise<void> {
    proxy = await FaultProxy.start(broker.uri);
    h = await startHarness({ broker, fluxUri: proxy.uri, fluxTimeoutMs: CALL_TIMEOUT_MS, env });
    // One submit first, so the instance owner is known and the stalled call is job-ingest's own.
    await post(`command=true&name=warmup-${randomUUID()}`);
  }

  afterEach(async () => {
    proxy.replyDelayMs = 0;
    await h?.stop();
    await proxy?.stop();
  });

  function post(query: string, headers: Record<string, string> = {}, init: RequestInit = {}): Promise<Answer> {
    return h.api(`/v1/jobs/submit?${query}`, { method: "POST", headers, ...init }).then(answer);
  }

  /** Ids of the jobs named `name` in the plain listing, once no broker call is pending (the stall is over). */
  async function jobsNamed(name: string): Promise<string[]> {
    proxy.replyDelayMs = 0;
    for (;;) {
      const res = await answer(await h.api("/v1/jobs"));
      if (res.status === 200) return (res.body.jobs as Array<{ id: string; name: string }>).filter((j) => j.name === name).map((j) => j.id);
      assert.equal(res.status, 504, res.text); // the stalled replies are still arriving
    }
  }

  /** Retries `query` with `key` until the broker has answered; returns the answers, the last a 200. */
  async function retryUntilAnswered(query: string, key: string, init?: RequestInit): Promise<Answer[]> {
    const answers: Answer[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await post(query, { "idempotency-key": key }, init);
      answers.push(res);
      if (res.status === 200) return answers;
      assert.equal(res.status, 504, res.text);
    }
    throw new Error("the retries never got the job's id");
  }

  it("without a key: the 504 says the outcome is unknown and what to check, and the job shows up there", async () => {
    await start();
    const name = `nokey-${randomUUID()}`;
    proxy.replyDelayMs = STALL_MS;
    const res = await post(`command=true&name=${name}`);
    assert.equal(res.status, 504, res.text);
    assert.equal(res.body.outcome, "unknown");
    assert.match(String(res.body.detail), /whether the job was created is unknown/);
    assert.match(String(res.body.detail), new RegExp(`check GET /v1/jobs for a job named "${name}" submitted after \\d{4}-`));
    assert.deepEqual({ ...(res.body.check as object), submitted_after: undefined }, { path: "/v1/jobs", name, submitted_after: undefined });
    // The submission went on: the job the 504 could not name exists, and the log says which it is.
    const [id, ...more] = await waitForJobs(name, 1);
    assert.deepEqual(more, []);
    assert.ok(h.logLines.some((l) => l.includes("created its job after all") && l.includes(id)), "the late job is logged");
  });

  /** The jobs named `name` once there are `count` of them (a late submission lands after the stall). */
  async function waitForJobs(name: string, count: number): Promise<string[]> {
    for (let i = 0; ; i++) {
      const ids = await jobsNamed(name);
      if (ids.length >= count || i === 100) return ids;
      await sleep(100);
    }
  }

  it("with a key: 504, then a retry with the same key answers the same job once the broker has, and exactly one job exists", async () => {
    await start();
    const name = `keyed-${randomUUID()}`;
    const key = randomUUID();
    proxy.replyDelayMs = STALL_MS;
    const first = await post(`command=true&name=${name}`, { "idempotency-key": key });
    assert.equal(first.status, 504, first.text);
    assert.equal(first.body.outcome, "unknown");
    assert.equal(first.body.idempotency_key, key);
    assert.match(String(first.body.detail), new RegExp(`Retry with the same Idempotency-Key \\(${key}\\)`));

    const answers = await retryUntilAnswered(`command=true&name=${name}`, key);
    const ok = answers.at(-1)!;
    assert.equal(ok.headers.get("idempotent-replayed"), "true");
    // Later retries, and the same fields as a JSON body with the key quoted as the draft writes it, replay it too.
    const again = await post(`command=true&name=${name}`, { "idempotency-key": key });
    const asJson = await post("", { "idempotency-key": `"${key}"`, "content-type": "application/json" }, { body: JSON.stringify({ name, command: "true" }) });
    for (const res of [again, asJson]) {
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.id, ok.body.id);
      assert.equal(res.headers.get("idempotent-replayed"), "true");
    }
    assert.deepEqual(await jobsNamed(name), [ok.body.id]);
  });

  it("a retry while the first is in flight waits for it: both answer the same one job", async () => {
    await start();
    const name = `concurrent-${randomUUID()}`;
    const key = randomUUID();
    proxy.replyDelayMs = CALL_TIMEOUT_MS / 2;
    const [a, b] = await Promise.all([post(`command=true&name=${name}`, { "idempotency-key": key }), post(`command=true&name=${name}`, { "idempotency-key": key })]);
    assert.deepEqual([a.status, b.status], [200, 200], `${a.text} ${b.text}`);
    assert.equal(a.body.id, b.body.id);
    assert.deepEqual([a.headers.get("idempotent-replayed"), b.headers.get("idempotent-replayed")].sort(), ["true", null].sort());
    assert.deepEqual(await jobsNamed(name), [a.body.id]);
  });

  it("the same key with a different request is a 422 and creates nothing; a bad key is a 400 and creates nothing", async () => {
    await start();
    const name = `conflict-${randomUUID()}`;
    const key = randomUUID();
    const first = await post(`command=true&name=${name}`, { "idempotency-key": key });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers.get("idempotent-replayed"), null);
    const other = await post(`command=false&name=${name}`, { "idempotency-key": key });
    assert.equal(other.status, 422, other.text);
    assert.match(String(other.body.detail), /already used for a different submit request/);
    for (const bad of ["", "x".repeat(129), "two words", "naïve", '"unterminated', "a,b"]) {
      const res = await post(`command=true&name=${name}`, { "idempotency-key": bad });
      assert.equal(res.status, 400, `${JSON.stringify(bad)}: ${res.text}`);
      assert.match(String(res.body.detail), /^Invalid Idempotency-Key: 1 to 128 characters/);
    }
    assert.deepEqual(await jobsNamed(name), [first.body.id]);
    const replay = await post(`command=true&name=${name}`, { "idempotency-key": key });
    assert.equal(replay.body.id, first.body.id);
  });

  it("a flood of distinct keys stays within FLUX_IDEMPOTENCY_MAX_KEYS: the oldest keys are forgotten first", async () => {
    const maxKeys = 8;
    await start({ FLUX_IDEMPOTENCY_MAX_KEYS: String(maxKeys) });
    const name = `flood-${randomUUID()}`;
    const keys = Array.from({ length: 40 }, () => randomUUID());
    const ids: string[] = [];
    for (const key of keys) {
      const res = await post(`command=true&name=${name}`, { "idempotency-key": key });
      assert.equal(res.status, 200, res.text);
      ids.push(String(res.body.id));
      const gauge = /^flux_sidecar_idempotency_keys (\d+)/m.exec(await (await h.api("/metrics")).text());
      assert.ok(gauge && Number(gauge[1]) <= maxKeys, `keys remembered: ${gauge?.[1]}`);
    }
    const newest = await post(`command=true&name=${name}`, { "idempotency-key": keys.at(-1)! });
    assert.equal(newest.headers.get("idempotent-replayed"), "true");
    assert.equal(newest.body.id, ids.at(-1));
    const oldest = await post(`command=true&name=${name}`, { "idempotency-key": keys[0] });
    assert.equal(oldest.headers.get("idempotent-replayed"), null, "the oldest key was forgotten: a new job");
    assert.notEqual(oldest.body.id, ids[0]);
  });

  it("the client library's submit through a stalled broker creates exactly one job", async () => {
    await start();
    const { user, token, secretKey } = h.creds;
    const client = new FluxRestfulClient({ host: h.url, user, token, secretKey, minDelayMs: 100, maxDelayMs: 500, retries: 10 });
    const name = `library-${randomUUID()}`;
    proxy.replyDelayMs = STALL_MS;
    const { id } = await client.submit({ command: "true", name });
    assert.deepEqual(await jobsNamed(name), [String(id)]);
  });

  it("the client library, out of retries, says the outcome is unknown; its key then gets the one job", async () => {
    await start();
    const { user, token, secretKey } = h.creds;
    const client = new FluxRestfulClient({ host: h.url, user, token, secretKey, retries: 0 });
    const name = `library-unknown-${randomUUID()}`;
    proxy.replyDelayMs = STALL_MS;
    const err = await client.submit({ command: "true", name }).then(
      () => assert.fail("the submit should not have been answered in time"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SubmitOutcomeUnknownError, String(err));
    assert.match(err.message, /may or may not have been created/);
    assert.ok(err.message.includes(err.idempotencyKey!), err.message);
    const patient = new FluxRestfulClient({ host: h.url, user, token, secretKey, minDelayMs: 100, maxDelayMs: 500, retries: 10 });
    const { id } = await patient.submit({ command: "true", name, idempotencyKey: err.idempotencyKey });
    assert.deepEqual(await jobsNamed(name), [String(id)]);
  });

  it("the CLI's submit through a stalled broker creates exactly one job; --idempotency-key resubmits without a second", async () => {
    await start();
    const env = { FLUX_USER: h.creds.user, FLUX_TOKEN: h.creds.token, FLUX_SECRET_KEY: h.creds.secretKey };
    const submit = async (...args: string[]) => {
      const res = await runCli(["submit", "--host", h.url, "--json", ...args], env);
      assert.equal(res.code, 0, res.stderr);
      return String((parseJson(res.stdout) as { id: bigint }).id);
    };
    const stalled = `cli-${randomUUID()}`;
    proxy.replyDelayMs = STALL_MS;
    const id = await submit("--name", stalled, "--", "true");
    assert.deepEqual(await jobsNamed(stalled), [id]);

    const keyed = `cli-key-${randomUUID()}`;
    const key = randomUUID();
    const first = await submit("--idempotency-key", key, "--name", keyed, "--", "true");
    assert.equal(await submit("--idempotency-key", key, "--name", keyed, "--", "true"), first);
    assert.deepEqual(await jobsNamed(keyed), [first]);
  });
});
