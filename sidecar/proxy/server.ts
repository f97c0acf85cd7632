/**
 * The Flux proxy (docs/proxy.md): GET /v1/flux/proxy upgraded to a WebSocket, joined to a new
 * connection of its own to the broker's local socket, so the broker keeps matchtags, streams
 * and event subscriptions per proxied client as it does for a local one. Each binary WebSocket
 * message is one whole framed Flux message (the local connector's framing), both ways.
 *
 * Client messages are decoded with the codec, checked against the topic policy, and forwarded
 * re-encoded from what was checked (userid and rolemask cleared, so the broker stamps the
 * connection's own). Broker messages are split on message boundaries and relayed as they are.
 */
import { ServerResponse, type IncomingMessage } from "node:http";
import net from "node:net";
import type { Duplex } from "node:stream";
import type { WebSocket, WebSocketServer } from "ws";
import {
  FRAME_HEADER_SIZE,
  MessageReader,
  ROLE_NONE,
  USERID_UNKNOWN,
  decodeMessage,
  encodeMessage,
  frameMessage,
  type FluxMessage,
} from "../flux/codec";
import { ApiError } from "../api/errors";
import { ApiRequest } from "../api/http";
import type { Auth } from "../api/auth";
import type { Logger } from "../log";
import { TopicPolicy, deniedResponse } from "./policy";

export const PROXY_PATH = "/v1/flux/proxy";

export interface ProxyLimits {
  enabled: boolean;
  maxConnections: number;
  maxConnectionsPerUser: number;
  idleMs: number;
  /** The largest Flux message either way (FLUX_MAX_MESSAGE_BYTES). */
  maxMessageBytes: number;
  allowTopics: readonly string[];
}

/** Past this much unsent data toward the client, the broker's socket stops being read. */
const HIGH_WATER_BYTES = 1024 * 1024;
const PING_MS = 30_000;
const BROKER_CONNECT_MS = 5000;
/** WebSocket close codes: policy violation, message too big, internal error. */
const CLOSE_POLICY = 1008;
const CLOSE_TOO_BIG = 1009;
const CLOSE_BROKER_GONE = 1011;

export class FluxProxy {
  private readonly wss: WebSocketServer | undefined;
  private readonly policy: TopicPolicy;
  private readonly perUser = new Map<string, number>();
  private readonly sockets = new Set<WebSocket>();
  private open = 0;

  constructor(
    private readonly limits: ProxyLimits,
    private readonly deps: {
      auth: Auth;
      log: Logger;
      socketPath: () => string;
      claim(socket: Duplex): void;
      /** The API's request listener, for upgrade requests that are not the proxy's (Upgrade: h2c from curl --http2). */
      serve(raw: IncomingMessage, res: ServerResponse): void;
    },
  ) {
    // ws is loaded only when the proxy is on: a sidecar without it does not pay for it in memory.
    // The frame header counts toward the WebSocket message: a message over the limit closes (1009).
    if (limits.enabled) {
      const { WebSocketServer: Server } = require("ws") as typeof import("ws");
      this.wss = new Server({ noServer: true, maxPayload: limits.maxMessageBytes + FRAME_HEADER_SIZE, perMessageDeflate: false });
    }
    this.policy = new TopicPolicy(limits.allowTopics);
  }

  get openConnections(): number {
    return this.open;
  }

  /** The server's "upgrade" listener: answers with an HTTP error, or joins client and broker. */
  readonly upgrade = (raw: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on("error", () => socket.destroy());
    // Node hands every request with an Upgrade header here once a listener exists: one that does
    // not ask for this WebSocket is an ordinary request, answered by the API on this connection.
    if (raw.headers.upgrade?.toLowerCase() !== "websocket" || new ApiRequest(raw, 0).routingPath !== PROXY_PATH) {
      if (raw.headers["content-length"] || raw.headers["transfer-encoding"]) {
        return refuse(socket, 400, { detail: "A request with an Upgrade header and a body is not supported here" });
      }
      const res = new ServerResponse(raw);
      res.shouldKeepAlive = false;
      res.assignSocket(socket as net.Socket);
      res.once("finish", () => socket.end());
      this.deps.serve(raw, res);
      return;
    }
    void this.admit(raw, socket, head).catch((err: unknown) => {
      const status = err instanceof ApiError ? err.status : 500;
      const body = err instanceof ApiError ? err.body : { detail: "Internal error" };
      refuse(socket, status, body, err instanceof ApiError ? err.headers : undefined);
      if (!(err instanceof ApiError)) this.deps.log.error({ err }, "flux proxy upgrade failed");
    });
  };

