/** Shapes of flux-restful-api v1 bodies as the client hands them out (ids as bigint). */

export type JobState = "DEPEND" | "PRIORITY" | "SCHED" | "RUN" | "CLEANUP" | "INACTIVE" | (string & {});

/** `GET /v1/jobs/{id}` and the detailed listings. Unfinished jobs carry "" in the result fields. */
export interface JobInfo {
  id: bigint;
  state: JobState;
  name?: string;
  userid?: number;
  ntasks?: number;
  ncores?: number;
  nnodes?: number;
  nodelist?: string;
  ranks?: string;
  result?: string;
  returncode?: number | "";
  waitstatus?: number | "";
  runtime?: number;
  t_submit?: number;
  t_run?: number;
  t_cleanup?: number;
  t_inactive?: number;
  exception?: { occurred: boolean | ""; severity: number | ""; type: string; note: string };
  [key: string]: unknown;
}

/** A raw job-list record from plain `GET /v1/jobs` (state and result are Flux's integers). */
export interface JobListEntry {
  id: bigint;
  state?: number;
  result?: number;
  name?: string;
  [key: string]: unknown;
}

/**
 * A file sent with a job (RFC 37 file archive in the jobspec): the job shell writes it into
 * `{{tmpdir}}/NAME` on every node before the tasks start. Text is sent as UTF-8; bytes as UTF-8
 * when they are valid UTF-8, else base64 (as `flux submit --add-file` does).
 */
export type JobFile =
  | string
  | Uint8Array
  | {
      data: string | Uint8Array;
      /** How a string `data` is encoded (default utf-8); bytes choose their own. */
      encoding?: "utf-8" | "base64";
      /** Permission bits, a number (0o755) or an octal string ("0755"); the server's default is 0600. */
      mode?: number | string;
    };

export interface SubmitOptions {
  /** A shell-like command line, or argv (quoted for the server's shlex split). Not with `script`. */
  command?: string | string[];
  /** A batch script (must start with "#!"): the job runs it as its own Flux instance, as `flux batch` does. */
  script?: string;
  /** Arguments of the batch script. */
  scriptArgs?: string[];
  /** Files for the job, by relative name; commands refer to them as `{{tmpdir}}/NAME`. */
  files?: Record<string, JobFile>;
  numTasks?: number;
  coresPerTask?: number;
  gpusPerTask?: number;
  numNodes?: number;
  exclusive?: boolean;
  /** Flux shell options, e.g. { "cpu-affinity": "per-task" }. */
  optionFlags?: Record<string, string>;
  workdir?: string;
  /** Time limit in seconds (0 = none). */
  runtime?: number;
  /** Environment variables for the job, sent as the JSON body the way the API reads them. */
  envars?: Record<string, string>;
  /** Job name; only sent to servers whose OpenAPI document lists it for submit. */
  name?: string;
  /**
   * The submit's Idempotency-Key (default: a new UUID per call). Give the key of a submit that
   * ended in SubmitOutcomeUnknownError to retry it safely. Only sent to servers that honour it.
   */
  idempotencyKey?: string;
}

/** The options of a batch job: a submit's, without a command (the script is the job). */
export type BatchOptions = Omit<SubmitOptions, "command" | "script" | "scriptArgs"> & { args?: string[] };

/** One entry of a workspace listing. */
export interface FileEntry {
  name: string;
  type: "file" | "directory" | "symlink" | "other";
  size: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  /** Permission bits. */
  mode: number;
}

/** `GET /v1/files`: a workspace directory, sorted by name; `truncated` past the server's entry limit. */
export interface FileListing {
  path: string;
  entries: FileEntry[];
  truncated: boolean;
}

/** `GET /v1/jobs/{id}/files`: the job's working directory; download an entry as `${path}/${name}`. */
export interface JobFileListing extends FileListing {
  id: bigint;
}

/** `PUT /v1/files/content`: what was stored. */
export interface UploadResult {
  path: string;
  size: number;
  mode: number;
}

/** A download as it arrives: read `body` to the end or cancel it. */
export interface FileDownload {
  body: ReadableStream<Uint8Array>;
  /** The size the server announced, when it did. */
  size?: number;
}

export interface SubmitResult {
  id: bigint;
  message: string;
}

export interface SearchOptions {
  query?: string;
  start?: number;
  length?: number;
  draw?: number;
}

export interface SearchResult {
  data: JobInfo[];
  draw: number;
  recordsTotal: number;
  recordsFiltered: number;
}

export interface ResourceCounts {
  total: number;
  up: number;
  allocated: number;
}

/** `GET /v1/cluster` (our sidecar); from the Python server, which lacks it, only `up` (its /v1/nodes). */
export interface ClusterSummary {
  up: string[];
  down?: string[];
  allocated?: string[];
  free?: string[];
  cores?: ResourceCounts;
  gpus?: ResourceCounts;
  /** What submit enforces: at most maxNodes nodes, GPUs only when gpus is true. */
  limits?: { maxNodes: number; gpus: boolean };
}

export interface OutputLine {
  /** The text without its line break. */
  line: string;
  /** "stdout" or "stderr" when the server says (the SSE stream does; plain output does not). */
  stream?: string;
  /** The task rank(s) as Flux writes them: an idset such as "0" or "[0-3]". */
  rank?: string;
}

/** One job eventlog entry; `synthesized` when rebuilt from job info (server without SSE). */
export interface JobEvent {
  name: string;
  timestamp: number;
  context: Record<string, unknown>;
  synthesized?: boolean;
}

export interface ClientOptions {
  /** Base URL, e.g. http://127.0.0.1:5000 (a path prefix is kept). */
  host: string;
  user?: string;
  /** The user's password ("token" in flux-restful-api terms). */
  token?: string;
  /** The server's shared FLUX_SECRET_KEY, used to sign the token request. */
  secretKey?: string;
  /** PEM CA certificate to trust for https instead of the system's (`--stack` fills it from the stack's `caCertificate`). */
  ca?: string;
  /** Per-request timeout (default 30 s). Output and streams are not bounded by it. */
  timeoutMs?: number;
  /** Retries of network errors, 429 and 5xx (default 5); a submit only where it cannot run twice. */
  retries?: number;
  /** First backoff delay (default 200 ms), doubling up to maxDelayMs (default 5 s). */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** How long wait() and the streams ride out an unreachable server, e.g. a restart (default 60 s). */
  outageMs?: number;
  /** Polling interval where the server has no event stream (default 500 ms). */
  pollIntervalMs?: number;
  /** Called before each retry of a request (and each reconnection of a stream), e.g. to tell a person. */
  onRetry?: (retry: RetryNotice) => void;
}

export interface RetryNotice {
  /** The attempt that failed, from 1. */
  attempt: number;
  /** Retries allowed; undefined while a stream or wait rides out an outage (up to outageMs). */
  retries?: number;
  delayMs: number;
  /** What failed: "cannot reach http://…: connection refused", "http://… answered HTTP 503". */
  reason: string;
  /** The server did not answer at all (as opposed to answering with an error status). */
  unreachable: boolean;
}
