/**
 * FluxRestfulClient: flux-restful-api v1 over HTTP, for our sidecar and the Python server alike.
 *
 * Auth: a 401 starts the handshake (sign {user, pass, scope:"token"} with the shared secret,
 * POST /v1/token, then Bearer). A 401 on a stale token, or the Python server's 403 "Could not
 * validate credentials", re-authenticates once. A `WWW-Authenticate: Basic` challenge, or a Bearer
 * challenge when no secret key is known, is answered with Basic user:token.
 */
import { randomUUID } from "node:crypto";
import { open, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname, join as joinPath, posix, resolve as resolvePath } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SignJWT } from "jose";
import {
  ApiError,
  AuthenticationError,
  ConnectionError,
  FluxRestfulError,
  JobNotFoundError,
  SubmitOutcomeUnknownError,
  WaitTimeoutError,
} from "./errors";
import { IdleDeadline, bytesStream, eachChunk, encodeJobFile, localFileStream } from "./files";
import { parseJobId, type JobIdLike } from "./ids";
import { parseJson } from "./json";
import { LineAssembler } from "./lines";
import { readSse, type SseMessage } from "./sse";
import { Transport, type HttpRequest, type HttpResponse, type QueryValue, type RequestBody } from "./transport";
import type {
  BatchOptions,
  ClientOptions,
  FileDownload,
  FileListing,
  JobFileListing,
  UploadResult,
  ClusterSummary,
  JobEvent,
  JobInfo,
  JobListEntry,
  OutputLine,
  SearchOptions,
  SearchResult,
  SubmitOptions,
  SubmitResult,
} from "./types";

const PYTHON_EXPIRED_DETAIL = "Could not validate credentials";

/** Job-info timestamps and the eventlog entries they stand for, in lifecycle order. */
const TIMESTAMP_EVENTS: ReadonlyArray<readonly [string, string]> = [
  ["t_submit", "submit"],
  ["t_depend", "depend"],
  ["t_priority", "priority"],
  ["t_run", "start"],
  ["t_cleanup", "finish"],
  ["t_inactive", "clean"],
];

export interface StreamOptions {
  signal?: AbortSignal;
}

export interface WaitOptions extends StreamOptions {
  /** Give up after this long (default: no limit). */
  timeoutMs?: number;
}

/** A server message from any of the API's error shapes, on one line. */
function serverMessage(body: unknown, fallback: string): string {
  if (!body || typeof body !== "object") return fallback;
  const b = body as { Message?: unknown; Errors?: unknown; Error?: unknown; detail?: unknown; error?: unknown };
  const parts: string[] = [];
  for (const value of [b.Message, b.Error, b.error]) if (typeof value === "string") parts.push(value);
  if (Array.isArray(b.Errors)) parts.push(b.Errors.map(String).join("; "));
  if (typeof b.detail === "string") parts.push(b.detail);
  else if (Array.isArray(b.detail)) {
    parts.push(b.detail.map((d: { loc?: unknown[]; msg?: string }) => `${(d.loc ?? []).join(".")}: ${d.msg}`).join("; "));
  }
  return parts.length ? parts.join(": ").replace(/\s+/g, " ") : fallback;
}

function tryParse(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return parseJson(text);
  } catch {
    return text;
  }
}

