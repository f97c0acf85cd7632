/**
 * A stand-in for the Python flux-restful-api server, for client tests: its auth answers are the
 * Python server's bytes (401 "Not authenticated" + `www-authenticate: Bearer`, 400 {"Message":"Denied"}
 * from /v1/token, 500 text/plain on a credential signed with another secret, 403 "Could not validate
 * credentials" for an expired token, 200 null for an unknown job), and its jobs are a small in-memory
 * model: `sleep S` runs S seconds, `echo`/`hostname`/`printenv`/`false` print or fail, and output
 * requests block until the job ends, as the Python server's do. No SSE routes (404), as upstream,
 * unless `sse` is set: then it also serves our sidecar's two event streams, in their format.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { jwtVerify, SignJWT } from "jose";
import { stringify as stringifyLossless } from "lossless-json";

export interface PythonLikeOptions {
  auth?: { user: string; token: string; secretKey: string; expiresSeconds?: number; challenge?: "Bearer" | "Basic" };
  nodes?: string[];
  /** First job id; above 2^53 to prove ids stay exact. */
  firstId?: bigint;
  sse?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization?: string;
  body: string;
}

interface FakeJob {
  id: bigint;
  name: string;
  ntasks: number;
  nnodes: number;
  tSubmit: number;
  tRun: number;
  tEnd: number;
  output: string[];
  returncode: number;
  canceled: boolean;
}

const NOT_AUTHENTICATED = { status: 401, headers: { "www-authenticate": "Bearer" }, body: '{"detail":"Not authenticated"}' };
const DENIED = { status: 400, headers: {}, body: '{"Message":"Denied"}' };
const BAD_CREDENTIALS = { status: 403, headers: {}, body: '{"detail":"Could not validate credentials"}' };
const INTERNAL_ERROR = { status: 500, headers: { "content-type": "text/plain; charset=utf-8" }, body: "Internal Server Error" };

type Reply = { status: number; headers: Record<string, string>; body: string };

function json(status: number, value: unknown): Reply {
  return { status, headers: {}, body: stringifyLossless(value) ?? "null" };
}

export class PythonLikeServer {
  readonly requests: RecordedRequest[] = [];
  readonly jobs = new Map<bigint, FakeJob>();
  private readonly server: Server;
  private nextId: bigint;
  private injected: Array<{ status: number; headers: Record<string, string>; path?: string }> = [];
  private stalls: number[] = [];
  /** Seconds added to the server's clock (token expiry without sleeping). */
  clockOffsetSeconds = 0;
  /** When set, the next event stream is cut after this many messages (a dropped connection). */
  dropStreamAfter?: number;
  url = "";

