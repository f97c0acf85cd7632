/**
 * Jobspec V1 (RFC 25) built like Python's JobspecV1.from_command (flux-core
 * bindings/python/flux/job/Jobspec.py), with the same validation messages. Pure.
 */

export class JobspecError extends Error {
  override name = "JobspecError";
}

export interface JobspecOptions {
  /** argv, or a string split like Python's shlex.split */
  command: string | string[];
  numTasks?: number;
  coresPerTask?: number;
  gpusPerTask?: number;
  numNodes?: number;
  exclusive?: boolean;
  /** seconds, or a Flux Standard Duration such as "1m" (RFC 23); 0 = unlimited */
  duration?: number | string;
  cwd?: string;
  /** the job's whole environment; defaults to DEFAULT_JOB_ENVIRONMENT */
  environment?: Record<string, string>;
  /** attributes.system.shell.options.<key> = value (keys may be dotted) */
  shellOptions?: Record<string, unknown>;
  /** attributes.system.job.name */
  name?: string;
  /** extra attributes; keys without a "system."/"user." prefix go under system, dots nest */
  attributes?: Record<string, unknown>;
  /** attributes.system.files (RFC 37 file archive, dictionary form): name -> fileref */
  files?: Record<string, Fileref>;
}

/**
 * An RFC 37 regular file as Python's flux.util.Fileref writes it: `mode` includes S_IFREG;
 * `data` is text in `encoding`, or without encoding a JSON value the shell writes as JSON.
 */
export interface Fileref {
  mode: number;
  data: unknown;
  encoding?: "utf-8" | "base64";
}

/** S_IFREG: the job shell (libarchive) refuses a fileref whose mode has no file type. */
export const S_IFREG = 0o100000;

/** Fileref(data, perms, encoding): perms are permission bits (the file type is added). */
export function fileref(data: string, perms = 0o600, encoding: "utf-8" | "base64" = "utf-8"): Fileref {
  return { mode: (perms & 0o7777) | S_IFREG, data, encoding };
}

export interface JobspecResource {
  type: string;
  count: number;
  exclusive?: boolean;
  with?: JobspecResource[];
  label?: string;
}

export interface Jobspec {
  resources: JobspecResource[];
  tasks: Array<{ command: string[]; slot: string; count: { per_slot: number } | { total: number } }>;
  attributes: { system: Record<string, unknown> & { duration: number }; user?: Record<string, unknown> };
  version: 1;
}

/**
 * Environment used when none is given. Python defaults to the submitter's os.environ, which
 * for a server would leak its own secrets into jobs; flux-core < 0.77 sent none, and the job
 * shell then starts tasks with an empty environment. A plain PATH is the safe middle.
 */
export const DEFAULT_JOB_ENVIRONMENT: Readonly<Record<string, string>> = Object.freeze({
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
});

/** shlex.whitespace */
const WHITESPACE = /[ \t\r\n]/;

