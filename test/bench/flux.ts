/**
 * npm run bench:flux [-- --jobs N --concurrency C --list-samples S --time-limit SECONDS]
 *
 * Against $FLUX_URI when set, else against a test broker started here:
 *  - submit throughput of the native client: N jobs (`true`) with C submissions in flight;
 *  - listJobs latency (p50/p99) with those jobs present;
 *  - when `flux` is on PATH, `flux submit --cc=1-N true` against the same broker in the same run,
 *    and our rate as a ratio of its rate.
 * Each phase waits for the broker to go idle first. The whole run is bounded by --time-limit.
 */
import { execFile } from "node:child_process";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { Command, InvalidArgumentError } from "commander";
import { FluxClient, JobState, buildJobspec } from "../../sidecar/flux";
import { fluxExecutable, startBroker, type BrokerHandle } from "../support/broker";

const execFileAsync = promisify(execFile);
const ACTIVE = JobState.DEPEND | JobState.PRIORITY | JobState.SCHED | JobState.RUN | JobState.CLEANUP | JobState.NEW;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Submits `count` jobs keeping `concurrency` requests in flight; returns elapsed seconds. */
async function submitMany(client: FluxClient, count: number, concurrency: number): Promise<number> {
  const spec = buildJobspec({ command: ["true"], environment: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        next++;
        await client.submit(spec);
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

/** Waits until the broker has no active jobs, so one phase's jobs do not slow the next. */
async function waitIdle(client: FluxClient, deadline: number): Promise<void> {
  while ((await client.listJobs()).some((j) => (j.state & ACTIVE) !== 0)) {
    if (Date.now() > deadline) throw new Error("time limit reached while waiting for jobs to finish");
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function fluxSubmitCc(flux: string, uri: string, count: number): Promise<number> {
  const started = performance.now();
  await execFileAsync(flux, ["submit", `--cc=1-${count}`, "--quiet", "true"], { env: { ...process.env, FLUX_URI: uri }, maxBuffer: 64 * 1024 * 1024 });
  return (performance.now() - started) / 1000;
}

async function main(): Promise<void> {
  const o = new Command()
    .name("bench:flux")
    .option("--jobs <n>", "jobs to submit per phase", positiveInt, 200)
    .option("--concurrency <n>", "submissions in flight", positiveInt, 16)
    .option("--list-samples <n>", "listJobs calls to time", positiveInt, 50)
    .option("--time-limit <seconds>", "abort after this long", positiveInt, 300)
    .parse()
    .opts<{ jobs: number; concurrency: number; listSamples: number; timeLimit: number }>();
  const deadline = Date.now() + o.timeLimit * 1000;
  const timer = setTimeout(() => {
    process.stderr.write(`bench:flux: time limit of ${o.timeLimit} s reached\n`);
    process.exit(2);
  }, o.timeLimit * 1000);
  timer.unref();

  const broker: BrokerHandle = process.env.FLUX_URI
    ? { uri: process.env.FLUX_URI, kind: "real", size: 0, hostnames: [], version: "", stop: async () => {}, setNodeDown: async () => {} }
    : await startBroker({ kind: "test", size: 4 });
  const client = new FluxClient({ uri: broker.uri, timeoutMs: 60_000 });
  try {
    const info = await client.brokerInfo();
    const target = broker.testBroker ? "test broker" : "broker at FLUX_URI";
    console.log(`target: ${target} ${broker.uri} (flux-core ${info.version}, size ${info.size})`);
    await waitIdle(client, deadline);

    const ours = await submitMany(client, o.jobs, o.concurrency);
    const ourRate = o.jobs / ours;
    console.log(`native client submit: ${o.jobs} jobs at concurrency ${o.concurrency}: ${ours.toFixed(2)} s = ${ourRate.toFixed(1)} jobs/s`);
    await waitIdle(client, deadline);

    const flux = fluxExecutable();
    if (flux) {
      try {
        const theirs = await fluxSubmitCc(flux, broker.uri, o.jobs);
        const theirRate = o.jobs / theirs;
        console.log(`flux submit --cc=1-${o.jobs} true: ${theirs.toFixed(2)} s = ${theirRate.toFixed(1)} jobs/s`);
        console.log(`ratio (native client / flux submit --cc): ${(ourRate / theirRate).toFixed(2)}`);
        await waitIdle(client, deadline);
      } catch (err) {
        console.log(`flux submit --cc failed against this broker, no ratio: ${(err as Error).message.split("\n")[0]}`);
      }
    } else {
      console.log("flux not on PATH: no flux submit --cc comparison");
    }

    const present = (await client.listJobs()).length;
    const samples: number[] = [];
    for (let i = 0; i < o.listSamples; i++) {
      const started = performance.now();
      await client.listJobs();
      samples.push(performance.now() - started);
    }
    samples.sort((a, b) => a - b);
    console.log(`listJobs with ${present} jobs present: p50 ${percentile(samples, 50).toFixed(1)} ms, p99 ${percentile(samples, 99).toFixed(1)} ms over ${o.listSamples} calls`);
  } finally {
    await client.close();
    await broker.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`bench:flux: ${(err as Error).message}\n`);
  process.exit(1);
});
