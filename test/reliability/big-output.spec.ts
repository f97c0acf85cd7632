/**
 * Jobs with a lot of output, against the sidecar in a child process with the MiniCluster's
 * memory flags (128 MB heap): the stream routes deliver every byte at the reader's pace without
 * the sidecar's memory following the output's size, readers that never read cost a bounded
 * amount, the snapshot answers a 413 past its limit, and streams are capped. This is the 20 MiB
 * form; `npm run test:bigoutput` runs the same reads with 100 MiB and prints the figures.
 */
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { realBrokerRequested, startBroker } from "../support/broker";
import { fetchAccessToken, randomCredentials } from "./support/auth";
import {
  bigOutputCommand,
  getJson,
  LINE_BYTES,
  MiB,
  mib,
  PeakRss,
  procStatusBytes,
  readPlainStream,
  readSseOutput,
  stalledGet,
} from "./support/big-output";
import { startChildSidecar, type ChildSidecar } from "./support/child-sidecar";
import { apiCaller, sidecarEnv, submit, waitInactive, type ApiCaller, type Broker } from "./support/harness";

/**
 * A real job shell keeps at most 10 MB of a job's output in the KVS on flux-core 0.55 (src/shell/output.c,
 * OUTPUT_LIMIT_BYTES) and truncates the rest; 9 MiB stays under it and still over FLUX_MAX_MESSAGE_BYTES.
 */
const OUTPUT_BYTES = realBrokerRequested() ? 9 * MiB : 20 * MiB;
/**
 * What reading the output may add to the sidecar's RSS: a few stream buffers, not the output
 * (measured: 2-3 MiB; a stream that kept what it sent added 29 MiB for 20 MiB of output).
 */
const READ_GROWTH_BOUND = 16 * MiB;
/** Reading past a reply over the limit leaves socket reads as garbage until V8 collects them. */
const SKIP_GROWTH_BOUND = 32 * MiB;
/** The documented ceiling for the sidecar's peak RSS while jobs' output is read. */
const PEAK_RSS_BOUND = 200 * MiB;
const MAX_STREAMS = 4;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The sidecar's open streams, from its metrics. */
async function openStreams(url: string, authorization: string): Promise<number> {
  const { body } = await getJson(`${url}/metrics`, authorization);
  const match = /^flux_sidecar_open_streams (\d+)$/m.exec(String(body));
  assert.ok(match, "no flux_sidecar_open_streams in /metrics");
  return Number(match[1]);
}

