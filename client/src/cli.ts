/**
 * The `flux-restful` CLI. `main(argv, io)` runs one command and resolves to the exit code, so
 * tests can drive it in-process; bin/flux-restful.cjs runs it with the real process streams.
 *
 * Start-up matters (every shell completion runs the program): only commander and small modules
 * load up front; the client (jose, SSE, lossless JSON) and the spinner load when a command needs them.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import type { FluxRestfulClient } from "./client";
import { completionScript, completions } from "./cli/completion";
import { explicitConnection, resolveConnection, type ConnectionFlags } from "./cli/connection";
import { mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { isInside, isPlainName, listingTable, parseGetPattern, readBatchScript, readJobFiles } from "./cli/files";
import { clusterTable, jobInfoTable, jobsTable, namedJob, table } from "./cli/format";
import { getProfile, profilesPath, readProfiles, writeProfiles } from "./cli/profiles";
import { STATE_FILTERS, parseIdset, parseStateFilter } from "./cli/select";
import { FluxRestfulError, SubmitOutcomeUnknownError, WaitTimeoutError } from "./errors";
import { formatF58, parseJobId } from "./ids";
import type { ClientOptions, FileEntry, JobFileListing, JobInfo, JobListEntry, OutputLine, RetryNotice, SubmitOptions } from "./types";

export { resolveConnection, type ConnectionFlags } from "./cli/connection";
export { jobInfoTable, jobsTable } from "./cli/format";

export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
}

interface GlobalFlags extends ConnectionFlags {
  json?: boolean;
}

interface JobFlags {
  nodes?: number;
  ntasks?: number;
  coresPerTask?: number;
  gpusPerTask?: number;
  exclusive?: boolean;
  env?: string[];
  workdir?: string;
  time?: number;
  setopt?: string[];
  name?: string;
  idempotencyKey?: string;
  labelIo?: boolean;
  file?: string[];
}

/** Results to fetch once the job has ended. */
interface GetFlags {
  get?: string[];
  getDir?: string;
}

interface SubmitFlags extends JobFlags, GetFlags {
  wait?: boolean;
  follow?: boolean;
  cc?: number[];
}

interface JobsFlags {
  limit?: number;
  state?: (job: { state?: unknown; result?: unknown }) => boolean;
  name?: string;
  owner?: string;
}

const USAGE_ERROR = 2;
const FAILURE = 1;
/** A submit that may or may not have created its job (EX_TEMPFAIL). */
const OUTCOME_UNKNOWN = 75;
/** A second Ctrl-C within this long cancels the job (as `flux run` does). */
const CANCEL_WINDOW_MS = 2000;