  /** Ends every proxied connection (server shutdown). */
  close(): void {
    for (const ws of this.sockets) ws.close(1001, "server shutting down");
    setTimeout(() => this.sockets.forEach((ws) => ws.terminate()), 1000).unref();
  }

  private async admit(raw: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const req = new ApiRequest(raw, 0);
    const wss = this.wss;
    if (req.targetError !== undefined || req.routingPath !== PROXY_PATH || !wss) {
      throw new ApiError(404, { detail: "Not Found" });
    }
    if (req.method !== "GET") throw new ApiError(405, { detail: "Method Not Allowed" });
    await this.deps.auth.authenticate(req, { required: true });
    const user = req.user!;
    // A browser sends its session cookie with a WebSocket from any site: only the same origin may use it.
    if (req.via === "cookie" && !sameOrigin(req)) throw new ApiError(403, { detail: "Cross-origin WebSocket refused" });
    if (this.open >= this.limits.maxConnections) {
      throw new ApiError(429, { detail: `Too many proxied Flux connections (at most ${this.limits.maxConnections}, FLUX_PROXY_MAX_CONNECTIONS)` }, { "retry-after": "5" });
    }
    if ((this.perUser.get(user) ?? 0) >= this.limits.maxConnectionsPerUser) {
      throw new ApiError(429, { detail: `Too many proxied Flux connections for ${user} (at most ${this.limits.maxConnectionsPerUser}, FLUX_PROXY_MAX_CONNECTIONS_PER_USER)` }, { "retry-after": "5" });
    }
    // Counted before the broker connects, so concurrent upgrades cannot pass the caps together.
    this.open++;
    this.perUser.set(user, (this.perUser.get(user) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.open--;
      const left = (this.perUser.get(user) ?? 1) - 1;
      if (left > 0) this.perUser.set(user, left);
      else this.perUser.delete(user);
    };
    let broker: { socket: net.Socket; rest: Buffer };
    try {
      broker = await connectBroker(this.deps.socketPath());
    } catch (err) {
      release();
      this.deps.log.warn({ user, err: (err as Error).message }, "flux proxy: the broker cannot be reached");
      throw new ApiError(503, { detail: "The Flux broker is not available" }, { "retry-after": "5" });
    }
    if (socket.destroyed) {
      release();
      broker.socket.destroy();
      return;
    }
    this.deps.claim(socket);
    wss.handleUpgrade(raw, socket, head, (ws) => this.join(ws, broker.socket, broker.rest, user, req.remoteAddress, release));
  }

  private join(ws: WebSocket, broker: net.Socket, early: Buffer, user: string, address: string, release: () => void): void {
    const started = Date.now();
    const stats = { bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0, denied: 0 };
    this.sockets.add(ws);
    let reason = "";
    let idle: NodeJS.Timeout;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => end(CLOSE_POLICY, `idle for ${Math.round(this.limits.idleMs / 1000)} s`), this.limits.idleMs);
    };
    let alive = true;
    const ping = setInterval(() => {
      if (!alive) return end(CLOSE_BROKER_GONE, "the client stopped answering pings", true);
      alive = false;
      ws.ping();
    }, PING_MS);
    ws.on("pong", () => (alive = true));
    const end = (code: number, why: string, hard = false) => {
      if (!reason) reason = why;
      // Paused for a slow broker socket, the WebSocket would not read the client's closing answer
      // and would keep its place for the library's 30 s close timeout.
      ws.resume();
      if (hard) ws.terminate();
      else if (ws.readyState === ws.OPEN) ws.close(code, why.slice(0, 120));
      broker.destroy();
    };
    ws.once("close", () => {
      clearTimeout(idle);
      clearInterval(ping);
      broker.destroy();
      this.sockets.delete(ws);
      release();
      this.deps.log.info(
        { user, address, ...stats, seconds: (Date.now() - started) / 1000, reason: reason || "client closed" },
        "flux proxy connection closed",
      );
    });
    ws.on("error", (err) => end(CLOSE_POLICY, `websocket error: ${err.message}`));
    this.deps.log.info({ user, address }, "flux proxy connection opened");
    touch();

