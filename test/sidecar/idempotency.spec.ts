/** The Idempotency-Key store of submits: keys, fingerprints, users, the window and the count bound (a fake clock). */
import assert from "node:assert/strict";
import { ApiError } from "../../sidecar/api/errors";
import { FluxError, FluxUnavailableError } from "../../sidecar/flux";
import { IdempotencyKeys, parseIdempotencyKey, submitFingerprint } from "../../sidecar/api/idempotency";

describe("idempotency keys", () => {
  let now = 0;
  let submitted = 0;
  const job = () => Promise.resolve(BigInt(++submitted));
  const fp = submitFingerprint({ command: "true" }, "alice");

  beforeEach(() => {
    now = 1_000_000;
    submitted = 0;
  });

  it("reads a bare or quoted key and refuses anything else with a 400", () => {
    assert.equal(parseIdempotencyKey(undefined), undefined);
    assert.equal(parseIdempotencyKey("8e03978e-40d5-43e8-bc93-6894a57f9324"), "8e03978e-40d5-43e8-bc93-6894a57f9324");
    assert.equal(parseIdempotencyKey(' "a.b_c~d:e+f/g=h" '), "a.b_c~d:e+f/g=h");
    assert.equal(parseIdempotencyKey("k".repeat(128)), "k".repeat(128));
    for (const bad of ["", '""', "k".repeat(129), "a b", 'a"b', "a,b", "ключ", "a\\b"]) {
      assert.throws(() => parseIdempotencyKey(bad), (err: ApiError) => err.status === 400, JSON.stringify(bad));
    }
  });

  it("fingerprints the parsed fields whatever their order, and the user", () => {
    assert.equal(submitFingerprint({ command: "true", envars: { A: "1", B: "2" } }, "u"), submitFingerprint({ envars: { B: "2", A: "1" }, command: "true" }, "u"));
    assert.notEqual(submitFingerprint({ command: "true" }, "u"), submitFingerprint({ command: "true" }, "v"));
    assert.notEqual(submitFingerprint({ command: "true" }, "u"), submitFingerprint({ command: ["true"] }, "u"));
  });

  it("replays a key within the window, per user; a different request under it is a 422", async () => {
    const keys = new IdempotencyKeys(60_000, 100, () => now);
    const first = keys.claim("alice", "k", fp, job);
    assert.equal(first.replayed, false);
    assert.equal(await first.outcome, 1n);
    const again = keys.claim("alice", "k", fp, job);
    assert.deepEqual([again.replayed, await again.outcome], [true, 1n]);
    assert.equal(await keys.claim("bob", "k", fp, job).outcome, 2n, "another user's key is another key");
    assert.throws(() => keys.claim("alice", "k", submitFingerprint({ command: "false" }, "alice"), job), (err: ApiError) => err.status === 422);
    now += 60_000;
    assert.deepEqual(await keys.claim("alice", "k", fp, job).outcome, 3n, "past the window the key is new again");
  });

  it("forgets a key whose submission surely made no job (refused, or never sent), so it may be used again", async () => {
    const refusals = [
      new ApiError(400, { Message: "Invalid submit request" }),
      new FluxError(22, "jobspec is invalid", "job-ingest.submit"),
      new FluxUnavailableError("cannot connect to the Flux broker", { notSent: true }),
    ];
    for (const refusal of refusals) {
      const keys = new IdempotencyKeys(60_000, 100, () => now);
      const failed = keys.claim("alice", "k", fp, () => Promise.reject(refusal));
      await assert.rejects(failed.outcome);
      assert.equal(keys.size, 0, refusal.message);
      assert.equal(keys.claim("alice", "k", fp, job).replayed, false, refusal.message);
    }
  });

  it("keeps a key whose submission may have made a job (the connection was lost after sending): a retry cannot submit twice", async () => {
    const keys = new IdempotencyKeys(60_000, 100, () => now);
    const lost = new FluxUnavailableError("lost the connection to the Flux broker");
    const failed = keys.claim("alice", "k", fp, () => Promise.reject(lost));
    await assert.rejects(failed.outcome, /lost the connection/);
    const retry = keys.claim("alice", "k", fp, job);
    assert.equal(retry.replayed, true);
    await assert.rejects(retry.outcome, /lost the connection/);
  });

  it("keeps at most maxKeys, forgetting the oldest first", async () => {
    const keys = new IdempotencyKeys(60_000, 3, () => now);
    for (const key of ["a", "b", "c", "d"]) await keys.claim(undefined, key, fp, job).outcome;
    assert.equal(keys.size, 3);
    assert.equal(keys.claim(undefined, "d", fp, job).replayed, true);
    assert.equal(keys.claim(undefined, "a", fp, job).replayed, false, "the oldest went first");
  });
});
