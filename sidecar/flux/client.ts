/**
 * FluxClient: the native TypeScript client for a Flux broker's local socket. Composes the
 * RPC layer with one module per broker service. Calls connect lazily; after a lost
 * connection the next call reconnects (with bounded backoff while the broker stays away).
 */
import type { BackoffOptions } from "./connection";
import type { JobRecord } from "./jobinfo";
import type { Jobspec } from "./jobspec";
import { RpcClient } from "./rpc";
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
  /** largest message accepted from the broker (default 512 MiB) */
  maxMessageBytes?: number;
}

export class FluxClient {
  readonly uri: string;
  readonly socketPath: string;
  private readonly rpc: RpcClient;
  private owner: Promise<number> | undefined;
  private brokerVersion: Promise<string> | undefined;

  constructor(opts: FluxClientOptions = {}) {
    this.uri = resolveFluxUri(opts.uri);
    this.socketPath = socketPathFromUri(this.uri);
    this.rpc = new RpcClient(this.socketPath, {
      timeoutMs: opts.timeoutMs,
      connectTimeoutMs: opts.connectTimeoutMs,
      backoff: opts.backoff,
      maxMessageBytes: opts.maxMessageBytes,
    });
  }

  get isConnected(): boolean {
    return this.rpc.isConnected;
  }

  connect(): Promise<void> {
    return this.rpc.connect();
  }

  /** Fails pending calls and ends streams with FluxUnavailableError; later calls fail too. */
  async close(): Promise<void> {
    this.rpc.close();
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

  eventlog(id: bigint, opts: jobInfoService.EventlogOptions = {}): AsyncGenerator<jobInfoService.EventlogEntry> {
    return jobInfoService.eventlog(this.rpc, id, opts);
  }

  output(id: bigint, opts: { follow?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<jobInfoService.OutputEvent> {
    return jobInfoService.output(this.rpc, id, opts);
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
