/**
 * Closed-loop HTTP load against a running sidecar: N clients, each authenticating once through
 * the Python client's handshake and then issuing a weighted mix of list, info, submit, output,
 * stream and cancel until the time or request budget runs out. Every answer is checked: a
 * transport failure, a timeout or an unexpected status/body counts as an error. Before the clock
 * starts the broker is seeded with jobs, so the listing is at its steady size (the plain listing
 * stops at 1000 jobs, as job-list's default page does in Python) and memory is compared on a
 * stationary workload. Afterwards every id answered with 200 on submit must be in GET /v1/jobs,
 * or, for ids past the listing's 1000, answer GET /v1/jobs/{id}.
 */

export type Operation = "list" | "info" | "submit" | "output" | "stream" | "cancel";

export const DEFAULT_MIX: Record<Operation, number> = { list: 20, info: 20, submit: 20, output: 15, stream: 10, cancel: 15 };

export interface LoadOptions {
  baseUrl: string;
  clients: number;
  durationMs: number;
  /** Stop early once this many requests have been issued. */
  maxRequests: number;
  /** Request counts at which RSS is sampled: [after warm-up, at the end of the measured window]. */
  rssCheckpoints: [number, number];
  /** Resident set size of the server process, in bytes. */
  sampleRss: () => Promise<number>;
  /** The Authorization header value a client should use (each client calls it once). */
  authorize: (baseUrl: string) => Promise<string>;
  /** Command submitted by the submit operation; it should finish quickly and print a line. */
  command: string;
  /** Jobs submitted before the measured window (not counted as requests). */
  seedJobs: number;
  mix?: Record<Operation, number>;
  requestTimeoutMs?: number;
}

export interface OperationStats {
  count: number;
  p50: number;
  p99: number;
}

export interface LoadReport {
  requests: number;
  errors: number;
  errorSamples: string[];
  elapsedMs: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  byOperation: Record<Operation, OperationStats>;
  submitted: number;
  /** Submitted ids found in the final plain listing, and those found only by GET /v1/jobs/{id}. */
  foundInListing: number;
  foundById: number;
  lost: string[];
  rss: { first: { requests: number; bytes: number }; last: { requests: number; bytes: number }; ratio: number };
}

/** Nearest-rank percentile of an ascending array, in the array's unit. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Job ids as exact decimal strings: they may exceed 2^53, so never go through a JS number. */
function idsIn(text: string): string[] {
  return [...text.matchAll(/"id":\s*(\d+)/g)].map((m) => m[1]);
}

class Outcome extends Error {}

function expect(condition: boolean, what: string): void {
  if (!condition) throw new Outcome(what);
}

interface SharedState {
  opts: Required<Pick<LoadOptions, "requestTimeoutMs">> & LoadOptions;
  deadline: number;
  issued: number;
  /** Ids whose jobs are only read (info/output/stream), and ids reserved for cancel. */
  readable: string[];
  cancellable: string[];
  /** Readable jobs seen INACTIVE: streams follow these, so they measure the sidecar, not the queue. */
  finished: string[];
  submitted: string[];
  latencies: Record<Operation, number[]>;
  errors: number;
  errorSamples: string[];
  rssSamples: Array<Promise<{ requests: number; bytes: number }>>;
}

function pickOperation(mix: Record<Operation, number>, haveJobs: boolean): Operation {
  const ops = (Object.keys(mix) as Operation[]).filter((op) => haveJobs || op === "list" || op === "submit");
  const total = ops.reduce((sum, op) => sum + mix[op], 0);
  let roll = Math.random() * total;
  for (const op of ops) if ((roll -= mix[op]) < 0) return op;
  return ops[ops.length - 1];
}

function randomOf(list: string[]): string {
  return list[Math.floor(Math.random() * list.length)];
}

