/**
 * The HTTP layer, on node:http directly: a router (find-my-way), a request wrapper that reads the
 * body at most once and within the size limit, and replies written straight to the response.
 * It deliberately avoids fetch-style Request/Response objects: loading their implementation
 * (undici) alone costs a Node process about 12 MB of RSS, a fifth of the sidecar's budget.
 */
import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { parseCookie } from "cookie";
import FindMyWay from "find-my-way";
import { ApiError } from "./errors";

export type Headers = Record<string, string | string[]>;

/** A streamed body: chunks from `produce` until it ends, the client leaves or the server stops. */
export interface StreamBody {
  produce(signal: AbortSignal): AsyncIterable<string | Uint8Array>;
  /** Written while idle (an SSE comment), so proxies do not close a quiet connection. */
  heartbeat?: string;
  /**
   * Written when the source fails after the response started (SSE: an error event). Without it
   * the connection is cut, so a client of a plain chunked stream sees that it was cut short.
   */
  onError?: (err: unknown) => string;
  /** Called instead of `produce` when the stream is refused before it starts (frees what the handler opened). */
  discard?: () => void;
}

export interface Reply {
  status: number;
  headers: Headers;
  body?: string | Uint8Array | StreamBody;
}

export type Handler = (req: ApiRequest) => Reply | Promise<Reply>;
export type FormValue = string | File | Array<string | File>;

const HEARTBEAT_MS = 15_000;

/** A request target as the server acts on it: parsed once, so routing and auth see the same path. */
export interface RequestTarget {
  /** Percent-decoded, for logs and for code that needs the text ("/" inside a segment stays inside it). */
  path: string;
  /**
   * The path in one canonical encoding: each segment decoded once and encoded again, so the router
   * has nothing left to interpret (no raw ";", no double escapes). A segment whose escapes are not
   * UTF-8 is kept as literal text, so a bad job id reaches the id parser and gets its 400.
   */
  routingPath: string;
  query: Record<string, string>;
}

export class TargetError extends Error {
  override name = "TargetError";
}

