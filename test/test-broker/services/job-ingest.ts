/**
 * job-ingest.submit with the checks of flux-core's job-ingest (job.c job_create_from_request,
 * submit_cb) in their order and with their messages, then the V1 validator.
 */
import { unwrapNone } from "../../../sidecar/flux/codec";
import { parseJson, stringifyJson } from "../../../sidecar/flux/json";
import { JobspecInvalid, validateJobspecV1 } from "../model/validate-jobspec";
import { Errno, RpcError, type WireServer } from "../server";
import type { ServiceContext } from "./context";

const FLAG_DEBUG = 2;
const FLAG_WAITABLE = 4;
const FLAG_NOVALIDATE = 8;
/** The validator reports failures with errnum 1 (observed on 0.88). */
const VALIDATOR_ERRNUM = 1;

export function registerJobIngest(server: WireServer, ctx: ServiceContext): void {
  server.register("job-ingest.submit", (req) => {
    const p = req.json();
    const { J, urgency, flags } = p;
    if (typeof J !== "string" || typeof urgency !== "number" || !Number.isInteger(urgency) || typeof flags !== "number" || !Number.isInteger(flags)) {
      throw new RpcError(Errno.EPROTO, "error decoding job request: Protocol error");
    }
    if (flags & ~(FLAG_DEBUG | FLAG_WAITABLE | FLAG_NOVALIDATE)) throw new RpcError(Errno.EPROTO, "invalid job flags");
    if (!req.isOwner && flags & FLAG_NOVALIDATE) throw new RpcError(Errno.EPERM, "only the instance owner can submit with FLUX_JOB_NOVALIDATE");
    if (urgency < 0 || urgency > 31) throw new RpcError(Errno.EINVAL, "urgency range is [0:31]");
    if (!req.isOwner && urgency > 16) throw new RpcError(Errno.EINVAL, "only the instance owner can submit with urgency >16");
    if (!req.isOwner && flags & FLAG_WAITABLE) throw new RpcError(Errno.EINVAL, "only the instance owner can submit with FLUX_JOB_WAITABLE");
    let envelope: { uid: number; jobspecJson: string };
    try {
      envelope = unwrapNone(J);
    } catch {
      throw new RpcError(Errno.EINVAL, "could not unwrap jobspec: Invalid argument");
    }
    if (envelope.uid !== req.userid) throw new RpcError(Errno.EPERM, `signer=${envelope.uid} != requestor=${req.userid}`);
    if (!req.isOwner) throw new RpcError(Errno.EPERM, "only instance owner can use sign-type=none");
    let jobspec: unknown;
    try {
      jobspec = parseJson(envelope.jobspecJson);
    } catch (err) {
      throw new RpcError(Errno.EINVAL, `jobspec: invalid JSON: ${(err as Error).message}`);
    }
    // jansson decodes without JSON_ALLOW_NUL, so no string may hold a NUL
    const withNul = stringWithNul(jobspec);
    if (withNul !== undefined) {
      throw new RpcError(Errno.EINVAL, `jobspec: invalid JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near '${JSON.stringify(withNul)}'`);
    }
    if (ctx.ownerUid !== 0 && req.userid === 0) throw new RpcError(Errno.EINVAL, "submission of jobs as user root not supported");
    if (!(flags & FLAG_NOVALIDATE)) {
      try {
        validateJobspecV1(jobspec);
      } catch (err) {
        if (err instanceof JobspecInvalid) throw new RpcError(VALIDATOR_ERRNUM, err.message);
        throw err;
      }
    }
    const job = ctx.instance.submit({
      userid: req.userid,
      urgency,
      flags,
      jobspec: jobspec as Record<string, unknown>,
      jobspecText: kvsJobspec(jobspec as Record<string, unknown>),
      J,
    });
    req.respond({ id: job.id });
  });
}

/** The first string (key or value) holding a NUL, if any. */
function stringWithNul(value: unknown): string | undefined {
  if (typeof value === "string") return value.includes("\0") ? value : undefined;
  if (value === null || typeof value !== "object") return undefined;
  for (const [k, v] of Object.entries(value)) {
    const found = k.includes("\0") ? k : stringWithNul(v);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * The KVS "jobspec" job-ingest writes (0.55 to 0.88, job-ingest.c): compact JSON, keys in the
 * submitted order, without attributes.system.environment ("to reduce its bulk"; it stays in J).
 * Jansson would write a whole float as 1.0; this writes 1.
 */
function kvsJobspec(jobspec: Record<string, unknown>): string {
  const system = (jobspec.attributes as { system?: Record<string, unknown> } | undefined)?.system;
  if (!system || !("environment" in system)) return stringifyJson(jobspec);
  const { environment: _dropped, ...rest } = system;
  return stringifyJson({ ...jobspec, attributes: { ...(jobspec.attributes as object), system: rest } });
}
