/**
 * job-info.eventlog-watch (streaming only; paths eventlog, guest.exec.eventlog, guest.output;
 * WAITCREATE; INITIAL_SENTINEL from 0.77) with its -cancel method, and job-info.lookup.
 */
import type { Eventlog } from "../model/eventlog";
import { type Job, JobState } from "../model/jobs";
import { parseJson, stringifyJson } from "../../../sidecar/flux/json";
import { Errno, RpcError, type ServiceRequest, type WireServer } from "../server";
import { findJob, intField, jobIdField, type ServiceContext } from "./context";

const WAITCREATE = 1;
const INITIAL_SENTINEL = 2;
const GUEST_PATHS = new Set(["guest.output", "guest.exec.eventlog"]);

function guestLog(job: Job, path: string): Eventlog | undefined {
  return path === "guest.output" ? job.output : job.execEventlog;
}

/** Sends each line as {"event": line}; ends with ENODATA when the log is complete. */
function follow(req: ServiceRequest, log: Eventlog, sentinel: boolean): () => void {
  return log.watch(
    { onEntry: (line) => req.respond({ event: line }), onEnd: () => req.end() },
    sentinel ? () => req.respond() : undefined,
  );
}

export function registerJobInfo(server: WireServer, ctx: ServiceContext): void {
  const validFlags = WAITCREATE | (ctx.versionCode >= 77 ? INITIAL_SENTINEL : 0);

  server.register("job-info.eventlog-watch", (req) => {
    if (!req.streaming) throw new RpcError(Errno.EPROTO, "eventlog-watch request rejected without streaming RPC flag");
    const p = req.json();
    const id = jobIdField(p);
    const path = p.path;
    const flags = intField(p, "flags")!;
    if (typeof path !== "string") throw new RpcError(Errno.EPROTO);
    if (flags & ~validFlags) throw new RpcError(Errno.EPROTO, "eventlog-watch request rejected with invalid flag");
    const job = findJob(ctx, id, Errno.ENOENT);
    const sentinel = (flags & INITIAL_SENTINEL) !== 0;
    let unsubscribe: () => void = () => {};
    req.openStream(() => unsubscribe());
    if (path === "eventlog") {
      unsubscribe = follow(req, job.eventlog, sentinel);
      return;
    }
    if (!GUEST_PATHS.has(path)) throw new RpcError(Errno.ENOENT);
    // Guest logs are watched in two steps (main eventlog until `start`, then the guest key), and
    // the sentinel comes after the first step: before any guest entry (observed on 0.88).
    if (sentinel) req.respond();
    const existing = guestLog(job, path);
    if (existing) {
      unsubscribe = follow(req, existing, false);
      return;
    }
    // Not started yet: wait for `start`; a job that ends without starting has no output (ENODATA).
    // guest.output appears a little after `start` (the shells create it): wait for it too.
    const followWhenCreated = () => {
      const log = guestLog(job, path);
      if (log) return void (unsubscribe = follow(req, log, false));
      const stop = ctx.instance.onChange(() => {
        const created = guestLog(job, path);
        if (created) {
          stop();
          unsubscribe = follow(req, created, false);
        } else if (job.state === JobState.INACTIVE) {
          stop();
          req.end();
        }
      });
      unsubscribe = stop;
    };
    unsubscribe = job.eventlog.watch({
      onEntry: (line) => {
        if (!line.includes('"name":"start"')) return;
        unsubscribe();
        followWhenCreated();
      },
      onEnd: () => req.end(),
    });
  });

  server.register("job-info.lookup", (req) => {
    const p = req.json();
    const id = jobIdField(p);
    const keys = p.keys;
    const flags = intField(p, "flags")!;
    if (!Array.isArray(keys) || flags & ~3) throw new RpcError(Errno.EPROTO);
    // an unknown id: a bare ENOENT before 0.67, "invalid job id" from 0.67 (lookup.c)
    const job = findJob(ctx, id, Errno.ENOENT, ctx.versionCode >= 67 ? "invalid job id" : undefined);
    const decode = (flags & 1) !== 0;
    const reply: Record<string, unknown> = { id };
    for (const key of keys) {
      const value = lookupKey(job, String(key));
      if (value === undefined) throw new RpcError(Errno.ENOENT, `${String(key)}: key not found`);
      reply[key] = decode && (key === "jobspec" || key === "R") ? parseJson(value) : value;
    }
    req.respond(reply);
  });
}

function lookupKey(job: Job, key: string): string | undefined {
  switch (key) {
    case "jobspec":
      return job.jobspecText;
    case "J":
      return job.J;
    case "R":
      return job.R ? stringifyJson(job.R) : undefined;
    case "eventlog":
      return job.eventlog.text();
    case "guest.output":
      return job.output?.text();
    case "guest.exec.eventlog":
      return job.execEventlog?.text();
    default:
      return undefined;
  }
}