  constructor(private readonly options: PythonLikeOptions = {}) {
    this.nextId = options.firstId ?? (1n << 60n) + 12345n;
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async listen(port = 0): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(port, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** The next `count` requests (to `path` only, when given) get `status` (e.g. 503 or 429 with Retry-After) before anything else. */
  failNext(count: number, status: number, headers: Record<string, string> = {}, path?: string): void {
    for (let i = 0; i < count; i++) this.injected.push({ status, headers, path });
  }

  /** The next `count` requests are answered only after `ms` (past a client's timeout). */
  stallNext(count: number, ms: number): void {
    this.stalls.push(...Array.from({ length: count }, () => ms));
  }

  /** An access token for `sub` that expired a minute ago, signed with the real secret. */
  async expiredToken(): Promise<string> {
    const secret = new TextEncoder().encode(this.options.auth!.secretKey);
    return new SignJWT({ sub: "1" }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(secret);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? "/", "http://x");
    const request: RecordedRequest = {
      method: req.method ?? "GET",
      path: decodeURIComponent(url.pathname),
      query: url.searchParams,
      authorization: req.headers.authorization,
      body: Buffer.concat(chunks).toString(),
    };
    this.requests.push(request);
    const stall = this.stalls.shift();
    if (stall) await new Promise((r) => setTimeout(r, stall));
    if (res.destroyed) return;
    if (this.options.sse && /^\/v1\/jobs\/\d+\/(output\/)?events$/.test(request.path) && !this.injected.length) {
      const denied = await this.authorized(request);
      if (!denied) return this.stream(request, res);
    }
    const at = this.injected.findIndex((i) => i.path === undefined || i.path === request.path);
    const injected = at < 0 ? undefined : this.injected.splice(at, 1)[0];
    const reply = injected ? { status: injected.status, headers: injected.headers, body: '{"detail":"injected"}' } : await this.route(request);
    res.writeHead(reply.status, { "content-type": "application/json", server: "uvicorn", ...reply.headers });
    res.end(reply.body);
  }

  private async authorized(request: RecordedRequest): Promise<Reply | undefined> {
    const auth = this.options.auth;
    if (!auth) return undefined;
    const [scheme, credential] = (request.authorization ?? "").split(" ");
    if (auth.challenge === "Basic") {
      const expected = Buffer.from(`${auth.user}:${auth.token}`).toString("base64");
      if (scheme === "Basic" && credential === expected) return undefined;
      return { status: 401, headers: { "www-authenticate": "Basic" }, body: '{"detail":"Incorrect email or password"}' };
    }
    if (scheme !== "Bearer" || !credential) return NOT_AUTHENTICATED;
    try {
      const { payload } = await jwtVerify(credential, new TextEncoder().encode(auth.secretKey), { currentDate: this.clock() });
      return payload.sub === "1" ? undefined : { status: 404, headers: {}, body: '{"detail":"User not found"}' };
    } catch {
      return BAD_CREDENTIALS;
    }
  }

  private async token(request: RecordedRequest): Promise<Reply> {
    const auth = this.options.auth;
    if (!auth || !request.authorization) return DENIED;
    const credential = request.authorization.split(" ").pop() ?? "";
    let claims: Record<string, unknown>;
    try {
      claims = (await jwtVerify(credential, new TextEncoder().encode(auth.secretKey))).payload;
    } catch {
      return INTERNAL_ERROR; // python-jose's JWTError is not caught upstream
    }
    if (claims.scope !== "token" || claims.user !== auth.user || claims.pass !== auth.token) return DENIED;
    const access = await new SignJWT({ sub: "1" })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setExpirationTime(Math.floor(this.clock().getTime() / 1000) + (auth.expiresSeconds ?? 36000))
      .sign(new TextEncoder().encode(auth.secretKey));
    return json(200, { access_token: access, token_type: "Bearer" });
  }

  private async route(request: RecordedRequest): Promise<Reply> {
    const { method, path } = request;
    if (method === "POST" && path === "/v1/token") return this.token(request);
    if (path === "/openapi.json") return json(200, { openapi: "3.0.2", paths: { "/v1/jobs/submit": { post: { parameters: [{ name: "command" }] } } } });
    if (!path.startsWith("/v1/")) return json(404, { detail: "Not Found" });
    const jobRoute = /^\/v1\/jobs\/([^/]+)(\/output|\/cancel)?$/.exec(path);
    const known = path === "/v1/nodes" || path === "/v1/jobs" || path === "/v1/jobs/submit" || path === "/v1/jobs/search" || jobRoute;
    if (!known) return json(404, { detail: "Not Found" }); // routing runs before auth in FastAPI
    const denied = await this.authorized(request);
    if (denied) return denied;
    if (method === "GET" && path === "/v1/nodes") return json(200, { nodes: this.options.nodes ?? ["vm"] });
    if (method === "GET" && path === "/v1/jobs") return this.list(request.query);
    if (method === "GET" && path === "/v1/jobs/search") {
      const data = [...this.jobs.values()].reverse().map((j) => this.info(j));
      return json(200, { data, draw: Number(request.query.get("draw") ?? 1), recordsTotal: data.length, recordsFiltered: data.length });
    }
    if (method === "POST" && path === "/v1/jobs/submit") return this.submit(request);
    if (!jobRoute) return json(405, { detail: "Method Not Allowed" });
    const [, idText, action] = jobRoute;
    const id = /^\d+$/.test(idText) ? BigInt(idText) : undefined;
    const job = id === undefined ? undefined : this.jobs.get(id);
    if (action === "/cancel") {
      if (!job) return json(400, { Message: "Job cannot be cancelled: [Errno 2] unknown job id.", id: idText });
      if (this.now() >= job.tEnd) return json(400, { Message: "Job cannot be cancelled: [Errno 2] job is inactive.", id: idText });
      job.canceled = true;
      job.tEnd = this.now();
      job.returncode = 143;
      return json(200, { Message: "Job is requested to cancel.", id: idText });
    }
    if (action === "/output") {
      if (!job || this.now() < job.tRun) return json(200, { Message: "The output does not exist yet, or the jobid is incorrect." });
      while (this.now() < job.tEnd) await new Promise((r) => setTimeout(r, 20)); // blocks until the job ends
      return json(200, { Output: job.output });
    }
    if (id === undefined) return INTERNAL_ERROR;
    return job ? json(200, this.info(job)) : { status: 200, headers: {}, body: "null" };
  }

  private clock(): Date {
    return new Date(Date.now() + this.clockOffsetSeconds * 1000);
  }

  /** Our sidecar's SSE formats: `output` events then `end`; eventlog entries up to `clean`. */
  private async stream(request: RecordedRequest, res: ServerResponse): Promise<void> {
    const id = BigInt(request.path.split("/")[3]);
    const job = this.jobs.get(id);
    if (!job) {
      res.writeHead(404, { "content-type": "application/json" }).end('{"detail":"job not found"}');
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    let sent = 0;
    const drop = this.dropStreamAfter;
    const send = (event: string | undefined, data: unknown): boolean => {
      if (drop !== undefined && sent === drop) {
        this.dropStreamAfter = undefined;
        res.destroy();
        return false;
      }
      sent++;
      res.write(`${event ? `event: ${event}\n` : ""}data: ${stringifyLossless(data)}\n\n`);
      return true;
    };
    const until = async (t: number) => {
      while (this.now() < t) await new Promise((r) => setTimeout(r, 10));
    };
    if (request.path.endsWith("/output/events")) {
      await until(job.tRun);
      for (const [rank, data] of job.output.entries()) if (!send("output", { stream: "stdout", rank: String(rank), data })) return;
      await until(job.tEnd);
      if (!send("end", {})) return;
    } else {
      const entry = (name: string, timestamp: number) => send(undefined, { name, timestamp, context: {} });
      for (const name of ["submit", "depend", "priority"]) if (!entry(name, job.tSubmit)) return;
      await until(job.tRun);
      for (const name of ["alloc", "start"]) if (!entry(name, job.tRun)) return;
      await until(job.tEnd);
      for (const name of ["finish", "release", "free", "clean"]) if (!entry(name, job.tEnd)) return;
    }
    res.end();
  }

  private now(): number {
    return Date.now() / 1000;
  }

  private submit(request: RecordedRequest): Reply {
    const q = request.query;
    const command = q.get("command");
    if (!command) return json(400, { Message: "A 'command' is minimally required." });
    const nnodes = Number(q.get("num_nodes") ?? 1);
    const limit = (this.options.nodes ?? ["vm"]).length;
    if (nnodes > limit) return json(400, { Message: "Invalid submit request", Errors: [`The server only has ${limit} nodes, you requested ${nnodes}`] });
    const envars = request.body ? (JSON.parse(request.body) as Record<string, string>) : {};
    const argv = command.split(" ");
    const ntasks = Number(q.get("num_tasks") ?? 1);
    const perTask = (text: string) => Array.from({ length: ntasks }, () => text);
    let output: string[] = [];
    let returncode = 0;
    let seconds = 0.05;
    if (argv[0] === "sleep") seconds = Number(argv[1]);
    else if (argv[0] === "hostname") output = perTask("vm\n");
    else if (argv[0] === "echo") output = perTask(argv.slice(1).join(" ") + "\n");
    else if (argv[0] === "printenv") output = perTask(`${envars[argv[1]] ?? ""}\n`);
    else if (argv[0] === "false") returncode = 1;
    const now = this.now();
    const id = this.nextId;
    this.nextId += 1n << 24n;
    this.jobs.set(id, { id, name: argv[0], ntasks, nnodes, tSubmit: now, tRun: now + 0.02, tEnd: now + 0.02 + seconds, output, returncode, canceled: false });
    return json(200, { Message: "Job submit.", id });
  }

  private info(job: FakeJob): Record<string, unknown> {
    const now = this.now();
    const done = now >= job.tEnd;
    const base = { id: job.id, userid: 0, t_submit: job.tSubmit, state: done ? "INACTIVE" : now >= job.tRun ? "RUN" : "SCHED", name: job.name, ntasks: job.ntasks, nnodes: job.nnodes };
    if (!done) return { ...base, result: "", returncode: "", runtime: 0.0, waitstatus: "", nodelist: "", exception: { occurred: "", severity: "", type: "", note: "" } };
    const result = job.canceled ? "CANCELED" : job.returncode === 0 ? "COMPLETED" : "FAILED";
    return {
      ...base,
      t_run: job.tRun,
      t_cleanup: job.tEnd,
      t_inactive: job.tEnd,
      nodelist: "vm",
      result,
      returncode: job.returncode,
      waitstatus: job.returncode << 8,
      runtime: job.tEnd - job.tRun,
      exception: job.canceled ? { occurred: true, severity: 0, type: "cancel", note: "" } : { occurred: false, severity: "", type: "", note: "" },
    };
  }

  private list(query: URLSearchParams): Reply {
    const jobs = [...this.jobs.values()].reverse();
    if (query.get("details") !== "true") {
      return json(200, { jobs: jobs.map((j) => ({ ...this.info(j), state: this.info(j).state === "INACTIVE" ? 64 : 16, result: 1 })) });
    }
    const limit = query.get("limit");
    const infos = jobs.slice(0, limit === null ? undefined : Number(limit)).map((j) => this.info(j));
    if (query.get("listing") === "true") return json(200, infos);
    return json(200, Object.fromEntries(infos.map((i) => [String(i.id), i])));
  }
}
