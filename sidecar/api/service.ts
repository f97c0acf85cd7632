/**
 * The flux-restful-api v1 semantics on top of the native Flux client: listing and job-info
 * shapes, submit validation and jobspec building, output snapshots and streams, cancel messages,
 * nodes. Routes parse HTTP and call this; nothing here knows about HTTP beyond ApiError.
 */
import { randomBytes } from "node:crypto";
import {
  buildBatchJobspec,
  buildJobspec,
  FluxError,
  type FluxClient,
  FluxMessageTooLargeError,
  FluxUnsupportedError,
  JobIdError,
  type JobRecord,
  JobState,
  JobspecError,
  jobInfo,
  parseJobId,
  parseJobList,
  splitCommand,
  stateName,
  UnknownJobError,
} from "../flux";
import { NextFlight } from "./coalesce";
import { ApiError } from "./errors";
import { toJson } from "./json";
import type { SubmitRequest } from "./submit-fields";
import { fsError, parsePath, PATH_RULES, type Workspace } from "./workspace";

export interface ServiceOptions {
  /** FLUX_NUMBER_NODES, else the broker's size (looked up once). */
  numberNodes?: number;
  hasGpus: boolean;
  optionFlags: Record<string, string>;
  jobPath: string;
  /** FLUX_WORKSPACE: jobs without a workdir get a directory of their own in it */
  workspace?: Workspace;
}

/** Python's plain listing is job-list's default page: at most 1000 jobs. */
const LISTING_MAX = 1000;
const NO_OUTPUT = "The output does not exist yet, or the jobid is incorrect.";
/**
 * Output snapshots decoded at once. Each holds the broker's reply (up to FLUX_MAX_MESSAGE_BYTES)
 * and its lines in the heap, about 4x the reply: two at the 8 MiB default stay within it.
 */
const SNAPSHOT_CONCURRENCY = 2;

export type OutputChunk = { stream: "stdout" | "stderr"; rank: string; data: string };

export class FluxApiService {
  private brokerSize?: number;
  /** One listing (and one serialisation) shared by concurrent requests. */
  private readonly listing = new NextFlight(() => this.currentListing());
  private readonly listingJson = new WeakMap<JobRecord[], Buffer<ArrayBuffer>>();
  private readonly recordJson = new RecordJsonCache();
  /** The last assembled listing when all its jobs were inactive, with the bytes of its order. */
  private settled?: { order: Buffer; records: JobRecord[] };
  private readonly resources = new NextFlight(() => this.flux.resources());
  private readonly snapshots = new Gate(SNAPSHOT_CONCURRENCY);

  constructor(
    readonly flux: FluxClient,
    private readonly opts: ServiceOptions,
  ) {}

  /** A path id (decimal, f58, hex, ...) or a 400 naming the problem. */
  parseId(text: string): bigint {
    let id: bigint;
    try {
      id = parseJobId(text);
    } catch (err) {
      if (err instanceof JobIdError) throw new ApiError(400, { Message: `Invalid job id: ${err.message}`, id: text });
      throw err;
    }
    // The broker's JSON stops at 2^63-1 (it answers EPROTO "too big integer"), so no such job exists.
    if (id > MAX_BROKER_ID) throw this.notFound(text);
    return id;
  }

  private notFound(idText: string): ApiError {
    return new ApiError(404, { Message: `There is no job with id ${idText}.`, id: idText });
  }

  /**
   * What one full job-list listing would give now, mostly without asking for the inactive jobs
   * the cache holds (at 1000 jobs writing them all cost the broker ~20 ms a listing): the ids,
   * states and submit times of the listing, then the full records of the active jobs and of
   * the jobs that became inactive since the newest cached one. When the two disagree (a job
   * changed state or was submitted in between, or a listed job is not cached) one full
   * listing answers instead. Inactive jobs never change, so their cached records stay exact;
   * one purged in the instant between the two calls is the only way a stale job could show.
   */
  private async currentListing(): Promise<JobRecord[]> {
    const full = () => this.flux.listJobs({ limit: LISTING_MAX });
    const since = this.recordJson.newestInactive();
    if (since === undefined) return full();
    const orderBytes = await this.flux.listJobsBytes({ limit: LISTING_MAX, attrs: ["state", "t_submit"] });
    // Byte for byte the order of a listing whose jobs were all inactive: the same jobs, and
    // inactive jobs never change, so that listing still stands (an idle cluster's steady state).
    if (this.settled?.order.equals(orderBytes)) return this.settled.records;
    const fresh = await this.flux.listJobs({ limit: LISTING_MAX, since });
    const records = this.recordJson.assemble(parseJobList(orderBytes), fresh);
    if (!records) return full();
    const allInactive = records.every((record) => record.state === JobState.INACTIVE);
    // A copy: the reply's bytes are a view of a larger socket read.
    this.settled = allInactive ? { order: Buffer.from(orderBytes), records } : undefined;
    return records;
  }

