/**
 * The test broker's in-memory instance: jobs move through the states of a real job manager,
 * writing the same eventlog entries (submit, validate, depend, priority, alloc, start, finish,
 * release, free, clean, exception), and job-list records are derived from those events the way
 * job-list derives them (keys absent until known).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { formatIdset } from "../../../sidecar/flux/idset";
import { compressHostlist } from "../../../sidecar/flux/hostlist";
import { Eventlog } from "./eventlog";
import { TaskExecutor, type OutputStream, type TaskSpec } from "./executor";
import { FluidGenerator } from "./fluid";
import { initialProgram, initialProgramEnvironment, jobTmpdir, prepareTmpdir, renderTemplates, ShellInitError, type ShellLog } from "./shell";
import { ResourcePool, Unsatisfiable, resourceRequest, type NodeAllocation, type NodeSpec, type ResourceRequest } from "./resources";

export const JobState = { NEW: 1, DEPEND: 2, PRIORITY: 4, SCHED: 8, RUN: 16, CLEANUP: 32, INACTIVE: 64 } as const;
export const JobResult = { COMPLETED: 1, FAILED: 2, CANCELED: 4, TIMEOUT: 8 } as const;
const PENDING = JobState.DEPEND | JobState.PRIORITY | JobState.SCHED | JobState.NEW;
const RUNNING = JobState.RUN | JobState.CLEANUP;

const SIGALRM = 14;
const SIGTERM = 15;
/** job-exec posts `finish` a few ms after the shells' output is complete */
const FINISH_DELAY_MS = 3;
/** from job-exec's "start" to the shells running their tasks (30-150 ms on a real test instance) */
const SHELL_STARTUP_MS = 20;
/** setTimeout's limit; longer time limits never expire within a test run anyway */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface JobException {
  type: string;
  severity: number;
  note: string;
  userid: number;
}

export class Job {
  state: number = JobState.NEW;
  /** every state the job has been in (list-id's optional `state` waits on this) */
  statesMask: number = JobState.NEW;
  readonly times: Record<string, number> = {};
  priority: number | undefined;
  readonly eventlog = new Eventlog();
  /** guest.exec.eventlog and guest.output exist once the job starts */
  execEventlog: Eventlog | undefined;
  output: Eventlog | undefined;
  allocation: NodeAllocation[] | undefined;
  R: Record<string, unknown> | undefined;
  annotations: Record<string, unknown> | undefined;
  waitstatus: number | undefined;
  exception: JobException | undefined;
  executor: TaskExecutor | undefined;
  /** set between "start" and the shells running their tasks */
  shellLaunch: NodeJS.Timeout | undefined;
  timeLimit: NodeJS.Timeout | undefined;
  /** each shell's FLUX_JOB_TMPDIR, removed when the job ends */
  tmpdirs: string[] = [];
  readonly request: ResourceRequest | undefined;

  constructor(
    readonly id: bigint,
    readonly userid: number,
    readonly urgency: number,
    readonly jobspec: Record<string, unknown>,
    readonly jobspecText: string,
    readonly J: string,
  ) {
    try {
      this.request = resourceRequest(jobspec);
    } catch {
      this.request = undefined;
    }
  }

  get system(): Record<string, unknown> {
    return ((this.jobspec.attributes as Record<string, unknown>)?.system as Record<string, unknown>) ?? {};
  }

  get command(): string[] {
    return ((this.jobspec.tasks as Array<Record<string, unknown>>)[0]?.command as string[]) ?? [];
  }

  get duration(): number {
    return Number(this.system.duration ?? 0);
  }

  get ntasks(): number {
    const count = (this.jobspec.tasks as Array<Record<string, unknown>>)[0]?.count as Record<string, number>;
    if (count?.total !== undefined) return count.total;
    const slots = this.request ? this.request.slots * (this.request.nodes ?? 1) : 1;
    return slots * (count?.per_slot ?? 1);
  }
}