    // Broker -> client: one WebSocket message per Flux message, pausing the broker socket
    // while the client is slow to read.
    const reader = new MessageReader({ maxMessageBytes: this.limits.maxMessageBytes });
    const fromBroker = (chunk: Buffer) => {
      let messages: FluxMessage[];
      try {
        messages = reader.push(chunk);
      } catch (err) {
        return end(CLOSE_TOO_BIG, `broker message refused: ${(err as Error).message}`);
      }
      for (const msg of messages) {
        const framed = frameMessage(encodeMessage(msg));
        stats.messagesOut++;
        stats.bytesOut += framed.length;
        ws.send(framed, { binary: true }, () => {
          if (ws.bufferedAmount < HIGH_WATER_BYTES / 2 && broker.isPaused()) broker.resume();
        });
      }
      if (messages.length) touch();
      if (ws.bufferedAmount >= HIGH_WATER_BYTES) broker.pause();
    };
    broker.on("data", fromBroker);
    broker.on("error", () => undefined); // the close that follows says it
    broker.on("close", () => end(CLOSE_BROKER_GONE, "the broker closed the connection"));
    broker.on("drain", () => ws.resume());
    if (early.length) fromBroker(early);
    broker.resume();

    // Client -> broker: exactly one framed message per WebSocket message.
    ws.on("message", (data, isBinary) => {
      if (!isBinary) return end(CLOSE_POLICY, "text message");
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      let msg: FluxMessage;
      try {
        msg = decodeFramed(buf);
      } catch (err) {
        return end(CLOSE_POLICY, `malformed message: ${(err as Error).message}`);
      }
      stats.messagesIn++;
      stats.bytesIn += buf.length;
      touch();
      if (this.policy.refuses(msg)) {
        stats.denied++;
        this.deps.log.warn({ user, topic: msg.topic }, "flux proxy: denied topic refused");
        // The sidecar's uid is the owner's: only the owner's connection is accepted by the broker (guests are off).
        const response = deniedResponse(msg, process.getuid?.() ?? 0);
        if (response) ws.send(frameMessage(encodeMessage(response)), { binary: true });
        return;
      }
      const forwarded = frameMessage(encodeMessage({ ...msg, userid: USERID_UNKNOWN, rolemask: ROLE_NONE }));
      if (!broker.write(forwarded)) ws.pause();
    });
  }
}

/** One WebSocket message as one framed Flux message; throws on anything else. */
function decodeFramed(buf: Buffer): FluxMessage {
  if (buf.length < FRAME_HEADER_SIZE) throw new Error("shorter than a frame header");
  const reader = new MessageReader({ maxMessageBytes: buf.length });
  if (buf.readUInt32BE(4) !== buf.length - FRAME_HEADER_SIZE) throw new Error("frame length does not match the WebSocket message");
  const messages = reader.push(buf);
  if (messages.length !== 1) throw new Error("not exactly one message");
  const msg = messages[0];
  // The broker reads a topic up to its first NUL: one that holds one would be checked as another name.
  if (msg.topic?.includes("\0")) throw new Error("NUL in the topic");
  return msg;
}

/** Connects to the broker's local socket and reads its 1-byte handshake (0 = accepted). */
function connectBroker(socketPath: string): Promise<{ socket: net.Socket; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path: socketPath });
    const fail = (why: string) => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on("error", () => undefined);
      socket.destroy();
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail("no handshake"), BROKER_CONNECT_MS);
    socket.once("error", (err) => fail(err.message));
    socket.once("close", () => fail("closed during the handshake"));
    socket.once("data", (chunk: Buffer) => {
      if (chunk[0] !== 0) return fail(`refused with errno ${chunk[0]}`);
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.pause();
      socket.setNoDelay(true);
      resolve({ socket, rest: chunk.subarray(1) });
    });
  });
}

function sameOrigin(req: ApiRequest): boolean {
  const origin = req.header("origin");
  if (!origin) return true;
  try {
    return new URL(origin).host === req.header("host");
  } catch {
    return false;
  }
}

const REASONS: Record<number, string> = { 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 429: "Too Many Requests", 503: "Service Unavailable" };

/** Answers an upgrade request with an HTTP error and closes the connection. */
function refuse(socket: Duplex, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  const text = JSON.stringify(body);
  const lines = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}`,
    "content-type: application/json",
    `content-length: ${Buffer.byteLength(text)}`,
    "connection: close",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.end(`${lines.join("\r\n")}\r\n\r\n${text}`);
}
