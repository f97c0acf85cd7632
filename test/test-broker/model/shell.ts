/**
 * What a flux-core job shell does before its tasks start, for the test broker (checked against
 * 0.55's src/shell: tmpdir.c, files.c + libfilemap, mustache.c + shell.c's mustache_cb, and
 * 0.88's, which do the same):
 * - every shell (one per node of the job) makes its own FLUX_JOB_TMPDIR, `<rundir>/jobtmp-<shell
 *   rank>-<f58 id>`, and removes it when the job ends;
 * - the `files` builtin writes attributes.system.files (RFC 37) into it: utf-8 or base64 data, a
 *   JSON value without encoding as compact JSON, the mode's permission bits under the umask
 *   (libarchive's default), parent directories made; a mode without S_IFREG fails the shell;
 * - `{{tmpdir}}`, `{{id}}`/`{{jobid}}` (with .dec .hex .dothex .f58 .f58plain) and `{{name}}` in
 *   the command are rendered per shell; a tag it cannot render stays as written (and is logged
 *   as each release logs it).
 * The ids use f58's ASCII "f" (a shell in a non-UTF-8 locale, like a container's C locale).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { formatJobId, type JobIdForm } from "../../../sidecar/flux/ids";

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

export class ShellInitError extends Error {}

export function jobTmpdir(rundir: string, shellRank: number, id: bigint): string {
  return path.join(rundir, `jobtmp-${shellRank}-${formatJobId(id, "f58plain")}`);
}

/** Makes the shell's FLUX_JOB_TMPDIR (mode 0700, as tmpdir.c) and extracts the job's files into it. */
export function prepareTmpdir(dir: string, files: unknown): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    throw new ShellInitError(`error creating FLUX_JOB_TMPDIR: ${(err as Error).message}`); // tmpdir.c dies the same way
  }
  if (files === undefined || files === null) return;
  if (typeof files !== "object" || Array.isArray(files)) throw new ShellInitError("error decoding files: not an object");
  const umask = process.umask();
  for (const [name, ref] of Object.entries(files as Record<string, unknown>)) {
    const r = ref as { mode?: unknown; data?: unknown; encoding?: unknown };
    if (typeof r !== "object" || r === null || typeof r.mode !== "number") throw new ShellInitError("error decoding fileref object: Object item not present: mode");
    if ((r.mode & S_IFMT) !== S_IFREG) throw new ShellInitError(`${name}: unknown file type (mode=0${r.mode.toString(8)})`);
    const target = path.resolve(dir, name);
    // libarchive (no SECURE flags) would follow "..": the test double refuses to write outside.
    if (!target.startsWith(`${dir}/`)) throw new ShellInitError(`${name}: path leaves FLUX_JOB_TMPDIR`);
    let bytes: Buffer;
    if (r.encoding === undefined) bytes = Buffer.from(JSON.stringify(r.data ?? null));
    else if (r.encoding === "utf-8") bytes = Buffer.from(String(r.data), "utf8");
    else if (r.encoding === "base64") bytes = Buffer.from(String(r.data), "base64");
    else throw new ShellInitError(`${name}: unknown RFC 37 encoding ${String(r.encoding)}`);
    fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
    fs.writeFileSync(target, bytes, { mode: 0o600 });
    fs.chmodSync(target, r.mode & 0o7777 & ~umask);
  }
}

const ID_FORMS: Record<string, JobIdForm> = { dec: "dec", hex: "hex", dothex: "dothex", f58: "f58plain", f58plain: "f58plain" };

/** shell.c's log lines for a tag it cannot render (file/line as each release logs them). */
function tagLines(versionCode: number) {
  const at = <T>(v55: T, v70: T, v88: T) => (versionCode >= 88 ? v88 : versionCode >= 70 ? v70 : v55);
  return { badEncoding: at(1045, 1212, 1291), unknownId: at(1035, undefined, undefined), unknownTag: at(1094, undefined, undefined) };
}

export interface ShellLog {
  message: string;
  line: number;
}

/**
 * Renders the shell's mustache tags in one argument, as shell.c's mustache_cb: a tag it cannot
 * render stays as written; 0.55 logs every such tag, 0.70 and later only a bad id encoding.
 */
export function renderTemplates(arg: string, vars: { tmpdir: string; id: bigint; name: string; versionCode: number }, log: (entry: ShellLog) => void): string {
  const lines = tagLines(vars.versionCode);
  const report = (message: string, line: number | undefined) => line !== undefined && log({ message, line });
  return arg.replace(/\{\{([^{}]*)\}\}/g, (whole, tag: string) => {
    const name = tag.startsWith("jobid") ? tag.slice(3) : tag; // "jobid" is a synonym for "id"
    if (name.startsWith("id")) {
      if (name.length === 2) return formatJobId(vars.id, "f58plain");
      if (name[2] !== ".") return report(`Unknown mustache tag '${name}'`, lines.unknownId), whole;
      const form = ID_FORMS[name.slice(3)];
      if (form) return formatJobId(vars.id, form);
      return report(`Invalid jobid encoding '${name}' specified`, lines.badEncoding), whole;
    }
    if (name === "name") return vars.name;
    if (name === "tmpdir") return vars.tmpdir;
    return report(`Unknown mustache tag '${name}'`, lines.unknownTag), whole;
  });
}

/**
 * A nested instance's command (`flux broker [options] PROGRAM [ARGS]`, from `flux batch` or
 * `flux alloc`): the initial program and its arguments, else undefined. The test broker runs
 * that program itself on the job's first node; no nested instance is started.
 */
export function initialProgram(argv: string[]): string[] | undefined {
  if (argv.length < 3 || path.basename(argv[0]) !== "flux" || argv[1] !== "broker") return undefined;
  const at = argv.findIndex((arg, i) => i >= 2 && !arg.startsWith("-"));
  return at === -1 ? undefined : argv.slice(at);
}

/**
 * The environment a nested instance gives its initial program (broker/runat.c): the job's, less
 * the variables that describe the enclosing job (0.55's list; 0.88 adds a few more of the same
 * kind). FLUX_URI would be the nested instance's: here it stays this broker's.
 */
export function initialProgramEnvironment(env: Record<string, string>): Record<string, string> {
  const blocked = ["FLUX_JOB_ID", "FLUX_ENCLOSING_ID", "FLUX_JOB_SIZE", "FLUX_JOB_NNODES", "FLUX_JOB_TMPDIR", "FLUX_TASK_RANK", "FLUX_TASK_LOCAL_ID", "FLUX_KVS_NAMESPACE", "FLUX_PROXY_REMOTE"];
  return Object.fromEntries(Object.entries(env).filter(([name]) => !blocked.includes(name) && !/^(PMI_|PMIX_|SLURM_)/.test(name)));
}