/** Issues one operation and checks its answer; throws Outcome (or a transport error) on anything unexpected. */
async function perform(state: SharedState, op: Operation, authorization: string): Promise<void> {
  const { baseUrl, requestTimeoutMs, command } = state.opts;
  const call = async (method: string, path: string): Promise<{ status: number; text: string }> => {
    const res = await fetch(baseUrl + path, { method, headers: { authorization }, signal: AbortSignal.timeout(requestTimeoutMs) });
    return { status: res.status, text: await res.text() };
  };
  switch (op) {
    case "list": {
      const { status, text } = await call("GET", "/v1/jobs");
      expect(status === 200 && text.startsWith('{"jobs":['), `list: ${status} ${text.slice(0, 120)}`);
      return;
    }
    case "submit": {
      const { status, text } = await call("POST", `/v1/jobs/submit?command=${encodeURIComponent(command)}`);
      const [id] = idsIn(text);
      expect(status === 200 && text.includes('"Message":"Job submit."') && id !== undefined, `submit: ${status} ${text.slice(0, 160)}`);
      state.submitted.push(id);
      // One job in three is reserved for cancel, so streams only follow jobs that run to completion.
      (state.submitted.length % 3 === 0 ? state.cancellable : state.readable).push(id);
      return;
    }
    case "info": {
      const id = randomOf(state.readable);
      const { status, text } = await call("GET", `/v1/jobs/${id}`);
      expect(status === 200 && idsIn(text)[0] === id, `info ${id}: ${status} ${text.slice(0, 160)}`);
      if (text.includes('"state":"INACTIVE"') && !state.finished.includes(id)) state.finished.push(id);
      return;
    }
    case "output": {
      const id = randomOf(state.readable);
      const { status, text } = await call("GET", `/v1/jobs/${id}/output`);
      expect(status === 200 && (text.startsWith('{"Output":[') || text.includes("does not exist yet")), `output ${id}: ${status} ${text.slice(0, 160)}`);
      return;
    }
    case "stream": {
      if (!state.finished.length) return perform(state, "info", authorization);
      const id = randomOf(state.finished);
      const { status, text } = await call("GET", `/v1/jobs/${id}/output/stream`);
      expect(status === 200, `stream ${id}: ${status} ${text.slice(0, 160)}`);
      return;
    }
    case "cancel": {
      if (!state.cancellable.length) return perform(state, "info", authorization); // nothing reserved yet
      const id = randomOf(state.cancellable);
      const { status, text } = await call("POST", `/v1/jobs/${id}/cancel`);
      const ok = (status === 200 && text.includes("requested to cancel")) || (status === 400 && text.includes("cannot be cancelled"));
      expect(ok, `cancel ${id}: ${status} ${text.slice(0, 160)}`);
      return;
    }
  }
}

async function client(state: SharedState): Promise<void> {
  const authorization = await state.opts.authorize(state.opts.baseUrl);
  const mix = state.opts.mix ?? DEFAULT_MIX;
  while (Date.now() < state.deadline && state.issued < state.opts.maxRequests) {
    const op = pickOperation(mix, state.readable.length > 0);
    const n = ++state.issued;
    const started = performance.now();
    try {
      await perform(state, op, authorization);
      state.latencies[op].push(performance.now() - started);
    } catch (err) {
      state.errors++;
      if (state.errorSamples.length < 20) state.errorSamples.push(err instanceof Outcome ? err.message : `${op}: ${String(err)}`);
    }
    if (n === state.opts.rssCheckpoints[0] || n === state.opts.rssCheckpoints[1]) {
      state.rssSamples.push(state.opts.sampleRss().then((bytes) => ({ requests: n, bytes })));
    }
  }
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}