const EXAMPLES = `
Connection options go before or after the command. Each setting comes from a flag, else the
environment (FLUX_RESTFUL_HOST, FLUX_USER, FLUX_TOKEN, FLUX_SECRET_KEY), else a saved profile
(--profile, FLUX_RESTFUL_PROFILE, or the default one).

Examples:
  $ flux-restful --stack gke jobs                      # endpoint and credentials from a Pulumi stack
  $ flux-restful login gke --stack gke                 # save them as profile "gke" (the default)
  $ flux-restful run -N 2 -n 4 -l hostname             # submit, stream the output, exit with the job's code
  $ flux-restful submit --cc 1-8 -- echo task {cc}     # eight jobs, ids printed as they come
  $ flux-restful batch -N 2 --file input.dat job.sh    # a batch script and its input, run like flux batch
  $ flux-restful run -N 2 --file in.txt --get 'out.*' -- sh -c 'wc -l < {{tmpdir}}/in.txt > out.$FLUX_TASK_RANK'
  $ flux-restful files ls --job ƒ2Kmfk5xV              # a job's working directory; files get PATH saves one
  $ flux-restful jobs --state running
  $ flux-restful output --follow ƒ2Kmfk5xV
  $ source <(flux-restful completion bash)             # Tab completion (zsh: completion zsh)
`;

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError("expected a positive integer");
  return Number(value);
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** KEY=VALUE pairs; a bare KEY means 1 when `bareValue` is given (flux's -o convention). */
function pairs(items: string[] | undefined, what: string, bareValue?: string): Record<string, string> | undefined {
  if (!items?.length) return undefined;
  const result: Record<string, string> = {};
  for (const item of items) {
    const at = item.indexOf("=");
    if (at === 0 || (at < 0 && bareValue === undefined)) throw new InvalidArgumentError(`${what} "${item}" is not KEY=VALUE`);
    if (at < 0) result[item] = bareValue as string;
    else result[item.slice(0, at)] = item.slice(at + 1);
  }
  return result;
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Flux Standard Duration ("90s", "5m", "1.5h", "2d"); a bare number is minutes, as in `flux submit -t`. */
export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('expected a duration such as 90s, 5m, 1.5h or 2d (a bare number is minutes)');
  return Math.ceil(Number(match[1]) * DURATION_UNITS[match[2] || "m"]);
}

/**
 * The exit code a finished job stands for. Flux's returncode is the largest shell exit code,
 * -signal when the shell was killed (128+signal here, as a shell reports it), or -128 when the
 * job was cancelled before it ran (1 here, like any job without a usable code).
 */
export function jobExitCode(info: Pick<JobInfo, "returncode" | "result">): number {
  const code = info.returncode;
  if (typeof code === "number") {
    if (code >= 0) return Math.min(code, 255);
    return -code < 128 ? 128 - code : 1;
  }
  return info.result === "COMPLETED" ? 0 : 1;
}

const FILES_HELP = `
Files: --file sends a local file with the job; every node of the job finds it as {{tmpdir}}/NAME
(the command may use that template). --get PATTERN downloads matching files of the job's working
directory in the workspace once the job has ended (submit then waits); into --get-dir or here.`;

const BATCH_HELP = `
The script runs as a Flux instance over the job's nodes, so it may run \`flux run\` itself. Here -n
counts slots of -c cores each (the instance's resources); with only -N, the job takes whole nodes
and one slot per node, as flux batch does. The job is named after the script unless --name says
otherwise. Its output comes back like any job's (output, --follow).

Example:
  $ flux-restful batch -N 2 --file input.txt --get 'result*' job.sh   # job.sh reads $(dirname "$0")/input.txt`;

const FILES_COMMAND_HELP = `
Paths are relative to the workspace; a job without --workdir runs in its own directory there
(jobs/<time>-<id>), where it writes its results.

Examples:
  $ flux-restful files ls --job ƒ2Kmfk5xV
  $ flux-restful files get jobs/20261203T020000Z-1a2b3c4d/result.txt results/
  $ flux-restful files put data.csv inputs/
  $ flux-restful files rm inputs/data.csv`;

/** The connection options, accepted by the program (before the command) and by every command. */
function connectionOptions(): Option[] {
  return [
    new Option("--host <url>", "server URL (env FLUX_RESTFUL_HOST, default http://127.0.0.1:5000)"),
    new Option("--user <name>", "user name (env FLUX_USER)"),
    new Option("--token <token>", "the user's token/password (env FLUX_TOKEN)"),
    new Option("--secret-key <key>", "the server's FLUX_SECRET_KEY (env FLUX_SECRET_KEY)"),
    new Option("--stack <name>", "endpoint and credentials from `pulumi stack output` of this stack"),
    new Option("--cwd <dir>", "the Pulumi project directory for --stack (default: the current one)"),
    new Option("--profile <name>", "a profile saved by `login` (env FLUX_RESTFUL_PROFILE)"),
    new Option("--json", "machine-readable JSON output (ids as exact integers)"),
  ].map((option) => option.helpGroup("Connection options:"));
}

/** The job options submit and run share (flux submit's names). */
function jobOptions(): Option[] {
  return [
    new Option("-N, --nodes <n>", "number of nodes").argParser(positiveInt),
    new Option("-n, --ntasks <n>", "number of tasks").argParser(positiveInt),
    new Option("-c, --cores-per-task <n>", "cores per task").argParser(positiveInt),
    new Option("-g, --gpus-per-task <n>", "GPUs per task").argParser(positiveInt),
    new Option("--exclusive", "allocate whole nodes"),
    new Option("--env <KEY=VALUE>", "set an environment variable in the job (repeatable)").argParser(collect),
    new Option("--workdir <dir>", "working directory of the job"),
    new Option("-t, --time <duration>", "time limit: 90s, 5m, 1.5h, 2d (bare number = minutes)").argParser(parseDuration),
    new Option("-o, --setopt <KEY[=VALUE]>", "set a flux shell option (repeatable)").argParser(collect),
    new Option("--name <name>", "job name (servers that support it)"),
    new Option("--idempotency-key <key>", "retry a submit whose outcome was unknown: the key it printed (servers that support it)"),
    new Option("-l, --label-io", "label each output line with its task rank"),
    new Option("--file <[NAME=]PATH>", "send a local file with the job, as {{tmpdir}}/NAME on every node (NAME: its basename by default; repeatable)").argParser(collect),
  ];
}

/** Fetching a job's result files from its working directory once it has ended. */
function getOptions(): Option[] {
  return [
    new Option("--get <pattern>", "when the job has ended, download the files of its working directory that match this glob (repeatable)").argParser(collect),
    new Option("--get-dir <dir>", "where --get saves the files (default: the current directory)"),
  ];
}

/** Bad options or operands found while running a command (commander reports its own). */
class UsageError extends FluxRestfulError {
  override name = "UsageError";
}

function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}

class Cli {
  private exitCode = 0;

  constructor(private readonly io: CliIo) {}

  private print(text: string): void {
    this.io.stdout.write(text.endsWith("\n") ? text : text + "\n");
  }

  private warn(text: string): void {
    this.io.stderr.write(`flux-restful: ${text}\n`);
  }

  private printJson(value: unknown): void {
    const { stringifyJson } = require("./json") as typeof import("./json");
    this.print(stringifyJson(value));
  }

  /** Says at once when a server does not answer, rather than retrying in silence. */
  private noticeRetry = (notice: RetryNotice): void => {
    if (notice.attempt !== 1) return;
    const plan = notice.retries === undefined ? "retrying for up to a minute" : `retrying (${notice.retries} more tries)`;
    this.warn(`${notice.reason}; ${plan}, Ctrl-C to give up`);
  };

