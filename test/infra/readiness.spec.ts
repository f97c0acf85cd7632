/** The end-of-`pulumi up` poll of /readyz: a fake fetch and a fake clock, no network. */
import { strict as assert } from "node:assert";
import { NotReadyError, ReadyFetch, waitUntilReady } from "../../infra/readiness";

/** A clock that moves only when the poll sleeps; fetch answers from a script, one entry per attempt. */
function rig(script: (number | string)[]) {
  let t = 0;
  const slept: number[] = [];
  const calls: { url: string; dispatcher?: unknown }[] = [];
  const fetch: ReadyFetch = async (url, init) => {
    calls.push({ url, dispatcher: init.dispatcher });
    const next = script[Math.min(calls.length - 1, script.length - 1)];
    if (typeof next === "string") throw Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error(next), { code: next }) });
    return { status: next, text: async () => (next === 503 ? '{"detail":"Flux broker socket not ready"}' : "") };
  };
  const options = {
    fetch,
    now: () => t,
    sleep: async (ms: number) => { slept.push(ms); t += ms; },
    timeoutMs: 60_000,
    intervalMs: 5_000,
  };
  return { options, slept, calls };
}

describe("infra readiness poll", () => {
  it("returns once /readyz answers 200, polling at the interval, trusting the given CA", async () => {
    const r = rig(["ECONNREFUSED", 503, 200]);
    await waitUntilReady("https://198.51.100.7:30093", "-----BEGIN CERTIFICATE-----\n", r.options);
    assert.deepEqual(r.calls.map((c) => c.url), Array(3).fill("https://198.51.100.7:30093/readyz"));
    assert.ok(r.calls.every((c) => c.dispatcher !== undefined), "a dispatcher trusting the CA");
    assert.deepEqual(r.slept, [5_000, 5_000]);
  });

  it("uses the system's trust when no CA is given", async () => {
    const r = rig([200]);
    await waitUntilReady("http://127.0.0.1:5000", undefined, r.options);
    assert.equal(r.calls[0].dispatcher, undefined);
  });

  const cases: [string, (number | string)[], RegExp][] = [
    ["nothing answers: pods pending", ["ECONNREFUSED"], /ECONNREFUSED.*Pending/],
    ["the broker's socket is not ready", [503], /broker is not ready.*socket/],
    ["the ALB is not provisioned", ["ENOTFOUND"], /ALB is not provisioned/],
    ["the ALB has no healthy target", [502], /no healthy target.*get pods/],
    ["the certificate is not the stack's", ["ERR_TLS_CERT_ALTNAME_INVALID"], /TLS handshake failed/],
  ];
  for (const [what, script, cause] of cases) {
    it(`gives up at the deadline naming the likely cause: ${what}`, async () => {
      const r = rig(script);
      await assert.rejects(waitUntilReady("https://example.test", undefined, r.options), (err: unknown) => {
        assert.ok(err instanceof NotReadyError);
        assert.match(err.message, /^https:\/\/example\.test\/readyz was not ready after 1 min: /);
        assert.match(err.message, cause);
        return true;
      });
      assert.equal(r.calls.length, 13, "bounded: one attempt per interval, the last at the deadline");
      assert.equal(r.slept.reduce((a, b) => a + b, 0), 60_000);
    });
  }
});
