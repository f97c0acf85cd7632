/**
 * job-manager.raise and job-manager.kill with the job manager's checks and messages. Note the
 * errnos differ: raise answers ENOENT for an unknown or inactive job, kill answers EINVAL
 * (both observed on 0.88).
 */
import { JobState } from "../model/jobs";
import { Errno, RpcError, type WireServer } from "../server";
import { findJob, intField, jobIdField, type ServiceContext } from "./context";

export function registerJobManager(server: WireServer, ctx: ServiceContext): void {
  server.register("job-manager.raise", (req) => {
    const p = req.json();
    const id = jobIdField(p);
    const severity = intField(p, "severity")!;
    const type = p.type;
    const note = p.note === undefined ? "" : p.note;
    if (typeof type !== "string" || typeof note !== "string") throw new RpcError(Errno.EPROTO);
    if (severity < 0 || severity > 7) throw new RpcError(Errno.EPROTO, "invalid exception severity");
    if (type === "" || /[\s=]/.test(type)) throw new RpcError(Errno.EPROTO, "invalid exception type");
    const job = findJob(ctx, id, Errno.ENOENT, "unknown job id");
    if (!req.isOwner && job.userid !== req.userid) throw new RpcError(Errno.EPERM, "guests can only raise exceptions on their own jobs");
    if (job.state === JobState.INACTIVE) throw new RpcError(Errno.ENOENT, "job is inactive");
    ctx.instance.raise(job, { type, severity, note, userid: req.userid });
    req.respond();
  });

  server.register("job-manager.kill", (req) => {
    const p = req.json();
    const id = jobIdField(p);
    const signum = intField(p, "signum")!;
    if (signum <= 0 || signum >= 65) throw new RpcError(Errno.EINVAL, "Invalid signal number");
    const job = findJob(ctx, id, Errno.EINVAL, "unknown job id");
    if (!req.isOwner && job.userid !== req.userid) throw new RpcError(Errno.EPERM, "guests can only kill their own jobs");
    if (job.state === JobState.INACTIVE) throw new RpcError(Errno.EINVAL, "job is inactive");
    if (!(job.state & (JobState.RUN | JobState.CLEANUP))) throw new RpcError(Errno.EINVAL, "job is not running");
    job.executor?.signal(signum);
    req.respond();
  });
}
