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
    if (!Array.isArray(keys)) throw new RpcError(Errno.EPROTO);
    // 0.55 ignores the flags and always answers the KVS text; 0.70 and later check them and
    // know JSON_DECODE (1) and CURRENT (2) (lookup.c)
    const flagged = ctx.versionCode >= 70;
    if (flagged && flags & ~3) throw new RpcError(Errno.EPROTO, "lookup request rejected with invalid flag");
    // an unknown id: a bare ENOENT before 0.67, "invalid job id" from 0.67 (lookup.c)
    const job = findJob(ctx, id, Errno.ENOENT, ctx.versionCode >= 67 ? "invalid job id" : undefined);
    const decode = flagged && (flags & 1) !== 0;
    const current = flagged && (flags & 2) !== 0;
    const reply: Record<string, unknown> = { id };
    for (const key of keys) {
      let value = lookupKey(job, String(key));
      if (value === undefined) throw new RpcError(Errno.ENOENT, `${String(key)}: key not found`);
      const structured = key === "jobspec" || key === "R";
      // CURRENT applies the job's update events (this double has none) and writes the value
      // again with jansson's default json_dumps
      if (current && structured) value = janssonDumps(parseJson(value));
      reply[key] = decode && structured ? parseJson(value) : value;
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

const JANSSON_ESCAPES: Record<string, string> = { '"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** jansson's json_dumps(value, 0): ", " and ": " separators, no newlines, other controls as \uXXXX (upper case). */
function janssonDumps(value: unknown): string {
  if (typeof value === "string") {
    return `"${value.replace(/["\\\u0000-\u001f]/g, (ch) => JANSSON_ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`)}"`;
  }
  if (Array.isArray(value)) return `[${value.map(janssonDumps).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${janssonDumps(k)}: ${janssonDumps(v)}`).join(", ")}}`;
  }
  return stringifyJson(value);
}