// Absolute-form targets (proxies may send them) carry an http(s) origin first.
const ORIGIN = /^https?:\/\/[^/?#]*/i;
// RFC 9112: a target is visible ASCII; "#" (a fragment) is never sent by a client.
const BAD_TARGET_CHAR = /[^\x21-\x7e]|#/;
const BAD_ESCAPE = /%(?![0-9a-f]{2})/i;

/** The one parsing of a request target; throws TargetError for anything that is not a plain path and query. */
export function parseTarget(url: string): RequestTarget {
  const target = url.replace(ORIGIN, "") || "/";
  if (BAD_TARGET_CHAR.test(target)) throw new TargetError("the request target has a fragment or a character outside visible ASCII");
  if (!target.startsWith("/")) throw new TargetError("the request target is not an absolute path");
  const queryAt = target.indexOf("?");
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  const segments = rawPath.slice(1).split("/").map((segment) => {
    if (BAD_ESCAPE.test(segment)) throw new TargetError("the request target has a malformed percent-escape");
    try {
      return decodeURIComponent(segment);
    } catch {
      return segment;
    }
  });
  const query: Record<string, string> = Object.create(null);
  if (queryAt !== -1) {
    for (const [key, value] of new URLSearchParams(target.slice(queryAt + 1))) {
      if (key && !(key in query)) query[key] = value;
    }
  }
  return {
    path: `/${segments.join("/")}`,
    routingPath: `/${segments.map(encodeURIComponent).join("/")}`,
    query,
  };
}

/** One request: method, the parsed target, route params, and the body read once. */
export class ApiRequest {
  readonly method: string;
  /** Set when the target does not parse: the request is answered 400 before anything else. */
  readonly targetError?: string;
  readonly path: string;
  readonly routingPath: string;
  /** First value wins for repeated keys. */
  readonly query: Record<string, string>;
  params: Record<string, string> = {};
  /** The matched route pattern, for metrics. */
  route = "unmatched";
  user: string | undefined;
  via: "bearer" | "basic" | "cookie" | undefined;
  /** The connection was taken past the connection cap: only reserve routes (health) answer. */
  reserveOnly = false;
  private body?: Promise<Buffer>;

  constructor(
    readonly raw: IncomingMessage,
    /** The limit of a body read into memory; a route may set its own before reading. */
    public maxBodyBytes: number,
  ) {
    this.method = raw.method ?? "GET";
    let target: RequestTarget;
    try {
      target = parseTarget(raw.url ?? "/");
    } catch (err) {
      if (!(err instanceof TargetError)) throw err;
      this.targetError = err.message;
      target = { path: "/", routingPath: "/", query: Object.create(null) };
    }
    this.path = target.path;
    this.routingPath = target.routingPath;
    this.query = target.query;
  }

  header(name: string): string | undefined {
    const value = this.raw.headers[name];
    return Array.isArray(value) ? value.join(", ") : value;
  }

  cookie(name: string): string | undefined {
    const header = this.header("cookie");
    return header ? parseCookie(header)[name] : undefined;
  }

  get remoteAddress(): string {
    return this.raw.socket.remoteAddress ?? "unknown";
  }

  /** 413 for a declared Content-Length past the limit, whether or not the route reads the body. */
  assertDeclaredLength(limit = this.maxBodyBytes): void {
    if (this.declaredLength() > limit) throw bodyTooLarge(limit);
  }

  /** Content-Length as a number (0 when absent: a chunked body is checked as it arrives). */
  declaredLength(): number {
    const length = Number(this.raw.headers["content-length"]);
    return Number.isFinite(length) ? length : 0;
  }

  /** The body already read into memory (auth may read a form for its CSRF field), if any. */
  get bufferedBody(): Promise<Buffer> | undefined {
    return this.body;
  }

  /** The body's bytes; 413 past the limit (by Content-Length up front, or as it arrives). */
  bytes(): Promise<Buffer> {
    this.assertDeclaredLength();
    this.body ??= readBody(this.raw, this.maxBodyBytes);
    return this.body;
  }

  async text(): Promise<string> {
    return (await this.bytes()).toString("utf8");
  }

  /**
   * Fields of a urlencoded or multipart body (the last of repeated keys; `key[]` keys and the
   * keys in `repeatable` collect all); {} otherwise. More than `maxFields` fields is a 413, found
   * before the parser runs: the platform's multipart parser works on the whole body at once.
   */
  async form(repeatable: readonly string[] = [], maxFields = MAX_FORM_FIELDS): Promise<Record<string, FormValue>> {
    const type = this.header("content-type") ?? "";
    const media = type.split(";")[0].trim().toLowerCase();
    const form: Record<string, FormValue> = Object.create(null);
    let fields = 0;
    const add = (key: string, value: string | File) => {
      if (++fields > maxFields) throw tooManyFields(maxFields);
      const list = form[key];
      if (!key.endsWith("[]") && !repeatable.includes(key)) form[key] = value;
      else if (Array.isArray(list)) list.push(value);
      else form[key] = [value];
    };
    if (media === "application/x-www-form-urlencoded") {
      for (const [key, value] of new URLSearchParams((await this.bytes()).toString("utf8"))) add(key, value);
    } else if (media === "multipart/form-data") {
      const body = await this.bytes();
      const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(type);
      // Each part starts with a delimiter line, and one more ends the body.
      if (boundary && countOccurrences(body, `--${boundary[1] ?? boundary[2]}`) > maxFields + 1) throw tooManyFields(maxFields);
      // Multipart bodies are rare here (curl -F, file uploads): the platform's parser is loaded only for them.
      const data = await new Response(new Uint8Array(body), { headers: { "content-type": type } }).formData();
      data.forEach((value, key) => add(key, value));
    }
    return form;
  }
}

/** An error answer leaves a request body of at most this much to be read past for keep-alive. */
const UNREAD_BODY_DRAIN_BYTES = 64 * 1024;

/** Fields a form may carry unless its route says otherwise (the submit form has about 20, plus its files). */
const MAX_FORM_FIELDS = 256;

function tooManyFields(limit: number): ApiError {
  return new ApiError(413, { detail: `Too many form fields (limit ${limit})` });
}

function countOccurrences(haystack: Buffer, needle: string): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) count++;
  return count;
}

export function bodyTooLarge(limit: number): ApiError {
  // The rest of the body is not read: close the connection rather than drain it.
  return new ApiError(413, { detail: `Request body too large (limit ${limit} bytes)` }, { connection: "close" });
}

