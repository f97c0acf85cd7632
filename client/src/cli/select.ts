/** The small languages of the CLI's options: idsets (--cc) and job state filters (jobs --state). */
import { InvalidArgumentError } from "commander";
import { resultName, stateName } from "./format";

const MAX_CC = 10_000;

/** A Flux idset such as "1-4", "0,3,7-9" or "[1-3]": its members in ascending order. */
export function parseIdset(text: string): number[] {
  const body = text.trim().replace(/^\[(.*)\]$/, "$1");
  const ids = new Set<number>();
  for (const part of body.split(",")) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    const first = Number(match?.[1]);
    const last = match?.[2] === undefined ? first : Number(match[2]);
    if (!match || last < first) throw new InvalidArgumentError('expected an idset such as 1-4 or 0,3,7-9');
    if (last - first + ids.size >= MAX_CC) throw new InvalidArgumentError(`at most ${MAX_CC} copies`);
    for (let id = first; id <= last; id++) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
}

// flux jobs --filter: states, the groups of states, and results.
const GROUPS: Record<string, string[]> = {
  pending: ["DEPEND", "PRIORITY", "SCHED"],
  running: ["RUN", "CLEANUP"],
  active: ["NEW", "DEPEND", "PRIORITY", "SCHED", "RUN", "CLEANUP"],
};
const STATE_NAMES = ["NEW", "DEPEND", "PRIORITY", "SCHED", "RUN", "CLEANUP", "INACTIVE"];
const RESULT_NAMES = ["COMPLETED", "FAILED", "CANCELED", "TIMEOUT"];
export const STATE_FILTERS = [...Object.keys(GROUPS), ...STATE_NAMES.map((s) => s.toLowerCase()), ...RESULT_NAMES.map((r) => r.toLowerCase())];

/** A predicate over jobs for a comma-separated list of states, state groups and results. */
export function parseStateFilter(text: string): (job: { state?: unknown; result?: unknown }) => boolean {
  const states = new Set<string>();
  const results = new Set<string>();
  for (const word of text.split(",").map((w) => w.trim().toUpperCase()).filter(Boolean)) {
    const name = word === "CANCELLED" ? "CANCELED" : word;
    if (GROUPS[name.toLowerCase()]) GROUPS[name.toLowerCase()].forEach((s) => states.add(s));
    else if (STATE_NAMES.includes(name)) states.add(name);
    else if (RESULT_NAMES.includes(name)) results.add(name);
    else throw new InvalidArgumentError(`unknown state "${word.toLowerCase()}" (one of: ${STATE_FILTERS.join(", ")})`);
  }
  return (job) => states.has(stateName(job.state)) || results.has(resultName(job.result));
}