export interface InstanceOptions {
  nodes: NodeSpec[];
  owner: number;
  /** major*100+minor of the emulated flux-core, e.g. 88 for 0.88, 55 for 0.55 */
  versionCode: number;
  fluidStartMs: number;
  /** FLUX_URI given to tasks */
  uri: () => string;
  /** the broker's rundir: the shells' FLUX_JOB_TMPDIRs are made in it */
  rundir: string;
}

export class Instance {
  readonly jobs = new Map<bigint, Job>();
  readonly pool: ResourcePool;
  private readonly fluids: FluidGenerator;
  private readonly waiters = new Set<() => void>();

  constructor(readonly opts: InstanceOptions) {
    this.pool = new ResourcePool(opts.nodes);
    this.fluids = new FluidGenerator(opts.fluidStartMs);
  }

  get hasPriorityStates(): boolean {
    return this.opts.versionCode >= 87; // job-list has t_priority / t_sched from 0.87
  }

  /** Registers a callback run after every job change (list-id uses it to wait). Returns an unsubscribe function. */
  onChange(fn: () => void): () => void {
    this.waiters.add(fn);
    return () => this.waiters.delete(fn);
  }

  private changed(): void {
    for (const fn of [...this.waiters]) fn();
  }

  submit(args: { userid: number; urgency: number; flags: number; jobspec: Record<string, unknown>; jobspecText: string; J: string }): Job {
    const job = new Job(this.fluids.next(), args.userid, args.urgency, args.jobspec, args.jobspecText, args.J);
    this.jobs.set(job.id, job);
    const t = job.eventlog.append("submit", { userid: args.userid, urgency: args.urgency, flags: args.flags, version: 1 });
    job.times.t_submit = timestampOf(t);
    this.changed();
    this.after(() => this.advance(job, "validate", undefined, JobState.DEPEND, "t_depend"));
    this.after(() => this.advance(job, "depend", undefined, JobState.PRIORITY, "t_priority"));
    this.after(() => {
      if (job.state !== JobState.PRIORITY) return;
      job.priority = job.urgency === 0 ? 0 : job.urgency === 31 ? 4294967295 : job.urgency;
      this.advance(job, "priority", { priority: job.priority }, JobState.SCHED, "t_sched");
      this.schedule();
    });
    return job;
  }

  /** Runs steps in order, each on a later turn of the event loop, like the job manager's event pipeline. */
  private chain: Promise<void> = Promise.resolve();
  private after(step: () => void): void {
    const run = () => {
      try {
        step();
      } catch (err) {
        // a bug in the double must show, but must not stall every later job
        process.stderr.write(`test broker: internal error: ${(err as Error).stack}\n`);
      }
    };
    this.chain = this.chain.then(() => new Promise<void>((resolve) => setImmediate(() => (run(), resolve()))));
  }

  private advance(job: Job, name: string, context: Record<string, unknown> | undefined, state: number, timeKey: string): void {
    if (job.state === JobState.CLEANUP || job.state === JobState.INACTIVE) return;
    const line = job.eventlog.append(name, context);
    this.enter(job, state, timeKey, timestampOf(line));
  }

  private enter(job: Job, state: number, timeKey: string, when: number): void {
    job.state = state;
    job.statesMask |= state;
    job.times[timeKey] = when;
    this.changed();
  }

