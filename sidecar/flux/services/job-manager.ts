/** job-manager.raise (cancel) and job-manager.kill (flux-core modules/job-manager raise.c, kill.c). */
import { lookupKey, parseEventlog, tasksStarted } from "./job-info";
import { withJobErrors } from "./errors";
import type { Rpc } from "./rpc";

/** Raises a severity-0 "cancel" exception; UnknownJobError / JobInactiveError as the broker reports. */
export async function cancel(rpc: Rpc, id: bigint, reason?: string): Promise<void> {
  const payload: Record<string, unknown> = { id, type: "cancel", severity: 0 };
  if (reason) payload.note = reason;
  await withJobErrors(rpc.call("job-manager.raise", payload));
}

export const SIGTERM = 15;

/** How long kill waits for a started job's shells to have their tasks running. */
export const KILL_READY_TIMEOUT_MS = 10_000;

/**
 * Signals a running job's tasks; EINVAL "job is not running" for a job that has not started.
 *
 * The job manager publishes the signal as an event that each job shell forwards to the tasks it
 * has at that moment: a signal published before the shells run their tasks is lost. On flux-core
 * 0.55 the main eventlog's "start" comes before the shells even log "shell.init" (job-exec posts
 * it once the shell processes are spawned), so a kill sent right after "start" was often lost and
 * the job ran on. So for a job that has started, kill first waits (at most KILL_READY_TIMEOUT_MS,
 * or until `signal` aborts) for "shell.start" in its exec eventlog, which the shells log once
 * every task runs. A job that has not started, or has finished, is signalled at once and the
 * broker's answer ("job is not running", "job is inactive", "unknown job id") is what the caller gets.
 */
export async function kill(rpc: Rpc, id: bigint, signum = SIGTERM, opts: { signal?: AbortSignal; readyTimeoutMs?: number } = {}): Promise<void> {
  if (!Number.isInteger(signum) || signum < 1 || signum > 64) throw new RangeError(`invalid signal number ${signum}`);
  if (await startedAndRunning(rpc, id)) {
    const bound = AbortSignal.timeout(opts.readyTimeoutMs ?? KILL_READY_TIMEOUT_MS);
    const signal = opts.signal ? AbortSignal.any([opts.signal, bound]) : bound;
    try {
      await tasksStarted(rpc, id, signal);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      // the bound passed or the watch failed: signal anyway and let the broker answer
    }
  }
  await withJobErrors(rpc.call("job-manager.kill", { id, signum }));
}

/** True when the main eventlog has "start" and not yet "finish"; false otherwise, or on any error. */
async function startedAndRunning(rpc: Rpc, id: bigint): Promise<boolean> {
  let names: Set<string>;
  try {
    names = new Set(parseEventlog(await lookupKey(rpc, id, "eventlog")).map((entry) => entry.name));
  } catch {
    return false; // e.g. an unknown id: the kill itself gets the broker's answer
  }
  return names.has("start") && !names.has("finish");
}
