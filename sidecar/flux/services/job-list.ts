/** job-list.list and job-list.list-id (flux-core modules/job-list). */
import { decodeJsonPayload } from "../codec";
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

export interface ListJobsOptions {
  /** At most this many jobs; 0 (the default) = all. */
  limit?: number;
  /** Attribute names to return ("id" always comes back); default ["all"]. */
  attrs?: string[];
  /** An RFC 31 constraint (job-list's match.c operators); default {"and":[]} = every job. */
  constraint?: Record<string, unknown>;
  /** Only inactive jobs with t_inactive > since (active jobs are all listed); default 0 = no filter. */
  since?: number;
}

/**
 * Jobs in the broker's order (pending, running, then inactive newest first), all users' and
 * in every state unless a constraint narrows them, in one non-streaming RPC (a single reply
 * on every version from 0.55 on). A record holds only the attributes asked for that are known.
 */
export async function listJobs(rpc: Rpc, opts: ListJobsOptions = {}): Promise<JobRecord[]> {
  return parseJobList(await listJobsBytes(rpc, opts));
}

/** The same listing as the reply's bytes, which tell an unchanged listing without parsing it. */
export function listJobsBytes(rpc: Rpc, opts: ListJobsOptions = {}): Promise<Buffer> {
  const { limit = 0, attrs = ["all"], constraint = { and: [] }, since } = opts;
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError("limit must be an integer >= 0 (0 = all)");
  if (since !== undefined && !(Number.isFinite(since) && since >= 0)) throw new RangeError("since must be a number >= 0");
  const request: Record<string, unknown> = { max_entries: limit, attrs, constraint };
  if (since) request.since = since;
  return rpc.callBytes("job-list.list", request);
}

/** The records of a job-list.list reply. */
export function parseJobList(bytes: Buffer): JobRecord[] {
  const topic = "job-list.list";
  const reply = decodeJsonPayload(bytes);
  if (!Array.isArray(reply.jobs)) throw new TypeError(`${topic}: reply has no "jobs" array`);
  return reply.jobs.map((job) => toRecord(job, topic));
}

/** One job with all attributes; UnknownJobError when the broker does not know the id. */
export async function getJob(rpc: Rpc, id: bigint): Promise<JobRecord> {
  const topic = "job-list.list-id";
  const reply = await withJobErrors(rpc.call(topic, { id, attrs: ["all"] }), { enoentMeansUnknown: true });
  return toRecord(reply.job, topic);
}
