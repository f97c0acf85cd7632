/**
 * A test double for a Flux broker: serves the local connector's wire protocol on a unix socket in
 * a temporary directory, backed by an in-memory instance whose jobs run as local processes.
 * Test code only: production code never imports anything under test/.
 *
 *   const broker = await TestBroker.start({ size: 4 });
 *   process.env.FLUX_URI = broker.uri;   // local:///tmp/flux-test-XXXX/local-0
 *   ...
 *   await broker.stop();
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expandHostlist } from "../../sidecar/flux/hostlist";
import { Instance } from "./model/jobs";
import { WireServer, type Interception } from "./server";
import { registerBrokerServices } from "./services/broker";
import type { ServiceContext } from "./services/context";
import { registerJobInfo } from "./services/job-info";
import { registerJobIngest } from "./services/job-ingest";
import { registerJobList } from "./services/job-list";
import { registerJobManager } from "./services/job-manager";
import { registerResource } from "./services/resource";

export { Errno, type Interception } from "./server";
export { JobState, JobResult } from "./model/jobs";

/** A FLUID clock start past 2^29 ms (~6.2 days of uptime): every id it makes exceeds 2^53. */
export const BIG_ID_START_MS = 2 ** 29 + 60_000;

export interface TestBrokerOptions {
  /** number of fake nodes (brokers); default 4 */
  size?: number;
  coresPerNode?: number;
  gpusPerNode?: number;
  /** RFC 29 hostlist of the nodes; default like a MiniCluster, `flux-sample-[0-<size-1>]` */
  hostlist?: string;
  /** emulated flux-core version, "0.88.0" (default) or e.g. "0.55.0" */
  version?: string;
  /** FLUID clock start in ms of instance uptime; BIG_ID_START_MS makes ids > 2^53 */
  fluidStartMs?: number;
  /** directory for the socket; default a fresh temporary directory (removed on stop) */
  socketDir?: string;
  ownerUid?: number;
  /** uid every client is treated as; default the owner */
  peerUid?: number;
  allowGuests?: boolean;
}

function versionCode(version: string): number {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) throw new Error(`bad version ${version}`);
  return Number(m[1]) * 100 + Number(m[2]);
}

export class TestBroker {
  readonly size: number;
  readonly hostnames: string[];
  readonly socketPath: string;
  readonly version: string;
  readonly instance: Instance;
  private readonly server: WireServer;
  private readonly ownsDir: boolean;
  private listening = false;

