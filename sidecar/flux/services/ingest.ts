/** job-ingest.submit (flux-core libjob/submit.c, modules/job-ingest). */
import { signNone } from "../codec";
import { jobIdFromJson } from "../ids";
import { stringifyJson } from "../json";
import type { Jobspec } from "../jobspec";
import type { Rpc } from "./rpc";

export interface SubmitOptions {
  /** 0..31; 16 is the default, 0 holds the job, 31 expedites it */
  urgency?: number;
  /** How long to wait for the broker's reply (ms), overriding the client's call timeout; 0: no limit. */
  timeoutMs?: number;
}

export const DEFAULT_URGENCY = 16;

/**
 * Submits a jobspec signed with the `none` mechanism as `ownerUid`. The header userid is set
 * to the same uid: job-ingest requires signer == requestor, and an owner connection passes
 * the header userid through (this lets a root client with allow-root-owner submit as the owner).
 */
export async function submit(rpc: Rpc, jobspec: Jobspec, ownerUid: number, opts: SubmitOptions = {}): Promise<bigint> {
  const urgency = opts.urgency ?? DEFAULT_URGENCY;
  if (!Number.isInteger(urgency) || urgency < 0 || urgency > 31) throw new RangeError("urgency range is [0:31]");
  const J = signNone(stringifyJson(jobspec), ownerUid);
  const reply = await rpc.call("job-ingest.submit", { J, urgency, flags: 0 }, { userid: ownerUid, timeoutMs: opts.timeoutMs });
  return jobIdFromJson(reply.id);
}
