/**
 * `npm run bench:sidecar`: the bundled sidecar (dist/sidecar.js, its own process, auth on) on the
 * Node release the pod runs (the sidecar image's, installed from the npm registry when it is not
 * the one running: test/support/pod-node.ts) with the MiniCluster's node flags and malloc settings
 * (components/minicluster.build.ts). First its memory: RSS and anonymous RSS after 16 keep-alive
 * clients on GET /v1/jobs with 100 jobs, beside an empty http.createServer on the same Node with
 * the same flags under the same load (the floor; target: at most 1.25x), BENCH_RUNS times (default
 * 3: one run moves by 1-2 MiB with the point of its last collection), with the spread. Then 8 clients on
 * loopback: req/s and p50/p99 for GET /v1/jobs with 100 and 1000 jobs, GET /v1/nodes and POST
 * /v1/jobs/submit, and the RSS after them. Against FLUX_URI when set (a real broker: also times
 * `flux submit --cc` for comparison when `flux` is on PATH), else an in-process test broker. Each
 * phase lasts BENCH_SECONDS (default 5). BENCH_NODE_DEFAULTS=1 measures Node's defaults instead of
 * the MiniCluster's settings. Submissions are also timed through our native Flux client with the
 * same number in flight and no HTTP: the broker's own ceiling at that concurrency, which no HTTP
 * server in front of it can pass. The bundle is rebuilt from the working tree first (never a stale
 * dist/sidecar.js), unless BENCH_SIDECAR_BUNDLE names another bundle to measure (say, a build of
 * the previous commit, for a before/after).
 *
 * `npm run bench:sidecar -- --flag-table` measures only the memory load, BENCH_RUNS times (default
 * 2) per set of settings, the sets taken in turn each round: Node's defaults, the MiniCluster's,
 * the MiniCluster's without each of its flags and malloc variables in turn, and with each
 * candidate flag it leaves out added: the evidence for the choice.
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
import { podNode } from "../support/pod-node";
import { TestBroker } from "../test-broker";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = 8;
/** The memory load: this many clients on GET /v1/jobs listing MEMORY_JOBS jobs. */
const MEMORY_CLIENTS = 16;
const MEMORY_JOBS = 100;
/** The sidecar's RSS after the memory load may be at most this times the empty server's. */
const FLOOR_RATIO_TARGET = 1.25;
/** The Python server on a real broker, 2 cores, auth on (issue 6). */
const PYTHON = { jobs100: 76, jobs1000: 10, nodes: 350, submit: 30 };
const OTHER_BUNDLE = process.env.BENCH_SIDECAR_BUNDLE;
const FLAG_TABLE = process.argv.includes("--flag-table");
const RUNS = Number(process.env.BENCH_RUNS ?? (FLAG_TABLE ? 2 : 3));
/** Flags the MiniCluster leaves out, measured on top of its own set by --flag-table (a later flag overrides an earlier one). */
const CANDIDATE_FLAGS = [
  ["--no-sparkplug"],
  ["--single-threaded"],
  ["--max-lazy"],
  ["--lite-mode"],
  ["--jitless"],
  ["--max-semi-space-size=2"],
  ["--memory-saver-mode"],
];

/** How a process is started: which node, with which flags and malloc variables. */
interface Settings { name: string; flags: string[]; malloc: Record<string, string> }
interface Result { name: string; requests: number; errors: number; rps: number; p50: number; p99: number; rss?: number }
interface Memory { rss: number; anon: number }

const MINICLUSTER: Settings = { name: "MiniCluster", flags: SIDECAR_NODE_FLAGS, malloc: SIDECAR_MALLOC_ENV };
const NODE_DEFAULTS: Settings = { name: "Node's defaults", flags: [], malloc: {} };

/** Submissions are latency-bound per client, so they are also measured with more clients. */
const WIDE_CONCURRENCY = 64;
const agent = new http.Agent({ keepAlive: true, maxSockets: WIDE_CONCURRENCY });

function request(url: URL, method: string, authorization?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: authorization ? { authorization } : {} }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