  private constructor(opts: TestBrokerOptions) {
    this.size = opts.size ?? 4;
    this.version = opts.version ?? "0.88.0";
    this.hostnames = expandHostlist(opts.hostlist ?? `flux-sample-[0-${this.size - 1}]`);
    if (this.hostnames.length !== this.size) throw new Error(`hostlist names ${this.hostnames.length} hosts for size ${this.size}`);
    this.ownsDir = opts.socketDir === undefined;
    const dir = opts.socketDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "flux-test-"));
    this.socketPath = path.join(dir, "local-0");
    const ownerUid = opts.ownerUid ?? process.getuid!();
    const code = versionCode(this.version);
    this.instance = new Instance({
      nodes: this.hostnames.map((hostname, rank) => ({ rank, hostname, cores: opts.coresPerNode ?? 4, gpus: opts.gpusPerNode ?? 0 })),
      owner: ownerUid,
      versionCode: code,
      fluidStartMs: opts.fluidStartMs ?? 0,
      uri: () => this.uri,
      rundir: dir,
    });
    this.server = new WireServer({ ownerUid, peerUid: opts.peerUid ?? ownerUid, allowGuests: opts.allowGuests ?? false });
    const started = Date.now() / 1000;
    const attrs = new Map<string, { value: string; flags: number }>([
      ["size", { value: String(this.size), flags: 1 }],
      ["rank", { value: "0", flags: 1 }],
      ["hostlist", { value: opts.hostlist ?? `flux-sample-[0-${this.size - 1}]`, flags: 1 }],
      ["version", { value: this.version, flags: 0 }],
      ["security.owner", { value: String(ownerUid), flags: 1 }],
      ["local-uri", { value: this.uri, flags: 1 }],
      ["rundir", { value: dir, flags: 0 }],
      ["broker.starttime", { value: started.toFixed(2), flags: 1 }],
      ["broker.pid", { value: String(process.pid), flags: 1 }],
      ["instance-level", { value: "0", flags: 1 }],
    ]);
    const ctx: ServiceContext = { instance: this.instance, ownerUid, versionCode: code, attrs };
    registerBrokerServices(this.server, ctx);
    registerJobIngest(this.server, ctx);
    registerJobList(this.server, ctx);
    registerJobInfo(this.server, ctx);
    registerJobManager(this.server, ctx);
    registerResource(this.server, ctx);
  }

  static async start(opts: TestBrokerOptions = {}): Promise<TestBroker> {
    const broker = new TestBroker(opts);
    await broker.resume();
    return broker;
  }

  get uri(): string {
    return `local://${this.socketPath}`;
  }

  /** Every request received so far (topic, flags, raw payload, stamped userid, nodeid). */
  get requests() {
    return this.server.requestLog;
  }

  // ---- fault hooks ---------------------------------------------------------------------------

  /** Delays every reply by ms (0 turns it off). */
  setReplyDelay(ms: number): void {
    this.server.replyDelayMs = ms;
  }

  /** Writes bytes that are not a Flux frame to every connected client. */
  sendGarbage(): void {
    this.server.applyInterceptionToAll("garbage");
  }

  /** Writes a frame header announcing a 4 GiB message to every connected client. */
  sendOversizedFrame(): void {
    this.server.applyInterceptionToAll("oversized");
  }

  /** Instead of the next reply to `topic`: garbage, an oversized frame, dropping the connection, or silence. */
  interceptNext(topic: string, action: Interception): void {
    this.server.intercept(topic, action);
  }

  /**
   * Unregisters a service method, as a broker of another release or without the module: requests
   * to it are answered ENOSYS "No service matching <topic> is registered", like a real broker's.
   */
  removeService(topic: string): void {
    this.server.handlers.delete(topic);
  }

  /** Closes every client connection (streams end abruptly, like a broker that died). */
  dropConnections(): void {
    this.server.dropConnections();
  }

  /** Answers the next handshake with this errno instead of 0. */
  rejectNextConnection(errnum = 1): void {
    this.server.rejectNextWith = errnum;
  }

  /** Turns off every fault hook (delay, pending interceptions, handshake refusal). */
  clearFaults(): void {
    this.server.replyDelayMs = 0;
    this.server.rejectNextWith = undefined;
    this.server.clearInterceptions();
  }

  /** Marks a node down (drained) or up again, as `flux resource drain/undrain` would. */
  setNodeDown(rank: number, down: boolean, reason = "test"): void {
    this.instance.pool.setDown(rank, down, reason);
    if (!down) this.instance.schedule();
  }

  /** The broker goes away: connections drop, the socket disappears. Jobs and their processes stay. */
  async suspend(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    await this.server.close();
    fs.rmSync(this.socketPath, { force: true });
  }

  /** Listens again on the same socket path (the instance, with its jobs, is unchanged). */
  async resume(): Promise<void> {
    if (this.listening) return;
    fs.rmSync(this.socketPath, { force: true });
    await this.server.listen(this.socketPath);
    this.listening = true;
  }

  /** suspend, wait downMs, resume. */
  async restart(downMs = 0): Promise<void> {
    await this.suspend();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.resume();
  }

  /** Shuts down for good: kills task processes and removes the temporary directory. */
  async stop(): Promise<void> {
    this.instance.killAll();
    await this.suspend();
    if (this.ownsDir) fs.rmSync(path.dirname(this.socketPath), { recursive: true, force: true });
  }
}
