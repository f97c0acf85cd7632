/**
 * Shared pieces of the sidecar specs: one broker (the test broker, or the real one under
 * FLUX_CONTRACT_REAL=1) with an in-process sidecar on an ephemeral port, its log captured line
 * by line, and the Python client's handshake.
 */
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { SignJWT } from "jose";
import { loadConfig } from "../../sidecar/config";
import { startSidecar, type SidecarHandle } from "../../sidecar/server";
import { startBroker } from "../support/broker";

export type Broker = Awaited<ReturnType<typeof startBroker>>;

export interface Sidecar {
  url: string;
  handle: SidecarHandle;
  logLines: string[];
  user: string;
  token: string;
  secretKey: string;
  /** Moves the sidecar's clock (token expiry, rate-limit windows) forward. */
  advanceClock(ms: number): void;
  close(): Promise<void>;
}

export function lineCollector(lines: string[]): Writable {
  let partial = "";
  return new Writable({
    write(chunk: Buffer | string, _enc, callback) {
      const parts = (partial + chunk.toString()).split("\n");
      partial = parts.pop() ?? "";
      lines.push(...parts.filter(Boolean));
      callback();
    },
  });
}

/** A sidecar for `broker`; credentials are random, auth is off unless env turns it on. */
export async function startTestSidecar(broker: Broker, env: Record<string, string> = {}): Promise<Sidecar> {
  const user = `user-${randomBytes(3).toString("hex")}`;
  const token = `tok-${randomBytes(12).toString("hex")}`;
  const secretKey = `sec-${randomBytes(16).toString("hex")}`;
  const logLines: string[] = [];
  let offset = 0;
  const config = loadConfig({
    FLUX_URI: broker.uri,
    FLUX_USER: user,
    FLUX_TOKEN: token,
    FLUX_SECRET_KEY: secretKey,
    FLUX_NUMBER_NODES: String(broker.size),
    HOST: "127.0.0.1",
    PORT: "0",
    FLUX_LOG_LEVEL: "debug",
    ...env,
  });
  const handle = await startSidecar(config, { logDestination: lineCollector(logLines), clock: () => Date.now() + offset });
  return {
    url: handle.url,
    handle,
    logLines,
    user,
    token,
    secretKey,
    advanceClock: (ms) => (offset += ms),
    close: () => handle.close(),
  };
}

/** The Python client's token-request JWT: HS256 {user, pass, scope:"token"}, no exp. */
export function tokenRequestJwt(user: string, pass: string, secret: string, extra: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ user, pass, scope: "token", ...extra })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(secret));
}

export async function accessToken(s: Sidecar): Promise<string> {
  const res = await fetch(`${s.url}/v1/token`, {
    method: "POST",
    headers: { authorization: `Bearer ${await tokenRequestJwt(s.user, s.token, s.secretKey)}` },
  });
  if (res.status !== 200) throw new Error(`token: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

export type Api = (path: string, init?: RequestInit) => Promise<Response>;

/** fetch against the sidecar, with a Bearer token when one is given. */
export function apiFor(s: Sidecar, bearer?: string): Api {
  return (path, init = {}) => {
    const headers = new Headers(init.headers);
    if (bearer && !headers.has("authorization")) headers.set("authorization", `Bearer ${bearer}`);
    return fetch(s.url + path, { ...init, headers });
  };
}

/** Submits with query fields and returns the id as exact decimal text (ids can exceed 2^53). */
export async function submit(api: Api, query: string, init: RequestInit = {}): Promise<string> {
  const res = await api(`/v1/jobs/submit?${query}`, { method: "POST", ...init });
  const text = await res.text();
  const id = /"id":(\d+)/.exec(text)?.[1];
  if (res.status !== 200 || !id) throw new Error(`submit ${query}: ${res.status} ${text}`);
  return id;
}

export const q = (fields: Record<string, string | number | boolean>) =>
  new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, String(v)])).toString();

/** Polls GET /v1/jobs/{id} until the job is INACTIVE. */
export async function waitInactive(api: Api, id: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = (await (await api(`/v1/jobs/${id}`)).json()) as Record<string, unknown>;
    if (body.state === "INACTIVE") return body;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${String(body.state)} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Polls until the job is running (state RUN). */
export async function waitRunning(api: Api, id: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = (await (await api(`/v1/jobs/${id}`)).json()) as Record<string, unknown>;
    if (body.state === "RUN") return;
    if (body.state === "INACTIVE") throw new Error(`job ${id} ended before it was seen running`);
    if (Date.now() > deadline) throw new Error(`job ${id} not running after ${timeoutMs} ms`);
    await sleep(50);
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Parses an SSE body into {event, data} pairs. */
export function parseSse(text: string): Array<{ event: string; data: unknown }> {
  return text
    .split("\n\n")
    .filter((block) => block.trim() && !block.startsWith(":"))
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
      const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      return { event, data: JSON.parse(data) as unknown };
    });
}