async function load(name: string, base: string, path: string, method: string, authorization?: string, clients = CONCURRENCY): Promise<Result> {
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

interface Child { url: string; pid: number; stop(): void }

/** Starts `node <flags> <args>` with the malloc variables and `env`, and waits until `probe` answers. */
async function startProcess(node: string, settings: Settings, args: string[], env: Record<string, string>, probe: string): Promise<Child> {
  const port = await freePort();
  const child = spawn(node, [...settings.flags, ...args], {
    env: { PATH: process.env.PATH ?? "", ...settings.malloc, ...env, HOST: "127.0.0.1", PORT: String(port) },
    stdio: ["ignore", "ignore", "inherit"], // request logs are produced (as in production) and discarded
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${args.join(" ")} exited ${child.exitCode}`);
    try {
      if ((await fetch(`${url}${probe}`)).ok) break;
    } catch {
      if (i > 400) throw new Error(`${args.join(" ")} did not start`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { url, pid: child.pid!, stop: () => child.kill("SIGTERM") };
}

/** The floor: what Node's HTTP server alone costs on the same binary with the same settings. */
const EMPTY_SERVER = `require("node:http").createServer((req, res) => res.end()).listen(Number(process.env.PORT), process.env.HOST)`;

/** RSS in MiB, and its anonymous part (heap, stacks) apart from file pages (mostly the node binary). */
function rssMiB(pid: number): Memory {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb("VmRSS") / 1024, anon: kb("RssAnon") / 1024 };
}

const mib = ({ rss, anon }: Memory) => `${rss.toFixed(1)} MiB (${anon.toFixed(1)} anonymous)`;

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

/**
 * Submits `true` jobs through the native client until the broker holds `target`, then waits (at
 * most 3 minutes) until every job is inactive, so listings are not timed while jobs run. Not
 * through the sidecar: its memory is measured under listings alone, the same in every run.
 */
async function seed(uri: string, target: number): Promise<number> {
  const client = new FluxClient({ uri, timeoutMs: 60_000 });
  const spec = buildJobspec({ command: ["true"], environment: { PATH: "/usr/bin:/bin" } });
  try {
    let count = (await client.listJobs({ attrs: ["state"] })).length;
    while (count < target) {
      const batch = Math.min(CONCURRENCY * 4, target - count);
      await Promise.all(Array.from({ length: batch }, () => client.submit(spec)));
      count += batch;
    }
    const deadline = Date.now() + 180_000;
    for (;;) {
      const jobs = await client.listJobs({ attrs: ["state"] });
      if (jobs.every((job) => job.state === 64)) return jobs.length;
      if (Date.now() > deadline) {
        console.warn("jobs still active after 3 minutes; timing anyway");
        return jobs.length;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    await client.close();
  }
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

interface Sidecar extends Child { authorization: string }

async function startSidecar(node: string, bundle: string, settings: Settings, uri: string): Promise<Sidecar> {
  const creds = { user: "bench", token: randomBytes(12).toString("hex"), secret: randomBytes(24).toString("hex") };
  const child = await startProcess(node, settings, [bundle], {
    FLUX_LOG_LEVEL: process.env.FLUX_LOG_LEVEL ?? "info",
    FLUX_URI: uri,
    FLUX_REQUIRE_AUTH: "true",
    // Every bench client comes from 127.0.0.1: the per-client cap must not refuse the 64 of them.
    FLUX_MAX_CONNECTIONS_PER_ADDRESS: "512",
    FLUX_USER: creds.user,
    FLUX_TOKEN: creds.token,
    FLUX_SECRET_KEY: creds.secret,
  }, "/healthz");
  try {
    const requestJwt = await new SignJWT({ user: creds.user, pass: creds.token, scope: "token" })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(creds.secret));
    const grant = await fetch(`${child.url}/v1/token`, { method: "POST", headers: { authorization: `Bearer ${requestJwt}` } });
    return { ...child, authorization: `Bearer ${((await grant.json()) as { access_token: string }).access_token}` };
  } catch (err) {
    child.stop();
    throw err;
  }
}

interface MemoryRun { settings: Settings; idle: Memory; sidecar: Memory; sidecarRps: number; errors: number; empty: Memory; emptyRps: number }

/** The memory load on a fresh sidecar, then on an empty server, both on `node` with `settings`. */
async function memoryRun(node: string, bundle: string, settings: Settings, uri: string): Promise<MemoryRun> {
  const sidecar = await startSidecar(node, bundle, settings, uri);
  let idle: Memory, listing: Result, after: Memory;
  try {
    idle = rssMiB(sidecar.pid);
    listing = await load("GET /v1/jobs", sidecar.url, "/v1/jobs", "GET", sidecar.authorization, MEMORY_CLIENTS);
    after = rssMiB(sidecar.pid);
  } finally {
    sidecar.stop();
  }
  const empty = await startProcess(node, settings, ["-e", EMPTY_SERVER], {}, "/");
  try {
    const emptyLoad = await load("GET /", empty.url, "/", "GET", undefined, MEMORY_CLIENTS);
    return { settings, idle, sidecar: after, sidecarRps: listing.rps, errors: listing.errors, empty: rssMiB(empty.pid), emptyRps: emptyLoad.rps };
  } finally {
    empty.stop();
  }
}

const settingsText = (s: Settings) => [...s.flags, ...Object.entries(s.malloc).map(([k, v]) => `${k}=${v}`)].join(" ") || "none";

/** Every set --flag-table measures: the references, each setting of the MiniCluster left out, each candidate added. */
function flagTableSettings(): Settings[] {
  const without = (drop: string) => ({
    name: `MiniCluster without ${drop}`,
    flags: MINICLUSTER.flags.filter((f) => f !== drop),
    malloc: Object.fromEntries(Object.entries(MINICLUSTER.malloc).filter(([k]) => k !== drop)),
  });
  return [
    NODE_DEFAULTS,
    { name: "malloc settings only", flags: [], malloc: MINICLUSTER.malloc },
    MINICLUSTER,
    ...MINICLUSTER.flags.map(without),
    ...Object.keys(MINICLUSTER.malloc).map(without),
    ...CANDIDATE_FLAGS.map((extra) => ({ name: `MiniCluster + ${extra.join(" ")}`, flags: [...MINICLUSTER.flags, ...extra], malloc: MINICLUSTER.malloc })),
  ];
}

/** "a" for one run, "min-max" for several (figures of one settings' runs). */
function spread(values: number[], digits: number, unit = ""): string {
  const lo = Math.min(...values).toFixed(digits);
  const hi = Math.max(...values).toFixed(digits);
  return lo === hi ? `${lo}${unit}` : `${lo}-${hi}${unit}`;
}

/** One row per settings, each figure the spread of its runs; the ratio is taken within each run. */
function printMemoryTable(runs: MemoryRun[]): void {
  console.log(`| settings | sidecar RSS, MiB | anonymous | GET /v1/jobs req/s | x Python | empty server RSS | anonymous | empty req/s | RSS / empty |`);
  console.log("|---|---|---|---|---|---|---|---|---|");
  const bySettings = new Map<Settings, MemoryRun[]>();
  for (const r of runs) bySettings.set(r.settings, [...(bySettings.get(r.settings) ?? []), r]);
  for (const [settings, rs] of bySettings) {
    const errors = rs.reduce((sum, r) => sum + r.errors, 0);
    console.log(
      `| ${settings.name} | ${spread(rs.map((r) => r.sidecar.rss), 1)} | ${spread(rs.map((r) => r.sidecar.anon), 1)} | ${spread(rs.map((r) => r.sidecarRps), 0)}${errors ? ` (${errors} errors)` : ""} | ${spread(rs.map((r) => r.sidecarRps / PYTHON.jobs100), 0, "x")} | ${spread(rs.map((r) => r.empty.rss), 1)} | ${spread(rs.map((r) => r.empty.anon), 1)} | ${spread(rs.map((r) => r.emptyRps), 0)} | ${spread(rs.map((r) => r.sidecar.rss / r.empty.rss), 2, "x")} |`,
    );
  }
  console.log("\nsettings:");
  for (const settings of bySettings.keys()) console.log(`- ${settings.name}: ${settingsText(settings)}`);
}

async function main(): Promise<void> {
  if (!OTHER_BUNDLE) await buildSidecar();
  const bundle = OTHER_BUNDLE ?? SIDECAR_BUNDLE;
  const pod = await podNode();
  if ("skip" in pod) console.warn(`${pod.skip}: measuring on this node instead, which is not the pod's`);
  const node = "execPath" in pod ? pod.execPath : process.execPath;
  const nodeVersion = "execPath" in pod ? pod.version : process.versions.node;
  const settings = process.env.BENCH_NODE_DEFAULTS === "1" ? NODE_DEFAULTS : MINICLUSTER;
  const testBroker = process.env.FLUX_URI ? undefined : await TestBroker.start({ size: 4 });
  const uri = process.env.FLUX_URI ?? testBroker!.uri;
  const broker = testBroker ? "test broker" : `broker ${uri}`;
  try {
    const jobs = await seed(uri, MEMORY_JOBS);
    const memoryLoad = `${jobs} jobs listed, ${MEMORY_CLIENTS} clients on GET /v1/jobs for ${SECONDS} s (the empty server: on GET /)`;

    if (FLAG_TABLE) {
      const runs: MemoryRun[] = [];
      const startLoad = os.loadavg()[0];
      const table = flagTableSettings();
      for (let round = 1; round <= RUNS; round++) {
        for (const s of table) {
          runs.push(await memoryRun(node, bundle, s, uri));
          console.error(`measured: ${s.name} (run ${round} of ${RUNS})`);
        }
      }
      console.log(`\nsidecar memory by settings: Node ${nodeVersion}, ${broker}, auth on, ${memoryLoad}, ${RUNS} runs each (min-max),`);
      console.log(`${os.cpus().length} CPUs, load average ${startLoad.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end, ${bundle}\n`);
      printMemoryTable(runs);
      return;
    }

    const startLoad = os.loadavg()[0];
    const memoryRuns: MemoryRun[] = [];
    for (let i = 0; i < RUNS; i++) memoryRuns.push(await memoryRun(node, bundle, settings, uri));
    const sidecar = await startSidecar(node, bundle, settings, uri);
    try {
      const results: Array<Result & { python: number; jobs?: number }> = [];
      const phase = async (name: string, path: string, method: string, python: number, jobs?: number, clients?: number) => {
        const result = await load(name, sidecar.url, path, method, sidecar.authorization, clients);
        results.push({ ...result, python, jobs, rss: rssMiB(sidecar.pid).rss });
      };
      await phase("GET /v1/jobs", "/v1/jobs", "GET", PYTHON.jobs100, jobs);
      await phase("GET /v1/nodes", "/v1/nodes", "GET", PYTHON.nodes);
      await phase("POST /v1/jobs/submit", "/v1/jobs/submit?command=true", "POST", PYTHON.submit);
      await phase(`POST /v1/jobs/submit (${WIDE_CONCURRENCY} clients)`, "/v1/jobs/submit?command=true", "POST", PYTHON.submit, undefined, WIDE_CONCURRENCY);
      const jobs1000 = await seed(uri, 1000);
      await phase("GET /v1/jobs", "/v1/jobs", "GET", PYTHON.jobs1000, jobs1000);
      const rss = rssMiB(sidecar.pid);
      await seed(uri, 0);
      const native = await nativeSubmitRate(uri, CONCURRENCY);
      await seed(uri, 0);
      const cc = testBroker ? undefined : await fluxSubmitCc(500);

      console.log(`\nsidecar benchmark: Node ${nodeVersion}, ${broker}, ${CONCURRENCY} clients, ${SECONDS} s per phase, auth on,`);
      console.log(`node flags and malloc settings: ${settings.name} (${settingsText(settings)}), ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}, ${bundle}\n`);
      console.log(`memory, ${memoryLoad}, ${RUNS} runs (load average ${startLoad.toFixed(1)} before them):`);
      for (const memory of memoryRuns) {
        const ratio = memory.sidecar.rss / memory.empty.rss;
        console.log(
          `- sidecar ${mib(memory.sidecar)} after the load (${mib(memory.idle)} idle), ${memory.sidecarRps.toFixed(0)} req/s${memory.errors ? `, ${memory.errors} errors` : ""}; ` +
            `empty http.createServer ${mib(memory.empty)} after the same load, ${memory.emptyRps.toFixed(0)} req/s; ratio ${ratio.toFixed(2)}x`,
        );
      }
      const ratios = memoryRuns.map((r) => r.sidecar.rss / r.empty.rss);
      const worst = Math.max(...ratios);
      console.log(`sidecar RSS / empty server RSS: ${spread(ratios, 2, "x")} (target at most ${FLOOR_RATIO_TARGET}x in every run: ${worst <= FLOOR_RATIO_TARGET ? "met" : "NOT MET"})\n`);
      console.log("| endpoint | jobs listed | req/s | p50 ms | p99 ms | errors | Python req/s | ratio | RSS after, MiB |");
      console.log("|---|---|---|---|---|---|---|---|---|");
      for (const r of results) {
        console.log(
          `| ${r.name} | ${r.jobs ?? ""} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.errors} | ${r.python} | ${(r.rps / r.python).toFixed(1)}x | ${r.rss?.toFixed(1)} |`,
        );
      }
      console.log(`\nsidecar RSS after every phase: ${mib(rss)} (Python server: 70-89 MB)`);
      const [narrow, wide] = results.filter((r) => r.name.startsWith("POST")).map((r) => r.rps);
      console.log(`native client, ${CONCURRENCY} submissions in flight, no HTTP: ${native.toFixed(0)} jobs/s; sidecar with ${CONCURRENCY} clients = ${(narrow / native).toFixed(2)} of that`);
      if (cc !== undefined) {
        console.log(`flux submit --cc=1-500: ${cc.toFixed(0)} jobs/s; sidecar submissions = ${(narrow / cc).toFixed(2)} of that with ${CONCURRENCY} clients, ${(wide / cc).toFixed(2)} with ${WIDE_CONCURRENCY}`);
      }
    } finally {
      sidecar.stop();
    }
  } finally {
    agent.destroy();
    await testBroker?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