  /** The plain listing as UTF-8 JSON: {"jobs":[raw job-list records]}. */
  async listJobsJson(): Promise<Buffer<ArrayBuffer>> {
    const records = await this.listing.run();
    let json = this.listingJson.get(records);
    if (json === undefined) {
      json = this.recordJson.listing(records);
      this.listingJson.set(records, json);
    }
    return json;
  }

  /** The Python get_job shape: job-list keys in broker order, state as a name, JobInfo fields added. */
  jobDetails(record: JobRecord, now = Date.now() / 1000): Map<string, unknown> {
    const info = jobInfo(record, now);
    const out = new Map<string, unknown>(Object.entries(record));
    out.set("state", stateName(record.state));
    out.set("nnodes", record.nnodes ?? "");
    out.set("result", info.result);
    out.set("returncode", info.returncode);
    out.set("runtime", info.runtime);
    out.set("priority", record.priority ?? "");
    out.set("waitstatus", record.waitstatus ?? "");
    out.set("nodelist", record.nodelist ?? "");
    out.set("exception", {
      occurred: record.exception_occurred ?? "",
      severity: record.exception_severity ?? "",
      type: record.exception_type ?? "",
      note: record.exception_note ?? "",
    });
    if (!out.has("duration")) out.set("duration", "");
    return out;
  }

  /** Detailed listing as the Python list_jobs_detailed builds it (ranks/expiration always present). */
  async listJobsDetailed(limit?: number): Promise<Array<Map<string, unknown>>> {
    if (limit === 0) return [];
    const records = (await this.listing.run()).slice(0, limit ?? LISTING_MAX);
    const now = Date.now() / 1000;
    return records.map((record) => {
      const details = this.jobDetails(record, now);
      for (const key of ["ranks", "expiration"]) if (!details.has(key)) details.set(key, "");
      return details;
    });
  }

  /**
   * /v1/jobs/search: DataTables-style paging over the detailed listing. The Python server treats
   * the search text as a regex, which lets one request block the server (catastrophic
   * backtracking); here it is a case-insensitive substring of the job's values.
   */
  async search(params: { query?: string; start?: number; length?: number; draw: number }) {
    let jobs = await this.listJobsDetailed();
    const total = jobs.length;
    if (params.query) {
      const needle = params.query.toLowerCase();
      jobs = jobs.filter((job) => [...job.values()].map(pythonStr).join("").toLowerCase().includes(needle));
    }
    if (params.start) jobs = jobs.slice(params.start);
    if (params.length !== undefined && params.length >= 0) jobs = jobs.slice(0, params.length);
    return { data: jobs, draw: params.draw, recordsTotal: total, recordsFiltered: jobs.length };
  }

  async getJob(idText: string): Promise<Map<string, unknown>> {
    const id = this.parseId(idText);
    try {
      return this.jobDetails(await this.flux.getJob(id));
    } catch (err) {
      if (err instanceof UnknownJobError) throw this.notFound(idText);
      throw err;
    }
  }

  /** 404 unless the broker knows the job. */
  async assertJobExists(idText: string): Promise<bigint> {
    const id = this.parseId(idText);
    try {
      await this.flux.getJob(id);
    } catch (err) {
      if (err instanceof UnknownJobError) throw this.notFound(idText);
      throw err;
    }
    return id;
  }