  private newClient(options: ClientOptions): FluxRestfulClient {
    const { FluxRestfulClient } = require("./client") as typeof import("./client");
    return new FluxRestfulClient({ ...options, onRetry: this.noticeRetry });
  }

  private async client(flags: GlobalFlags): Promise<FluxRestfulClient> {
    return this.newClient(await resolveConnection(flags, this.io.env));
  }

  /** Runs `work` under a spinner when stdout is a terminal. */
  private async spinning<T>(text: string, work: () => Promise<T>): Promise<T> {
    // nanospinner loops forever on a terminal that reports 0 columns, so that counts as no terminal
    if (!this.io.stdout.isTTY || !process.stderr.isTTY || !process.stderr.columns) return work();
    const { createSpinner } = require("nanospinner") as typeof import("nanospinner");
    const spinner = createSpinner(text, { stream: process.stderr }).start();
    try {
      return await work();
    } finally {
      spinner.clear();
      spinner.stop();
    }
  }

  private printJob(info: JobInfo, flags: GlobalFlags): void {
    if (flags.json) this.printJson(namedJob(info));
    else this.print(jobInfoTable(info));
  }

  private async waitAndReport(client: FluxRestfulClient, id: bigint, flags: GlobalFlags, timeoutMs?: number): Promise<void> {
    const info = await this.spinning(`waiting for job ${formatF58(id)}`, () => client.wait(id, { timeoutMs }));
    this.printJob(info, flags);
    this.exitCode = jobExitCode(info);
  }

  private printLine(line: OutputLine, flags: GlobalFlags & { labelIo?: boolean }): void {
    if (flags.json) return this.printJson(line);
    const text = flags.labelIo && line.rank !== undefined ? `${line.rank}: ${line.line}` : line.line;
    if (line.stream === "stderr") this.io.stderr.write(text + "\n");
    else this.print(text);
  }

  private async follow(client: FluxRestfulClient, id: bigint, flags: GlobalFlags & { labelIo?: boolean }, signal?: AbortSignal): Promise<void> {
    for await (const line of client.outputLines(id, { signal })) this.printLine(line, flags);
  }

  /**
   * Follows a job we submitted, as `flux run` does: a first Ctrl-C says what the next keys do, a
   * second within two seconds cancels the job (its output goes on to the end), Ctrl-Z detaches.
   * Resolves to false when detached.
   */
  private async attach(client: FluxRestfulClient, id: bigint, flags: GlobalFlags & { labelIo?: boolean }): Promise<boolean> {
    const f58 = formatF58(id);
    const detach = new AbortController();
    let lastInterrupt = -Infinity;
    const onInterrupt = () => {
      const now = Date.now();
      if (now - lastInterrupt > CANCEL_WINDOW_MS) {
        lastInterrupt = now;
        this.warn(`one more Ctrl-C within 2s cancels job ${f58}; Ctrl-Z detaches (the job keeps running)`);
        return;
      }
      lastInterrupt = -Infinity;
      this.warn(`cancelling job ${f58}`);
      client.cancel(id).catch((err: Error) => this.warn(`cancel failed: ${err.message}`));
    };
    const onDetach = () => detach.abort();
    process.on("SIGINT", onInterrupt).on("SIGTSTP", onDetach);
    try {
      await this.follow(client, id, flags, detach.signal);
    } catch (err) {
      if (!detach.signal.aborted) throw err;
    } finally {
      process.off("SIGINT", onInterrupt).off("SIGTSTP", onDetach);
    }
    if (!detach.signal.aborted) return true;
    this.warn(`detached from job ${f58}, which keeps running; reattach with: flux-restful output --follow ${f58}`);
    return false;
  }

  private submitOptions(command: string[] | undefined, flags: JobFlags): SubmitOptions {
    return {
      command,
      files: readJobFiles(flags.file),
      numNodes: flags.nodes,
      numTasks: flags.ntasks,
      coresPerTask: flags.coresPerTask,
      gpusPerTask: flags.gpusPerTask,
      exclusive: flags.exclusive,
      envars: pairs(flags.env, "--env"),
      workdir: flags.workdir,
      runtime: flags.time,
      optionFlags: pairs(flags.setopt, "-o", "1"),
      name: flags.name,
      idempotencyKey: flags.idempotencyKey,
    };
  }

  /** Submits; on an unknown outcome says what to do, sets exit 75 and resolves to undefined. */
  private async submitOne(client: FluxRestfulClient, options: SubmitOptions, retry: string): Promise<bigint | undefined> {
    try {
      return (await client.submit(options)).id;
    } catch (err) {
      if (!(err instanceof SubmitOutcomeUnknownError)) throw err;
      this.exitCode = OUTCOME_UNKNOWN;
      const next = err.idempotencyKey ? `to retry safely, ${retry} with --idempotency-key ${err.idempotencyKey}` : "check `flux-restful jobs` before submitting again";
      this.io.stderr.write(`flux-restful: the job may or may not have been created (${err.cause.message})\n${next}\n`);
      return undefined;
    }
  }

  async nodes(flags: GlobalFlags): Promise<void> {
    const nodes = await (await this.client(flags)).nodes();
    if (flags.json) this.printJson({ nodes });
    else this.print(table(["NODE"], [...nodes].sort().map((n) => [n])));
  }

