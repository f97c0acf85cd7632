/** Turning job-related broker errors into the distinct error classes callers branch on. */
import { Errno, FluxError, JobInactiveError, UnknownJobError } from "../errors";

/**
 * job-manager answers "unknown job id" / "job is inactive" (ENOENT for raise, EINVAL for
 * kill); job-list and job-info answer a bare ENOENT for ids they do not know.
 */
export function classifyJobError(err: unknown, opts: { enoentMeansUnknown?: boolean } = {}): unknown {
  if (!(err instanceof FluxError) || err instanceof UnknownJobError || err instanceof JobInactiveError) return err;
  if (err.message === "unknown job id" || (opts.enoentMeansUnknown && err.errno === Errno.ENOENT)) {
    return new UnknownJobError(err.errno, err.message, err.topic);
  }
  if (err.message === "job is inactive") return new JobInactiveError(err.errno, err.message, err.topic);
  return err;
}

/** Runs a job RPC, rethrowing classified errors. */
export async function withJobErrors<T>(work: Promise<T>, opts: { enoentMeansUnknown?: boolean } = {}): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw classifyJobError(err, opts);
  }
}
