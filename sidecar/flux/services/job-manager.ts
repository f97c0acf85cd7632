/** job-manager.raise (cancel) and job-manager.kill (flux-core modules/job-manager raise.c, kill.c). */
import { withJobErrors } from "./errors";
import type { Rpc } from "./rpc";

/** Raises a severity-0 "cancel" exception; UnknownJobError / JobInactiveError as the broker reports. */
export async function cancel(rpc: Rpc, id: bigint, reason?: string): Promise<void> {
  const payload: Record<string, unknown> = { id, type: "cancel", severity: 0 };
  if (reason) payload.note = reason;
  await withJobErrors(rpc.call("job-manager.raise", payload));
}

export const SIGTERM = 15;

/** Signals a running job's tasks; EINVAL "job is not running" for a job that has not started. */
export async function kill(rpc: Rpc, id: bigint, signum = SIGTERM): Promise<void> {
  if (!Number.isInteger(signum) || signum < 1 || signum > 64) throw new RangeError(`invalid signal number ${signum}`);
  await withJobErrors(rpc.call("job-manager.kill", { id, signum }));
}