  async cluster(flags: GlobalFlags): Promise<void> {
    const summary = await (await this.client(flags)).cluster();
    if (flags.json) this.printJson(summary);
    else this.print(clusterTable(summary));
  }

  async jobs(flags: GlobalFlags & JobsFlags): Promise<void> {
    const client = await this.client(flags);
    // The plain listing has every job on both servers; user names only come with the details.
    const byName = flags.owner !== undefined && !/^\d+$/.test(flags.owner);
    const all: Array<JobListEntry | JobInfo> = byName ? await client.jobs({ details: true, listing: true }) : await client.jobs();
    const jobs = all
      .filter((job) => !flags.state || flags.state(job))
      .filter((job) => flags.name === undefined || job.name === flags.name)
      .filter((job) => flags.owner === undefined || String(byName ? job.username : job.userid) === flags.owner)
      .slice(0, flags.limit)
      .map(namedJob);
    if (flags.json) this.printJson({ jobs });
    else this.print(jobsTable(jobs));
  }

  async search(query: string, flags: GlobalFlags & { limit?: number }): Promise<void> {
    const result = await (await this.client(flags)).search({ query, length: flags.limit });
    const jobs = result.data.map(namedJob);
    if (flags.json) this.printJson({ jobs, total: result.recordsTotal, matched: result.recordsFiltered });
    else this.print(jobsTable(jobs));
  }

  async info(id: string, flags: GlobalFlags): Promise<void> {
    this.printJob(await (await this.client(flags)).jobInfo(parseJobId(id)), flags);
  }

  async submit(command: string[], flags: GlobalFlags & SubmitFlags): Promise<void> {
    if (flags.cc) return this.submitCopies(command, flags, flags.cc);
    flags.get?.forEach(parseGetPattern); // a bad pattern is refused before the job runs
    const client = await this.client(flags);
    const id = await this.submitOne(client, this.submitOptions(command, flags), "run the same command");
    if (id !== undefined) await this.afterSubmit(client, id, flags);
  }

  /** `batch`: a script run as its own Flux instance over the job's nodes, as `flux batch` runs it. */
  async batch(scriptFile: string, args: string[], flags: GlobalFlags & SubmitFlags): Promise<void> {
    const script = readBatchScript(scriptFile);
    flags.get?.forEach(parseGetPattern);
    const options: SubmitOptions = { ...this.submitOptions(undefined, flags), script, scriptArgs: args, name: flags.name ?? path.basename(scriptFile) };
    const client = await this.client(flags);
    const id = await this.submitOne(client, options, "run the same batch command");
    if (id !== undefined) await this.afterSubmit(client, id, flags);
  }

  /** What submit and batch do with the id: print it, then follow, wait and fetch results as asked (--get waits). */
  private async afterSubmit(client: FluxRestfulClient, id: bigint, flags: GlobalFlags & SubmitFlags): Promise<void> {
    const wait = flags.wait || flags.follow || Boolean(flags.get?.length);
    if (flags.json && !wait) this.printJson({ id, f58: formatF58(id) });
    else if (!flags.json) this.io.stderr.write(`submitted job ${id} (${formatF58(id)})\n`);
    if (flags.follow && !(await this.attach(client, id, flags))) return;
    if (wait) await this.waitAndReport(client, id, flags);
    if (flags.get?.length) await this.fetchResults(client, id, flags.get, flags.getDir);
  }

  /**
   * `--get`: the files of the job's directory matching each pattern, saved under `dir`. Names come
   * from the server: only plain names are used (never "..", never a "/"), each download replaces
   * its local file atomically, and nothing is written outside `dir`. A pattern matching nothing,
   * or a failed download, makes the exit code 1 when the job's own was 0.
   */
  private async fetchResults(client: FluxRestfulClient, id: bigint, patterns: string[], dir = "."): Promise<void> {
    const fail = (message: string) => {
      this.warn(message);
      if (this.exitCode === 0) this.exitCode = FAILURE;
    };
    const gets = patterns.map(parseGetPattern);
    let listing: JobFileListing;
    try {
      listing = await client.jobFiles(id);
    } catch (err) {
      return fail(`cannot list the files of job ${formatF58(id)}: ${(err as Error).message}`);
    }
    const entries = new Map<string, FileEntry[]>([["", listing.entries]]);
    const saved = new Set<string>();
    for (const get of gets) {
      if (!entries.has(get.dir)) {
        const sub = await client.listFiles(`${listing.path}/${get.dir}`).catch(() => undefined);
        entries.set(get.dir, sub?.entries ?? []);
      }
      const matches = entries.get(get.dir)!.filter((e) => e.type === "file" && get.match.test(e.name));
      if (!matches.length) fail(`no file of job ${formatF58(id)} matches "${get.text}" (in ${listing.path}${get.dir ? `/${get.dir}` : ""})`);
      for (const entry of matches) {
        const remote = `${listing.path}/${get.dir ? `${get.dir}/` : ""}${entry.name}`;
        if (saved.has(remote)) continue;
        saved.add(remote);
        const local = path.join(dir, get.dir, entry.name);
        if (!isPlainName(entry.name) || !isInside(dir, local)) {
          fail(`not saving ${JSON.stringify(entry.name)}: the server listed a name that is not a plain file name`);
          continue;
        }
        try {
          mkdirSync(path.dirname(local), { recursive: true });
          const size = await client.downloadFileTo(remote, local);
          this.io.stderr.write(`saved ${remote} as ${local} (${size} bytes)\n`);
        } catch (err) {
          fail(`cannot save ${remote}: ${(err as Error).message}`);
        }
      }
    }
  }