  /**
   * The output as it is now, split into lines that keep their "\n"; never waits for the job.
   * The broker answers with the whole output in one message: past the message limit this is a
   * 413 that points to the stream routes, which hold only a little of it at a time.
   */
  async outputSnapshot(idText: string): Promise<{ Output: string[] } | { Message: string }> {
    const id = this.parseId(idText);
    const lines = new LineSplitter();
    try {
      await this.snapshots.run(async () => {
        for await (const chunk of this.outputChunks(id, false)) lines.push(chunk);
      });
    } catch (err) {
      if (err instanceof UnknownJobError) throw this.notFound(idText);
      if (err instanceof FluxMessageTooLargeError) {
        throw new ApiError(413, {
          Message:
            `The output of job ${idText} is too large to return at once (the broker's reply is ${err.size} bytes, ` +
            `over this server's ${err.limit}-byte limit, FLUX_MAX_MESSAGE_BYTES). Read it with ` +
            `GET /v1/jobs/${idText}/output/stream or GET /v1/jobs/${idText}/output/events.`,
          id: idText,
        });
      }
      if (!(err instanceof FluxError) || err instanceof FluxUnsupportedError) throw err; // e.g. ENOENT: guest.output not created yet
    }
    const output = lines.finish();
    if (output.length) return { Output: output };
    await this.assertJobExists(idText);
    return { Message: NO_OUTPUT };
  }

  /** Data chunks of a job's output; with follow, until the output ends. */
  async *outputChunks(id: bigint, follow: boolean, signal?: AbortSignal): AsyncGenerator<OutputChunk> {
    for await (const event of this.flux.output(id, { follow, signal })) {
      if (event.kind === "data" && event.data) yield { stream: event.stream, rank: event.rank, data: event.data };
    }
  }

  async cancel(idText: string): Promise<{ status: number; body: { Message: string; id: string } }> {
    let id: bigint;
    try {
      id = parseJobId(idText);
    } catch (err) {
      return { status: 400, body: { Message: `Job cannot be cancelled: ${(err as Error).message}.`, id: idText } };
    }
    if (id > MAX_BROKER_ID) return { status: 404, body: { Message: "Job cannot be cancelled: [Errno 2] unknown job id.", id: idText } };
    try {
      await this.flux.cancel(id);
    } catch (err) {
      if (!(err instanceof FluxError) || err instanceof FluxUnsupportedError) throw err;
      // Python's text: "Job cannot be cancelled: [Errno 2] job is inactive." (an unknown id is 404 here)
      const status = err instanceof UnknownJobError ? 404 : 400;
      return { status, body: { Message: `Job cannot be cancelled: [Errno ${err.errno}] ${err.message}.`, id: idText } };
    }
    return { status: 200, body: { Message: "Job is requested to cancel.", id: idText } };
  }

  /** Host names of the nodes that are up, one per host, in rank order. */
  async nodes(): Promise<{ nodes: string[] }> {
    const summary = await this.resources.run();
    return { nodes: [...new Set(summary.up)] };
  }

  /** Nodes up/down/allocated/free, core and GPU counts, and the limits submit enforces. */
  async cluster() {
    const { up, down, allocated, free, cores, gpus } = await this.resources.run();
    const limits = { maxNodes: await this.numberNodes(), gpus: this.opts.hasGpus };
    return { up, down, allocated, free, cores, gpus, limits, fluxVersion: await this.flux.version() };
  }

  async numberNodes(): Promise<number> {
    if (this.opts.numberNodes !== undefined) return this.opts.numberNodes;
    this.brokerSize ??= (await this.flux.brokerInfo()).size;
    return this.brokerSize;
  }

  /** Python's validate_submit_kwargs, in its order, with its messages (and the typo'd checks fixed). */
  async validate(req: SubmitRequest): Promise<string[]> {
    const errors: string[] = [];
    const nodes = await this.numberNodes();
    if (req.num_nodes !== undefined && req.num_nodes > nodes) {
      errors.push(`The server only has ${nodes} nodes, you requested ${req.num_nodes}`);
    }
    for (const option of Object.keys(req.option_flags ?? {})) {
      if (option.includes("-o")) errors.push(`Please provide keys without -o, ${option} is invalid.`);
    }
    if (req.gpus_per_task !== undefined && !this.opts.hasGpus) {
      errors.push("This server does not support gpus: gpus_per_task cannot be set.");
    }
    if (req.runtime !== undefined && req.runtime < 0) errors.push(`Runtime must be >= 0, found ${req.runtime}`);
    for (const key of ["num_tasks", "cores_per_task", "gpus_per_task", "num_nodes"] as const) {
      const value = req[key];
      if (value !== undefined && value < 1) errors.push(`Parameter ${key} must be >= 1`);
    }
    if (req.is_launcher) {
      errors.push("is_launcher is not supported: submit the workflow manager (nextflow, snakemake) as a Flux job instead.");
    }
    return errors;
  }

