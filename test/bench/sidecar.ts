/**
 * `npm run bench:sidecar`: the bundled sidecar (dist/sidecar.js, its own process, auth on) under
 * 8 concurrent keep-alive clients on loopback: req/s and p50/p99 for GET /v1/jobs with 100 and
 * 1000 jobs, GET /v1/nodes and POST /v1/jobs/submit, then the sidecar's RSS. Against FLUX_URI
 * when set (a real broker: also times `flux submit --cc` for comparison when `flux` is on PATH),
 * else an in-process test broker. Each phase lasts BENCH_SECONDS (default 5). The sidecar runs
 * with the MiniCluster's node flags and malloc settings (components/minicluster.build.ts);
 * BENCH_NODE_DEFAULTS=1 measures Node's defaults instead. Submissions are also timed through our
 * native Flux client with the same number in flight and no HTTP: the broker's own ceiling at that
 * concurrency, which no HTTP server in front of it can pass. The bundle is
 * rebuilt from the working tree first (never a stale dist/sidecar.js), unless BENCH_SIDECAR_BUNDLE
 * names another bundle to measure (say, a build of the previous commit, for a before/after).
 *
 *   PATH=/opt/flux-core/bin:$PATH flux start --test-size=4 npm run bench:sidecar
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import { promisify } from "node:util";
import { SignJWT } from "jose";
import { SIDECAR_MALLOC_ENV, SIDECAR_NODE_FLAGS } from "../../components/minicluster.build";
import { buildSidecar, SIDECAR_BUNDLE } from "../../scripts/build";
import { buildJobspec, FluxClient } from "../../sidecar/flux";
import { TestBroker } from "../test-broker";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = 8;
/** The Python server on a real broker, 2 cores, auth on (issue 6). */
const PYTHON = { jobs100: 76, jobs1000: 10, nodes: 350, submit: 30 };
const NODE_DEFAULTS = process.env.BENCH_NODE_DEFAULTS === "1";
const NODE_FLAGS = NODE_DEFAULTS ? [] : SIDECAR_NODE_FLAGS;
const MALLOC_ENV: Record<string, string> = NODE_DEFAULTS ? {} : SIDECAR_MALLOC_ENV;
const OTHER_BUNDLE = process.env.BENCH_SIDECAR_BUNDLE;

interface Result { name: string; requests: number; errors: number; rps: number; p50: number; p99: number; rss?: number }

/** Submissions are latency-bound per client, so they are also measured with more clients. */
const WIDE_CONCURRENCY = 64;
const agent = new http.Agent({ keepAlive: true, maxSockets: WIDE_CONCURRENCY });

