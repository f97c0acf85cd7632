/**
 * Bounds on open connections, so idle or flooding clients cannot use up the process's file
 * descriptors and memory: a total cap and a per-client cap (an IPv4 address or an IPv6 /64). At
 * the cap a new connection takes the place of the one idle the longest (never used, or between
 * requests): idle connections cannot crowd out real clients. When every connection is busy, a
 * small reserve past the cap answers only the health routes. Past that, or past its client's
 * share, a connection gets a 503 and is closed at once.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { clientKey } from "./address";

/** Connections past the cap that may still reach the health routes. */
export const HEALTH_RESERVE = 16;
/** How long a refused connection may take to read its 503 before it is cut. */
const REFUSE_GRACE_MS = 1000;
/** Refused connections given that grace at once; past this they are cut without an answer. */
const REFUSING_MAX = 64;

const REFUSAL_BODY = JSON.stringify({ detail: "The server is at its connection limit; try again later." });
const REFUSAL =
  "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n" +
  `Content-Length: ${Buffer.byteLength(REFUSAL_BODY)}\r\n\r\n${REFUSAL_BODY}`;

export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** A TLS server's refusals are a plain close: a 503 in clear text would be noise to a TLS client. */
  tls: boolean;
  /** A connection with answers waiting that the client has taken none of for this long is closed. */
  writeStallMs: number;
}

/** How often the connections are checked for stalled readers. */
const STALL_CHECK_MS = 1000;

/** The same key for the TCP socket and the TLS socket over it. */
const peerKey = (socket: Socket) => `${socket.remoteAddress}|${socket.remotePort}`;

interface Handle {
  socket: Socket;
  release(): void;
  /** Bytes the kernel has taken, and when that last moved (or nothing was waiting). */
  flushed: number;
  progressAt: number;
  /** Not yet released. */
  open: boolean;
  /** In the idle queue, between these two. */
  idle: boolean;
  older?: Handle;
  newer?: Handle;
}

/**
 * Connections without a request in progress, longest idle first: a list threaded through the
 * handles, so taking a connection out for a request and putting it back after the answer
 * allocates nothing. (A Map's delete and set, once per request, kept rebuilding its table, and
 * the tables outlived young collections: a quarter of what a busy server moved into its old
 * generation.)
 */
class IdleQueue {
  private oldest?: Handle;
  private newest?: Handle;

  /** Puts `handle` at the newest end. */
  add(handle: Handle): void {
    this.remove(handle);
    handle.idle = true;
    handle.older = this.newest;
    if (this.newest) this.newest.newer = handle;
    else this.oldest = handle;
    this.newest = handle;
  }

  remove(handle: Handle): void {
    if (!handle.idle) return;
    if (handle.older) handle.older.newer = handle.newer;
    else this.oldest = handle.newer;
    if (handle.newer) handle.newer.older = handle.older;
    else this.newest = handle.older;
    handle.idle = false;
    handle.older = handle.newer = undefined;
  }

  first(): Handle | undefined {
    return this.oldest;
  }
}

export class ConnectionGate {
  private open = 0;
  private readonly perAddress = new Map<string, number>();
  private readonly reserve = new Set<string>();
  private readonly idle = new IdleQueue();
  private readonly handles = new Map<string, Handle>();
  private refusing = 0;
  refused = 0;
  stalled = 0;
  evicted = 0;

  constructor(private readonly limits: ConnectionLimits) {}

  /** Counts every connection of `server` from now on. */
  attach(server: Server): void {
    server.on("connection", (socket: Socket) => this.admit(socket));
    const check = setInterval(() => this.cutStalledReaders(), STALL_CHECK_MS).unref();
    server.once("close", () => clearInterval(check));
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      const handle = this.handles.get(peerKey(req.socket));
      if (!handle) return;
      this.idle.remove(handle);
      res.once("finish", () => {
        if (handle.open) this.idle.add(handle);
      });
    });
  }

  /** A connection taken over by an upgrade (the Flux proxy): busy from now on, never evicted as idle. */
  claim(socket: Socket): void {
    const handle = this.handles.get(peerKey(socket));
    if (handle) this.idle.remove(handle);
  }

  /** True for a connection admitted into the health reserve. */
  readonly reserveOnly = (socket: Socket): boolean => this.reserve.has(peerKey(socket));

  get openConnections(): number {
    return this.open;
  }

  private admit(socket: Socket): void {
    const address = clientKey(socket.remoteAddress ?? "unknown");
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (this.open >= this.limits.maxConnections && fromAddress < this.limits.maxConnectionsPerAddress) this.evictLongestIdle();
    if (this.open >= this.limits.maxConnections + HEALTH_RESERVE || fromAddress >= this.limits.maxConnectionsPerAddress) {
      this.refused++;
      if (this.limits.tls || this.refusing >= REFUSING_MAX) socket.destroy();
      else {
        this.refusing++;
        socket.once("close", () => this.refusing--);
        socket.end(REFUSAL);
        setTimeout(() => socket.destroy(), REFUSE_GRACE_MS).unref();
      }
      return;
    }
    const key = peerKey(socket);
    if (this.open >= this.limits.maxConnections) this.reserve.add(key);
    this.open++;
    this.perAddress.set(address, fromAddress + 1);
    const release = () => {
      if (!handle.open) return;
      handle.open = false;
      this.open--;
      this.reserve.delete(key);
      this.idle.remove(handle);
      this.handles.delete(key);
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    };
    const handle: Handle = { socket, release, flushed: 0, progressAt: Date.now(), open: true, idle: false };
    this.handles.set(key, handle);
    this.idle.add(handle);
    socket.once("close", release);
  }

  /**
   * Closes connections whose client has read nothing of what is waiting for it for
   * writeStallMs: a client that sends requests (pipelined, or a stream) and never reads the
   * answers would otherwise hold its connection, and its place under the cap, for ever.
   */
  private cutStalledReaders(): void {
    const now = Date.now();
    for (const handle of this.handles.values()) {
      const { socket } = handle;
      const flushed = socket.bytesWritten - socket.writableLength;
      if (socket.writableLength === 0 || flushed !== handle.flushed) {
        handle.flushed = flushed;
        handle.progressAt = now;
      } else if (now - handle.progressAt >= this.limits.writeStallMs) {
        this.stalled++;
        socket.destroy();
      }
    }
  }

  private evictLongestIdle(): void {
    const oldest = this.idle.first();
    if (!oldest) return;
    const { socket, release } = oldest;
    this.evicted++;
    // Freed now, not on the close event a tick later, so the new connection takes its place.
    release();
    socket.destroy();
  }
}
