/**
 * The `flux-restful` CLI. `main(argv, io)` runs one command and resolves to the exit code, so
 * tests can drive it in-process; run as a program it uses the real process streams.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { createSpinner } from "nanospinner";
import { FluxRestfulClient } from "./client";
import { resolveConnection, type ConnectionFlags } from "./cli/connection";
import { jobInfoTable, jobsTable, table } from "./cli/format";
import { SubmitOutcomeUnknownError, WaitTimeoutError } from "./errors";
import { formatF58, parseJobId } from "./ids";
import { stringifyJson } from "./json";
import type { JobInfo, SubmitOptions } from "./types";

export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
}

interface GlobalFlags extends ConnectionFlags {
  json?: boolean;
}

const USAGE_ERROR = 2;
const FAILURE = 1;
/** A submit that may or may not have created its job (EX_TEMPFAIL). */
const OUTCOME_UNKNOWN = 75;

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

class Cli {
  private exitCode = 0;

  constructor(private readonly io: CliIo) {}

  private print(text: string): void {
    this.io.stdout.write(text.endsWith("\n") ? text : text + "\n");
  }

  private printJson(value: unknown): void {
    this.print(stringifyJson(value));
  }

  private async client(flags: GlobalFlags): Promise<FluxRestfulClient> {
    return new FluxRestfulClient(await resolveConnection(flags, this.io.env));
  }

  /** Runs `work` under a spinner when stdout is a terminal. */
  private async spinning<T>(text: string, work: () => Promise<T>): Promise<T> {
    // nanospinner loops forever on a terminal that reports 0 columns, so that counts as no terminal
    if (!this.io.stdout.isTTY || !process.stderr.isTTY || !process.stderr.columns) return work();
    const spinner = createSpinner(text, { stream: process.stderr }).start();
    try {
      return await work();
    } finally {
      spinner.clear();
      spinner.stop();
    }
  }

  private async waitAndReport(client: FluxRestfulClient, id: bigint, flags: GlobalFlags, timeoutMs?: number): Promise<void> {
    const info = await this.spinning(`waiting for job ${formatF58(id)}`, () =>
      client.wait(id, { timeoutMs }),
    );
    if (flags.json) this.printJson(info);
    else this.print(jobInfoTable(info));
    this.exitCode = jobExitCode(info);
  }

  private async follow(client: FluxRestfulClient, id: bigint, flags: GlobalFlags): Promise<void> {
    for await (const line of client.outputLines(id)) {
      if (flags.json) this.printJson(line);
      else if (line.stream === "stderr") this.io.stderr.write(line.line + "\n");
      else this.print(line.line);
    }
  }

  async nodes(flags: GlobalFlags): Promise<void> {
    const nodes = await (await this.client(flags)).nodes();
    if (flags.json) this.printJson({ nodes });
    else this.print(table(["NODE"], [...nodes].sort().map((n) => [n])));
  }

  async jobs(flags: GlobalFlags & { limit?: number }): Promise<void> {
    // The plain listing: every job of the instance on both servers (detailed listings are not).
    const jobs = (await (await this.client(flags)).jobs()).slice(0, flags.limit);
    if (flags.json) this.printJson({ jobs });
    else this.print(jobsTable(jobs));
  }

  async info(id: string, flags: GlobalFlags): Promise<void> {
    const info = await (await this.client(flags)).jobInfo(parseJobId(id));
    if (flags.json) this.printJson(info);
    else this.print(jobInfoTable(info));
  }