  /** `submit --cc IDSET`: one job per id, {cc} replaced by it; each id printed when it is known. */
  private async submitCopies(command: string[], flags: GlobalFlags & SubmitFlags, copies: number[]): Promise<void> {
    if (flags.follow) throw new InvalidArgumentError("--cc cannot be combined with --follow (use --wait, then output ID)");
    if (flags.idempotencyKey) throw new InvalidArgumentError("--idempotency-key names one submit; it cannot be combined with --cc");
    if (flags.get?.length) throw new InvalidArgumentError("--get fetches one job's files; it cannot be combined with --cc (use files get)");
    const client = await this.client(flags);
    const ids: bigint[] = [];
    for (const cc of copies) {
      const fill = (text: string) => text.replaceAll("{cc}", String(cc));
      const copy: JobFlags = { ...flags, name: flags.name && fill(flags.name), env: flags.env?.map(fill), workdir: flags.workdir && fill(flags.workdir) };
      const id = await this.submitOne(client, this.submitOptions(command.map(fill), copy), "");
      if (id === undefined) {
        if (ids.length) this.warn(`jobs ${ids.map(formatF58).join(" ")} were submitted; copy {cc}=${cc} is unknown and the rest were not sent`);
        return;
      }
      ids.push(id);
      if (flags.json && !flags.wait) this.printJson({ id, f58: formatF58(id), cc });
      else if (!flags.json) this.io.stderr.write(`submitted job ${id} (${formatF58(id)})\n`);
    }
    if (!flags.wait) return;
    const infos = await this.spinning(`waiting for ${ids.length} jobs`, () => Promise.all(ids.map((id) => client.wait(id))));
    if (flags.json) this.printJson({ jobs: infos.map(namedJob) });
    else this.print(jobsTable(infos));
    this.exitCode = Math.max(...infos.map(jobExitCode));
  }

  /** `run`: submit, stream the output, exit with the job's code (like `flux run`). */
  async run(command: string[], flags: GlobalFlags & JobFlags & GetFlags): Promise<void> {
    flags.get?.forEach(parseGetPattern); // a bad pattern is refused before the job runs
    const client = await this.client(flags);
    const id = await this.submitOne(client, this.submitOptions(command, flags), "run the same command");
    if (id === undefined) return;
    if (!(await this.attach(client, id, flags))) {
      if (flags.get?.length) this.warn(`no results fetched; once the job has ended: flux-restful files ls --job ${formatF58(id)}`);
      return;
    }
    const info = await client.wait(id);
    this.exitCode = jobExitCode(info);
    if (this.exitCode !== 0) {
      const exception = info.exception?.occurred === true ? `${info.exception.type}${info.exception.note ? `: ${info.exception.note}` : ""}` : "";
      this.warn(`job ${formatF58(id)} ${String(info.result).toLowerCase() || "ended"}${exception ? ` (${exception})` : ""}, exit code ${this.exitCode}`);
    }
    // a failed job's files (logs, partial results) are often what tells why
    if (flags.get?.length) await this.fetchResults(client, id, flags.get, flags.getDir);
  }

  async filesList(dir: string | undefined, flags: GlobalFlags & { job?: string }): Promise<void> {
    const client = await this.client(flags);
    if (flags.job !== undefined && dir !== undefined) throw new InvalidArgumentError("give a PATH or --job, not both");
    const listing = flags.job !== undefined ? await client.jobFiles(parseJobId(flags.job)) : await client.listFiles(dir ?? "");
    if (flags.json) return this.printJson(listing);
    if (flags.job !== undefined) this.io.stderr.write(`${listing.path}:\n`);
    this.print(listingTable(listing));
    if (listing.truncated) this.warn(`only the first ${listing.entries.length} entries are listed (the server's limit)`);
  }

  /** `files get PATH [DEST]`: DEST a file, a directory (existing, or ending in "/") or the current directory. */
  async filesGet(remote: string, dest: string | undefined, flags: GlobalFlags): Promise<void> {
    const name = remote.replace(/\/+$/, "").split("/").pop() ?? "";
    if (!isPlainName(name)) throw new InvalidArgumentError(`"${remote}" does not name a file`);
    let local = dest ?? name;
    if (dest !== undefined && (/[/\\]$/.test(dest) || isDirectory(dest))) local = path.join(dest, name);
    const size = await (await this.client(flags)).downloadFileTo(remote, local);
    if (flags.json) this.printJson({ path: remote, file: local, size });
    else this.print(`saved ${remote} as ${local} (${size} bytes)`);
  }

