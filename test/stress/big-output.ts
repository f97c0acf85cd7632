/**
 * `npm run test:bigoutput`: one finished job with 100 MiB of output (BIGOUTPUT_MIB to change it)
 * read through GET /v1/jobs/{id}/output/stream and /output/events by a client that reads as fast
 * as it can, then its snapshot (a 413 past FLUX_MAX_MESSAGE_BYTES), then 4 readers that never
 * read. The sidecar runs in a child process with the MiniCluster's node flags and malloc settings;
 * its peak RSS per phase is VmHWM from /proc (reset between phases). Exits non-zero when a byte is
 * missing or a peak passes 200 MiB. Against the test broker, or the broker FLUX_URI names with
 * FLUX_CONTRACT_REAL=1. The 20 MiB form runs in `npm test` (test/reliability/big-output.spec.ts).
 */
import type { Socket } from "node:net";
import { startBroker } from "../support/broker";
import { fetchAccessToken, randomCredentials } from "../reliability/support/auth";
import {
  bigOutputCommand,
  getJson,
  LINE_BYTES,
  MiB,
  mib,
  PeakRss,
  readPlainStream,
  readSseOutput,
  stalledGet,
  type ReadResult,
} from "../reliability/support/big-output";
import { startChildSidecar } from "../reliability/support/child-sidecar";
import { apiCaller, sidecarEnv, submit, waitInactive } from "../reliability/support/harness";

const OUTPUT_BYTES = Number(process.env.BIGOUTPUT_MIB ?? 100) * MiB;
const PEAK_RSS_BOUND = 200 * MiB;
const STALLED_READERS = 4;

async function main(): Promise<string[]> {
  const failures: string[] = [];
  const broker = await startBroker();
  const creds = randomCredentials();
  const sidecar = await startChildSidecar(sidecarEnv(broker.uri, broker.size, creds, { FLUX_LOG_LEVEL: "warn" }));
  try {
    const authorization = `Bearer ${await fetchAccessToken(sidecar.url, creds)}`;
    const caller = apiCaller(sidecar.url, authorization);
    const id = await submit(caller, bigOutputCommand(OUTPUT_BYTES));
    await waitInactive(caller, id, 600_000);
    const idle = (await sidecar.probe()).rss;
    console.log(`${broker.kind} broker ${broker.version}, job ${id} printed ${mib(OUTPUT_BYTES)}; sidecar idle RSS ${mib(idle)} (after GC)`);

    const phase = async (name: string, read: () => Promise<ReadResult>) => {
      const peak = new PeakRss(sidecar.pid);
      const started = performance.now();
      const result = await read();
      const peakRss = peak.stop();
      const seconds = (performance.now() - started) / 1000;
      console.log(`${name.padEnd(22)} status ${result.status}, ${mib(result.bytes)} in ${seconds.toFixed(1)} s, peak RSS ${mib(peakRss)}`);
      if (result.status !== 200 || result.error || result.bytes !== OUTPUT_BYTES || result.newlines !== Math.floor(OUTPUT_BYTES / LINE_BYTES)) {
        failures.push(`${name}: ${JSON.stringify(result)}`);
      }
      if (peakRss > PEAK_RSS_BOUND) failures.push(`${name}: peak RSS ${mib(peakRss)} over ${mib(PEAK_RSS_BOUND)}`);
    };
    await phase("/output/stream", () => readPlainStream(`${sidecar.url}/v1/jobs/${id}/output/stream`, authorization));
    await phase("/output/events", () => readSseOutput(`${sidecar.url}/v1/jobs/${id}/output/events`, authorization));

    const snapshotPeak = new PeakRss(sidecar.pid);
    const snapshot = await getJson(`${sidecar.url}/v1/jobs/${id}/output`, authorization);
    const snapshotRss = snapshotPeak.stop();
    console.log(`${"/output".padEnd(22)} status ${snapshot.status}, peak RSS ${mib(snapshotRss)}: ${JSON.stringify(snapshot.body).slice(0, 200)}`);
    if (snapshot.status !== 413) failures.push(`/output answered ${snapshot.status}, not 413`);
    if (snapshotRss > PEAK_RSS_BOUND) failures.push(`/output: peak RSS ${mib(snapshotRss)} over ${mib(PEAK_RSS_BOUND)}`);

    const before = (await sidecar.probe()).rss;
    const stalledPeak = new PeakRss(sidecar.pid);
    const stalled: Socket[] = [];
    for (let i = 0; i < STALLED_READERS; i++) {
      stalled.push(await stalledGet(sidecar.port, `/v1/jobs/${id}/output/${i % 2 ? "events" : "stream"}`, authorization));
    }
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const after = (await sidecar.probe()).rss;
    const stalledRss = stalledPeak.stop();
    for (const socket of stalled) socket.destroy();
    console.log(`${`${STALLED_READERS} stalled readers`.padEnd(22)} RSS ${mib(before)} before, ${mib(after)} after 5 s (after GC), peak ${mib(stalledRss)}`);
    if (stalledRss > PEAK_RSS_BOUND) failures.push(`stalled readers: peak RSS ${mib(stalledRss)} over ${mib(PEAK_RSS_BOUND)}`);
  } finally {
    await sidecar.stop();
    await broker.stop();
  }
  return failures;
}

main().then(
  (failures) => {
    if (failures.length) {
      console.error(`FAILED: ${failures.join("; ")}`);
      process.exit(1);
    }
    console.log(`OK: every byte through both stream routes, the snapshot refused with 413, peak RSS under ${mib(PEAK_RSS_BOUND)}`);
    process.exit(0);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
