/**
 * Environment -> typed sidecar configuration. The variable names are the Python
 * flux-restful-api's (so a MiniCluster spec written for it keeps working) plus HOST/PORT/TLS.
 * Every problem is reported as one ConfigError naming the variable; main.ts prints it and exits 1.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { splitCommand, unsafeKeyPart } from "./flux";
import { socketPathFromUri } from "./flux/uri";
import { CREDENTIAL_FILES } from "./mounts";
import { currentFilesDir } from "./reload";
import { closeSync, constants, fstatSync, openSync } from "node:fs";

export { CREDENTIAL_FILES };

export class ConfigError extends Error {
  override name = "ConfigError";
}

export interface SidecarConfig {
  host: string;
  port: number;
  /** FLUX_URI; undefined means "search socketCandidates and wait for one". */
  fluxUri?: string;
  socketCandidates: string[];
  requireAuth: boolean;
  /** The one account (FLUX_USER/FLUX_TOKEN); it is also the superuser allowed to stop the service. */
  user: string;
  token?: string;
  secretKey?: string;
  /**
   * FLUX_CREDENTIALS_DIR: user, token and secret key come from the files CREDENTIAL_FILES names in
   * this directory (a mounted Secret) instead of the environment, and are read again when it changes.
   */
  credentialsDir?: string;
  /** FLUX_BUNDLE_FILE: the sidecar's own bundle; a new one in its (mounted) directory makes it exit RELOAD_EXIT_CODE. */
  bundleFile?: string;
  /** How often the mounted credentials and bundle are checked for a change (FLUX_RELOAD_POLL_SECONDS). */
  reloadPollMs: number;
  accessTokenExpiresMinutes: number;
  /** FLUX_NUMBER_NODES; undefined means "the broker's size". */
  numberNodes?: number;
  hasGpus: boolean;
  /** Shell options applied to every submit (user option_flags override them). */
  optionFlags: Record<string, string>;
  tls?: { cert: Buffer; key: Buffer };
  /** Where tls was read from: read again when they change (a renewed certificate in a mounted Secret). */
  tlsFiles?: { cert: string; key: string };
  /** PATH given to jobs: they never inherit the server's environment. */
  jobPath: string;
  maxBodyBytes: number;
  /** FLUX_MAX_STREAMS: output and event streams open at once (each holds a broker connection). */
  maxStreams: number;
  /** FLUX_MAX_MESSAGE_BYTES: the largest broker reply read; an output snapshot past it is a 413. */
  maxMessageBytes: number;
  authMaxFailures: number;
  authWindowSeconds: number;
  /** How long an Idempotency-Key of a submit is honoured, and how many keys are kept at most. */
  idempotencyWindowSeconds: number;
  idempotencyMaxKeys: number;
  /**
   * Behind a proxy that appends the client's address to X-Forwarded-For and sets
   * X-Forwarded-Proto (an ALB): the limiter keys on the last hop, the cookie follows the scheme.
   */
  trustProxy: boolean;
  /** Open connections at once; a small reserve past it answers only the health routes. */
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** A request's headers, and the whole request, must arrive within these. */
  headersTimeoutMs: number;
  /** A client that reads nothing of its answer for this long is cut off. */
  writeStallMs: number;
  requestTimeoutMs: number;
  /** Idle keep-alive: longer than the idle timeout of the load balancer in front, or it sees resets (502). */
  keepAliveTimeoutMs: number;
  /**
   * FLUX_WORKSPACE: an absolute directory shared with the lead broker's container: jobs' default
   * working directory, and what the file routes serve. Undefined: no file routes, no default cwd.
   */
  workspace?: string;
  /** FLUX_PROXY: the Flux proxy (docs/proxy.md), only with FLUX_REQUIRE_AUTH. */
  fluxProxy: boolean;
  /** Proxied Flux connections at once, in all and per user (FLUX_PROXY_MAX_CONNECTIONS[_PER_USER]). */
  proxyMaxConnections: number;
  proxyMaxConnectionsPerUser: number;
  /** A proxied connection with no Flux message either way for this long is closed (FLUX_PROXY_IDLE_SECONDS). */
  proxyIdleMs: number;
  /** FLUX_PROXY_ALLOW_TOPICS: topics taken off the proxy's default deny list. */
  proxyAllowTopics: string[];
  /** Decoded bytes and number of files one submit may carry (attributes.system.files). */
  maxJobFilesBytes: number;
  maxJobFiles: number;
  /** Bytes one PUT /v1/files/content may write (streamed to disk). */
  maxUploadBytes: number;
  /** Entries one listing returns at most (then truncated: true). */
  maxListEntries: number;
  /** POST /v1/service/stop closes the server and opens it again (in a pod nothing else restarts it). */
  restartOnStop: boolean;
  logLevel: string;
}

