/**
 * Bounds on open connections, so idle or flooding clients cannot use up the process's file
 * descriptors and memory: a total cap, a per-address cap, and a small reserve past the total
 * where only the health routes answer (probes keep working while the server is full).
 * Connections past the reserve, or past their address's share, get a 503 and are closed at once.
 */
import type { Server } from "node:http";
import type { Socket } from "node:net";

/** Connections past the cap that may still reach the health routes. */
export const HEALTH_RESERVE = 16;
/** How long a refused connection may take to read its 503 before it is cut. */
const REFUSE_GRACE_MS = 1000;

const REFUSAL_BODY = JSON.stringify({ detail: "The server is at its connection limit; try again later." });
const REFUSAL =
  "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n" +
  `Content-Length: ${Buffer.byteLength(REFUSAL_BODY)}\r\n\r\n${REFUSAL_BODY}`;

export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** A TLS server's refusals are a plain close: a 503 in clear text would be noise to a TLS client. */
  tls: boolean;
}

/** The same key for the TCP socket and the TLS socket over it. */
const peerKey = (socket: Socket) => `${socket.remoteAddress}|${socket.remotePort}`;

export class ConnectionGate {
  private open = 0;
  private readonly perAddress = new Map<string, number>();
  private readonly reserve = new Set<string>();
  refused = 0;

  constructor(private readonly limits: ConnectionLimits) {}

  /** Counts every connection of `server` from now on. */
  attach(server: Server): void {
    server.on("connection", (socket: Socket) => this.admit(socket));
  }

  /** True for a connection admitted into the health reserve. */
  readonly reserveOnly = (socket: Socket): boolean => this.reserve.has(peerKey(socket));

  get openConnections(): number {
    return this.open;
  }

  private admit(socket: Socket): void {
    const address = socket.remoteAddress ?? "unknown";
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (this.open >= this.limits.maxConnections + HEALTH_RESERVE || fromAddress >= this.limits.maxConnectionsPerAddress) {
      this.refused++;
      if (this.limits.tls) socket.destroy();
      else {
        socket.end(REFUSAL);
        setTimeout(() => socket.destroy(), REFUSE_GRACE_MS).unref();
      }
      return;
    }
    const key = peerKey(socket);
    if (this.open >= this.limits.maxConnections) this.reserve.add(key);
    this.open++;
    this.perAddress.set(address, fromAddress + 1);
    socket.once("close", () => {
      this.open--;
      this.reserve.delete(key);
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    });
  }
}