function request(url: URL, method: string, authorization: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: { authorization } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

async function load(name: string, base: string, path: string, method: string, authorization: string, clients = CONCURRENCY): Promise<Result> {
  const url = new URL(path, base);
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        const status = await request(url, method, authorization);
        latencies.push(performance.now() - t0);
        if (status !== 200) errors++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
  return { name, requests: latencies.length, errors, rps: latencies.length / elapsed, p50: pct(0.5), p99: pct(0.99) };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startSidecarProcess(bundle: string, env: Record<string, string>): Promise<{ url: string; pid: number; stop(): void }> {
  const port = await freePort();
  const child = spawn(process.execPath, [...NODE_FLAGS, bundle], {
    env: {
      PATH: process.env.PATH ?? "",
      ...MALLOC_ENV,
      FLUX_LOG_LEVEL: process.env.FLUX_LOG_LEVEL ?? "info",
      ...env,
      HOST: "127.0.0.1",
      PORT: String(port),
    },
    stdio: ["ignore", "ignore", "inherit"], // request logs are produced (as in production) and discarded
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`sidecar exited ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      if (i > 200) throw new Error("sidecar did not start");
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { url, pid: child.pid!, stop: () => child.kill("SIGTERM") };
}

/** RSS in MiB, and its anonymous part (heap, stacks) apart from file pages (mostly the node binary). */
function rssMiB(pid: number): { rss: number; anon: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb("VmRSS") / 1024, anon: kb("RssAnon") / 1024 };
}

/** Jobs/s of our native client submitting `true` for SECONDS with `inFlight` submissions outstanding. */
async function nativeSubmitRate(uri: string, inFlight: number): Promise<number> {
  const client = new FluxClient({ uri, timeoutMs: 60_000 });
  const spec = buildJobspec({ command: ["true"], environment: { PATH: "/usr/bin:/bin" } });
  let submitted = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (performance.now() < deadline) {
          await client.submit(spec);
          submitted++;
        }
      }),
    );
    return submitted / ((performance.now() - started) / 1000);
  } finally {
    await client.close();
  }
}

async function jobCount(base: string, authorization: string): Promise<number> {
  const res = await fetch(`${base}/v1/jobs`, { headers: { authorization } });
  return ((await res.json()) as { jobs: unknown[] }).jobs.length;
}

async function topUp(base: string, authorization: string, target: number): Promise<number> {
  let count = await jobCount(base, authorization);
  const url = new URL("/v1/jobs/submit?command=true", base);
  while (count < target) {
    const batch = Math.min(CONCURRENCY * 4, target - count);
    await Promise.all(Array.from({ length: batch }, () => request(url, "POST", authorization)));
    count += batch;
  }
  return jobCount(base, authorization);
}

/** Waits (at most 3 minutes) until every job is inactive, so listings are not timed while jobs run. */
async function settle(base: string, authorization: string): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    const res = await fetch(`${base}/v1/jobs`, { headers: { authorization } });
    const { jobs } = (await res.json()) as { jobs: Array<{ state: number }> };
    if (jobs.every((job) => job.state === 64)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  console.warn("jobs still active after 3 minutes; timing anyway");
}

/** jobs/s of `flux submit --cc=1-N true` on the same broker (the issue's reference for submissions). */
async function fluxSubmitCc(n: number): Promise<number | undefined> {
  try {
    const started = performance.now();
    await promisify(execFile)("flux", ["submit", `--cc=1-${n}`, "--quiet", "true"], { maxBuffer: 1 << 24 });
    return n / ((performance.now() - started) / 1000);
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  if (!OTHER_BUNDLE) await buildSidecar();
  const bundle = OTHER_BUNDLE ?? SIDECAR_BUNDLE;
  const testBroker = process.env.FLUX_URI ? undefined : await TestBroker.start({ size: 4 });
  const uri = process.env.FLUX_URI ?? testBroker!.uri;
  const creds = { user: "bench", token: randomBytes(12).toString("hex"), secret: randomBytes(24).toString("hex") };
  const sidecar = await startSidecarProcess(bundle, {
    FLUX_URI: uri,
    FLUX_REQUIRE_AUTH: "true",
    FLUX_USER: creds.user,
    FLUX_TOKEN: creds.token,
    FLUX_SECRET_KEY: creds.secret,
  });
  try {
    const requestJwt = await new SignJWT({ user: creds.user, pass: creds.token, scope: "token" })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(creds.secret));
    const grant = await fetch(`${sidecar.url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${requestJwt}` } });
    const authorization = `Bearer ${((await grant.json()) as { access_token: string }).access_token}`;

    const results: Array<Result & { python: number; jobs?: number }> = [];
    const phase = async (name: string, path: string, method: string, python: number, jobs?: number, clients?: number) => {
      const result = await load(name, sidecar.url, path, method, authorization, clients);
      results.push({ ...result, python, jobs, rss: rssMiB(sidecar.pid).rss });
    };
    const idleRss = rssMiB(sidecar.pid);
    const jobs100 = await topUp(sidecar.url, authorization, 100);
    await settle(sidecar.url, authorization);
    await phase("GET /v1/jobs", "/v1/jobs", "GET", PYTHON.jobs100, jobs100);
    await phase("GET /v1/nodes", "/v1/nodes", "GET", PYTHON.nodes);
    await phase("POST /v1/jobs/submit", "/v1/jobs/submit?command=true", "POST", PYTHON.submit);
    await phase(`POST /v1/jobs/submit (${WIDE_CONCURRENCY} clients)`, "/v1/jobs/submit?command=true", "POST", PYTHON.submit, undefined, WIDE_CONCURRENCY);
    const jobs1000 = await topUp(sidecar.url, authorization, 1000);
    await settle(sidecar.url, authorization);
    await phase("GET /v1/jobs", "/v1/jobs", "GET", PYTHON.jobs1000, jobs1000);
    const rss = rssMiB(sidecar.pid);
    await settle(sidecar.url, authorization);
    const native = await nativeSubmitRate(uri, CONCURRENCY);
    await settle(sidecar.url, authorization);
    const cc = testBroker ? undefined : await fluxSubmitCc(500);

    const loadAverage = os.loadavg()[0].toFixed(1);
    console.log(`\nsidecar benchmark: ${testBroker ? "test broker" : `broker ${uri}`}, ${CONCURRENCY} clients, ${SECONDS} s per phase, auth on,`);
    const settings = NODE_DEFAULTS ? "Node's default memory settings" : `node ${NODE_FLAGS.join(" ")}, ${Object.entries(MALLOC_ENV).map(([k, v]) => `${k}=${v}`).join(" ")}`;
    console.log(`${settings}, ${os.cpus().length} CPUs, load average ${loadAverage}, ${bundle}\n`);
    console.log("| endpoint | jobs listed | req/s | p50 ms | p99 ms | errors | Python req/s | ratio | RSS after, MiB |");
    console.log("|---|---|---|---|---|---|---|---|---|");
    for (const r of results) {
      console.log(
        `| ${r.name} | ${r.jobs ?? ""} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.errors} | ${r.python} | ${(r.rps / r.python).toFixed(1)}x | ${r.rss?.toFixed(1)} |`,
      );
    }
    const mib = ({ rss, anon }: { rss: number; anon: number }) => `${rss.toFixed(1)} MiB (${anon.toFixed(1)} anonymous)`;
    console.log(`\nsidecar RSS: ${mib(idleRss)} idle, ${mib(rss)} after the load (Python server: 70-89 MB)`);
    const [narrow, wide] = results.filter((r) => r.name.startsWith("POST")).map((r) => r.rps);
    console.log(`native client, ${CONCURRENCY} submissions in flight, no HTTP: ${native.toFixed(0)} jobs/s; sidecar with ${CONCURRENCY} clients = ${(narrow / native).toFixed(2)} of that`);
    if (cc !== undefined) {
      console.log(`flux submit --cc=1-500: ${cc.toFixed(0)} jobs/s; sidecar submissions = ${(narrow / cc).toFixed(2)} of that with ${CONCURRENCY} clients, ${(wide / cc).toFixed(2)} with ${WIDE_CONCURRENCY}`);
    }
  } finally {
    sidecar.stop();
    agent.destroy();
    await testBroker?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
