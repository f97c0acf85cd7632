/**
 * Idempotency-Key (draft-ietf-httpapi-idempotency-key-header) for POST /v1/jobs/submit. A key is
 * remembered, per authenticated user, with a fingerprint of the request and its submission (in
 * flight or finished): a repeat of the same request gets the same job, a different request under
 * the same key is refused. Bounded by a time window and a count (the oldest key goes first).
 */
import { createHash } from "node:crypto";
import { FluxError, FluxUnavailableError } from "../flux";
import { ApiError } from "./errors";

export const MAX_KEY_LENGTH = 128;
/** UUIDs, ULIDs, base64(url) and the like; nothing a header or a log line could be confused by. */
const KEY = new RegExp(`^[A-Za-z0-9._~:+/=-]{1,${MAX_KEY_LENGTH}}$`);

/** The key of an Idempotency-Key header: the draft's sf-string ("abc") or the bare token (abc). */
export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  const key = value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  if (!KEY.test(key)) {
    throw new ApiError(400, {
      detail: `Invalid Idempotency-Key: 1 to ${MAX_KEY_LENGTH} characters of A-Z a-z 0-9 . _ ~ : + / = - (optionally in double quotes), e.g. a UUID`,
    });
  }
  return key;
}

/** JSON with object keys sorted, so equal requests give equal text whatever their field order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const fields = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
    return `{${fields.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** What makes two submits "the same request": the parsed fields (wherever they came from) and the job's user. */
export function submitFingerprint(fields: unknown, user: string | undefined): string {
  return createHash("sha256").update(canonical({ fields, user: user ?? null })).digest("base64");
}

interface Entry {
  fingerprint: string;
  /** When the first request with this key came (ms since the epoch). */
  since: number;
  expiresAt: number;
  outcome: Promise<bigint>;
}

export class IdempotencyKeys {
  /** In insertion order, which is also expiry order (one window for all). */
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly windowMs: number,
    readonly maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * The submission for `key`: the one already made for the same request (replayed), or a new
   * one from `start`. A submission that surely created no job (refused, or never sent) has its
   * key forgotten, to be used again; one whose fate is unknown (the connection was lost after
   * sending) keeps it, so a retry cannot make a second job. 422 when the key was used for a
   * different request.
   */
  claim(user: string | undefined, key: string, fingerprint: string, start: () => Promise<bigint>): { outcome: Promise<bigint>; replayed: boolean; since: number } {
    this.expire();
    const id = `${user ?? ""}\n${key}`;
    const known = this.entries.get(id);
    if (known) {
      if (known.fingerprint !== fingerprint) {
        throw new ApiError(422, {
          detail: `Idempotency-Key ${key} was already used for a different submit request: use a new key for a new job (keys are kept ${Math.round(this.windowMs / 1000)} s)`,
        });
      }
      return { outcome: known.outcome, replayed: true, since: known.since };
    }
    for (const oldest of this.entries.keys()) {
      if (this.entries.size < this.maxKeys) break;
      this.entries.delete(oldest);
    }
    const now = this.now();
    const entry: Entry = { fingerprint, since: now, expiresAt: now + this.windowMs, outcome: start() };
    this.entries.set(id, entry);
    entry.outcome.catch((err: unknown) => {
      if (surelyNotSubmitted(err) && this.entries.get(id) === entry) this.entries.delete(id);
    });
    return { outcome: entry.outcome, replayed: false, since: now };
  }

  private expire(): void {
    const now = this.now();
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt > now) break;
      this.entries.delete(id);
    }
  }
}

/** A submit that failed this way created no job: refused by the server or the broker, or never sent. */
export function surelyNotSubmitted(err: unknown): boolean {
  if (err instanceof FluxUnavailableError) return err.notSent;
  return err instanceof ApiError || err instanceof FluxError;
}
