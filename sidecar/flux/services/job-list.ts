/** job-list.list and job-list.list-id (flux-core modules/job-list). */
import { jobIdFromJson } from "../ids";
import type { JobRecord } from "../jobinfo";
import { withJobErrors } from "./errors";
import { isObject, type Rpc } from "./rpc";

/** The parsed entry itself, id made a bigint: a fresh object from the reply, so no copy is needed. */
function toRecord(value: unknown, topic: string): JobRecord {
  if (!isObject(value)) throw new TypeError(`${topic}: job entry is not an object`);
  value.id = jobIdFromJson(value.id);
  return value as JobRecord;
}

/**
 * All users' jobs in every state, in the broker's order (pending, running, then inactive
 * newest first), in one non-streaming RPC (a single reply on every version from 0.55 on).
 */
export async function listJobs(rpc: Rpc, opts: { limit?: number } = {}): Promise<JobRecord[]> {
  const limit = opts.limit ?? 0;
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError("limit must be an integer >= 0 (0 = all)");
  const topic = "job-list.list";
  const reply = await rpc.call(topic, { max_entries: limit, attrs: ["all"], constraint: { and: [] } });
  if (!Array.isArray(reply.jobs)) throw new TypeError(`${topic}: reply has no "jobs" array`);
  return reply.jobs.map((job) => toRecord(job, topic));
}

/** One job with all attributes; UnknownJobError when the broker does not know the id. */
export async function getJob(rpc: Rpc, id: bigint): Promise<JobRecord> {
  const topic = "job-list.list-id";
  const reply = await withJobErrors(rpc.call(topic, { id, attrs: ["all"] }), { enoentMeansUnknown: true });
  return toRecord(reply.job, topic);
}
