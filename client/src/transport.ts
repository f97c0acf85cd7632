/**
 * One HTTP exchange with bounded retries: network errors, 429 and 5xx are retried with
 * exponential backoff (honouring Retry-After), each attempt under its own timeout. GETs and POSTs
 * with an Idempotency-Key are retried on all of them; other POSTs only when they surely did not run.
 * Authentication is the caller's business (client.ts); this layer only moves bytes.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, type Dispatcher } from "undici";
import { ConnectionError } from "./errors";
import { stringifyJson } from "./json";
import type { RetryNotice } from "./types";

export type QueryValue = string | number | bigint | boolean | undefined;

/** A request body built afresh for each attempt (a stream cannot be sent twice). */
export interface RequestBody {
  data: string | Uint8Array | ReadableStream<Uint8Array>;
  contentType: string;
  /** Sent as content-length (lets the server refuse an oversize upload before reading it). */
  length?: number;
}

export interface HttpRequest {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  query?: Record<string, QueryValue>;
  /** Sent as a JSON body. */
  json?: unknown;
  /** Any other body (uploads); called once per attempt. */
  body?: () => RequestBody;
  authorization?: string;
  accept?: string;
  headers?: Record<string, string>;
  /** Overrides the default timeout; 0 means none. For streams it covers the headers only. */
  timeoutMs?: number;
  /** Leave the body unread (server-sent events). */
  stream?: boolean;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  /** The body text; undefined for streams. */
  text?: string;
  body?: ReadableStream<Uint8Array> | null;
}

export interface TransportOptions {
  baseUrl: string;
  timeoutMs: number;
  retries: number;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Retry-After values above this are not waited for: the 429/503 is returned as is. */
  maxRetryAfterMs?: number;
  /** Told before each wait for another attempt. */
  onRetry?: (retry: RetryNotice) => void;
  /** PEM CA certificate(s) to trust for https, instead of the system's (a stack's `caCertificate`). */
  ca?: string;
}

/**
 * Node's fetch takes a custom CA only through an undici dispatcher; undici 6 is the major Node 20
 * bundles, so its Agent works with the global fetch.
 */
export function caDispatcher(ca: string): Dispatcher {
  return new Agent({ connect: { ca } });
}

// Failures where the request never reached a server, so even a POST is safe to resend.
const NOT_SENT = new Set(["ECONNREFUSED", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT", "EHOSTUNREACH", "ENETUNREACH"]);
// Transient failures worth another try for a GET.
const TRANSIENT = new Set([
  ...NOT_SENT,
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_HEADERS_TIMEOUT",
]);
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);
const NOT_SENT_STATUS = new Set([429, 503]);

function hasIdempotencyKey(headers: Record<string, string> | undefined): boolean {
  return Object.keys(headers ?? {}).some((name) => name.toLowerCase() === "idempotency-key");
}

/** The error code and the innermost message of a fetch failure (undici nests the cause). */
function describeFailure(err: unknown): { code?: string; message: string } {
  let cause: unknown = err;
  let message = String((err as Error)?.message ?? err);
  for (let depth = 0; cause && depth < 4; depth++) {
    const c = cause as { code?: unknown; errors?: unknown[]; cause?: unknown; message?: string };
    if (c.message) message = c.message;
    if (typeof c.code === "string") return { code: c.code, message };
    cause = Array.isArray(c.errors) && c.errors.length > 0 ? c.errors[0] : c.cause;
  }
  return { message };
}

const DESCRIPTIONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "name lookup failed",
  TIMEOUT: "timed out",
  UND_ERR_SOCKET: "connection closed by the server",
};