/** Socket paths a Flux Operator MiniCluster exposes, newest layout first after the seed's. */
export const MINICLUSTER_SOCKETS = [
  "/mnt/flux/view/run/flux/local",
  "/mnt/flux/config/run/flux/local",
  "/run/flux/local",
];

/**
 * Each open stream holds up to its stream buffer (1 MiB) plus one broker message: 32 of them
 * stalled stay well inside the sidecar's memory budget.
 */
export const DEFAULT_MAX_STREAMS = 32;
/**
 * Larger than any listing or eventlog a sidecar reads (1000 jobs are about 1 MB), small enough
 * that decoding one, output snapshots included, fits in the 128 MB heap.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

export const DEFAULT_JOB_PATH = "/mnt/flux/view/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

type Env = Record<string, string | undefined>;

export const DEFAULT_MAX_JOB_FILES_BYTES = 4 * 1024 * 1024;

/**
 * The body a submit may have: its files as JSON strings (base64 is 4/3 of the bytes; escaped
 * text at most twice them), a little per file for names and modes, and room for the other fields.
 */
export function submitBodyLimit(config: Pick<SidecarConfig, "maxBodyBytes" | "maxJobFilesBytes" | "maxJobFiles">): number {
  return Math.max(config.maxBodyBytes, 2 * config.maxJobFilesBytes + 2048 * config.maxJobFiles + 64 * 1024);
}

/** FLUX_WORKSPACE: an absolute path, normalised (no trailing "/", no "." or ".." parts). */
function parseWorkspace(value: string | undefined): string | undefined {
  const v = nonEmpty(value?.trim());
  if (v === undefined) return undefined;
  if (!path.isAbsolute(v)) throw new ConfigError(`FLUX_WORKSPACE must be an absolute directory, got "${value}"`);
  if (v.split("/").some((part) => part === "." || part === "..")) throw new ConfigError(`FLUX_WORKSPACE must not contain "." or ".." parts, got "${value}"`);
  if (/[\0-\x1f\x7f]/.test(v)) throw new ConfigError("FLUX_WORKSPACE must not contain control characters");
  const normal = path.normalize(v).replace(/\/+$/, "");
  if (normal === "") throw new ConfigError('FLUX_WORKSPACE must not be "/"');
  return normal;
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off", ""]);

export function parseBool(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  const v = value.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new ConfigError(`${name} must be a boolean (true/false, 1/0, yes/no), got "${value}"`);
}

function parseInteger(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value.trim() === "") return fallback;
  const v = value.trim();
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${value}"`);
  }
  return n;
}

/** FLUX_OPTION_FLAGS: shell-split "-okey=value" (or "key=value") items, as the Python server reads them. */
export function parseOptionFlags(value: string | undefined): Record<string, string> {
  const flags: Record<string, string> = {};
  if (!value?.trim()) return flags;
  let items: string[];
  try {
    items = splitCommand(value);
  } catch (err) {
    throw new ConfigError(`FLUX_OPTION_FLAGS: ${(err as Error).message}`);
  }
  for (const item of items) {
    const match = /^(?:-o)?([^=]+)=(.*)$/.exec(item);
    if (!match) throw new ConfigError(`FLUX_OPTION_FLAGS items must look like -okey=value, got "${item}"`);
    const unsafe = unsafeKeyPart(match[1]);
    if (unsafe) throw new ConfigError(`FLUX_OPTION_FLAGS: shell option "${match[1]}" is not allowed ("${unsafe}")`);
    flags[match[1]] = match[2];
  }
  return flags;
}

