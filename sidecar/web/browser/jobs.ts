// Job records as the API returns them, and the pure list operations of the jobs page
// (search, sort, paging), kept apart from the DOM so they can be tested on their own.
import { f58 } from "./format";

export interface JobInfo {
  id: string | number;
  name?: string;
  state?: string;
  result?: string;
  nnodes?: number | string;
  nodelist?: string;
  ntasks?: number | string;
  t_submit?: number;
  runtime?: number;
  [key: string]: unknown;
}

export type SortKey = "id" | "name" | "state" | "result" | "nnodes" | "ntasks" | "t_submit" | "runtime";
export type SortDirection = "asc" | "desc";

export const sortKeys: readonly SortKey[] = ["id", "name", "state", "result", "nnodes", "ntasks", "t_submit", "runtime"];

/** Lifecycle order, so sorting by state groups pending, running and finished jobs. */
const stateOrder = ["NEW", "DEPEND", "PRIORITY", "SCHED", "RUN", "CLEANUP", "INACTIVE"];

export function isActive(job: JobInfo): boolean {
  return job.state !== "INACTIVE";
}

export function jobIdText(job: JobInfo): string {
  return String(job.id);
}

function compareIds(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a.localeCompare(b);
}

function numeric(value: unknown): number {
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? n : -Infinity;
}

function compare(a: JobInfo, b: JobInfo, key: SortKey): number {
  switch (key) {
    case "id":
      return compareIds(jobIdText(a), jobIdText(b));
    case "state":
      return stateOrder.indexOf(String(a.state)) - stateOrder.indexOf(String(b.state));
    case "name":
    case "result":
      return String(a[key] ?? "").localeCompare(String(b[key] ?? ""));
    default:
      return numeric(a[key]) - numeric(b[key]);
  }
}

/** Sorted copy; ties fall back to the id so the order is stable between refreshes. */
export function sortJobs(jobs: readonly JobInfo[], key: SortKey, direction: SortDirection): JobInfo[] {
  const sign = direction === "asc" ? 1 : -1;
  return [...jobs].sort((a, b) => sign * (compare(a, b, key) || compareIds(jobIdText(a), jobIdText(b))));
}

/** Case-insensitive substring match on id (decimal and F58), name, state, result and nodes. */
export function searchJobs(jobs: readonly JobInfo[], query: string): JobInfo[] {
  const needle = query.trim().toLowerCase();
  if (!needle) return [...jobs];
  return jobs.filter((job) =>
    [jobIdText(job), f58(jobIdText(job)), job.name, job.state, job.result, job.nodelist]
      .some((field) => typeof field === "string" && field.toLowerCase().includes(needle)),
  );
}

export interface Page<T> { items: T[]; page: number; pages: number; total: number; first: number; last: number }

/** One page (1-based; clamped to the available pages). */
export function pageOf<T>(items: readonly T[], page: number, size: number): Page<T> {
  const pages = Math.max(1, Math.ceil(items.length / size));
  const current = Math.min(Math.max(1, Math.floor(page) || 1), pages);
  const start = (current - 1) * size;
  const slice = items.slice(start, start + size);
  return { items: slice, page: current, pages, total: items.length, first: slice.length ? start + 1 : 0, last: start + slice.length };
}