  /** First-come first-served over jobs in SCHED, highest priority first; held jobs (priority 0) wait. */
  schedule(): void {
    const queue = [...this.jobs.values()]
      .filter((j) => j.state === JobState.SCHED && j.priority !== 0)
      .sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || (a.id < b.id ? -1 : 1));
    for (const job of queue) {
      if (!job.request) {
        this.raise(job, { type: "alloc", severity: 0, note: "unsatisfiable request: unsupported jobspec", userid: this.opts.owner });
        continue;
      }
      try {
        this.pool.checkFeasible(job.request);
      } catch (err) {
        if (!(err instanceof Unsatisfiable)) throw err;
        this.raise(job, { type: "alloc", severity: 0, note: err.message, userid: this.opts.owner });
        continue;
      }
      const allocation = this.pool.allocate(job.request);
      if (!allocation) break; // strict FCFS: later jobs wait behind the head of the queue
      this.startJob(job, allocation);
    }
  }

  private startJob(job: Job, allocation: NodeAllocation[]): void {
    job.allocation = allocation;
    const starttime = Date.now() / 1000;
    const expiration = job.duration > 0 ? starttime + job.duration : 0;
    const nslots = allocation.reduce((n, a) => n + a.slots, 0);
    job.R = this.pool.rOf(allocation, { starttime, expiration }, { nslots });
    job.annotations = { sched: { resource_summary: resourceSummary(allocation) } };
    const alloc = job.eventlog.append("alloc", { annotations: job.annotations });
    this.enter(job, JobState.RUN, "t_run", timestampOf(alloc));
    job.execEventlog = new Eventlog();
    job.execEventlog.append("init");
    job.execEventlog.append("starting");
    // job-exec posts "start" once the shell processes are spawned, before the shells log
    // shell.init and run their tasks (observed on 0.55 and 0.88): a kill sent in between is lost.
    job.eventlog.append("start");
    this.changed();
    job.shellLaunch = setTimeout(() => this.launchShells(job, allocation, expiration), SHELL_STARTUP_MS);
  }

  /** The shells come up: guest.output, shell.init, the tasks, shell.start. */
  private launchShells(job: Job, allocation: NodeAllocation[], expiration: number): void {
    job.shellLaunch = undefined;
    if (job.state !== JobState.RUN || !job.execEventlog) return;
    job.output = new Eventlog();
    const ntasks = perResourceNode(job) ? allocation.length : job.ntasks;
    job.output.append("header", { version: 1, encoding: { stdout: "UTF-8", stderr: "UTF-8" }, count: { stdout: ntasks, stderr: ntasks }, options: {} });
    job.execEventlog.append("shell.init", { service: `${this.opts.owner}-shell-${job.id}`, "leader-rank": allocation[0].rank, size: allocation.length });
    let tasks: TaskSpec[];
    try {
      tasks = this.taskSpecs(job, allocation, ntasks);
    } catch (err) {
      if (!(err instanceof ShellInitError)) throw err;
      // the shell logs why its init failed and exits 1 without starting tasks
      job.output.append("log", { rank: 0, level: 3, message: err.message });
      this.raise(job, { type: "exec", severity: 0, note: `shell init failed: ${err.message}`, userid: this.opts.owner });
      this.finishJob(job, 1 << 8);
      return;
    }
    job.execEventlog.append("shell.start", { taskmap: { version: 1, map: [[0, allocation.length, Math.ceil(ntasks / allocation.length), 1]] } });
    this.changed();
    job.executor = new TaskExecutor(tasks, {
      onOutput: (stream, rank, data, eof) => appendOutput(job, stream, rank, data, eof),
      onLog: (rank, level, message) => job.output?.append("log", { rank, level, message }),
      onStartFailure: (note) => this.raise(job, { type: "exec", severity: 0, note, userid: this.opts.owner }),
      onTaskExit: (rank, status, pid) =>
        job.execEventlog?.append("shell.task-exit", { localid: rank, rank, state: "Exited", pid: pid ?? -1, wait_status: status, signaled: 0, exitcode: status >> 8 }),
      onComplete: (status) => this.finishJob(job, status),
    });
    if (expiration > 0 && job.duration * 1000 <= MAX_TIMER_MS) {
      job.timeLimit = setTimeout(() => {
        if (job.state !== JobState.RUN) return;
        this.raise(job, { type: "timeout", severity: 0, note: "resource allocation expired", userid: this.opts.owner }, SIGALRM);
      }, Math.max(0, expiration * 1000 - Date.now()));
      job.timeLimit.unref();
    }
    job.executor.start();
  }

  /**
   * One task per slot in rank order (block distribution), like the shell's default taskmap, or
   * one per node with shell option per-resource.type=node (flux batch). Each node's shell first
   * makes its FLUX_JOB_TMPDIR with the job's files and renders the command's templates
   * (model/shell.ts). A batch job's `flux broker ... SCRIPT ARGS` runs SCRIPT ARGS on the first
   * node, where the nested instance would run its initial program; the nested instance itself
   * is not emulated (the other nodes' tasks do nothing, and the script's FLUX_URI is this broker).
   */
  private taskSpecs(job: Job, allocation: NodeAllocation[], ntasks: number): TaskSpec[] {
    const slotRanks = perResourceNode(job) ? allocation.map((a) => a.rank) : allocation.flatMap((a) => Array.from({ length: a.slots }, () => a.rank));
    const count = ntasks;
    const perSlot = Math.ceil(count / slotRanks.length);
    const base = (job.system.environment as Record<string, string>) ?? {};
    const cwd = typeof job.system.cwd === "string" ? job.system.cwd : undefined;
    const jobName = (job.system.job as { name?: unknown } | undefined)?.name;
    const name = typeof jobName === "string" ? jobName : path.basename(job.command[0] ?? "") || "unknown";
    const tmpdirOf = new Map<number, string>();
    const cwdOf = new Map<number, string | undefined>();
    allocation.forEach((a, shellRank) => {
      const dir = jobTmpdir(this.opts.rundir, shellRank, job.id);
      job.tmpdirs.push(dir);
      prepareTmpdir(dir, job.system.files);
      tmpdirOf.set(a.rank, dir);
      cwdOf.set(a.rank, this.shellCwd(cwd, shellRank, this.pool.hostname(a.rank), job));
    });
    const program = initialProgram(job.command);
    // each shell renders the command and logs what it could not render once, at its own rank
    const logged = new Set<string>();
    const reporter = (shellRank: number) => ({ message, line }: ShellLog) => {
      if (logged.has(`${shellRank}\0${message}`)) return;
      logged.add(`${shellRank}\0${message}`);
      job.output?.append("log", { rank: shellRank, level: 3, message, file: "shell.c", line });
    };
    const shellRankOf = new Map(allocation.map((a, shellRank) => [a.rank, shellRank]));
    const tasksOnNode = new Map<number, number>();
    return Array.from({ length: count }, (_, rank) => {
      const nodeRank = slotRanks[Math.floor(rank / perSlot)] ?? slotRanks[slotRanks.length - 1];
      const localId = tasksOnNode.get(nodeRank) ?? 0;
      tasksOnNode.set(nodeRank, localId + 1);
      const tmpdir = tmpdirOf.get(nodeRank)!;
      const argv = (program ?? job.command).map((arg) => renderTemplates(arg, { tmpdir, id: job.id, name, versionCode: this.opts.versionCode }, reporter(shellRankOf.get(nodeRank)!)));
      const env = {
        ...base,
        FLUX_TASK_RANK: String(rank),
        FLUX_TASK_LOCAL_ID: String(localId),
        FLUX_JOB_ID: job.id.toString(),
        FLUX_JOB_SIZE: String(count),
        FLUX_JOB_NNODES: String(allocation.length),
        FLUX_JOB_TMPDIR: tmpdir,
        FLUX_URI: this.opts.uri(),
      };
      return {
        rank,
        hostname: this.pool.hostname(nodeRank),
        argv: program && rank > 0 ? ["/bin/sh", "-c", ""] : argv,
        cwd: cwdOf.get(nodeRank),
        env: program ? initialProgramEnvironment(env) : env,
      };
    });
  }

  /**
   * Each shell changes to the jobspec's cwd once; when it cannot, it logs so (at its own rank,
   * with shell.c's file and line) and goes to /tmp, as shell.c does.
   */
  private shellCwd(cwd: string | undefined, shellRank: number, hostname: string, job: Job): string | undefined {
    if (cwd === undefined) return undefined;
    try {
      if (fs.statSync(cwd).isDirectory()) return cwd;
    } catch {
      // as ENOENT below
    }
    const reason = fs.existsSync(cwd) ? "Not a directory" : "No such file or directory";
    const line = this.opts.versionCode >= 88 ? 1603 : this.opts.versionCode >= 70 ? 1489 : 1319;
    job.output?.append("log", { rank: shellRank, level: 3, message: `host ${hostname}: Could not change dir to ${cwd}: ${reason}. Going to /tmp instead`, file: "shell.c", line });
    return "/tmp";
  }

  private finishJob(job: Job, status: number): void {
    clearTimeout(job.timeLimit);
    // each shell removes its FLUX_JOB_TMPDIR as it exits
    for (const dir of job.tmpdirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
    // the shell's own exit event is newer than 0.86
    if (this.opts.versionCode >= 87) job.execEventlog?.append("shell-exit", { rank: job.allocation![0].rank, wait_status: status });
    job.execEventlog?.append("complete", { status });
    job.execEventlog?.append("done");
    job.execEventlog?.finish();
    job.output?.finish();
    setTimeout(() => this.releaseJob(job, status), FINISH_DELAY_MS);
  }

  private releaseJob(job: Job, status: number): void {
    job.waitstatus = status;
    const finish = job.eventlog.append("finish", { status });
    if (job.state === JobState.RUN) this.enter(job, JobState.CLEANUP, "t_cleanup", timestampOf(finish));
    job.eventlog.append("release", { ranks: "all", final: true });
    this.pool.release(job.allocation!);
    job.eventlog.append("free");
    this.clean(job);
    this.schedule();
  }

  private clean(job: Job): void {
    const line = job.eventlog.append("clean");
    this.enter(job, JobState.INACTIVE, "t_inactive", timestampOf(line));
    job.eventlog.finish();
  }

  /**
   * Posts an exception. Severity 0 ends the job: a pending job goes straight to clean, a running
   * one has its tasks signaled and finishes when they are gone.
   */
  raise(job: Job, exc: JobException, signum = SIGTERM): void {
    const context = exc.type === "timeout" ? { type: exc.type, severity: exc.severity, userid: exc.userid, note: exc.note } : { ...exc };
    const line = job.eventlog.append("exception", context);
    if (!job.exception || exc.severity < job.exception.severity) job.exception = exc;
    if (exc.severity !== 0) return this.changed();
    if (job.state & PENDING) {
      this.enter(job, JobState.CLEANUP, "t_cleanup", timestampOf(line));
      this.clean(job);
    } else if (job.state === JobState.RUN) {
      this.enter(job, JobState.CLEANUP, "t_cleanup", timestampOf(line));
      if (job.shellLaunch) {
        // job-exec signals shells that have not run their tasks yet: they die of it (a bare 15)
        clearTimeout(job.shellLaunch);
        job.shellLaunch = undefined;
        this.finishJob(job, signum);
      } else job.executor?.signal(signum, true);
    }
  }

  /** job-list's view of a job: keys appear once known, in the order job-list writes them. */
  record(job: Job): Record<string, unknown> {
    const r: Record<string, unknown> = { id: job.id, userid: job.userid, urgency: job.urgency };
    if (job.priority !== undefined) r.priority = job.priority;
    r.t_submit = job.times.t_submit;
    for (const key of ["t_depend", "t_priority", "t_sched", "t_run", "t_cleanup", "t_inactive"]) {
      if (!this.hasPriorityStates && (key === "t_priority" || key === "t_sched")) continue;
      if (job.times[key] !== undefined) r[key] = job.times[key];
    }
    r.state = job.state;
    const system = job.system;
    const jobName = (system.job as Record<string, unknown>)?.name;
    r.name = typeof jobName === "string" ? jobName : path.basename(job.command[0] ?? "");
    for (const key of ["cwd", "queue", "project", "bank"]) if (typeof system[key] === "string") r[key] = system[key];
    r.ntasks = job.ntasks;
    const req = job.request;
    if (job.allocation) r.ncores = job.allocation.reduce((n, a) => n + a.cores.length, 0);
    else if (req && req.nodes === null) r.ncores = req.slots * req.coresPerSlot;
    r.duration = job.duration;
    if (job.allocation) r.nnodes = job.allocation.length;
    else if (req?.nodes) r.nnodes = req.nodes;
    if (job.allocation) {
      const ranks = job.allocation.map((a) => a.rank).sort((a, b) => a - b);
      r.ranks = ranks.length > 1 ? `[${formatIdset(ranks)}]` : formatIdset(ranks);
      r.nodelist = compressHostlist(ranks.map((rank) => this.pool.hostname(rank)));
    }
    if (job.state === JobState.INACTIVE) {
      const exc = job.exception;
      const fatal = exc !== undefined && exc.severity === 0;
      r.success = job.waitstatus === 0 && !fatal;
      r.exception_occurred = exc !== undefined;
      if (exc) {
        r.exception_type = exc.type;
        r.exception_severity = exc.severity;
        r.exception_note = exc.note;
      }
      r.result = r.success ? JobResult.COMPLETED : exc?.type === "cancel" ? JobResult.CANCELED : exc?.type === "timeout" ? JobResult.TIMEOUT : JobResult.FAILED;
    }
    if (job.R) r.expiration = (job.R.execution as Record<string, number>).expiration;
    if (job.annotations) r.annotations = job.annotations;
    if (job.waitstatus !== undefined) r.waitstatus = job.waitstatus;
    return r;
  }

  /** job-list.list order: pending (priority, then submit order), running (newest first), inactive (most recently inactive first). */
  listOrder(): Job[] {
    const jobs = [...this.jobs.values()];
    const pending = jobs.filter((j) => j.state & PENDING).sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || a.times.t_submit - b.times.t_submit);
    const running = jobs.filter((j) => j.state & RUNNING).sort((a, b) => b.times.t_run - a.times.t_run);
    const inactive = jobs.filter((j) => j.state === JobState.INACTIVE).sort((a, b) => b.times.t_inactive - a.times.t_inactive);
    return [...pending, ...running, ...inactive];
  }

  /** Kills every task process (broker shutdown). */
  killAll(): void {
    for (const job of this.jobs.values()) {
      clearTimeout(job.timeLimit);
      clearTimeout(job.shellLaunch);
      job.executor?.signal(9);
    }
  }
}

