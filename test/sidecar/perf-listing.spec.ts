/**
 * The pieces that make GET /v1/jobs fast keep its exact output: reused JSON of inactive jobs
 * and the lossless parser's quick pre-pass.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { parse as parseLossless } from "lossless-json";
import { toJson } from "../../sidecar/api/json";
import { RecordJsonCache } from "../../sidecar/api/service";
import { type JobRecord, JobState, parseJson, stringifyJson } from "../../sidecar/flux";

function job(id: bigint, state: number, extra: Record<string, unknown> = {}): JobRecord {
  return { id, userid: 0, urgency: 16, state, t_submit: 1795595220 + Number(id % 1000n) / 7, duration: 0, name: "ƒ🥞\"q", ...extra };
}

describe("sidecar: fast listing", () => {
  it("a listing's bytes are toJson({jobs}) whether or not its inactive jobs were written before", () => {
    const cache = new RecordJsonCache();
    const first = [
      job(5n, JobState.SCHED, { annotations: { sched: { reason_pending: "no \\ resources" } } }),
      job(2n ** 60n + 3n, JobState.RUN, { ranks: "1", nodelist: "node1" }),
      job(3n, JobState.INACTIVE, { t_inactive: 1795595230, result: 1, waitstatus: 0, expiration: 0 }),
      job(1n, JobState.INACTIVE, { t_inactive: 1795595225.5, exception_note: "\u2028 line" }),
    ];
    assert.equal(cache.listing(first).toString("utf8"), toJson({ jobs: first }));
    // the running job ends and a new one is pending: only inactive bytes may be reused
    const second = [job(6n, JobState.DEPEND), ...first.slice(2)];
    second.unshift(job(2n ** 60n + 3n, JobState.INACTIVE, { t_inactive: 1795595240 }));
    assert.equal(cache.listing(second).toString("utf8"), toJson({ jobs: second }));
    assert.equal(cache.listing([]).toString("utf8"), '{"jobs":[]}');
  });

  it("reuses an inactive job's bytes only while it stays listed and is the same job", () => {
    const cache = new RecordJsonCache();
    const done = job(7n, JobState.INACTIVE, { name: "before" });
    cache.listing([done]);
    // inactive jobs never change, so a second listing does not write the record again
    assert.match(cache.listing([{ ...done, name: "after" }]).toString(), /"name":"before"/);
    // the same id with another submit time is another job (a restarted broker reuses ids)
    assert.match(cache.listing([{ ...done, name: "other", t_submit: done.t_submit + 1 }]).toString(), /"name":"other"/);
    // a job missing from a listing is forgotten: the cache holds only the last listing's jobs
    cache.listing([job(8n, JobState.INACTIVE)]);
    assert.match(cache.listing([{ ...done, name: "again" }]).toString(), /"name":"again"/);
    // active jobs are always written afresh
    const running = job(9n, JobState.RUN, { name: "one" });
    cache.listing([running]);
    assert.match(cache.listing([{ ...running, name: "two" }]).toString(), /"name":"two"/);
  });

  it("parseJson agrees with lossless-json on unsafe integers, strings with digits, quotes and backslashes", () => {
    const reference = (text: string) =>
      parseLossless(text, null, (digits) => {
        const n = Number(digits);
        return /^-?\d+$/.test(digits) && !Number.isSafeInteger(n) ? BigInt(digits) : n;
      });
    const text = fc.oneof(
      fc.string({ unit: fc.constantFrom("\"", "\\", "1", "9", "a", ":", ",", "{", "ƒ") }),
      fc.bigInt({ min: 0n, max: 2n ** 64n }).map((n) => `id ${n} \\"${n}\\"`),
    );
    const value = fc.record({
      id: fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
      small: fc.integer(),
      t: fc.double({ noNaN: true, noDefaultInfinity: true }),
      name: text,
      list: fc.array(fc.oneof(text, fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n })), { maxLength: 4 }),
    });
    fc.assert(
      fc.property(fc.array(value, { maxLength: 5 }), (jobs) => {
        const json = stringifyJson({ jobs });
        assert.deepEqual(parseJson(json), reference(json));
      }),
      { numRuns: 300 },
    );
    assert.deepEqual(parseJson('{"a":"x\\\\","b":12345678901234567890,"c":"12345678901234567890\\""}'), {
      a: "x\\",
      b: 12345678901234567890n,
      c: '12345678901234567890"',
    });
    assert.throws(() => parseJson('{"a":"unterminated 12345678901234567890'), SyntaxError);
  });
});