/** Waits until no listed job is still pending or running (the seed jobs have finished). */
async function untilIdle(baseUrl: string, authorization: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await (await fetch(`${baseUrl}/v1/jobs`, { headers: { authorization } })).text();
    const states = [...text.matchAll(/"state":(\d+)/g)].map((m) => Number(m[1]));
    if (states.every((st) => st === 64)) return; // 64 = INACTIVE
    if (Date.now() > deadline) throw new Error(`seed jobs still active after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Splits submitted ids into those the listing shows, those only GET /v1/jobs/{id} knows, and lost ones. */
async function accountFor(baseUrl: string, authorization: string, submitted: string[]) {
  const res = await fetch(`${baseUrl}/v1/jobs`, { headers: { authorization } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`final GET /v1/jobs answered ${res.status}: ${text.slice(0, 200)}`);
  const listed = new Set(idsIn(text));
  const unlisted = submitted.filter((id) => !listed.has(id));
  const lost: string[] = [];
  await inParallel(unlisted, 16, async (id) => {
    const job = await fetch(`${baseUrl}/v1/jobs/${id}`, { headers: { authorization } });
    if (job.status !== 200 || idsIn(await job.text())[0] !== id) lost.push(id);
  });
  return { foundInListing: submitted.length - unlisted.length, foundById: unlisted.length - lost.length, lost };
}

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const opts = { requestTimeoutMs: 15_000, ...options };
  const state: SharedState = {
    opts,
    deadline: 0,
    issued: 0,
    readable: [],
    cancellable: [],
    finished: [],
    submitted: [],
    latencies: { list: [], info: [], submit: [], output: [], stream: [], cancel: [] },
    errors: 0,
    errorSamples: [],
    rssSamples: [],
  };
  const seeder = await opts.authorize(opts.baseUrl);
  await inParallel(Array.from({ length: opts.seedJobs }), opts.clients, () => perform(state, "submit", seeder));
  await untilIdle(opts.baseUrl, seeder, 180_000);
  const started = Date.now();
  state.deadline = started + opts.durationMs;
  state.latencies.submit.length = 0;
  await Promise.all(Array.from({ length: opts.clients }, () => client(state)));
  const elapsedMs = Date.now() - started;
  // The run may end before the last checkpoint: then the end of the run is the last sample.
  while (state.rssSamples.length < 2) {
    const requests = state.issued;
    state.rssSamples.push(opts.sampleRss().then((bytes) => ({ requests, bytes })));
  }
  const [first, last] = await Promise.all(state.rssSamples.slice(0, 2));

  const accounted = await accountFor(opts.baseUrl, seeder, state.submitted);

  const all = Object.values(state.latencies).flat().sort((a, b) => a - b);
  const byOperation = Object.fromEntries(
    (Object.entries(state.latencies) as Array<[Operation, number[]]>).map(([op, values]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return [op, { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) }];
    }),
  ) as Record<Operation, OperationStats>;
  return {
    requests: state.issued,
    errors: state.errors,
    errorSamples: state.errorSamples,
    elapsedMs,
    requestsPerSecond: (state.issued / elapsedMs) * 1000,
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    byOperation,
    submitted: state.submitted.length,
    ...accounted,
    rss: { first, last, ratio: last.bytes / first.bytes },
  };
}

export function formatReport(report: LoadReport, label: string): string {
  const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
  const ms = (v: number) => (Number.isNaN(v) ? "-" : v.toFixed(1));
  const lines = [
    `${label}: ${report.requests} requests in ${(report.elapsedMs / 1000).toFixed(1)} s (${report.requestsPerSecond.toFixed(0)} req/s), errors ${report.errors}`,
    `  latency p50 ${ms(report.p50)} ms, p99 ${ms(report.p99)} ms`,
    ...Object.entries(report.byOperation).map(([op, s]) => `  ${op.padEnd(7)} n=${String(s.count).padStart(6)}  p50 ${ms(s.p50).padStart(7)} ms  p99 ${ms(s.p99).padStart(7)} ms`),
    `  submitted ${report.submitted} (seed included): ${report.foundInListing} in the listing, ${report.foundById} found by id, lost ${report.lost.length}`,
    `  RSS ${mb(report.rss.first.bytes)} MB after ${report.rss.first.requests} requests, ${mb(report.rss.last.bytes)} MB after ${report.rss.last.requests} (ratio ${report.rss.ratio.toFixed(3)})`,
  ];
  if (report.errorSamples.length) lines.push("  first errors:", ...report.errorSamples.map((e) => `    ${e}`));
  if (report.lost.length) lines.push(`  lost ids: ${report.lost.slice(0, 10).join(", ")}`);
  return lines.join("\n");
}
