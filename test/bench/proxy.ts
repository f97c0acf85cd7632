/**
 * npm run bench:proxy [-- --pings N --jobs N]
 *
 * The Flux proxy's cost, as ratios against the broker's own local socket in the same run:
 *  - round-trip latency: N sequential broker.ping RPCs of the project's Flux client (p50, p99);
 *  - submit throughput: `flux submit --cc=1-N true` when `flux` is on PATH and $FLUX_URI is a
 *    real broker, else N submissions of the project's client, 16 in flight; after a warm-up,
 *    the two paths alternate twice with an idle queue before each, and the best of each counts.
 * Against $FLUX_URI when set (run it inside `flux start`), else a test broker started here. The
 * proxy path is the whole chain: local socket -> flux-restful proxy -> WebSocket -> sidecar
 * (in this process, on loopback) -> the broker's socket.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { Command, InvalidArgumentError } from "commander";
import { listenProxy } from "../../client/src/proxy";
import { loadConfig } from "../../sidecar/config";
import { FluxClient, buildJobspec } from "../../sidecar/flux";
import { startSidecar } from "../../sidecar/server";
import { fluxExecutable, startBroker } from "../support/broker";

const execFileAsync = promisify(execFile);

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function pingLatency(uri: string, count: number): Promise<{ p50: number; p99: number }> {
  const client = new FluxClient({ uri });
  try {
    for (let i = 0; i < 20; i++) await client.ping(); // warm up: connection, JIT
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      await client.ping();
      samples.push(performance.now() - started);
    }
    samples.sort((a, b) => a - b);
    return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
  } finally {
    await client.close();
  }
}

/** Jobs per second submitting `count` jobs. */
async function submitRate(uri: string, count: number, flux: string | undefined): Promise<number> {
  const started = performance.now();
  if (flux) {
    await execFileAsync(flux, ["submit", `--cc=1-${count}`, "--quiet", "true"], { env: { ...process.env, FLUX_URI: uri }, maxBuffer: 64 * 1024 * 1024 });
  } else {
    const client = new FluxClient({ uri });
    try {
      const jobspec = buildJobspec({ command: ["true"] });
      let next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next++ < count) await client.submit(jobspec);
      }));
    } finally {
      await client.close();
    }
  }
  return count / ((performance.now() - started) / 1000);
}

/** Waits until the broker has no active jobs (`flux queue idle`; the test broker runs jobs at once). */
async function waitIdle(uri: string, flux: string | undefined): Promise<void> {
  if (flux) await execFileAsync(flux, ["queue", "idle", "--quiet"], { env: { ...process.env, FLUX_URI: uri }, timeout: 120_000 });
}

async function main(): Promise<void> {
  const opts = new Command("bench:proxy")
    .option("--pings <n>", "ping round trips per path", positiveInt, 500)
    .option("--jobs <n>", "jobs submitted per path", positiveInt, 200)
    .parse()
    .opts<{ pings: number; jobs: number }>();
  const real = Boolean(process.env.FLUX_URI);
  const broker = real ? undefined : await startBroker({ kind: "test", size: 4 });
  const brokerUri = process.env.FLUX_URI ?? broker!.uri;
  const user = "bench";
  const token = randomBytes(16).toString("hex");
  const sidecar = await startSidecar(
    loadConfig({
      FLUX_URI: brokerUri, FLUX_REQUIRE_AUTH: "true", FLUX_PROXY: "true", FLUX_USER: user, FLUX_TOKEN: token,
      FLUX_SECRET_KEY: randomBytes(16).toString("hex"), HOST: "127.0.0.1", PORT: "0", FLUX_LOG_LEVEL: "warn",
    }),
    { logDestination: new Writable({ write: (_chunk, _enc, done) => done() }) },
  );
  const proxy = await listenProxy({ host: sidecar.url, user, token, onNotice: (text) => console.error(`proxy: ${text}`) });
  const flux = real ? fluxExecutable() : undefined;
  try {
    console.log(`bench:proxy against ${real ? `the broker at ${brokerUri}` : "a test broker"}; proxy ${proxy.uri} via ${sidecar.url}`);
    const local = await pingLatency(brokerUri, opts.pings);
    const proxied = await pingLatency(proxy.uri, opts.pings);
    console.log(`ping round trip (${opts.pings}): local p50 ${local.p50.toFixed(3)} ms p99 ${local.p99.toFixed(3)} ms; proxy p50 ${proxied.p50.toFixed(3)} ms p99 ${proxied.p99.toFixed(3)} ms; ratio proxy/local p50 ${(proxied.p50 / local.p50).toFixed(2)}x p99 ${(proxied.p99 / local.p99).toFixed(2)}x`);
    const how = flux ? `flux submit --cc=1-${opts.jobs} true (${flux})` : `${opts.jobs} submissions of the project's client, 16 in flight`;
    // A warm-up, then local and proxy alternately twice, each waiting for the queue to empty:
    // the best of each, so neither path pays for the broker's first jobs or the other's backlog.
    await submitRate(brokerUri, 20, flux);
    let localRate = 0;
    let proxyRate = 0;
    for (let round = 0; round < 2; round++) {
      await waitIdle(brokerUri, flux);
      localRate = Math.max(localRate, await submitRate(brokerUri, opts.jobs, flux));
      await waitIdle(brokerUri, flux);
      proxyRate = Math.max(proxyRate, await submitRate(proxy.uri, opts.jobs, flux));
    }
    console.log(`submit throughput, ${how}: local ${localRate.toFixed(1)} jobs/s; proxy ${proxyRate.toFixed(1)} jobs/s; ratio proxy/local ${(proxyRate / localRate).toFixed(2)}`);
  } finally {
    await proxy.close();
    await sidecar.close();
    await broker?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