export interface Credentials {
  user: string;
  token?: string;
  secretKey?: string;
}

/** Larger than any credential, small enough that a wrong mount is refused rather than read. */
const MAX_CREDENTIAL_BYTES = 4096;

function readCredentialFile(dir: string, file: string): string | undefined {
  const filePath = path.join(dir, file);
  let text: string;
  try {
    // Non-blocking: a FIFO put there must not hang the start-up.
    const fd = openSync(filePath, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new ConfigError(`FLUX_CREDENTIALS_DIR: ${filePath} is not a file`);
      if (stat.size > MAX_CREDENTIAL_BYTES) throw new ConfigError(`FLUX_CREDENTIALS_DIR: ${filePath} is larger than ${MAX_CREDENTIAL_BYTES} bytes`);
      text = readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`FLUX_CREDENTIALS_DIR: cannot read ${filePath}: ${(err as Error).message}`);
  }
  // One trailing newline is the file's, not the credential's (echo > file); nothing else is changed.
  return nonEmpty(text.replace(/\r?\n$/, ""));
}

/**
 * The credentials in a FLUX_CREDENTIALS_DIR, all of one version of a mounted Secret, checked as
 * loadConfig checks them; throws ConfigError.
 */
export function readCredentials(dir: string, requireAuth: boolean): Credentials {
  const current = currentFilesDir(dir);
  const credentials = {
    user: readCredentialFile(current, CREDENTIAL_FILES.user) ?? "fluxuser",
    token: readCredentialFile(current, CREDENTIAL_FILES.token),
    secretKey: readCredentialFile(current, CREDENTIAL_FILES.secretKey),
  };
  checkCredentials(credentials, requireAuth, `${dir}/`);
  return credentials;
}

/** `where`: the directory the credentials were read from, or "" for the environment. */
function checkCredentials(credentials: Credentials, requireAuth: boolean, where: string): void {
  const name = (env: string, file: string) => (where ? `${where}${file}` : env);
  if (requireAuth && !credentials.token) throw new ConfigError(`${name("FLUX_TOKEN", CREDENTIAL_FILES.token)} must be set when FLUX_REQUIRE_AUTH is true`);
  if (requireAuth && !credentials.secretKey) throw new ConfigError(`${name("FLUX_SECRET_KEY", CREDENTIAL_FILES.secretKey)} must be set when FLUX_REQUIRE_AUTH is true`);
}