  /** `files put LOCAL [PATH]`: PATH defaults to LOCAL's basename; a PATH ending in "/" is a directory. */
  async filesPut(local: string, remote: string | undefined, flags: GlobalFlags & { mode?: string }): Promise<void> {
    const name = path.basename(local);
    const target = remote === undefined ? name : remote.endsWith("/") ? remote + name : remote;
    let mode = flags.mode;
    if (mode === undefined) {
      try {
        mode = (statSync(local).mode & 0o777).toString(8).padStart(4, "0");
      } catch (err) {
        throw new FluxRestfulError(`cannot read ${local} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
    const stored = await (await this.client(flags)).uploadFile(target, { file: local }, { mode });
    if (flags.json) this.printJson(stored);
    else this.print(`uploaded ${local} as ${stored.path} (${stored.size} bytes, mode ${stored.mode.toString(8).padStart(4, "0")})`);
  }

  async filesRemove(remote: string, flags: GlobalFlags): Promise<void> {
    await (await this.client(flags)).deleteFile(remote);
    if (flags.json) this.printJson({ removed: remote });
    else this.print(`removed ${remote}`);
  }

  async output(id: string, flags: GlobalFlags & { follow?: boolean; labelIo?: boolean }): Promise<void> {
    const client = await this.client(flags);
    const jobId = parseJobId(id);
    if (flags.follow) return this.follow(client, jobId, flags);
    const output = await client.output(jobId);
    if (flags.json) this.printJson({ Output: output });
    else if (output.length) this.io.stdout.write(output.join(""));
  }

  async cancel(id: string, flags: GlobalFlags): Promise<void> {
    const jobId = parseJobId(id);
    const message = await (await this.client(flags)).cancel(jobId);
    if (flags.json) this.printJson({ id: jobId, message });
    else this.print(message || `cancel requested for job ${jobId}`);
  }

  async wait(id: string, flags: GlobalFlags & { timeout?: number }): Promise<void> {
    const timeoutMs = flags.timeout === undefined ? undefined : flags.timeout * 1000;
    await this.waitAndReport(await this.client(flags), parseJobId(id), flags, timeoutMs);
  }

  async login(name: string | undefined, flags: GlobalFlags & { default?: boolean; check: boolean }): Promise<void> {
    const given = await explicitConnection(flags, this.io.env);
    if (given.host === undefined) throw new FluxRestfulError("login needs a host: --host URL, --stack NAME or FLUX_RESTFUL_HOST");
    const profile = { host: given.host, user: given.user, token: given.token, secretKey: given.secretKey, ...(given.ca ? { ca: given.ca } : {}) };
    if (flags.check) await this.newClient(profile).nodes(); // refuse to save what does not work
    const profileName = name ?? flags.profile ?? flags.stack ?? "default";
    const profiles = readProfiles(this.io.env);
    profiles.profiles[profileName] = profile;
    if (flags.default || !profiles.default || !profiles.profiles[profiles.default]) profiles.default = profileName;
    const file = writeProfiles(this.io.env, profiles);
    if (flags.json) this.printJson({ profile: profileName, host: profile.host, default: profiles.default === profileName, file });
    else this.print(`saved profile "${profileName}" (${profile.host}) in ${file}${profiles.default === profileName ? "; it is the default" : ""}`);
  }

  async logout(name: string | undefined, flags: GlobalFlags): Promise<void> {
    const profiles = readProfiles(this.io.env);
    const profileName = name ?? flags.profile ?? (this.io.env.FLUX_RESTFUL_PROFILE || profiles.default);
    if (profileName === undefined) throw new FluxRestfulError("no profile to log out of: name one");
    getProfile(profiles, profileName);
    delete profiles.profiles[profileName];
    if (profiles.default === profileName) delete profiles.default;
    writeProfiles(this.io.env, profiles);
    if (flags.json) this.printJson({ removed: profileName });
    else this.print(`removed profile "${profileName}"`);
  }

  profiles(flags: GlobalFlags & { names?: boolean }): void {
    const { default: chosen, profiles } = readProfiles(this.io.env);
    const rows = Object.entries(profiles).map(([name, p]) => ({ name, host: p.host, user: p.user ?? "", default: name === chosen }));
    if (flags.names) this.print(rows.map((r) => r.name).join("\n"));
    else if (flags.json) this.printJson({ profiles: rows, file: profilesPath(this.io.env) });
    else if (!rows.length) this.print(`no profiles yet (flux-restful login saves one in ${profilesPath(this.io.env)})`);
    else this.print(table(["", "NAME", "HOST", "USER"], rows.map((r) => [r.default ? "*" : "", r.name, r.host, r.user])));
  }

  async proxy(cmd: string[], flags: GlobalFlags & { socket?: string }): Promise<void> {
    const options = await resolveConnection(flags, this.io.env);
    if (options.user === undefined || options.token === undefined) this.warn("no user and token given: the proxy connects without credentials");
    const { listenProxy } = require("./proxy") as typeof import("./proxy");
    const listener = await listenProxy({ ...options, socketPath: flags.socket, onNotice: (text) => this.warn(`proxy: ${text}`) });
    try {
      if (!cmd.length) {
        this.print(`FLUX_URI=${listener.uri}`);
        await new Promise<void>((resolve) => {
          process.once("SIGINT", resolve);
          process.once("SIGTERM", resolve);
        });
        return;
      }
      const { spawn } = require("node:child_process") as typeof import("node:child_process");
      const { constants } = require("node:os") as typeof import("node:os");
      const child = spawn(cmd[0], cmd.slice(1), { stdio: "inherit", env: { ...this.io.env, FLUX_URI: listener.uri } });
      this.exitCode = await new Promise<number>((resolve) => {
        child.once("error", (err) => {
          this.warn(`${cmd[0]}: ${err.message}`);
          resolve(127);
        });
        child.once("exit", (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
      });
    } finally {
      await listener.close();
    }
  }

  /** Builds the command tree; each action records its exit code. */
  program(): Command {
    const { version } = require("../package.json") as { version: string };
    const program = new Command("flux-restful")
      .description("Submit, run and watch Flux jobs through a flux-restful-api v1 server")
      .version(version, "-V, --version", "print the version")
      .enablePositionalOptions()
      .showHelpAfterError("(run with --help for usage)")
      .addHelpText("after", EXAMPLES)
      .exitOverride()
      .configureOutput({
        writeOut: (s) => this.io.stdout.write(s),
        writeErr: (s) => this.io.stderr.write(s),
      });
    for (const option of connectionOptions()) program.addOption(option);
    const connected: Command[] = [];
    const command = (name: string, description: string) => {
      const cmd = program.command(name).description(description);
      connected.push(cmd);
      return cmd;
    };
    const withOptions = (cmd: Command, options: Option[]) => (options.forEach((o) => cmd.addOption(o)), cmd);
    // commander passes (...operands, options, command); actions take the operands and every flag,
    // those given before the command (the program's) and after it (the command's, which win)
    // (a usage error found by an action is not one commander has printed: it becomes a UsageError)
    const act = <A extends unknown[], F>(action: (...args: [...A, F]) => Promise<void> | void) =>
      async (...args: unknown[]) => {
        const cmd = args.at(-1) as Command;
        try {
          await action(...([...args.slice(0, -2), { ...program.opts(), ...cmd.opts() }] as [...A, F]));
        } catch (err) {
          throw err instanceof InvalidArgumentError ? new UsageError(err.message) : err;
        }
      };

    command("proxy", "use your own Flux tools against the server's instance: a local FLUX_URI, or run a command with it")
      .usage("[options] [-- command [args...]]")
      .argument("[command...]", "a command to run with FLUX_URI set (exits with its status)")
      .passThroughOptions()
      .option("--socket <path>", "the unix socket to listen on (default: a new private temporary directory)")
      .addHelpText("after", "\nThe server needs FLUX_PROXY=true (docs/proxy.md). Without a command, prints FLUX_URI=... and serves until Ctrl-C.")
      .action(act((cmd: string[], flags: GlobalFlags & { socket?: string }) => this.proxy(cmd, flags)));
    withOptions(command("run", "submit a job, stream its output, exit with its code (like flux run)"), [...jobOptions(), ...getOptions()])
      .usage("[options] [--] command [args...]")
      .argument("<command...>", "the command to run")
      .passThroughOptions()
      .addHelpText("after", FILES_HELP)
      .addHelpText("after", "\nCtrl-C once says what to do; twice within 2s cancels the job; Ctrl-Z detaches (reattach with `output --follow ID`).")
      .action(act((cmd: string[], flags: GlobalFlags & JobFlags & GetFlags) => this.run(cmd, flags)));
    withOptions(command("submit", "submit a job (or --cc many), print its id"), [...jobOptions(), ...getOptions()])
      .usage("[options] [--] command [args...]")
      .argument("<command...>", "the command to run")
      .passThroughOptions()
      .addOption(new Option("--cc <idset>", "submit one copy per id (e.g. 1-8), replacing {cc} in the command, name, env and workdir").argParser(parseIdset))
      .option("--wait", "wait for the job; exit with its return code")
      .option("--follow", "print the job's output as it runs; exit with its return code")
      .addHelpText("after", FILES_HELP)
      .action(act((cmd: string[], flags: GlobalFlags & SubmitFlags) => this.submit(cmd, flags)));
    withOptions(command("batch", "submit a batch script, run as its own Flux instance on the job's nodes (like flux batch)"), [...jobOptions(), ...getOptions()])
      .usage("[options] script [args...]")
      .argument("<script>", "the script: a local file starting with #! (sent with the job)")
      .argument("[args...]", "the script's arguments")
      .passThroughOptions()
      .option("--wait", "wait for the job; exit with its return code")
      .option("--follow", "print the job's output as it runs; exit with its return code")
      .addHelpText("after", BATCH_HELP)
      .action(act((script: string, args: string[], flags: GlobalFlags & SubmitFlags) => this.batch(script, args, flags)));
    command("jobs", "list jobs")
      .option("--limit <n>", "show at most n jobs", positiveInt)
      .addOption(new Option("--state <states>", `only jobs in these states or with these results, comma-separated: ${STATE_FILTERS.join(", ")}`).argParser(parseStateFilter))
      .option("--name <name>", "only jobs of this name")
      .option("--owner <user>", "only jobs of this user (name or uid)")
      .action(act((flags: GlobalFlags & JobsFlags) => this.jobs(flags)));
    command("info", "show a job's details")
      .argument("<jobid>", "job id, decimal or F58")
      .action(act((id: string, flags: GlobalFlags) => this.info(id, flags)));
    command("output", "print a job's output")
      .argument("<jobid>", "job id, decimal or F58")
      .option("-f, --follow", "keep printing until the job ends")
      .option("-l, --label-io", "label each output line with its task rank (with --follow)")
      .action(act((id: string, flags: GlobalFlags & { follow?: boolean; labelIo?: boolean }) => this.output(id, flags)));
    command("cancel", "cancel a job")
      .argument("<jobid>", "job id, decimal or F58")
      .action(act((id: string, flags: GlobalFlags) => this.cancel(id, flags)));
    command("wait", "wait for a job to finish; exit with its return code")
      .argument("<jobid>", "job id, decimal or F58")
      .addOption(new Option("--timeout <seconds>", "give up after this many seconds").argParser(positiveInt))
      .action(act((id: string, flags: GlobalFlags & { timeout?: number }) => this.wait(id, flags)));
    command("search", "find jobs whose values match a regular expression (id, name, state, node…)")
      .argument("<query>", "regular expression")
      .option("--limit <n>", "show at most n jobs", positiveInt)
      .action(act((query: string, flags: GlobalFlags & { limit?: number }) => this.search(query, flags)));
    const files = program.command("files").description("list, download, upload and remove files of the workspace (the jobs' working directories)");
    files.addHelpText("after", FILES_COMMAND_HELP);
    const fileCommand = (name: string, description: string) => {
      const cmd = files.command(name).description(description);
      connected.push(cmd);
      return cmd;
    };
    fileCommand("ls", "list a directory of the workspace, or a job's working directory")
      .argument("[path]", "directory, relative to the workspace (default: its root)")
      .option("--job <jobid>", "the working directory of this job")
      .action(act((dir: string | undefined, flags: GlobalFlags & { job?: string }) => this.filesList(dir, flags)));
    fileCommand("get", "download a file; never writes outside DEST")
      .argument("<path>", "file, relative to the workspace")
      .argument("[dest]", "local file or directory (default: the file's name in the current directory)")
      .action(act((remote: string, dest: string | undefined, flags: GlobalFlags) => this.filesGet(remote, dest, flags)));
    fileCommand("put", "upload a local file (streamed; its permission bits go along)")
      .argument("<local>", "local file")
      .argument("[path]", "where in the workspace (default: its name at the root; ending in / : into that directory)")
      .option("--mode <octal>", "permission bits, e.g. 0644 (default: the local file's)")
      .action(act((local: string, remote: string | undefined, flags: GlobalFlags & { mode?: string }) => this.filesPut(local, remote, flags)));
    fileCommand("rm", "remove a file")
      .argument("<path>", "file, relative to the workspace")
      .action(act((remote: string, flags: GlobalFlags) => this.filesRemove(remote, flags)));
    command("nodes", "list the nodes of the instance").action(act((flags: GlobalFlags) => this.nodes(flags)));
    command("cluster", "show the cluster summary: nodes up, down and allocated, cores, GPUs, submit limits")
      .action(act((flags: GlobalFlags) => this.cluster(flags)));
    command("login", "save a connection as a profile (from flags, the environment or --stack), readable by you alone")
      .argument("[name]", "profile name (default: --profile, else the stack's name, else \"default\")")
      .option("--default", "make it the default profile (the first one saved is)")
      .option("--no-check", "save without trying the connection first")
      .action(act((name: string | undefined, flags: GlobalFlags & { default?: boolean; check: boolean }) => this.login(name, flags)));
    command("logout", "remove a saved profile")
      .argument("[name]", "profile name (default: the one in use)")
      .action(act((name: string | undefined, flags: GlobalFlags) => this.logout(name, flags)));
    command("profiles", "list the saved profiles (* marks the default)")
      .addOption(new Option("--names", "names only, one per line").hideHelp())
      .action(act((flags: GlobalFlags & { names?: boolean }) => this.profiles(flags)));
    program
      .command("completion")
      .description("print a shell completion script: source <(flux-restful completion bash), or zsh")
      .argument("<shell>", "bash or zsh")
      .action((shell: string) => {
        if (shell !== "bash" && shell !== "zsh") throw new InvalidArgumentError(`no completion for "${shell}": bash or zsh`);
        this.io.stdout.write(completionScript(shell));
      });
    // after each command's own options, so its help lists those first
    for (const cmd of connected) withOptions(cmd, connectionOptions());
    // Run by the completion scripts: the candidates for the command line in COMP_LINE up to COMP_POINT.
    program
      .command("__complete", { hidden: true })
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => {
        const line = this.io.env.COMP_LINE ?? "";
        const point = Number(this.io.env.COMP_POINT ?? line.length);
        const candidates = completions(program, line.slice(0, point), () => Object.keys(readProfiles(this.io.env).profiles));
        if (candidates.length) this.print(candidates.join("\n"));
      });
    return program;
  }

  async execute(argv: string[]): Promise<number> {
    try {
      await this.program().parseAsync(argv, { from: "user" });
      return this.exitCode;
    } catch (err) {
      if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : USAGE_ERROR; // commander has said why
      this.warn((err as Error)?.message ?? String(err));
      if (err instanceof UsageError) return USAGE_ERROR;
      return err instanceof WaitTimeoutError ? 124 : FAILURE;
    }
  }
}

/** Runs the CLI with `argv` (arguments after the program name); resolves to the exit code. */
export function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  return new Cli(io).execute(argv);
}