/** Python shlex.split (POSIX mode, no comments). */
export function splitCommand(command: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < command.length; i++) {
    const ch = command[i];
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === "\\" && (command[i + 1] === '"' || command[i + 1] === "\\")) word += command[++i];
      else if (ch === "\\" && i + 1 >= command.length) throw new JobspecError("No escaped character");
      else word += ch;
    } else if (ch === "\\") {
      if (i + 1 >= command.length) throw new JobspecError("No escaped character");
      word += command[++i];
      inWord = true;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (WHITESPACE.test(ch)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw new JobspecError("No closing quotation");
  if (inWord) words.push(word);
  return words;
}

const FSD = /^(.*?)(ms|s|m|h|d)$/;
const FLOAT_TEXT = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$|^\s*[+-]?(?:inf|infinity|nan)\s*$/i;
const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

function parsePythonFloat(text: string): number {
  if (!FLOAT_TEXT.test(text)) throw new JobspecError("invalid Flux standard duration");
  const t = text.trim().toLowerCase().replace(/^\+/, "");
  if (/^-?inf(inity)?$/.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
  if (/^-?nan$/.test(t)) return NaN;
  return Number(t);
}

/** Flux Standard Duration (RFC 23) to seconds, as flux.util.parse_fsd. */
export function parseDuration(fsd: string): number {
  if (["inf", "infinity", "INF", "INFINITY"].includes(fsd)) return Infinity;
  const m = FSD.exec(fsd);
  const value = parsePythonFloat(m ? m[1] : fsd);
  const seconds = value * UNIT_SECONDS[m ? m[2] : "s"];
  if (seconds < 0 || Number.isNaN(seconds) || !Number.isFinite(seconds)) throw new JobspecError("invalid Flux standard duration");
  return seconds;
}

function durationSeconds(duration: number | string): number {
  let time: number;
  if (typeof duration === "string") time = parseDuration(duration);
  else if (typeof duration === "number") time = duration;
  else throw new JobspecError("duration must be an int, float, string, or timedelta");
  if (time < 0) throw new JobspecError("duration must not be negative");
  if (Number.isNaN(time) || !Number.isFinite(time)) throw new JobspecError("duration must be a normal, finite value");
  return time;
}

function isInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value);
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Keys that would reach Object.prototype through plain-object assignment. */
const UNSAFE_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** The part of a dotted attribute or shell-option key that is not allowed, if any. */
export function unsafeKeyPart(key: string): string | undefined {
  return key.split(".").find((part) => UNSAFE_KEYS.has(part));
}

/** Python set_treedict on "attributes.<key>" after _attr_key_prepend. */
function setAttribute(attributes: Record<string, unknown>, key: string, value: unknown): void {
  let path = key.startsWith("attributes.") ? key.slice("attributes.".length) : key;
  if (!path.startsWith("system.") && !path.startsWith("user.")) path = `system.${path}`;
  const parts = path.split(".");
  const unsafe = unsafeKeyPart(path);
  if (unsafe) throw new JobspecError(`invalid attribute key "${key}": "${unsafe}" is not allowed`);
  let node = attributes;
  for (const part of parts.slice(0, -1)) {
    if (!isMapping(node[part])) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

function slot(count: number, children: JobspecResource[]): JobspecResource {
  return { type: "slot", count, with: children, label: "task" };
}

export function buildJobspec(opts: JobspecOptions): Jobspec {
  const numTasks = opts.numTasks ?? 1;
  const coresPerTask = opts.coresPerTask ?? 1;
  const { gpusPerTask, numNodes } = opts;
  const exclusive = opts.exclusive ?? false;
  if (!isInteger(numTasks) || numTasks < 1) throw new JobspecError("task count must be a integer >= 1");
  if (!isInteger(coresPerTask) || coresPerTask < 1) throw new JobspecError("cores per task must be an integer >= 1");
  if (gpusPerTask !== undefined && (!isInteger(gpusPerTask) || gpusPerTask < 0)) {
    throw new JobspecError("gpus per task must be an integer >= 0");
  }
  if (numNodes !== undefined) {
    if (!isInteger(numNodes) || numNodes < 1) throw new JobspecError("node count must be an integer >= 1 (if set)");
    if (numNodes > numTasks) throw new JobspecError("node count must not be greater than task count");
  } else if (exclusive) throw new JobspecError("exclusive can only be set with a node count");

  const command = typeof opts.command === "string" ? splitCommand(opts.command) : opts.command;
  if (!Array.isArray(command)) throw new JobspecError("command must be a list of strings");
  if (command.length === 0) throw new JobspecError("command array cannot have length of zero");
  if (!command.every((arg) => typeof arg === "string")) throw new JobspecError("command must be a list of strings");

  const children: JobspecResource[] = [{ type: "core", count: coresPerTask }];
  if (gpusPerTask) children.push({ type: "gpu", count: gpusPerTask });
  let resource: JobspecResource;
  let count: { per_slot: number } | { total: number } = { per_slot: 1 };
  if (numNodes !== undefined) {
    if (numTasks % numNodes !== 0) count = { total: numTasks }; // uneven: spare slots are wasted, as in Python
    resource = { type: "node", count: numNodes, ...(exclusive ? { exclusive: true } : {}), with: [slot(Math.ceil(numTasks / numNodes), children)] };
  } else resource = slot(numTasks, children);

  const attributes: Record<string, unknown> = { system: { duration: 0 } };
  if (opts.duration !== undefined) setAttribute(attributes, "system.duration", durationSeconds(opts.duration));
  const environment = opts.environment ?? DEFAULT_JOB_ENVIRONMENT;
  if (!isMapping(environment)) throw new JobspecError("environment must be a mapping");
  for (const [name, value] of Object.entries(environment)) {
    if (typeof value !== "string") throw new JobspecError(`environment variable ${name} must be a string`);
  }
  setAttribute(attributes, "system.environment", { ...environment });
  if (opts.cwd !== undefined) {
    if (typeof opts.cwd !== "string") throw new JobspecError("cwd must be a string");
    setAttribute(attributes, "system.cwd", opts.cwd);
  }
  if (opts.name !== undefined) {
    if (typeof opts.name !== "string") throw new JobspecError("name must be a string");
    setAttribute(attributes, "system.job.name", opts.name);
  }
  if (opts.shellOptions !== undefined) {
    if (!isMapping(opts.shellOptions)) throw new JobspecError("shell options must be a mapping");
    for (const [key, value] of Object.entries(opts.shellOptions)) setAttribute(attributes, `system.shell.options.${key}`, value);
  }
  if (opts.attributes !== undefined) {
    if (!isMapping(opts.attributes)) throw new JobspecError("attributes must be a mapping");
    for (const [key, value] of Object.entries(opts.attributes)) setAttribute(attributes, key, value);
  }
  if (opts.files !== undefined) {
    if (!isMapping(opts.files)) throw new JobspecError("files must be a mapping");
    // Defined, not assigned: a file may be named like an Object.prototype key.
    const files: Record<string, Fileref> = {};
    for (const [name, ref] of Object.entries(opts.files)) Object.defineProperty(files, name, { value: ref, enumerable: true, writable: true, configurable: true });
    (attributes.system as Record<string, unknown>).files = files;
  }
  const system = (attributes.system ?? {}) as Record<string, unknown>;
  if (typeof system.duration !== "number") throw new JobspecError("attributes.system.duration must be a number");

  return {
    resources: [resource],
    tasks: [{ command: [...command], slot: "task", count }],
    attributes: attributes as Jobspec["attributes"],
    version: 1,
  };
}

export interface BatchJobspecOptions extends Omit<JobspecOptions, "command" | "numTasks" | "coresPerTask" | "gpusPerTask"> {
  /** the script's text; must start with "#!" */
  script: string;
  /** arguments given to the script */
  args?: string[];
  numSlots?: number;
  coresPerSlot?: number;
  gpusPerSlot?: number;
  /** options for the nested `flux broker`, before the script */
  brokerOpts?: string[];
  /** flux-core version of the broker the job goes to: 0.88's bindings add exit-timeout=none */
  fluxVersion?: string;
}

/** Shell option exit-timeout=none in nested instances: in the 0.88 bindings, not in 0.55 or 0.70. */
function nestsWithoutExitTimeout(version: string | undefined): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version ?? "");
  return m !== null && (Number(m[1]) > 0 || Number(m[2]) >= 88);
}

/**
 * A batch job as JobspecV1.from_batch_command builds it (through from_nest_command):
 * `flux broker [opts] {{tmpdir}}/script [args]` on one task per node, the script in
 * attributes.system.files with mode 0700. The shell extracts it into FLUX_JOB_TMPDIR on every
 * node, and the nested instance runs it as its initial program.
 */
export function buildBatchJobspec(opts: BatchJobspecOptions): Jobspec {
  const { script, args = [], numSlots, coresPerSlot, gpusPerSlot, brokerOpts = [], fluxVersion, files, shellOptions, ...rest } = opts;
  if (typeof script !== "string" || !script.startsWith("#!")) {
    throw new JobspecError(`${opts.name ?? "script"} does not appear to start with '#!'`);
  }
  if (files && Object.prototype.hasOwnProperty.call(files, "script")) throw new JobspecError('the file name "script" is reserved for the batch script');
  const nest: Record<string, unknown> = { "per-resource.type": "node", mpi: "none" };
  if (nestsWithoutExitTimeout(fluxVersion)) nest["exit-timeout"] = "none";
  return buildJobspec({
    ...rest,
    command: ["flux", "broker", ...brokerOpts, "{{tmpdir}}/script", ...args],
    numTasks: numSlots,
    coresPerTask: coresPerSlot,
    gpusPerTask: gpusPerSlot,
    // the user's shell options after the nest's, as setattr_shell_option would apply them later
    shellOptions: { ...nest, ...shellOptions },
    files: { ...files, script: fileref(script, 0o700, "utf-8") },
    name: opts.name ?? "batch",
  });
}