function readFile(name: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${name}: cannot read ${path}: ${(err as Error).message}`);
  }
}

export function readTls(files: { cert: string; key: string }): { cert: Buffer; key: Buffer } {
  return { cert: readFile("FLUX_TLS_CERT_FILE", files.cert), key: readFile("FLUX_TLS_KEY_FILE", files.key) };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

export function loadConfig(env: Env = process.env): SidecarConfig {
  const requireAuth = parseBool("FLUX_REQUIRE_AUTH", env.FLUX_REQUIRE_AUTH, false);
  const credentialsDir = nonEmpty(env.FLUX_CREDENTIALS_DIR);
  let credentials: Credentials;
  if (credentialsDir) {
    const inEnvironment = ["FLUX_USER", "FLUX_TOKEN", "FLUX_SECRET_KEY"].filter((name) => nonEmpty(env[name]) !== undefined);
    if (inEnvironment.length) throw new ConfigError(`${inEnvironment.join(", ")} must not be set with FLUX_CREDENTIALS_DIR, which holds the credentials`);
    credentials = readCredentials(credentialsDir, requireAuth);
  } else {
    credentials = { user: nonEmpty(env.FLUX_USER) ?? "fluxuser", token: nonEmpty(env.FLUX_TOKEN), secretKey: nonEmpty(env.FLUX_SECRET_KEY) };
    checkCredentials(credentials, requireAuth, "");
  }

  const certFile = nonEmpty(env.FLUX_TLS_CERT_FILE);
  const keyFile = nonEmpty(env.FLUX_TLS_KEY_FILE);
  if (Boolean(certFile) !== Boolean(keyFile)) {
    throw new ConfigError("FLUX_TLS_CERT_FILE and FLUX_TLS_KEY_FILE must be set together");
  }
  const fluxUri = nonEmpty(env.FLUX_URI);
  if (fluxUri) {
    try {
      socketPathFromUri(fluxUri);
    } catch (err) {
      throw new ConfigError(`FLUX_URI: ${(err as Error).message}`);
    }
  }
  const fluxProxy = parseBool("FLUX_PROXY", env.FLUX_PROXY, false);
  if (fluxProxy && !requireAuth) throw new ConfigError("FLUX_PROXY needs FLUX_REQUIRE_AUTH=true: a proxied client acts as the instance owner");
  const headersTimeoutSeconds = parseInteger("FLUX_HEADERS_TIMEOUT_SECONDS", env.FLUX_HEADERS_TIMEOUT_SECONDS, 10, 1, 600);
  const requestTimeoutSeconds = parseInteger("FLUX_REQUEST_TIMEOUT_SECONDS", env.FLUX_REQUEST_TIMEOUT_SECONDS, 30, 1, 3600);
  // Node refuses a request timeout shorter than the headers timeout (a RangeError at start).
  if (requestTimeoutSeconds < headersTimeoutSeconds) {
    throw new ConfigError(`FLUX_REQUEST_TIMEOUT_SECONDS (${requestTimeoutSeconds}) must be at least FLUX_HEADERS_TIMEOUT_SECONDS (${headersTimeoutSeconds})`);
  }
  const logLevel = (env.FLUX_LOG_LEVEL ?? "info").trim();
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel)) {
    throw new ConfigError(`FLUX_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "${logLevel}"`);
  }

  return {
    host: nonEmpty(env.HOST) ?? "0.0.0.0",
    port: parseInteger("PORT", env.PORT, 5000, 0, 65535),
    fluxUri,
    socketCandidates: MINICLUSTER_SOCKETS,
    requireAuth,
    ...credentials,
    credentialsDir,
    bundleFile: nonEmpty(env.FLUX_BUNDLE_FILE),
    reloadPollMs: 1000 * parseInteger("FLUX_RELOAD_POLL_SECONDS", env.FLUX_RELOAD_POLL_SECONDS, 10, 1, 3600),
    accessTokenExpiresMinutes: parseInteger("FLUX_ACCESS_TOKEN_EXPIRES_MINUTES", env.FLUX_ACCESS_TOKEN_EXPIRES_MINUTES, 600, 1, 525600),
    numberNodes: env.FLUX_NUMBER_NODES?.trim()
      ? parseInteger("FLUX_NUMBER_NODES", env.FLUX_NUMBER_NODES, 1, 1, 1_000_000)
      : undefined,
    hasGpus: parseBool("FLUX_HAS_GPUS", env.FLUX_HAS_GPUS, false),
    optionFlags: parseOptionFlags(env.FLUX_OPTION_FLAGS),
    tls: certFile && keyFile
      ? readTls({ cert: certFile, key: keyFile })
      : undefined,
    tlsFiles: certFile && keyFile ? { cert: certFile, key: keyFile } : undefined,
    jobPath: nonEmpty(env.FLUX_JOB_PATH) ?? DEFAULT_JOB_PATH,
    maxBodyBytes: parseInteger("FLUX_MAX_BODY_BYTES", env.FLUX_MAX_BODY_BYTES, 1024 * 1024, 1024, 64 * 1024 * 1024),
    maxStreams: parseInteger("FLUX_MAX_STREAMS", env.FLUX_MAX_STREAMS, DEFAULT_MAX_STREAMS, 1, 4096),
    maxMessageBytes: parseInteger("FLUX_MAX_MESSAGE_BYTES", env.FLUX_MAX_MESSAGE_BYTES, DEFAULT_MAX_MESSAGE_BYTES, 64 * 1024, 1024 * 1024 * 1024),
    authMaxFailures: parseInteger("FLUX_AUTH_MAX_FAILURES", env.FLUX_AUTH_MAX_FAILURES, 10, 1, 1_000_000),
    authWindowSeconds: parseInteger("FLUX_AUTH_WINDOW_SECONDS", env.FLUX_AUTH_WINDOW_SECONDS, 300, 1, 86400),
    idempotencyWindowSeconds: parseInteger("FLUX_IDEMPOTENCY_WINDOW_SECONDS", env.FLUX_IDEMPOTENCY_WINDOW_SECONDS, 3600, 1, 86400),
    idempotencyMaxKeys: parseInteger("FLUX_IDEMPOTENCY_MAX_KEYS", env.FLUX_IDEMPOTENCY_MAX_KEYS, 10_000, 1, 1_000_000),
    trustProxy: parseBool("FLUX_TRUST_PROXY", env.FLUX_TRUST_PROXY, false),
    maxConnections: parseInteger("FLUX_MAX_CONNECTIONS", env.FLUX_MAX_CONNECTIONS, 512, 1, 100_000),
    maxConnectionsPerAddress: parseInteger("FLUX_MAX_CONNECTIONS_PER_ADDRESS", env.FLUX_MAX_CONNECTIONS_PER_ADDRESS, 64, 1, 100_000),
    headersTimeoutMs: 1000 * headersTimeoutSeconds,
    writeStallMs: 1000 * parseInteger("FLUX_WRITE_STALL_SECONDS", env.FLUX_WRITE_STALL_SECONDS, 60, 1, 3600),
    requestTimeoutMs: 1000 * requestTimeoutSeconds,
    keepAliveTimeoutMs: 1000 * parseInteger("FLUX_KEEPALIVE_TIMEOUT_SECONDS", env.FLUX_KEEPALIVE_TIMEOUT_SECONDS, 65, 1, 3600),
    workspace: parseWorkspace(env.FLUX_WORKSPACE),
    maxJobFilesBytes: parseInteger("FLUX_MAX_JOB_FILES_BYTES", env.FLUX_MAX_JOB_FILES_BYTES, DEFAULT_MAX_JOB_FILES_BYTES, 0, 256 * 1024 * 1024),
    maxJobFiles: parseInteger("FLUX_MAX_JOB_FILES", env.FLUX_MAX_JOB_FILES, 64, 0, 10_000),
    maxUploadBytes: parseInteger("FLUX_MAX_UPLOAD_BYTES", env.FLUX_MAX_UPLOAD_BYTES, 1024 * 1024 * 1024, 0, Number.MAX_SAFE_INTEGER),
    maxListEntries: parseInteger("FLUX_MAX_LIST_ENTRIES", env.FLUX_MAX_LIST_ENTRIES, 1000, 1, 1_000_000),
    fluxProxy,
    proxyMaxConnections: parseInteger("FLUX_PROXY_MAX_CONNECTIONS", env.FLUX_PROXY_MAX_CONNECTIONS, 32, 1, 10_000),
    proxyMaxConnectionsPerUser: parseInteger("FLUX_PROXY_MAX_CONNECTIONS_PER_USER", env.FLUX_PROXY_MAX_CONNECTIONS_PER_USER, 16, 1, 10_000),
    proxyIdleMs: 1000 * parseInteger("FLUX_PROXY_IDLE_SECONDS", env.FLUX_PROXY_IDLE_SECONDS, 3600, 1, 7 * 86400),
    proxyAllowTopics: (env.FLUX_PROXY_ALLOW_TOPICS ?? "").split(",").map((t) => t.trim()).filter(Boolean),
    restartOnStop: parseBool("FLUX_RESTART_ON_STOP", env.FLUX_RESTART_ON_STOP, false),
    logLevel,
  };
}

/** The secrets a config holds: the logger redacts them wherever they appear. */
export function configSecrets(config: SidecarConfig): string[] {
  return [config.token, config.secretKey].filter((s): s is string => Boolean(s));
}
