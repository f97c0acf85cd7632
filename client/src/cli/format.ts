/** Human-readable renderings: aligned tables and job summaries. */
import { formatF58 } from "../ids";
import type { ClusterSummary, JobInfo, JobListEntry } from "../types";

/** Left-aligned columns separated by two spaces; the header row first. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

// job-list's integer encodings (flux-core job states and results).
const STATES: Record<number, string> = { 1: "NEW", 2: "DEPEND", 4: "PRIORITY", 8: "SCHED", 16: "RUN", 32: "CLEANUP", 64: "INACTIVE" };
const RESULTS: Record<number, string> = { 1: "COMPLETED", 2: "FAILED", 4: "CANCELED", 8: "TIMEOUT" };

export function stateName(state: unknown): string {
  return typeof state === "number" ? (STATES[state] ?? String(state)) : String(state ?? "");
}

export function resultName(result: unknown): string {
  return typeof result === "number" ? (RESULTS[result] ?? String(result)) : String(result ?? "");
}

/** A job as every command prints it in JSON: state and result as names ("" while running). */
export function namedJob<T extends JobListEntry | JobInfo>(job: T): T {
  return { ...job, state: stateName(job.state), result: resultName(job.result) };
}

export function seconds(value: unknown): string {
  return typeof value === "number" ? `${value.toFixed(3)}s` : "";
}

function runtime(job: JobListEntry | JobInfo): unknown {
  if (typeof job.runtime === "number") return job.runtime;
  const start = job.t_run, end = job.t_cleanup;
  return typeof start === "number" && typeof end === "number" ? end - start : undefined;
}

export function jobsTable(jobs: Array<JobListEntry | JobInfo>): string {
  const rows = jobs.map((job) => [
    String(job.id),
    formatF58(job.id),
    String(job.name ?? ""),
    stateName(job.state),
    resultName(job.result),
    String(job.ntasks ?? ""),
    String(job.nnodes ?? ""),
    seconds(runtime(job)),
  ]);
  return table(["ID", "F58", "NAME", "STATE", "RESULT", "NTASKS", "NNODES", "RUNTIME"], rows);
}

/** The fields a person looks at first, as a two-column table. */
export function jobInfoTable(job: JobInfo): string {
  const exception = job.exception?.occurred === true ? `${job.exception.type}${job.exception.note ? `: ${job.exception.note}` : ""}` : "";
  const fields: Array<[string, string]> = [
    ["id", `${job.id} (${formatF58(job.id)})`],
    ["name", String(job.name ?? "")],
    ["state", stateName(job.state)],
    ["result", resultName(job.result)],
    ["returncode", String(job.returncode ?? "")],
    ["ntasks", String(job.ntasks ?? "")],
    ["ncores", String(job.ncores ?? "")],
    ["nnodes", String(job.nnodes ?? "")],
    ["nodelist", String(job.nodelist ?? "")],
    ["runtime", seconds(job.runtime)],
    ["exception", exception],
  ];
  return table(["FIELD", "VALUE"], fields.filter(([, v]) => v !== ""));
}

/** The summary the web UI shows above the jobs: nodes, cores, GPUs and the submit limits. */
export function clusterTable(summary: ClusterSummary): string {
  const nodes = (names: string[] | undefined) => (names === undefined ? undefined : `${names.length}${names.length ? `  ${names.join(", ")}` : ""}`);
  const counts = (c: ClusterSummary["cores"]) => (c ? `${c.allocated} / ${c.up} (${c.total} total)` : undefined);
  const fields: Array<[string, string | undefined]> = [
    ["nodes up", nodes(summary.up)],
    ["nodes down", nodes(summary.down)],
    ["nodes allocated", nodes(summary.allocated)],
    ["cores in use", counts(summary.cores)],
    ["GPUs in use", counts(summary.gpus)],
    ["max nodes per job", summary.limits ? String(summary.limits.maxNodes) : undefined],
    ["GPUs allowed", summary.limits ? (summary.limits.gpus ? "yes" : "no") : undefined],
  ];
  return table(["FIELD", "VALUE"], fields.filter((f): f is [string, string] => f[1] !== undefined));
}