  /**
   * Validates, builds the jobspec (curated environment, never the server's) and submits.
   * `replyWaitMs` bounds the wait for job-ingest's reply (default: the client's call timeout):
   * the HTTP answer may give up sooner, while the submission goes on to learn its job id.
   */
  async submit(req: SubmitRequest, user: string | undefined, opts: { replyWaitMs?: number } = {}): Promise<bigint> {
    const batch = req.script !== undefined;
    if (!batch && (!req.command || (Array.isArray(req.command) && req.command.length === 0))) {
      throw new ApiError(400, { Message: "A 'command' is minimally required." });
    }
    const errors = await this.validate(req);
    if (errors.length) throw new ApiError(400, { Message: "Invalid submit request", Errors: errors });

    const common = {
      numNodes: req.num_nodes,
      duration: req.runtime ?? 0,
      name: req.name,
      environment: this.jobEnvironment(req.envars),
      shellOptions: { ...this.opts.optionFlags, ...req.option_flags },
      attributes: user ? { "system.user": user } : undefined,
      files: req.files,
    };
    let jobspec;
    const workdir = await this.workingDirectory(req.workdir);
    try {
      jobspec = batch
        ? buildBatchJobspec({
            ...common,
            script: req.script!,
            args: req.script_args,
            // flux batch: -N alone gives one slot per node, the nodes exclusive
            numSlots: req.num_tasks ?? req.num_nodes,
            coresPerSlot: req.cores_per_task,
            gpusPerSlot: req.gpus_per_task,
            exclusive: req.exclusive ?? (req.num_tasks === undefined && req.num_nodes !== undefined ? true : undefined),
            cwd: workdir.cwd,
            fluxVersion: await this.flux.version(),
          })
        : buildJobspec({
            ...common,
            command: typeof req.command === "string" ? splitCommand(req.command) : req.command!,
            numTasks: req.num_tasks,
            coresPerTask: req.cores_per_task,
            gpusPerTask: req.gpus_per_task,
            exclusive: req.exclusive || undefined,
            cwd: workdir.cwd,
          });
    } catch (err) {
      await workdir.discard();
      if (err instanceof JobspecError) {
        throw new ApiError(400, { Message: "There was an issue submitting that job.", Error: err.message });
      }
      throw err;
    }
    try {
      return await this.flux.submit(jobspec, { timeoutMs: opts.replyWaitMs });
    } catch (err) {
      if (err instanceof FluxError && !(err instanceof FluxUnsupportedError)) {
        await workdir.discard();
        throw new ApiError(400, { Message: "There was an issue submitting that job.", Error: err.message });
      }
      throw err;
    }
  }

  /**
   * The job's cwd: an absolute workdir as given (Python compatibility); a relative one inside
   * the workspace (made if missing); none: a new directory of its own under <workspace>/jobs.
   * Without a workspace, the workdir as given. `discard` removes a default directory again.
   */
  private async workingDirectory(workdir: string | undefined): Promise<{ cwd?: string; discard(): Promise<void> }> {
    const keep = { cwd: workdir, discard: async () => undefined };
    const ws = this.opts.workspace;
    if (!ws || (workdir !== undefined && workdir.startsWith("/"))) return keep;
    const make = (segments: string[], shown: string) => ws.ensureDirectory(segments, shown).catch((err: unknown) => Promise.reject(fsError(err, shown)));
    if (workdir !== undefined) return { ...keep, cwd: await make(parsePath(workdir, { ...PATH_RULES, what: "workdir", allowEmpty: false }), workdir) };
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    const segments = ["jobs", `${stamp}-${randomBytes(4).toString("hex")}`];
    const cwd = await make(segments, segments.join("/"));
    return { cwd, discard: () => ws.removeEmptyDirectory(segments) };
  }

  /** A curated base environment plus the user's envars: the server's own never reaches a job. */
  jobEnvironment(envars: Record<string, string> | undefined): Record<string, string> {
    return { PATH: this.opts.jobPath, LANG: "C.UTF-8", ...envars };
  }

  /** The broker answers; with its flux-core version. */
  async ready(): Promise<{ fluxVersion: string }> {
    await this.flux.ping();
    return { fluxVersion: await this.flux.version() };
  }
}