  async submit(command: string[], flags: GlobalFlags & SubmitFlags): Promise<void> {
    const client = await this.client(flags);
    const options: SubmitOptions = {
      command,
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
    let id: bigint;
    try {
      ({ id } = await client.submit(options));
    } catch (err) {
      if (!(err instanceof SubmitOutcomeUnknownError)) throw err;
      this.exitCode = OUTCOME_UNKNOWN;
      const next = err.idempotencyKey
        ? `to retry safely, run the same command with --idempotency-key ${err.idempotencyKey}`
        : "check `flux-restful jobs` before submitting again";
      this.io.stderr.write(`flux-restful: the job may or may not have been created (${err.cause.message})\n${next}\n`);
      return;
    }
    if (flags.json && !flags.wait && !flags.follow) this.printJson({ id, f58: formatF58(id) });
    else if (!flags.json) this.io.stderr.write(`submitted job ${id} (${formatF58(id)})\n`);
    if (flags.follow) await this.follow(client, id, flags);
    if (flags.wait || flags.follow) await this.waitAndReport(client, id, flags);
  }

  async output(id: string, flags: GlobalFlags & { follow?: boolean }): Promise<void> {
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

  /** Builds the command tree; each action records its exit code. */
  program(): Command {
    const program = new Command("flux-restful")
      .description("Submit and watch Flux jobs through a flux-restful-api v1 server")
      .enablePositionalOptions()
      .showHelpAfterError("(run with --help for usage)")
      .exitOverride()
      .configureOutput({
        writeOut: (s) => this.io.stdout.write(s),
        writeErr: (s) => this.io.stderr.write(s),
      });
    const command = (name: string, description: string) =>
      program
        .command(name)
        .description(description)
        .option("--host <url>", "server URL (env FLUX_RESTFUL_HOST, default http://127.0.0.1:5000)")
        .option("--user <name>", "user name (env FLUX_USER)")
        .option("--token <token>", "the user's token/password (env FLUX_TOKEN)")
        .option("--secret-key <key>", "the server's FLUX_SECRET_KEY (env FLUX_SECRET_KEY)")
        .option("--stack <name>", "take endpoint and credentials from `pulumi stack output` of this stack")
        .option("--json", "machine-readable JSON output (ids as exact integers)");
    const run = <A extends unknown[]>(action: (...args: A) => Promise<void>) =>
      async (...args: unknown[]) => {
        // commander passes (...operands, options, command); our actions take (...operands, options)
        await action(...(args.slice(0, -1) as A));
      };

    command("nodes", "list the nodes of the instance").action(run((flags: GlobalFlags) => this.nodes(flags)));
    command("jobs", "list jobs")
      .option("--limit <n>", "show at most n jobs", positiveInt)
      .action(run((flags: GlobalFlags & { limit?: number }) => this.jobs(flags)));
    command("info", "show a job's details")
      .argument("<jobid>", "job id, decimal or F58")
      .action(run((id: string, flags: GlobalFlags) => this.info(id, flags)));
    command("submit", "submit a job: flux-restful submit [options] -- command [args...]")
      .argument("<command...>", "the command to run")
      .passThroughOptions()
      .addOption(new Option("-N, --nodes <n>", "number of nodes").argParser(positiveInt))
      .addOption(new Option("-n, --ntasks <n>", "number of tasks").argParser(positiveInt))
      .addOption(new Option("-c, --cores-per-task <n>", "cores per task").argParser(positiveInt))
      .addOption(new Option("-g, --gpus-per-task <n>", "GPUs per task").argParser(positiveInt))
      .option("--exclusive", "allocate whole nodes")
      .option("--env <KEY=VALUE>", "set an environment variable in the job (repeatable)", collect)
      .option("--workdir <dir>", "working directory of the job")
      .addOption(new Option("-t, --time <duration>", "time limit: 90s, 5m, 1.5h, 2d (bare number = minutes)").argParser(parseDuration))
      .option("-o, --setopt <KEY[=VALUE]>", "set a flux shell option (repeatable)", collect)
      .option("--name <name>", "job name (servers that support it)")
      .option("--idempotency-key <key>", "retry a submit whose outcome was unknown: the key it printed (servers that support it)")
      .option("--wait", "wait for the job; exit with its return code")
      .option("--follow", "print the job's output as it runs; exit with its return code")
      .action(run((cmd: string[], flags: GlobalFlags & SubmitFlags) => this.submit(cmd, flags)));
    command("output", "print a job's output")
      .argument("<jobid>", "job id, decimal or F58")
      .option("-f, --follow", "keep printing until the job ends")
      .action(run((id: string, flags: GlobalFlags & { follow?: boolean }) => this.output(id, flags)));
    command("cancel", "cancel a job")
      .argument("<jobid>", "job id, decimal or F58")
      .action(run((id: string, flags: GlobalFlags) => this.cancel(id, flags)));
    command("wait", "wait for a job to finish; exit with its return code")
      .argument("<jobid>", "job id, decimal or F58")
      .addOption(new Option("--timeout <seconds>", "give up after this many seconds").argParser(positiveInt))
      .action(run((id: string, flags: GlobalFlags & { timeout?: number }) => this.wait(id, flags)));
    return program;
  }

  async run(argv: string[]): Promise<number> {
    try {
      await this.program().parseAsync(argv, { from: "user" });
      return this.exitCode;
    } catch (err) {
      if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : USAGE_ERROR;
      this.io.stderr.write(`flux-restful: ${(err as Error)?.message ?? String(err)}\n`);
      if (err instanceof InvalidArgumentError) return USAGE_ERROR;
      return err instanceof WaitTimeoutError ? 124 : FAILURE;
    }
  }
}

interface SubmitFlags {
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
  wait?: boolean;
  follow?: boolean;
}

/** Runs the CLI with `argv` (arguments after the program name); resolves to the exit code. */
export function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  return new Cli(io).run(argv);
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
