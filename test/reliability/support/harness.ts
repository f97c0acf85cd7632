/**
 * One broker (test broker, or the real one when the support module picks it) and one in-process
 * sidecar with auth on, random secrets, and its log stream captured line by line, plus the
 * calls the reliability specs share.
 */
import { Writable } from "node:stream";
import { loadConfig } from "../../../sidecar/config";
import { FluxClient } from "../../../sidecar/flux";
import { startSidecar, type SidecarHandle } from "../../../sidecar/server";
import { startBroker } from "../../support/broker";
import { fetchAccessToken, randomCredentials, type Credentials } from "./auth";

export type Broker = Awaited<ReturnType<typeof startBroker>>;

export interface Harness {
  url: string;
  port: number;
  broker: Broker;
  /** The sidecar's Flux client (owned by the harness so tests can inspect it). */
  flux: FluxClient;
  sidecar: SidecarHandle;
  creds: Credentials;
  /** Every log line the sidecar wrote. */
  logLines: string[];
  /** Access tokens handed out through `authorization()`. */
  issuedTokens: Set<string>;
  /** "Bearer <token>", fetched once through POST /v1/token. */
  authorization(): Promise<string>;
  /** fetch with the Authorization header added. */
  api(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  /** Extra sidecar environment (FLUX_AUTH_MAX_FAILURES, ...). */
  env?: Record<string, string>;
  /** Per-call timeout of the sidecar's Flux client. */
  fluxTimeoutMs?: number;
  /** An already started broker to use (the harness will not stop it). */
  broker?: Broker;
  /** Where the sidecar connects, when not straight to the broker (a FaultProxy in front of it). */
  fluxUri?: string;
}

export function lineCollector(lines: string[]): Writable {
  let partial = "";
  return new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      const text = partial + chunk.toString();
      const parts = text.split("\n");
      partial = parts.pop() ?? "";
      lines.push(...parts.filter((line) => line.length > 0));
      callback();
    },
  });
}

/** The sidecar's environment for a broker: auth on with the given credentials, loopback, any free port. */
export function sidecarEnv(uri: string, size: number, creds: Credentials, extra: Record<string, string> = {}): Record<string, string> {
  return {
    FLUX_URI: uri,
    FLUX_REQUIRE_AUTH: "true",
    FLUX_USER: creds.user,
    FLUX_TOKEN: creds.token,
    FLUX_SECRET_KEY: creds.secretKey,
    FLUX_NUMBER_NODES: String(size),
    HOST: "127.0.0.1",
    PORT: "0",
    ...extra,
  };
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const broker = opts.broker ?? (await startBroker());
  const creds = randomCredentials();
  const logLines: string[] = [];
  const uri = opts.fluxUri ?? broker.uri;
  const config = loadConfig(sidecarEnv(uri, broker.size, creds, { FLUX_LOG_LEVEL: "debug", ...opts.env }));
  const flux = new FluxClient({ uri, timeoutMs: opts.fluxTimeoutMs, maxMessageBytes: config.maxMessageBytes });
  const sidecar = await startSidecar(config, { flux, logDestination: lineCollector(logLines) });
  const issuedTokens = new Set<string>();
  let authorization: Promise<string> | undefined;
  const harness: Harness = {
    url: sidecar.url,
    port: sidecar.port,
    broker,
    flux,
    sidecar,
    creds,
    logLines,
    issuedTokens,
    authorization() {
      authorization ??= fetchAccessToken(sidecar.url, creds).then((token) => {
        issuedTokens.add(token);
        return `Bearer ${token}`;
      });
      return authorization;
    },
    async api(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has("authorization")) headers.set("authorization", await harness.authorization());
      return fetch(sidecar.url + path, { ...init, headers });
    },
    async stop() {
      await sidecar.close();
      await flux.close();
      if (!opts.broker) await broker.stop();
    },
  };
  return harness;
}

/** Anything that can make authenticated API calls: a Harness, or apiCaller() for a child sidecar. */
export type ApiCaller = Pick<Harness, "api">;

export function apiCaller(baseUrl: string, authorization: string): ApiCaller {
  return {
    api(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has("authorization")) headers.set("authorization", authorization);
      return fetch(baseUrl + path, { ...init, headers });
    },
  };
}

/** Submits a command (query fields, as the Python client does) and returns its id as exact decimal text. */
export async function submit(h: ApiCaller, command: string, extra = ""): Promise<string> {
  const res = await h.api(`/v1/jobs/submit?command=${encodeURIComponent(command)}${extra}`, { method: "POST" });
  const text = await res.text();
  const id = /"id":(\d+)/.exec(text)?.[1];
  if (res.status !== 200 || !id) throw new Error(`submit ${command} answered ${res.status}: ${text}`);
  return id;
}

/** Polls the job until INACTIVE; returns its details. */
export async function waitInactive(h: ApiCaller, id: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await h.api(`/v1/jobs/${id}`);
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status === 200 && body.state === "INACTIVE") return body;
    if (Date.now() > deadline) throw new Error(`job ${id} not inactive after ${timeoutMs} ms: ${JSON.stringify(body)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The job's output lines once it has finished. */
export async function outputOf(h: ApiCaller, id: string): Promise<string[]> {
  await waitInactive(h, id);
  const res = await h.api(`/v1/jobs/${id}/output`);
  const body = (await res.json()) as { Output?: string[]; Message?: string };
  return body.Output ?? [];
}