describe("reliability: jobs with large output (sidecar under the MiniCluster's memory flags)", function () {
  this.timeout(180_000);
  let broker: Broker;
  let sidecar: ChildSidecar;
  let authorization: string;
  let caller: ApiCaller;
  let bigJob: string;
  let idleRss: number;

  before(async () => {
    broker = await startBroker();
    const creds = randomCredentials();
    sidecar = await startChildSidecar(sidecarEnv(broker.uri, broker.size, creds, { FLUX_LOG_LEVEL: "warn", FLUX_MAX_STREAMS: String(MAX_STREAMS) }));
    authorization = `Bearer ${await fetchAccessToken(sidecar.url, creds)}`;
    caller = apiCaller(sidecar.url, authorization);
    bigJob = await submit(caller, bigOutputCommand(OUTPUT_BYTES));
    await waitInactive(caller, bigJob, 120_000);
    idleRss = (await sidecar.probe()).rss;
  });

  after(async () => {
    await sidecar?.stop();
    await broker?.stop();
  });

  for (const route of ["stream", "events"] as const) {
    it(`GET /output/${route} of a finished job with ${mib(OUTPUT_BYTES)} of output: every byte, and RSS grows by less than 16 MiB`, async () => {
      const peak = new PeakRss(sidecar.pid);
      const url = `${sidecar.url}/v1/jobs/${bigJob}/output/${route}`;
      const result = route === "stream" ? await readPlainStream(url, authorization) : await readSseOutput(url, authorization);
      const peakRss = peak.stop();
      console.log(`      /output/${route}: ${mib(result.bytes)} read, sidecar peak RSS ${mib(peakRss)} (idle ${mib(idleRss)})`);
      assert.equal(result.status, 200);
      assert.equal(result.error, undefined);
      assert.equal(result.bytes, OUTPUT_BYTES);
      assert.equal(result.newlines, Math.floor(OUTPUT_BYTES / LINE_BYTES));
      if (route === "events") assert.equal(result.lastEvent, "end");
      assert.ok(peakRss - idleRss < READ_GROWTH_BOUND, `peak RSS ${mib(peakRss)} is more than ${mib(READ_GROWTH_BOUND)} over idle ${mib(idleRss)}`);
      assert.ok(peakRss < PEAK_RSS_BOUND);
    });
  }

  it("GET /output past FLUX_MAX_MESSAGE_BYTES is a 413 pointing to the stream routes; other requests are served meanwhile", async () => {
    const peak = new PeakRss(sidecar.pid);
    const [snapshot, job, listing] = await Promise.all([
      getJson(`${sidecar.url}/v1/jobs/${bigJob}/output`, authorization),
      getJson(`${sidecar.url}/v1/jobs/${bigJob}`, authorization),
      getJson(`${sidecar.url}/v1/jobs`, authorization),
    ]);
    const peakRss = peak.stop();
    console.log(`      /output (413): sidecar peak RSS ${mib(peakRss)}`);
    assert.equal(snapshot.status, 413);
    const message = (snapshot.body as { Message: string }).Message;
    assert.match(message, /too large to return at once \(the broker's reply is \d+ bytes, over this server's 8388608-byte limit, FLUX_MAX_MESSAGE_BYTES\)/);
    assert.ok(message.includes(`/v1/jobs/${bigJob}/output/stream`) && message.includes(`/v1/jobs/${bigJob}/output/events`), message);
    assert.equal(job.status, 200);
    assert.equal(listing.status, 200);
    assert.ok(peakRss - idleRss < SKIP_GROWTH_BOUND, `the skipped reply was held: peak ${mib(peakRss)}, idle ${mib(idleRss)}`);
    // A job under the limit still gets its snapshot.
    const small = await submit(caller, bigOutputCommand(4 * LINE_BYTES));
    await waitInactive(caller, small);
    const ok = await getJson(`${sidecar.url}/v1/jobs/${small}/output`, authorization);
    assert.equal(ok.status, 200);
    assert.equal((ok.body as { Output: string[] }).Output.length, 4);
  });

  it("readers that never read cost a bounded amount; past FLUX_MAX_STREAMS a stream is a 429; closing them frees everything", async () => {
    const stalled: Socket[] = [];
    try {
      const before = (await sidecar.probe()).rss;
      const peak = new PeakRss(sidecar.pid);
      for (let i = 0; i < MAX_STREAMS; i++) {
        stalled.push(await stalledGet(sidecar.port, `/v1/jobs/${bigJob}/output/${i % 2 ? "events" : "stream"}`, authorization));
      }
      // The broker sends a finished job's whole output at once: give it time to arrive (memory
      // is sampled throughout; nothing here is timed).
      let settled = 0;
      for (let i = 0; i < 40; i++) {
        await sleep(100);
        settled = procStatusBytes(sidecar.pid, "VmRSS");
      }
      const peakRss = peak.stop();
      console.log(`      ${MAX_STREAMS} stalled readers of ${mib(OUTPUT_BYTES)} each: sidecar RSS ${mib(before)} before, ${mib(settled)} after, peak ${mib(peakRss)}`);
      assert.ok(peakRss - before < READ_GROWTH_BOUND, `stalled readers grew the sidecar from ${mib(before)} to a peak of ${mib(peakRss)}`);
      assert.equal(await openStreams(sidecar.url, authorization), MAX_STREAMS);

      const refused = await getJson(`${sidecar.url}/v1/jobs/${bigJob}/output/stream`, authorization);
      assert.equal(refused.status, 429);
      assert.match((refused.body as { detail: string }).detail, /Too many open streams: this server follows at most 4 at once \(FLUX_MAX_STREAMS\)/);
    } finally {
      for (const socket of stalled) socket.destroy();
    }
    for (let i = 0; i < 100 && (await openStreams(sidecar.url, authorization)) > 0; i++) await sleep(50);
    assert.equal(await openStreams(sidecar.url, authorization), 0, "every stream ended with its client");
    const again = await readPlainStream(`${sidecar.url}/v1/jobs/${bigJob}/output/stream`, authorization);
    assert.equal(again.bytes, OUTPUT_BYTES, "a stream is accepted again, and is complete");
  });

  for (const version of ["0.88.0", "0.55.0"]) {
    it(`follows a running job's 4 MiB of output from submission to the end (flux-core ${version})`, async function () {
      const own = await startBroker({ kind: "test", version });
      const creds = randomCredentials();
      const child = await startChildSidecar(sidecarEnv(own.uri, own.size, creds, { FLUX_LOG_LEVEL: "warn" }));
      try {
        const auth = `Bearer ${await fetchAccessToken(child.url, creds)}`;
        const id = await submit(apiCaller(child.url, auth), bigOutputCommand(4 * MiB));
        const [plain, sse] = await Promise.all([
          readPlainStream(`${child.url}/v1/jobs/${id}/output/stream`, auth),
          readSseOutput(`${child.url}/v1/jobs/${id}/output/events`, auth),
        ]);
        assert.equal(plain.bytes, 4 * MiB);
        assert.equal(sse.bytes, 4 * MiB);
        assert.equal(sse.lastEvent, "end");
      } finally {
        await child.stop();
        await own.stop();
      }
    });
  }
});
