/**
 * FluxClient: the native TypeScript client for a Flux broker's local socket. Composes the
 * RPC layer with one module per broker service. Calls connect lazily; after a lost
 * connection the next call reconnects (with bounded backoff while the broker stays away).
 *
 * Calls share one connection. Following an eventlog or output, and reading an output snapshot,
 * each get a connection of their own for as long as they last: a stream's consumer sets its
 * pace by pausing that connection (the broker buffers meanwhile), which on the shared one would
 * stall every call, and a huge output reply is read past there instead of in front of them.
 */
import type { BackoffOptions } from "./connection";
import { FluxUnavailableError } from "./errors";
import type { JobRecord } from "./jobinfo";
import type { Jobspec } from "./jobspec";
import { RpcClient, type RpcOptions } from "./rpc";
import * as brokerService from "./services/broker";
import * as ingestService from "./services/ingest";
import * as jobInfoService from "./services/job-info";
import * as jobListService from "./services/job-list";
import * as jobManagerService from "./services/job-manager";
import * as resourceService from "./services/resource";
import { resolveFluxUri, socketPathFromUri } from "./uri";

export interface FluxClientOptions {
  /** local:///path/to/socket; default $FLUX_URI, else local:///run/flux/local */
  uri?: string;
  /** per-call timeout in ms (default 10000); follow streams have none */
  timeoutMs?: number;
  /** connect + handshake timeout in ms (default 5000) */
  connectTimeoutMs?: number;
  /** reconnect backoff after failed connects (default 100 ms doubling to 1000 ms) */
  backoff?: BackoffOptions;
  /**
   * largest message accepted from the broker (default 512 MiB); a larger reply fails only its
   * own call, with FluxMessageTooLargeError
   */
  maxMessageBytes?: number;
  /** replies a stream holds for a slow consumer before its connection stops reading (default 1 MiB) */
  streamBufferBytes?: number;
}

/** The per-call timeout when none is given. */
const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_STREAM_BUFFER_BYTES = 1024 * 1024;

export class FluxClient {
  readonly uri: string;
  readonly socketPath: string;
  /** The per-call timeout in ms (0: none). */
  readonly timeoutMs: number;
  private readonly rpc: RpcClient;
  private readonly rpcOptions: RpcOptions;
  private readonly streamBufferBytes: number;
  /** the clients of streams and snapshots in progress, each on its own connection */
  private readonly exclusive = new Set<RpcClient>();
  private closed = false;
  private owner: Promise<number> | undefined;
  private brokerVersion: Promise<string> | undefined;

  constructor(opts: FluxClientOptions = {}) {
    this.uri = resolveFluxUri(opts.uri);
    this.socketPath = socketPathFromUri(this.uri);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.rpcOptions = {
      timeoutMs: this.timeoutMs,
      connectTimeoutMs: opts.connectTimeoutMs,
      backoff: opts.backoff,
      maxMessageBytes: opts.maxMessageBytes,
    };
    this.rpc = new RpcClient(this.socketPath, this.rpcOptions);
    this.streamBufferBytes = opts.streamBufferBytes ?? DEFAULT_STREAM_BUFFER_BYTES;
  }

  get isConnected(): boolean {
    return this.rpc.isConnected;
  }

  connect(): Promise<void> {
    return this.rpc.connect();
  }

  /** Connections open for streams and snapshots (the shared one not counted). */
  get exclusiveConnections(): number {
    return this.exclusive.size;
  }

  /** Fails pending calls and ends streams with FluxUnavailableError; later calls fail too. */
  async close(): Promise<void> {
    this.closed = true;
    this.rpc.close();
    for (const rpc of this.exclusive) rpc.close();
  }

  /**
   * Runs `work` on a connection of its own that stops reading while the consumer is behind,
   * and closes it when the work ends (closing also ends the broker's side of its streams).
   */
  private async *onOwnConnection<T>(work: (rpc: RpcClient) => AsyncGenerator<T>): AsyncGenerator<T> {
    if (this.closed) throw new FluxUnavailableError(`Flux client for ${this.socketPath} is closed`);
    const rpc = new RpcClient(this.socketPath, { ...this.rpcOptions, streamBufferBytes: this.streamBufferBytes, pauseReading: true });
    this.exclusive.add(rpc);
    try {
      yield* work(rpc);
    } finally {
      this.exclusive.delete(rpc);
      rpc.close();
    }
  }

  ping(): Promise<brokerService.PingResult> {
    return brokerService.ping(this.rpc);
  }

  getAttr(name: string): Promise<string> {
    return brokerService.getAttr(this.rpc, name);
  }

  brokerInfo(): Promise<brokerService.BrokerInfo> {
    return brokerService.brokerInfo(this.rpc);
  }

  /** The instance owner's uid (attr security.owner), fetched once. */
  ownerUid(): Promise<number> {
    this.owner ??= brokerService.getAttr(this.rpc, "security.owner").then(Number, (err: unknown) => {
      this.owner = undefined; // retry on the next call
      throw err;
    });
    return this.owner;
  }

  /** The broker's flux-core version (attr "version", e.g. "0.55.0"), fetched once. */
  version(): Promise<string> {
    this.brokerVersion ??= brokerService.getAttr(this.rpc, "version").catch((err: unknown) => {
      this.brokerVersion = undefined; // retry on the next call
      throw err;
    });
    return this.brokerVersion;
  }

  /** Submits as the instance owner with the `none` signature; concurrent calls pipeline. */
  async submit(jobspec: Jobspec, opts: ingestService.SubmitOptions = {}): Promise<bigint> {
    return ingestService.submit(this.rpc, jobspec, await this.ownerUid(), opts);
  }

  /** job-list.list: every job with all attributes unless opts narrow the jobs or the attributes. */
  listJobs(opts: jobListService.ListJobsOptions = {}): Promise<JobRecord[]> {
    return jobListService.listJobs(this.rpc, opts);
  }

  /** The same listing as the reply's bytes (parse them with parseJobList). */
  listJobsBytes(opts: jobListService.ListJobsOptions = {}): Promise<Buffer> {
    return jobListService.listJobsBytes(this.rpc, opts);
  }

  getJob(id: bigint): Promise<JobRecord> {
    return jobListService.getJob(this.rpc, id);
  }

  /** Snapshots use the shared connection; following uses one of its own. */
  eventlog(id: bigint, opts: jobInfoService.EventlogOptions = {}): AsyncGenerator<jobInfoService.EventlogEntry> {
    if (!opts.follow) return jobInfoService.eventlog(this.rpc, id, opts);
    return this.onOwnConnection((rpc) => jobInfoService.eventlog(rpc, id, opts));
  }

  /** On a connection of its own. A snapshot over maxMessageBytes fails with FluxMessageTooLargeError. */
  output(id: bigint, opts: { follow?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<jobInfoService.OutputEvent> {
    return this.onOwnConnection((rpc) => jobInfoService.output(rpc, id, opts));
  }

  cancel(id: bigint, reason?: string): Promise<void> {
    return jobManagerService.cancel(this.rpc, id, reason);
  }

  /** Signals a running job's tasks (once they run: see services/job-manager.ts). */
  kill(id: bigint, signum?: number, opts: { signal?: AbortSignal } = {}): Promise<void> {
    return jobManagerService.kill(this.rpc, id, signum, opts);
  }

  resources(): Promise<resourceService.ResourceSummary> {
    return resourceService.resources(this.rpc);
  }
}