/** Seconds or an HTTP date, as RFC 9110 allows. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export class Transport {
  readonly origin: string;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly dispatcher?: Dispatcher;

  constructor(private readonly options: TransportOptions) {
    this.dispatcher = options.ca ? caDispatcher(options.ca) : undefined;
    this.origin = new URL(options.baseUrl).origin;
    this.minDelayMs = options.minDelayMs ?? 200;
    this.maxDelayMs = options.maxDelayMs ?? 5000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
  }

  url(path: string, query?: Record<string, QueryValue>): URL {
    const url = new URL(path, this.options.baseUrl);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }

  private backoff(attempt: number): number {
    const ceiling = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** attempt);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  async send(request: HttpRequest): Promise<HttpResponse> {
    // A POST carrying an Idempotency-Key is as safe to resend as a GET: the server answers a
    // repeat with the outcome of the first (only send the key to servers that honour it). A PUT
    // replaces the whole file, so a repeat leaves what one would.
    const idempotent = request.method === "GET" || request.method === "PUT" || hasIdempotencyKey(request.headers);
    for (let attempt = 0; ; attempt++) {
      const canRetry = attempt < this.options.retries;
      let response: HttpResponse;
      try {
        response = await this.attempt(request);
      } catch (err) {
        if (request.signal?.aborted) throw err;
        const { code, message } = describeFailure(err);
        const retryable = code !== undefined && (idempotent ? TRANSIENT : NOT_SENT).has(code);
        const what = (code && DESCRIPTIONS[code]) ?? message;
        const failure = `cannot reach ${this.origin}: ${what}${code && !what.includes(code) ? ` (${code})` : ""}`;
        if (!canRetry || !retryable) {
          throw new ConnectionError(failure, code === undefined || !NOT_SENT.has(code));
        }
        const delayMs = this.backoff(attempt);
        this.options.onRetry?.({ attempt: attempt + 1, retries: this.options.retries, delayMs, reason: failure, unreachable: true });
        await sleep(delayMs, undefined, { signal: request.signal });
        continue;
      }
      const retryable = RETRYABLE_STATUS.has(response.status) && (idempotent || NOT_SENT_STATUS.has(response.status));
      if (!canRetry || !retryable) return response;
      const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
      if (retryAfter !== undefined && retryAfter > this.maxRetryAfterMs) return response;
      await response.body?.cancel().catch(() => undefined);
      const delayMs = retryAfter ?? this.backoff(attempt);
      this.options.onRetry?.({ attempt: attempt + 1, retries: this.options.retries, delayMs, reason: `${this.origin} answered HTTP ${response.status}`, unreachable: false });
      await sleep(delayMs, undefined, { signal: request.signal });
    }
  }

  private async attempt(request: HttpRequest): Promise<HttpResponse> {
    const timeoutMs = request.timeoutMs ?? this.options.timeoutMs;
    const timeout = new AbortController();
    const timer = timeoutMs > 0 ? setTimeout(() => timeout.abort(), timeoutMs) : undefined;
    const signal = request.signal ? AbortSignal.any([request.signal, timeout.signal]) : timeout.signal;
    const headers: Record<string, string> = { ...request.headers, accept: request.accept ?? "application/json" };
    if (request.authorization) headers.authorization = request.authorization;
    let body: RequestBody["data"] | undefined;
    if (request.json !== undefined) {
      headers["content-type"] = "application/json";
      body = stringifyJson(request.json);
    } else if (request.body) {
      const built = request.body();
      headers["content-type"] = built.contentType;
      if (built.length !== undefined) headers["content-length"] = String(built.length);
      body = built.data;
    }
    try {
      // fetch sends a stream body only when told it may start before the response (half duplex)
      const duplex = body instanceof ReadableStream ? "half" : undefined;
      const init = { method: request.method, headers, body, signal, dispatcher: this.dispatcher, duplex };
      // The global fetch's typings name the dispatcher type of undici-types, structurally the same.
      const res = await fetch(this.url(request.path, request.query), init as RequestInit);
      if (request.stream && res.ok) return { status: res.status, headers: res.headers, body: res.body };
      return { status: res.status, headers: res.headers, text: await res.text() };
    } catch (err) {
      if (timeout.signal.aborted && !request.signal?.aborted) throw Object.assign(new Error("timed out"), { code: "TIMEOUT" });
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}