/** Shell option per-resource.type=node: one task per node, whatever the slots (flux batch, flux alloc). */
function perResourceNode(job: Job): boolean {
  return (job.system.shell as { options?: { "per-resource"?: { type?: unknown } } } | undefined)?.options?.["per-resource"]?.type === "node";
}

function timestampOf(line: string): number {
  return (JSON.parse(line) as { timestamp: number }).timestamp;
}

const bracketed = (ids: number[]) => (ids.length > 1 ? `[${formatIdset(ids)}]` : formatIdset(ids));

/** sched-simple's annotation, e.g. "rank[0-3]/core0" or "rank0/core[0-1]". */
function resourceSummary(allocation: NodeAllocation[]): string {
  const groups = new Map<string, number[]>();
  for (const a of allocation) {
    let children = `core${bracketed(a.cores)}`;
    if (a.gpus.length) children += `,gpu${bracketed(a.gpus)}`;
    groups.set(children, [...(groups.get(children) ?? []), a.rank]);
  }
  return [...groups.entries()].map(([children, ranks]) => `rank${bracketed(ranks)}/${children}`).join(" ");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** An RFC 24 output entry: UTF-8 text, or base64 when the bytes are not valid UTF-8. */
function appendOutput(job: Job, stream: OutputStream, rank: number, data: Buffer | undefined, eof: boolean): void {
  const context: Record<string, unknown> = { stream, rank: String(rank) };
  if (data) {
    try {
      context.data = utf8.decode(data);
    } catch {
      context.encoding = "base64";
      context.data = data.toString("base64");
    }
  }
  if (eof) context.eof = true;
  job.output?.append("data", context);
}