const LISTING_OPEN = Buffer.from('{"jobs":[');
const LISTING_COMMA = Buffer.from(",");
const LISTING_CLOSE = Buffer.from("]}");

/**
 * Writes listings, reusing each inactive job's record and JSON from the previous listing: an
 * inactive job never changes, and at 1000 jobs writing every record again was most of a
 * listing's own cost. Holds only the jobs of the last listing, so it is bounded by its size.
 */
export class RecordJsonCache {
  private inactive = new Map<bigint, CachedRecord>();
  private newest?: number;

  /** {"jobs":[...]} as UTF-8, the same bytes as toJson({ jobs: records }). */
  listing(records: JobRecord[]): Buffer<ArrayBuffer> {
    const next = new Map<bigint, CachedRecord>();
    let newest: number | undefined;
    const parts: Buffer[] = [LISTING_OPEN];
    for (let i = 0; i < records.length; i++) {
      const record = records[i];
      if (i) parts.push(LISTING_COMMA);
      if (record.state !== JobState.INACTIVE) {
        parts.push(Buffer.from(toJson(record)));
        continue;
      }
      let entry = this.cached(record.id, record.t_submit);
      entry ??= { t_submit: record.t_submit, record, json: Buffer.from(toJson(record)) };
      next.set(record.id, entry);
      parts.push(entry.json);
      const inactiveAt = record.t_inactive;
      if (typeof inactiveAt === "number" && (newest === undefined || inactiveAt > newest)) newest = inactiveAt;
    }
    parts.push(LISTING_CLOSE);
    this.inactive = next;
    this.newest = newest;
    return Buffer.concat(parts);
  }

  /** The latest t_inactive of the last listing's jobs (undefined before one or without any). */
  newestInactive(): number | undefined {
    return this.newest;
  }

  /**
   * The full listing `order` (ids, states, submit times) stands for, taking records from
   * `fresh` (a listing of the active jobs and the newest inactive ones, in broker order) or
   * else from the cache; undefined when they do not describe the same jobs in the same order.
   */
  assemble(order: JobRecord[], fresh: JobRecord[]): JobRecord[] | undefined {
    const out: JobRecord[] = [];
    let used = 0;
    for (const entry of order) {
      const next = fresh[used];
      if (next?.id === entry.id) {
        if (next.state !== entry.state || next.t_submit !== entry.t_submit) return undefined;
        out.push(next);
        used++;
        continue;
      }
      const cached = entry.state === JobState.INACTIVE ? this.cached(entry.id, entry.t_submit) : undefined;
      if (!cached) return undefined;
      out.push(cached.record);
    }
    return used === fresh.length ? out : undefined;
  }

  /** ids are unique within one instance only: a restarted broker may reuse one for another job. */
  private cached(id: bigint, t_submit: number): CachedRecord | undefined {
    const entry = this.inactive.get(id);
    return entry?.t_submit === t_submit ? entry : undefined;
  }
}

type CachedRecord = { t_submit: number; record: JobRecord; json: Buffer };

/** Joins each stream's pieces into whole lines ("\n" kept); a trailing partial line ends the list. */
export class LineSplitter {
  private readonly lines: string[] = [];
  private readonly partial = new Map<string, string>();

  push(chunk: OutputChunk): void {
    const key = `${chunk.stream}\0${chunk.rank}`;
    const text = (this.partial.get(key) ?? "") + chunk.data;
    const parts = text.split(/(?<=\n)/);
    const last = parts[parts.length - 1];
    if (last.endsWith("\n")) this.partial.delete(key);
    else {
      this.partial.set(key, last);
      parts.pop();
    }
    this.lines.push(...parts);
  }

  finish(): string[] {
    this.lines.push(...this.partial.values());
    this.partial.clear();
    return this.lines;
  }
}

/** Runs at most `limit` tasks at once; the others wait their turn, in order. */
export class Gate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes straight to the next task
      else this.running--;
    }
  }
}

/** The largest id a broker can hold: its JSON integers are signed 64-bit. */
const MAX_BROKER_ID = (1n << 63n) - 1n;

/** Python's str() of a job value, for the search text (True/False, 0.0, "" for ""). */
function pythonStr(value: unknown): string {
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "string") return String(value);
  if (value === null || value === undefined) return "None";
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
}