/** Quotes one argument for the server's shlex.split. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function isAbort(err: unknown): boolean {
  return (err as Error)?.name === "AbortError";
}

export class FluxRestfulClient {
  private readonly transport: Transport;
  private authorization?: string;
  private login?: Promise<void>;
  private features?: Promise<SubmitFeatures>;
  private readonly pollIntervalMs: number;
  private readonly retries: number;

  constructor(readonly options: ClientOptions) {
    const host = options.host.endsWith("/") ? options.host : options.host + "/";
    if (!/^https?:\/\//.test(host)) throw new FluxRestfulError(`invalid host "${options.host}": expected http(s)://HOST[:PORT]`);
    this.retries = options.retries ?? 5;
    this.transport = new Transport({
      baseUrl: host,
      timeoutMs: options.timeoutMs ?? 30_000,
      retries: this.retries,
      minDelayMs: options.minDelayMs,
      maxDelayMs: options.maxDelayMs,
      onRetry: options.onRetry,
      ca: options.ca,
    });
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
  }

  get origin(): string {
    return this.transport.origin;
  }

  // ---- requests and authentication ------------------------------------------------------------

  private static needsCredentials(res: HttpResponse, sent: string | undefined): boolean {
    if (res.status === 401) return true;
    return res.status === 403 && sent !== undefined && serverMessage(tryParse(res.text), "") === PYTHON_EXPIRED_DETAIL;
  }

  /** Sends a request, authenticating (once) when the server asks for it. */
  private async call(request: HttpRequest): Promise<HttpResponse> {
    let sent = this.authorization;
    let res = await this.transport.send({ ...request, authorization: sent });
    if (!FluxRestfulClient.needsCredentials(res, sent)) return res;
    await res.body?.cancel().catch(() => undefined);
    await this.authenticate(res, sent);
    sent = this.authorization;
    res = await this.transport.send({ ...request, authorization: sent });
    if (FluxRestfulClient.needsCredentials(res, sent)) {
      await res.body?.cancel().catch(() => undefined);
      const scheme = sent?.split(" ")[0] ?? "no";
      const hint = scheme === "Basic" && !this.options.secretKey ? " (the server may need the secret key)" : "";
      throw new AuthenticationError(`${this.origin} rejected the ${scheme} credentials of user "${this.options.user}"${hint}`);
    }
    return res;
  }

  /** Logs in once for all the requests that were refused together. */
  private async authenticate(challenge: HttpResponse, sent: string | undefined): Promise<void> {
    if (this.login) return this.login;
    if (this.authorization !== sent) return; // another request has logged in again meanwhile
    this.login = this.logIn(challenge).finally(() => (this.login = undefined));
    return this.login;
  }

  private async logIn(challenge: HttpResponse): Promise<void> {
    this.authorization = undefined;
    const { user, token, secretKey } = this.options;
    if (!user || !token) {
      throw new AuthenticationError(`${this.origin} requires authentication: give a user and token (and the secret key)`);
    }
    const scheme = (challenge.headers.get("www-authenticate") ?? "bearer").trim().toLowerCase();
    if (scheme.startsWith("basic") || !secretKey) {
      this.authorization = `Basic ${Buffer.from(`${user}:${token}`).toString("base64")}`;
      return;
    }
    const request = await new SignJWT({ user, pass: token, scope: "token" })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(secretKey));
    const res = await this.transport.send({ method: "POST", path: "v1/token", authorization: `Bearer ${request}` });
    const body = tryParse(res.text) as { access_token?: unknown } | undefined;
    if (res.status === 200 && typeof body?.access_token === "string") {
      this.authorization = `Bearer ${body.access_token}`;
      return;
    }
    if (res.status === 429) {
      const after = res.headers.get("retry-after");
      throw new AuthenticationError(`${this.origin} refused the login: too many failed attempts${after ? `, retry after ${after} s` : ""}`);
    }
    const why = res.status === 500 ? "server error, typical of a wrong secret key" : serverMessage(body, "denied");
    throw new AuthenticationError(
      `${this.origin} refused the credentials of user "${user}" (HTTP ${res.status}: ${why}): check the user, token and secret key`,
    );
  }

  /** Sends a request and returns its parsed JSON body, or throws ApiError for an error status. */
  private async callJson(request: HttpRequest): Promise<unknown> {
    const res = await this.call(request);
    const body = tryParse(res.text);
    if (res.status >= 400) throw new ApiError(`${serverMessage(body, res.text?.trim() || "request failed")} (HTTP ${res.status})`, res.status, body);
    return body;
  }

  /** Like callJson for routes under /v1/jobs/{id}: a 404 means the job does not exist. */
  private async callJob(id: bigint, request: HttpRequest): Promise<unknown> {
    try {
      return await this.callJson(request);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) throw new JobNotFoundError(id);
      throw err;
    }
  }

  // ---- the API ----------------------------------------------------------------------------------

  async nodes(): Promise<string[]> {
    const body = (await this.callJson({ method: "GET", path: "v1/nodes" })) as { nodes: string[] };
    return body.nodes;
  }

  /** The resource summary the web UI shows; servers without /v1/cluster give the up nodes only. */
  async cluster(): Promise<ClusterSummary> {
    try {
      return (await this.callJson({ method: "GET", path: "v1/cluster" })) as ClusterSummary;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return { up: await this.nodes() };
      throw err;
    }
  }

  jobs(): Promise<JobListEntry[]>;
  jobs(options: { details: true; listing: true; limit?: number }): Promise<JobInfo[]>;
  jobs(options: { details: true; listing?: false; limit?: number }): Promise<Record<string, JobInfo>>;
  async jobs(options: { details?: boolean; listing?: boolean; limit?: number } = {}): Promise<unknown> {
    const query: Record<string, QueryValue> = {
      details: options.details ? "true" : undefined,
      listing: options.listing ? "true" : undefined,
      limit: options.limit,
    };
    const body = await this.callJson({ method: "GET", path: "v1/jobs", query });
    return options.details ? body : (body as { jobs: JobListEntry[] }).jobs;
  }

  async jobInfo(job: JobIdLike): Promise<JobInfo> {
    const id = parseJobId(job);
    const body = await this.callJob(id, { method: "GET", path: `v1/jobs/${id}` });
    if (body === null || body === undefined) throw new JobNotFoundError(id); // the Python server answers 200 null
    return body as JobInfo;
  }

  /**
   * Submits a job. Where the server honours Idempotency-Key (its OpenAPI document says so) the
   * submit carries one key, options.idempotencyKey or a new UUID, on every attempt, so it is
   * retried like a GET and never runs twice. When the outcome stays unknown (out of retries, or a
   * server without keys) it throws SubmitOutcomeUnknownError rather than a plain failure.
   */
  async submit(options: SubmitOptions): Promise<SubmitResult> {
    const command = Array.isArray(options.command) ? options.command.map(shellQuote).join(" ") : options.command;
    const { script } = options;
    if (script !== undefined) {
      if (command !== undefined) throw new FluxRestfulError("a job runs a command or a batch script, not both");
      if (!script.startsWith("#!")) throw new FluxRestfulError('a batch script must start with "#!" (an interpreter line such as #!/bin/sh)');
    } else {
      if (!command?.trim()) throw new FluxRestfulError("a command is required");
      if (options.scriptArgs?.length) throw new FluxRestfulError("script arguments need a batch script");
    }
    const files = Object.entries(options.files ?? {});
    const carriesFiles = script !== undefined || files.length > 0;
    const features = await this.submitFeatures();
    if (options.name !== undefined && !features.name) {
      throw new FluxRestfulError(`${this.origin} does not accept a job name (its OpenAPI document lists none for submit)`);
    }
    if (options.idempotencyKey !== undefined && !features.idempotencyKey) {
      throw new FluxRestfulError(`${this.origin} does not honour idempotency keys (its OpenAPI document lists no Idempotency-Key for submit)`);
    }
    // A server without files would read the body as envars and drop the files without a word.
    if (carriesFiles && !features.files) {
      throw new FluxRestfulError(`${this.origin} does not accept files or batch scripts with a job (its OpenAPI document lists no "files" for submit)`);
    }
    const key = features.idempotencyKey ? (options.idempotencyKey ?? randomUUID()) : undefined;
    const flags = Object.entries(options.optionFlags ?? {});
    const fields: Record<string, QueryValue> = {
      command,
      num_tasks: options.numTasks,
      cores_per_task: options.coresPerTask,
      gpus_per_task: options.gpusPerTask,
      num_nodes: options.numNodes,
      exclusive: options.exclusive === undefined ? undefined : String(options.exclusive),
      option_flags: flags.length ? flags.map(([k, v]) => `${k}=${v}`).join(",") : undefined,
      workdir: options.workdir,
      runtime: options.runtime,
      name: options.name,
    };
    const envars = options.envars && Object.keys(options.envars).length ? options.envars : undefined;
    let query: Record<string, QueryValue> | undefined;
    let json: unknown;
    if (carriesFiles) {
      // Files go in a JSON body, and then the whole submit goes with them, typed.
      json = Object.fromEntries(
        Object.entries({
          ...fields,
          exclusive: options.exclusive,
          option_flags: flags.length ? Object.fromEntries(flags) : undefined,
          envars,
          script,
          script_args: options.scriptArgs,
          files: files.length ? Object.fromEntries(files.map(([name, file]) => [name, encodeJobFile(file)])) : undefined,
        }).filter(([, value]) => value !== undefined),
      );
    } else {
      // The API reads every field from the query and takes the JSON body as the envars dict.
      query = fields;
      json = envars;
    }
    const headers = key ? { "idempotency-key": `"${key}"` } : undefined;
    let body: { id: JobIdLike; Message?: string };
    try {
      body = (await this.callJson({ method: "POST", path: "v1/jobs/submit", query, json, headers })) as typeof body;
    } catch (err) {
      throw this.outcomeUnknown(err, key) ?? err;
    }
    return { id: parseJobId(body.id), message: body.Message ?? "" };
  }

  /** Submits a batch script, run the way `flux batch` runs it (one Flux instance over the job's nodes). */
  batch(script: string, options: BatchOptions = {}): Promise<SubmitResult> {
    const { args, ...rest } = options;
    return this.submit({ ...rest, script, scriptArgs: args });
  }

  /** A SubmitOutcomeUnknownError for a submit failure after which the job may exist; else undefined. */
  private outcomeUnknown(err: unknown, key: string | undefined): SubmitOutcomeUnknownError | undefined {
    const unknown = err instanceof ConnectionError ? err.maybeSent : err instanceof ApiError && (err.status === 502 || err.status === 504);
    if (!unknown) return undefined;
    const what = `the job may or may not have been created (${(err as Error).message})`;
    const next = key
      ? `submitting the same options again with idempotency key ${key} is safe: the server answers the job it created, if any`
      : `check the job list before submitting again (${this.origin} does not honour idempotency keys)`;
    return new SubmitOutcomeUnknownError(`${what}; ${next}`, key, err as FluxRestfulError);
  }

  /** What the server's OpenAPI document lists for submit: the `name` and `files` fields, the Idempotency-Key header (our sidecar has them all). */
  private submitFeatures(): Promise<SubmitFeatures> {
    if (this.features) return this.features;
    const features = (async (): Promise<SubmitFeatures> => {
      // No document (an error status) means no features; an unreachable server means not known yet.
      const doc = (await this.callJson({ method: "GET", path: "openapi.json" }).catch((err) => {
        if (err instanceof ConnectionError || err instanceof AuthenticationError) throw err;
        return undefined;
      })) as
        | { paths?: Record<string, { post?: OpenApiOperation }>; components?: { schemas?: Record<string, OpenApiSchema> } }
        | undefined;
      const op = doc?.paths?.["/v1/jobs/submit"]?.post;
      if (!op) return { name: false, idempotencyKey: false, files: false };
      const idempotencyKey = Boolean(op.parameters?.some((p) => p.in === "header" && p.name?.toLowerCase() === "idempotency-key"));
      const content = Object.values(op.requestBody?.content ?? {});
      const lists = (field: string) =>
        Boolean(op.parameters?.some((p) => p.name === field)) ||
        content.some(({ schema }) => {
          const ref = schema?.$ref?.split("/").pop();
          const resolved = ref ? doc?.components?.schemas?.[ref] : schema;
          return Boolean(resolved?.properties && field in resolved.properties);
        });
      return { name: lists("name"), idempotencyKey, files: lists("files") };
    })();
    this.features = features;
    features.catch(() => {
      if (this.features === features) this.features = undefined; // asked again next time
    });
    return features;
  }

  /** The job's output so far (our sidecar) or once it is complete (the Python server blocks). */
  async output(job: JobIdLike, options: StreamOptions = {}): Promise<string[]> {
    const id = parseJobId(job);
    const body = (await this.callJob(id, { method: "GET", path: `v1/jobs/${id}/output`, timeoutMs: 0, signal: options.signal })) as {
      Output?: string[];
    };
    if (Array.isArray(body?.Output)) return body.Output;
    await this.jobInfo(id); // "does not exist yet, or the jobid is incorrect": tell the two apart
    return [];
  }

  async cancel(job: JobIdLike): Promise<string> {
    const id = parseJobId(job);
    try {
      const body = (await this.callJob(id, { method: "POST", path: `v1/jobs/${id}/cancel` })) as { Message?: string };
      return body.Message ?? "";
    } catch (err) {
      if (err instanceof ApiError && /unknown job id/i.test(err.message)) throw new JobNotFoundError(id);
      throw err;
    }
  }

  async search(options: SearchOptions = {}): Promise<SearchResult> {
    const query = { search: options.query, start: options.start, length: options.length, draw: options.draw };
    return (await this.callJson({ method: "GET", path: "v1/jobs/search", query })) as SearchResult;
  }

  // ---- the workspace ----------------------------------------------------------------------------

  /** A directory of the workspace ("" or nothing: its root). */
  async listFiles(path = ""): Promise<FileListing> {
    return (await this.callJson({ method: "GET", path: "v1/files", query: { path } })) as FileListing;
  }

  /** The job's working directory in the workspace; download an entry as `${listing.path}/${entry.name}`. */
  async jobFiles(job: JobIdLike): Promise<JobFileListing> {
    const id = parseJobId(job);
    try {
      const body = (await this.callJson({ method: "GET", path: `v1/jobs/${id}/files` })) as JobFileListing;
      return { ...body, id };
    } catch (err) {
      // the job has no directory in the workspace, or there is no such job: tell the two apart
      if (err instanceof ApiError && err.status === 404) await this.jobInfo(id);
      throw err;
    }
  }

  /** A workspace file as it arrives; the body must be read to its end or cancelled. */
  async downloadFileStream(path: string, options: StreamOptions = {}): Promise<FileDownload> {
    const res = await this.call({ method: "GET", path: "v1/files/content", query: { path }, accept: "application/octet-stream", stream: true, signal: options.signal });
    if (res.status >= 400 || !res.body) {
      const body = tryParse(res.text);
      throw new ApiError(`${serverMessage(body, res.text?.trim() || "download failed")} (HTTP ${res.status})`, res.status, body);
    }
    const length = Number(res.headers.get("content-length") ?? NaN);
    return { body: res.body, size: Number.isSafeInteger(length) && length >= 0 ? length : undefined };
  }

  /** Reads a download, failing when the server goes silent for the request timeout. */
  private async readDownload(path: string, onChunk: (chunk: Uint8Array) => void | Promise<void>, signal?: AbortSignal, announced?: (size?: number) => void | Promise<void>): Promise<void> {
    const idle = new IdleDeadline(this.options.timeoutMs ?? 30_000, signal);
    try {
      const download = await this.downloadFileStream(path, { signal: idle.signal });
      try {
        await announced?.(download.size);
      } catch (err) {
        await download.body.cancel().catch(() => undefined);
        throw err;
      }
      await eachChunk(download.body, (chunk) => (idle.touch(), onChunk(chunk)));
    } catch (err) {
      if (idle.expired && !signal?.aborted) throw new ConnectionError(`${this.origin} sent nothing for ${idle.ms / 1000} s while sending ${path}`, true);
      throw err;
    } finally {
      idle.stop();
    }
  }

  /** A workspace file in memory, up to `maxBytes` (default 64 MiB; larger files: downloadFileTo). */
  async downloadFile(path: string, options: StreamOptions & { maxBytes?: number } = {}): Promise<Uint8Array> {
    const maxBytes = options.maxBytes ?? 64 << 20;
    const tooLarge = () => new FluxRestfulError(`${path} is larger than ${maxBytes} bytes: save it with downloadFileTo instead`);
    const chunks: Uint8Array[] = [];
    let size = 0;
    await this.readDownload(
      path,
      (chunk) => {
        size += chunk.byteLength;
        if (size > maxBytes) throw tooLarge();
        chunks.push(chunk);
      },
      options.signal,
      (announced) => {
        if (announced !== undefined && announced > maxBytes) throw tooLarge();
      },
    );
    return new Uint8Array(Buffer.concat(chunks, size));
  }

  /**
   * Saves a workspace file as `localFile` with bounded memory: it is written to a new temporary
   * file beside it, then renamed over it, so a failed download leaves nothing and a symlink
   * planted at `localFile` is replaced, never followed. Resolves to the number of bytes.
   */
  async downloadFileTo(path: string, localFile: string, options: StreamOptions = {}): Promise<number> {
    const target = resolvePath(localFile);
    // (the name cut short, in bytes at a character boundary, so the temporary one stays within NAME_MAX)
    const temp = joinPath(dirname(target), `.${utf8Prefix(basename(target), 200)}.${randomUUID().slice(0, 8)}.part`);
    let file: FileHandle | undefined;
    let size = 0;
    try {
      await this.readDownload(
        path,
        async (chunk) => {
          size += chunk.byteLength;
          await file!.write(chunk);
        },
        options.signal,
        async () => {
          try {
            file = await open(temp, "wx", 0o666); // O_EXCL: a new file, whatever lies at that name
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            throw new FluxRestfulError(`cannot write ${localFile}: ${code === "ENOENT" ? `no directory ${dirname(target)}` : (code ?? (err as Error).message)}`);
          }
        },
      );
      await file!.close();
      file = undefined;
      await rename(temp, target);
      return size;
    } catch (err) {
      await file?.close().catch(() => undefined);
      await rm(temp, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Stores a file in the workspace (parent directories are created): text, bytes, or a local file
   * given as `{ file }`, which is streamed from disk. `mode`: permission bits, e.g. 0o755 or "0755".
   */
  async uploadFile(path: string, source: string | Uint8Array | { file: string }, options: StreamOptions & { mode?: number | string } = {}): Promise<UploadResult> {
    const mode = typeof options.mode === "number" ? options.mode.toString(8).padStart(4, "0") : options.mode;
    const idle = new IdleDeadline(this.options.timeoutMs ?? 30_000, options.signal);
    let body: () => RequestBody;
    if (typeof source === "string" || source instanceof Uint8Array) {
      const bytes = typeof source === "string" ? Buffer.from(source) : source;
      body = () => ({ data: bytesStream(bytes, () => idle.touch()), contentType: "application/octet-stream", length: bytes.byteLength });
    } else {
      const info = await stat(source.file);
      if (!info.isFile()) throw new FluxRestfulError(`${source.file} is not a regular file`);
      body = () => ({ data: localFileStream(source.file, () => idle.touch()), contentType: "application/octet-stream", length: info.size });
    }
    try {
      // Log in first, with a small request that needs no broker: otherwise the whole body goes
      // out once only to be refused with 401 (and is read from disk and sent again).
      if (this.authorization === undefined && this.options.user !== undefined) {
        const parent = posix.dirname(path);
        const probe = await this.call({ method: "GET", path: "v1/files", query: { path: parent === "." ? "" : parent }, stream: true, signal: idle.signal });
        await probe.body?.cancel().catch(() => undefined);
      }
      const res = await this.call({ method: "PUT", path: "v1/files/content", query: { path, mode }, body, timeoutMs: 0, signal: idle.signal });
      const answer = tryParse(res.text);
      if (res.status >= 400) throw new ApiError(`${serverMessage(answer, res.text?.trim() || "upload failed")} (HTTP ${res.status})`, res.status, answer);
      return answer as UploadResult;
    } catch (err) {
      if (idle.expired && !options.signal?.aborted) throw new ConnectionError(`${this.origin} took more than ${idle.ms / 1000} s to take or answer the upload of ${path}`, true);
      throw err;
    } finally {
      idle.stop();
    }
  }

  /** Removes a workspace file (not a directory). */
  async deleteFile(path: string): Promise<void> {
    await this.callJson({ method: "DELETE", path: "v1/files/content", query: { path } });
  }

  // ---- streams ----------------------------------------------------------------------------------

  /** Runs `request`, retrying connection failures for up to `outageMs` (a server restart). */
  private async outlast<T>(request: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        return await request();
      } catch (err) {
        if (!(err instanceof ConnectionError) || Date.now() - started > (this.options.outageMs ?? 60_000)) throw err;
        const delayMs = Math.min(2000, 100 * 2 ** attempt);
        this.options.onRetry?.({ attempt: attempt + 1, delayMs, reason: err.message, unreachable: true });
        await sleep(delayMs, undefined, { signal });
      }
    }
  }

  /**
   * Messages of an SSE route until `isLast`, reconnecting after drops (a server restart): events
   * the server replays are skipped, by id when it sends ids, else by position.
   * Returns false at once when the server has no such route (404) so callers can poll instead.
   */
  private async *sse(id: bigint, path: string, isLast: (m: SseMessage) => boolean, signal?: AbortSignal): AsyncGenerator<SseMessage, boolean> {
    const seenIds = new Set<string>();
    let seen = 0;
    let failures = 0;
    let lastId: string | undefined;
    for (;;) {
      const headers: Record<string, string> = lastId ? { "last-event-id": lastId } : {};
      const res = await this.outlast(
        () => this.call({ method: "GET", path, accept: "text/event-stream", stream: true, headers, signal }),
        signal,
      );
      if (res.status === 404) {
        await this.outlast(() => this.jobInfo(id), signal); // unknown job, or a server without the route
        return false;
      }
      if (res.status >= 400 || !res.body) {
        const body = tryParse(res.text);
        throw new ApiError(`${serverMessage(body, "event stream refused")} (HTTP ${res.status})`, res.status, body);
      }
      let position = 0;
      try {
        for await (const message of readSse(res.body)) {
          position++;
          const replayed = message.id ? seenIds.has(message.id) : position <= seen;
          if (replayed) continue;
          if (message.id) (seenIds.add(message.id), (lastId = message.id));
          seen = position;
          failures = 0;
          if (message.event === "error") {
            const body = tryParse(message.data);
            throw new ApiError(`${serverMessage(body, "the event stream failed")}`, 500, body);
          }
          yield message;
          if (isLast(message)) return true;
        }
      } catch (err) {
        if (err instanceof FluxRestfulError || signal?.aborted || isAbort(err)) throw err;
      }
      if (++failures > this.retries) throw new ConnectionError(`the event stream from ${this.origin} keeps breaking off`);
      await sleep(Math.min(5000, 200 * 2 ** failures), undefined, { signal });
    }
  }

  /** The job's output as whole lines, following it until the job ends. */
  async *outputLines(job: JobIdLike, options: StreamOptions = {}): AsyncGenerator<OutputLine> {
    const id = parseJobId(job);
    const lines = new LineAssembler();
    const stream = this.sse(id, `v1/jobs/${id}/output/events`, (m) => m.event === "end", options.signal);
    let next = await stream.next();
    for (; !next.done; next = await stream.next()) {
      if (next.value.event !== "output") continue;
      const chunk = parseJson(next.value.data) as { stream?: string; rank?: string | number; data?: string };
      yield* lines.push(chunk.data ?? "", chunk.stream, chunk.rank === undefined ? undefined : String(chunk.rank));
    }
    if (!next.value) yield* this.pollOutput(id, lines, options.signal);
    yield* lines.flush();
  }

  /** Polls start fast (short jobs end quickly) and slow down to pollIntervalMs. */
  private pollDelay(round: number): number {
    return Math.min(this.pollIntervalMs, 50 * 2 ** round);
  }

  /** Output for servers without SSE: re-read the output until the job is inactive. */
  private async *pollOutput(id: bigint, lines: LineAssembler, signal?: AbortSignal): AsyncGenerator<OutputLine> {
    let emitted = 0;
    for (let round = 0; ; round++) {
      const finished = (await this.outlast(() => this.jobInfo(id), signal)).state === "INACTIVE"; // before reading, so nothing is missed
      const chunks = await this.outlast(() => this.output(id, { signal }), signal);
      for (const chunk of chunks.slice(emitted)) yield* lines.push(chunk);
      emitted = chunks.length;
      if (finished) return;
      await sleep(this.pollDelay(round), undefined, { signal });
    }
  }

  /** The job's eventlog entries up to `clean`; rebuilt from job info where the server has no SSE. */
  async *events(job: JobIdLike, options: StreamOptions = {}): AsyncGenerator<JobEvent> {
    const id = parseJobId(job);
    // Our sidecar names its entries "eventlog" and closes with "end"; plain messages count too.
    const isEntry = (m: SseMessage) => m.event === undefined || m.event === "message" || m.event === "eventlog";
    const isLast = (m: SseMessage) => m.event === "end" || (isEntry(m) && (parseJson(m.data) as JobEvent).name === "clean");
    const stream = this.sse(id, `v1/jobs/${id}/events`, isLast, options.signal);
    let next = await stream.next();
    for (; !next.done; next = await stream.next()) if (isEntry(next.value)) yield parseJson(next.value.data) as JobEvent;
    if (!next.value) yield* this.pollEvents(id, options.signal);
  }

  private async *pollEvents(id: bigint, signal?: AbortSignal): AsyncGenerator<JobEvent> {
    let emitted = 0;
    for (let round = 0; ; round++) {
      const info = await this.outlast(() => this.jobInfo(id), signal);
      const reached = TIMESTAMP_EVENTS.filter(([field]) => typeof info[field] === "number");
      for (const [field, name] of reached.slice(emitted)) {
        yield { name, timestamp: info[field] as number, context: {}, synthesized: true };
      }
      emitted = reached.length;
      if (info.state === "INACTIVE") return;
      await sleep(this.pollDelay(round), undefined, { signal });
    }
  }

  /** Waits until the job is inactive and returns its final info. */
  async wait(job: JobIdLike, options: WaitOptions = {}): Promise<JobInfo> {
    const id = parseJobId(job);
    const timeout = new AbortController();
    const timer = options.timeoutMs ? setTimeout(() => timeout.abort(), options.timeoutMs) : undefined;
    const signal = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
    try {
      for await (const event of this.events(id, { signal })) if (event.name === "clean") break;
      // job-list may lag the eventlog by a moment
      const info = () => this.outlast(() => this.jobInfo(id), signal);
      for (let current = await info(); ; current = await info()) {
        if (current.state === "INACTIVE") return current;
        await sleep(100, undefined, { signal });
      }
    } catch (err) {
      if (timeout.signal.aborted && !options.signal?.aborted) {
        throw new WaitTimeoutError(`job ${id} did not finish within ${options.timeoutMs} ms`);
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

interface SubmitFeatures {
  name: boolean;
  idempotencyKey: boolean;
  files: boolean;
}

interface OpenApiSchema {
  $ref?: string;
  properties?: Record<string, unknown>;
}

interface OpenApiOperation {
  parameters?: Array<{ name?: string; in?: string }>;
  requestBody?: { content?: Record<string, { schema?: OpenApiSchema }> };
}

/** The longest start of `text` whose UTF-8 encoding fits in `maxBytes`, never splitting a character. */
function utf8Prefix(text: string, maxBytes: number): string {
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    bytes += Buffer.byteLength(char);
    if (bytes > maxBytes) break;
    end += char.length;
  }
  return text.slice(0, end);
}
