/**
 * The HTTP layer, on node:http directly: a router (find-my-way), a request wrapper that reads the
 * body at most once and within the size limit, and replies written straight to the response.
 * It deliberately avoids fetch-style Request/Response objects: loading their implementation
 * (undici) alone costs a Node process about 12 MB of RSS, a fifth of the sidecar's budget.
 */
import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { parseCookie } from "cookie";
import FindMyWay from "find-my-way";
import { ApiError } from "./errors";

export type Headers = Record<string, string | string[]>;

/** A streamed body: chunks from `produce` until it ends, the client leaves or the server stops. */
export interface StreamBody {
  produce(signal: AbortSignal): AsyncIterable<string>;
  /** Written while idle (an SSE comment), so proxies do not close a quiet connection. */
  heartbeat?: string;
  /**
   * Written when the source fails after the response started (SSE: an error event). Without it
   * the connection is cut, so a client of a plain chunked stream sees that it was cut short.
   */
  onError?: (err: unknown) => string;
}

export interface Reply {
  status: number;
  headers: Headers;
  body?: string | Uint8Array | StreamBody;
}

export type Handler = (req: ApiRequest) => Reply | Promise<Reply>;
/** Runs before routing; throws an ApiError to answer instead of the handler. */
export type Hook = (req: ApiRequest) => void | Promise<void>;
export type FormValue = string | File | Array<string | File>;

const HEARTBEAT_MS = 15_000;

/**
 * The path as the router should see it: a segment whose escapes do not decode (overlong UTF-8,
 * a lone surrogate) is matched as literal text, so a bad job id reaches the id parser and gets
 * its 400 instead of a 404 for a route that seems not to exist.
 */
function routablePath(path: string): string {
  if (!path.includes("%")) return path;
  return path
    .split("/")
    .map((segment) => {
      try {
        decodeURIComponent(segment);
        return segment;
      } catch {
        return segment.replaceAll("%", "%25");
      }
    })
    .join("/");
}

function tryDecodeUri(text: string): string {
  try {
    return text.includes("%") ? decodeURI(text) : text;
  } catch {
    return text;
  }
}

/** One request: method, path, query (first value wins), route params, and the body read once. */
export class ApiRequest {
  readonly method: string;
  /** The raw path, made safe to route (see routablePath). */
  readonly routingPath: string;
  /** The path, percent-decoded except for reserved characters (as decodeURI does). */
  readonly path: string;
  readonly query: Record<string, string> = Object.create(null);
  params: Record<string, string> = {};
  /** The matched route pattern, for metrics. */
  route = "unmatched";
  user: string | undefined;
  via: "bearer" | "basic" | "cookie" | undefined;
  private body?: Promise<Buffer>;

