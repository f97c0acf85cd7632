import type { Instance, Job } from "../model/jobs";
import { Errno, RpcError } from "../server";

export interface ServiceContext {
  instance: Instance;
  ownerUid: number;
  /** e.g. 88 for 0.88.x, 55 for 0.55.x */
  versionCode: number;
  attrs: Map<string, { value: string; flags: number }>;
}

/** JSON type names as jansson reports them in "Expected integer, got string". */
export function jsonTypeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "real";
  if (typeof v === "bigint") return "integer";
  if (typeof v === "boolean") return v ? "true" : "false";
  return typeof v === "string" ? "string" : "object";
}

/** A job id field: a JSON integer (never a string), else EPROTO with jansson's wording. */
export function jobIdField(payload: Record<string, unknown>, key = "id"): bigint {
  const v = payload[key];
  if (typeof v === "bigint" && v >= 0n) return v;
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return BigInt(v);
  if (v === undefined) throw new RpcError(Errno.EPROTO, `invalid payload: Object item not found: ${key}`);
  throw new RpcError(Errno.EPROTO, `invalid payload: Expected integer, got ${jsonTypeName(v)}`);
}

export function intField(payload: Record<string, unknown>, key: string, opts: { optional?: boolean } = {}): number | undefined {
  const v = payload[key];
  if (v === undefined && opts.optional) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw new RpcError(Errno.EPROTO);
  return v;
}

export function findJob(ctx: ServiceContext, id: bigint, errnum: number, text?: string): Job {
  const job = ctx.instance.jobs.get(id);
  if (!job) throw new RpcError(errnum, text);
  return job;
}