async function readBody(raw: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of raw as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw bodyTooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Who may call a route: anyone, the user (when auth is on), or the owner (credentials always,
 * as for service/stop). It is decided on the route that matched, never on a reading of the path.
 */
export type Access = "public" | "user" | "owner";
/** Authenticates a request for a non-public route; throws an ApiError (401, 403, 429) to refuse it. */
export type Guard = (req: ApiRequest, access: Exclude<Access, "public">) => Promise<void>;

export interface RouteOptions {
  /** Default "user": a route is protected unless it says otherwise. */
  access?: Access;
  /** Answered on connections taken past the connection cap (health checks). */
  reserve?: boolean;
  /**
   * A route that streams its body itself (uploads): the largest Content-Length it takes. Its
   * handler enforces the same bound on the bytes it reads; a body read into memory keeps the
   * server's limit.
   */
  streamedBodyBytes?: number;
  /** A larger limit for the body read into memory (submit with files); default the server's. */
  maxBodyBytes?: number;
}

type Route = { handler: Handler; pattern: string; access: Access; reserve: boolean; streamedBodyBytes?: number; maxBodyBytes?: number };
type Method = "GET" | "POST" | "PUT" | "DELETE";

/** Routes by method and path, then applies the matched route's access rule before its handler. */
export class Router {
  private readonly routes = FindMyWay({ maxParamLength: 8192 });

  constructor(private readonly guard: Guard) {}

  get(pattern: string, handler: Handler, options?: RouteOptions): void {
    this.on("GET", pattern, handler, options);
  }

  post(pattern: string, handler: Handler, options?: RouteOptions): void {
    this.on("POST", pattern, handler, options);
  }

  put(pattern: string, handler: Handler, options?: RouteOptions): void {
    this.on("PUT", pattern, handler, options);
  }

  delete(pattern: string, handler: Handler, options?: RouteOptions): void {
    this.on("DELETE", pattern, handler, options);
  }

  private on(method: Method, pattern: string, handler: Handler, options: RouteOptions = {}): void {
    const route: Route = {
      handler,
      pattern,
      access: options.access ?? "user",
      reserve: options.reserve ?? false,
      streamedBodyBytes: options.streamedBodyBytes,
      maxBodyBytes: options.maxBodyBytes,
    };
    // The store carries our handler; find-my-way's own handler slot is not used for dispatch.
    this.routes.on(method, pattern, () => undefined, route);
  }

  async dispatch(req: ApiRequest, notFound: () => Reply): Promise<Reply> {
    if (req.targetError !== undefined) throw new ApiError(400, { detail: `Invalid request target: ${req.targetError}` });
    // HEAD is answered by the GET route (load-balancer health checks use it).
    const method = req.method === "HEAD" ? "GET" : req.method;
    const found = this.routes.find(method as Method, req.routingPath);
    const route = found?.store as Route | undefined;
    if (route?.maxBodyBytes !== undefined) req.maxBodyBytes = route.maxBodyBytes;
    req.assertDeclaredLength(route?.streamedBodyBytes);
    if (!found || !route) return notFound();
    req.route = route.pattern;
    if (req.reserveOnly && !route.reserve) throw atConnectionLimit();
    req.params = found.params as Record<string, string>;
    if (route.access !== "public") await this.guard(req, route.access);
    return route.handler(req);
  }
}

export function atConnectionLimit(): ApiError {
  return new ApiError(503, { detail: "The server is at its connection limit; try again shortly." }, { connection: "close", "retry-after": "1" });
}

export interface ListenerOptions {
  maxBodyBytes: number;
  /** Streams open at once; past it a stream route answers 429 instead of starting. */
  maxStreams: number;
  /** Aborted when the server shuts down: open streams end. */
  shutdownSignal: AbortSignal;
  /** True for a connection taken into the reserve past the connection cap: only reserve routes answer. */
  reserveOnly?(socket: Socket): boolean;
  notFound(): Reply;
  /** The reply for anything a handler throws. */
  errorReply(err: unknown, req: ApiRequest): Reply;
  /** Called once per request when its status is known (streams: when they start). */
  replied(req: ApiRequest, status: number, seconds: number): void;
  streamOpened(): void;
  streamClosed(): void;
  streamFailed(err: unknown): void;
}

function isStream(body: Reply["body"]): body is StreamBody {
  return body !== undefined && typeof body !== "string" && !(body instanceof Uint8Array);
}

function tooManyStreams(limit: number): ApiError {
  return new ApiError(
    429,
    { detail: `Too many open streams: this server follows at most ${limit} at once (FLUX_MAX_STREAMS); try again later.` },
    { "retry-after": "5" },
  );
}

export function createListener(router: Router, opts: ListenerOptions): (raw: IncomingMessage, res: ServerResponse) => void {
  // One shutdown listener for every stream (a listener each would warn past ten open streams).
  const streams = new Set<AbortController>();
  opts.shutdownSignal.addEventListener("abort", () => {
    for (const stream of streams) stream.abort();
  }, { once: true });

  return (raw, res) => {
    void handle(raw, res).catch((err: unknown) => {
      // The reply itself failed (the socket went away mid-write): nothing is left to answer.
      opts.streamFailed(err);
      res.destroy();
    });
  };

  async function handle(raw: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const req = new ApiRequest(raw, opts.maxBodyBytes);
    req.reserveOnly = opts.reserveOnly?.(raw.socket) ?? false;
    let reply: Reply;
    try {
      reply = await router.dispatch(req, opts.notFound);
    } catch (err) {
      reply = opts.errorReply(err, req);
    }
    // Checked before the stream starts: its producer opens a broker connection only once it runs.
    if (isStream(reply.body) && streams.size >= opts.maxStreams) {
      reply.body.discard?.();
      reply = opts.errorReply(tooManyStreams(opts.maxStreams), req);
    }
    opts.replied(req, reply.status, (performance.now() - started) / 1000);
    const { body } = reply;
    if (isStream(body)) {
      const abort = new AbortController();
      if (opts.shutdownSignal.aborted) abort.abort();
      streams.add(abort);
      try {
        res.writeHead(reply.status, reply.headers);
        res.flushHeaders();
        await writeStream(res, body, abort, opts);
      } finally {
        streams.delete(abort);
      }
      return;
    }
    const bytes = body === undefined ? undefined : typeof body === "string" ? Buffer.from(body) : body;
    // Refused before its body was read (a 401 on a 1 GiB upload): close rather than read the rest.
    const unread = reply.status >= 400 && !raw.readableEnded && (req.declaredLength() > UNREAD_BODY_DRAIN_BYTES || raw.headers["transfer-encoding"] !== undefined);
    res.writeHead(reply.status, { ...reply.headers, ...(unread ? { connection: "close" } : {}), "content-length": String(bytes?.byteLength ?? 0) });
    res.end(bytes);
  }
}

async function writeStream(res: ServerResponse, body: StreamBody, abort: AbortController, opts: ListenerOptions): Promise<void> {
  const stop = () => abort.abort();
  res.once("close", stop);
  // Resolves the step in progress with "aborted". One long-lived promise raced against every
  // step (Promise.race) would keep a reaction, and with it the step's chunk, for each step.
  let wakeOnAbort: ((value: "aborted") => void) | undefined;
  abort.signal.addEventListener("abort", () => wakeOnAbort?.("aborted"), { once: true });
  const orAbort = <T>(step: Promise<T>) =>
    new Promise<T | "aborted">((resolve, reject) => {
      wakeOnAbort = resolve;
      if (abort.signal.aborted) resolve("aborted");
      step.then(resolve, reject);
    });
  // A keep-alive only while idle: a reader that does not read must not grow the write buffer.
  const timer = body.heartbeat ? setInterval(() => res.writableNeedDrain || res.write(body.heartbeat!), HEARTBEAT_MS) : undefined;
  opts.streamOpened();
  let iterator: AsyncIterator<string | Uint8Array> | undefined;
  try {
    iterator = body.produce(abort.signal)[Symbol.asyncIterator]();
    for (;;) {
      // A broker watch may not notice the abort at once: stop waiting for it here.
      const next = await orAbort(iterator.next());
      if (next === "aborted" || next.done) break;
      // At most one chunk waits in the response's buffer: the producer runs at the reader's pace.
      if (!res.write(next.value) && (await orAbort(once(res, "drain"))) === "aborted") break;
    }
    res.end();
  } catch (err) {
    if (abort.signal.aborted) res.end();
    else {
      opts.streamFailed(err);
      if (body.onError) res.end(body.onError(err));
      else res.destroy(err as Error);
    }
  } finally {
    if (timer) clearInterval(timer);
    res.off("close", stop);
    opts.streamClosed();
    void iterator?.return?.()?.catch(() => undefined);
  }
}