  constructor(
    readonly raw: IncomingMessage,
    private readonly maxBodyBytes: number,
  ) {
    this.method = raw.method ?? "GET";
    // Absolute-form targets (proxies may send them) carry the origin first.
    const target = (raw.url ?? "/").replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, "") || "/";
    const queryAt = target.indexOf("?");
    const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
    this.routingPath = routablePath(rawPath);
    this.path = tryDecodeUri(rawPath);
    if (queryAt !== -1) {
      for (const [key, value] of new URLSearchParams(target.slice(queryAt + 1))) {
        if (key && !(key in this.query)) this.query[key] = value;
      }
    }
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
  assertDeclaredLength(): void {
    if (Number(this.raw.headers["content-length"]) > this.maxBodyBytes) throw bodyTooLarge(this.maxBodyBytes);
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

  /** Fields of a urlencoded or multipart body (the last of repeated keys; `key[]` keys collect all); {} otherwise. */
  async form(): Promise<Record<string, FormValue>> {
    const type = this.header("content-type") ?? "";
    const media = type.split(";")[0].trim().toLowerCase();
    const form: Record<string, FormValue> = Object.create(null);
    const add = (key: string, value: string | File) => {
      if (!key.endsWith("[]")) form[key] = value;
      else form[key] = [...((form[key] as Array<string | File> | undefined) ?? []), value];
    };
    if (media === "application/x-www-form-urlencoded") {
      for (const [key, value] of new URLSearchParams((await this.bytes()).toString("utf8"))) add(key, value);
    } else if (media === "multipart/form-data") {
      // Multipart bodies are rare here (curl -F): the platform's parser is loaded only for them.
      const body = new Uint8Array(await this.bytes());
      const data = await new Response(body, { headers: { "content-type": type } }).formData();
      data.forEach((value, key) => add(key, value));
    }
    return form;
  }
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

type Route = { handler: Handler; pattern: string };

/** Routes by method and path; hooks run by path prefix, before routing, whether a route matches or not. */
export class Router {
  private readonly routes = FindMyWay({ maxParamLength: 8192 });
  private readonly hooks: Array<{ prefix: string; hook: Hook }> = [];

  get(pattern: string, handler: Handler): void {
    this.on("GET", pattern, handler);
  }

  post(pattern: string, handler: Handler): void {
    this.on("POST", pattern, handler);
  }

  /** Runs `hook` for `prefix` itself and every path below it. */
  before(prefix: string, hook: Hook): void {
    this.hooks.push({ prefix, hook });
  }

  private on(method: "GET" | "POST", pattern: string, handler: Handler): void {
    const route: Route = { handler, pattern };
    // The store carries our handler; find-my-way's own handler slot is not used for dispatch.
    this.routes.on(method, pattern, () => undefined, route);
  }

  async dispatch(req: ApiRequest, notFound: () => Reply): Promise<Reply> {
    req.assertDeclaredLength();
    for (const { prefix, hook } of this.hooks) {
      if (req.path === prefix || req.path.startsWith(`${prefix}/`)) await hook(req);
    }
    // HEAD is answered by the GET route (load-balancer health checks use it).
    const method = req.method === "HEAD" ? "GET" : req.method;
    const found = this.routes.find(method as "GET", req.routingPath);
    if (!found) return notFound();
    const route = found.store as Route;
    req.route = route.pattern;
    req.params = found.params as Record<string, string>;
    return route.handler(req);
  }
}

export interface ListenerOptions {
  maxBodyBytes: number;
  /** Streams open at once; past it a stream route answers 429 instead of starting. */
  maxStreams: number;
  /** Aborted when the server shuts down: open streams end. */
  shutdownSignal: AbortSignal;
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
  let openStreams = 0;
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
    let reply: Reply;
    try {
      reply = await router.dispatch(req, opts.notFound);
    } catch (err) {
      reply = opts.errorReply(err, req);
    }
    // Checked before the stream starts: its producer opens a broker connection only once it runs.
    if (isStream(reply.body) && openStreams >= opts.maxStreams) reply = opts.errorReply(tooManyStreams(opts.maxStreams), req);
    opts.replied(req, reply.status, (performance.now() - started) / 1000);
    const { body } = reply;
    if (isStream(body)) {
      openStreams++;
      try {
        res.writeHead(reply.status, reply.headers);
        res.flushHeaders();
        await writeStream(res, body, opts);
      } finally {
        openStreams--;
      }
      return;
    }
    const bytes = body === undefined ? undefined : typeof body === "string" ? Buffer.from(body) : body;
    res.writeHead(reply.status, { ...reply.headers, "content-length": String(bytes?.byteLength ?? 0) });
    res.end(bytes);
  }
}

async function writeStream(res: ServerResponse, body: StreamBody, opts: ListenerOptions): Promise<void> {
  const abort = new AbortController();
  const stop = () => abort.abort();
  res.once("close", stop);
  opts.shutdownSignal.addEventListener("abort", stop, { once: true });
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
  let iterator: AsyncIterator<string> | undefined;
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
    opts.shutdownSignal.removeEventListener("abort", stop);
    opts.streamClosed();
    void iterator?.return?.()?.catch(() => undefined);
  }
}
