/**
 * The pieces that make GET /v1/jobs fast keep its exact output: reused records and JSON of
 * inactive jobs, listings that fetch only what changed, and the lossless parser's quick pre-pass.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { parse as parseLossless } from "lossless-json";
import { toJson } from "../../sidecar/api/json";
import { FluxApiService, RecordJsonCache } from "../../sidecar/api/service";
import { FluxClient, type JobRecord, JobState, parseJobList, parseJson, stringifyJson } from "../../sidecar/flux";
import { TestBroker } from "../test-broker";
import { jobspec, runJob, waitForClean } from "../contract/helpers";

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

  it("assembles a listing from the cheap one's order, fresh records and cached ones, or refuses", () => {
    const cache = new RecordJsonCache();
    const done = [job(3n, JobState.INACTIVE, { t_inactive: 30 }), job(1n, JobState.INACTIVE, { t_inactive: 20 })];
    cache.listing(done);
    assert.equal(cache.newestInactive(), 30);
    const brief = (record: JobRecord) => ({ id: record.id, state: record.state, t_submit: record.t_submit }) as JobRecord;
    const running = job(5n, JobState.RUN);
    const pending = job(6n, JobState.SCHED);
    const order = [pending, running, ...done].map(brief);
    const assembled = cache.assemble(order, [pending, running]);
    assert.deepEqual(assembled, [pending, running, ...done]);
    assert.equal(assembled?.[2], done[0], "an inactive job's cached record is reused as is");
    const newlyDone = job(7n, JobState.INACTIVE, { t_inactive: 40 });
    assert.deepEqual(cache.assemble([brief(newlyDone), ...order.slice(2)], [newlyDone]), [newlyDone, ...done]);
    // anything that does not describe one listing refuses, so that a full listing answers
    assert.equal(cache.assemble(order, [running, pending]), undefined, "active jobs reordered");
    assert.equal(cache.assemble(order, [pending]), undefined, "an active job missing from the fresh records");
    assert.equal(cache.assemble(order, [pending, job(5n, JobState.CLEANUP)]), undefined, "a job changed state in between");
    assert.equal(cache.assemble(order, [job(8n, JobState.DEPEND), pending, running]), undefined, "a job submitted in between");
    assert.equal(cache.assemble([...order, brief(job(2n, JobState.INACTIVE))], [pending, running]), undefined, "an inactive job not cached");
    assert.equal(cache.assemble([brief({ ...done[0], t_submit: 1 })], []), undefined, "the same id is another job");
    assert.equal(cache.assemble([brief(running)], []), undefined, "an active job is never taken from the cache");
  });

  describe("listing against a broker", () => {
    /** Records each listing call, by records or by bytes; `betweenCalls` runs once after the cheap (attrs-only) one. */
    class RecordingClient extends FluxClient {
      calls: Array<{ attrs?: string[]; since?: number; listed: number }> = [];
      betweenCalls?: () => Promise<void>;
      override async listJobs(opts: Parameters<FluxClient["listJobs"]>[0] = {}): Promise<JobRecord[]> {
        return parseJobList(await this.listJobsBytes(opts));
      }
      override async listJobsBytes(opts: Parameters<FluxClient["listJobsBytes"]>[0] = {}): Promise<Buffer> {
        const bytes = await super.listJobsBytes(opts);
        this.calls.push({ attrs: opts.attrs, since: opts.since, listed: parseJobList(bytes).length });
        const hook = opts.attrs ? this.betweenCalls : undefined;
        this.betweenCalls = undefined;
        await hook?.();
        return bytes;
      }
    }
    let broker: TestBroker;
    let client: RecordingClient;
    let service: FluxApiService;
    before(async () => {
      broker = await TestBroker.start({ size: 4 });
      client = new RecordingClient({ uri: broker.uri });
      service = new FluxApiService(client, { hasGpus: false, optionFlags: {}, jobPath: "/usr/bin:/bin" });
    });
    after(async () => {
      await client?.close();
      await broker?.stop();
    });

    /** The service's listing and its calls, checked against one full listing taken right after. */
    async function listing(): Promise<Array<{ attrs?: string[]; since?: number; listed: number }>> {
      client.calls = [];
      const bytes = (await service.listJobsJson()).toString("utf8");
      const calls = client.calls;
      client.calls = [];
      assert.equal(bytes, toJson({ jobs: await client.listJobs({ limit: 1000 }) }));
      return calls;
    }

    async function heldUntilScheduled(): Promise<bigint> {
      const id = await client.submit(jobspec(["true"]), { urgency: 0 });
      for (let i = 0; i < 100 && (await client.getJob(id)).state !== JobState.SCHED; i++) await new Promise((r) => setTimeout(r, 20));
      return id;
    }

    it("fetches full records only for active and newly inactive jobs, with the bytes of one full listing", async () => {
      for (let i = 0; i < 3; i++) await runJob(client, jobspec(["true"], { name: `done-${i}` }));
      const running = await client.submit(jobspec(["sleep", "60"]));
      const held = await heldUntilScheduled();
      try {
        while ((await client.getJob(running)).state !== JobState.RUN) await new Promise((r) => setTimeout(r, 20));
        // the first listing has nothing cached: one full listing
        assert.deepEqual(await listing(), [{ attrs: undefined, since: undefined, listed: 5 }]);
        // then ids and states of all five, and full records of the two active jobs only
        const newest = await client.getJob((await client.listJobs({ limit: 1000 }))[2].id);
        const steady = await listing();
        assert.deepEqual(steady, [
          { attrs: ["state", "t_submit"], since: undefined, listed: 5 },
          { attrs: undefined, since: newest.t_inactive, listed: 2 },
        ]);
        await runJob(client, jobspec(["true"], { name: "done-3" }));
        assert.equal((await listing())[1].listed, 3, "the job that just ended is fetched in full");

        // a job submitted between the two calls: the fresh records disagree, one full listing answers
        client.betweenCalls = async () => void (await heldUntilScheduled());
        assert.deepEqual((await listing()).map((c) => c.listed), [6, 3, 7]);
        // a job that ends between the two calls
        client.betweenCalls = async () => {
          await client.cancel(held);
          await waitForClean(client, held);
        };
        assert.deepEqual((await listing()).map((c) => c.listed), [7, 3, 7], "the ended job is fetched too, and disagrees");
        assert.equal((await listing()).length, 2, "and back to two cheap calls");
      } finally {
        for (const j of await client.listJobs({ constraint: { states: [JobState.ACTIVE] } })) await client.cancel(j.id);
      }
    });

    it("answers from one cheap call while every job is inactive and the order is the same, byte for byte", async () => {
      await runJob(client, jobspec(["true"], { name: "settled" }));
      while ((await client.listJobs({ constraint: { states: [JobState.ACTIVE] } })).length) await new Promise((r) => setTimeout(r, 20));
      await listing(); // assembles and remembers the all-inactive listing
      const total = (await client.listJobs({ limit: 1000 })).length;
      assert.deepEqual(await listing(), [{ attrs: ["state", "t_submit"], since: undefined, listed: total }]);
      // any change to the order (here a new job) brings back the second call
      const id = await heldUntilScheduled();
      try {
        assert.equal((await listing()).length, 2, "an active job is fetched in full");
      } finally {
        await client.cancel(id);
        await waitForClean(client, id);
      }
      assert.equal((await listing()).length, 2, "the listing changed: assembled again");
      assert.equal((await listing()).length, 1, "then settled again");
    });
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
