/**
 * A byte-transparent unix-socket proxy between the sidecar and a broker (the test broker or a
 * real one), with the faults a broker can show: it dies (connections cut, socket gone), comes
 * back on the same path, answers slowly, or sends bytes that are not Flux frames. Going through
 * the proxy lets the same fault specs run against a real `flux start` broker.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { frameMessage } from "../../../sidecar/flux/codec";

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

export class FaultProxy {
  readonly socketPath: string;
  private server: net.Server | undefined;
  private readonly pairs = new Set<Pair>();
  private readonly dir: string;
  /** Milliseconds added to every broker-to-client chunk. */
  replyDelayMs = 0;

  private constructor(private readonly upstreamPath: string) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "flux-fault-proxy-"));
    this.socketPath = path.join(this.dir, "local");
  }

  static async start(upstreamUri: string): Promise<FaultProxy> {
    const proxy = new FaultProxy(upstreamUri.replace(/^local:\/\//, ""));
    await proxy.resume();
    return proxy;
  }

  get uri(): string {
    return `local://${this.socketPath}`;
  }

  get connectionCount(): number {
    return this.pairs.size;
  }

  /** The broker dies: every connection is cut and the socket disappears. */
  async suspend(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.dropConnections();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(this.socketPath, { force: true });
  }

  /** The broker is back on the same socket path. */
  async resume(): Promise<void> {
    if (this.server) return;
    fs.rmSync(this.socketPath, { force: true });
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.socketPath, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
  }

  /** Cuts every connection at once, as a crashing broker would. */
  dropConnections(): void {
    for (const pair of [...this.pairs]) this.closePair(pair);
  }

  /** Writes bytes to every client as if the broker had sent them. */
  injectToClients(bytes: Buffer): void {
    for (const { client } of this.pairs) client.write(bytes);
  }

  async stop(): Promise<void> {
    await this.suspend();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.upstreamPath);
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    client.on("data", (chunk) => upstream.write(chunk));
    // Delayed chunks go out in order, also when the delay changes meanwhile: frames are never reordered.
    const queue: Array<{ due: number; chunk: Buffer }> = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      timer = undefined;
      while (queue.length && queue[0].due <= performance.now()) {
        const { chunk } = queue.shift()!;
        if (client.writable) client.write(chunk);
      }
      if (queue.length) timer = setTimeout(flush, queue[0].due - performance.now()).unref();
    };
    upstream.on("data", (chunk: Buffer) => {
      if (this.replyDelayMs === 0 && queue.length === 0) return void client.write(chunk);
      queue.push({ due: Math.max(performance.now() + this.replyDelayMs, queue.at(-1)?.due ?? 0), chunk });
      timer ??= setTimeout(flush, queue[0].due - performance.now()).unref();
    });
    const close = () => this.closePair(pair);
    for (const socket of [client, upstream]) {
      socket.on("error", close);
      socket.on("close", close);
    }
  }

  private closePair(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream.destroy();
  }
}

/** Bytes that cannot start a Flux frame. */
export const GARBAGE_BYTES = Buffer.from("this is not a flux frame\n\u0000\u00ff\u00fe", "latin1");

/** A valid outer frame header announcing a 4 GiB message. */
export function oversizedFrameHeader(): Buffer {
  const header = frameMessage(Buffer.alloc(0));
  header.writeUInt32BE(0xfffffff0, 4);
  return header;
}
