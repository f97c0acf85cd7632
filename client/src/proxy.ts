/**
 * The client side of the Flux proxy (`flux-restful proxy`): a local unix socket that Flux tools
 * reach with FLUX_URI=local://PATH. Each local connection becomes one authenticated WebSocket to
 * the sidecar's /v1/flux/proxy, which joins it to its own connection to the broker. The bytes
 * of the local connector's stream (an 8-byte header: magic in host byte order, big-endian
 * length) are cut into whole messages, one per binary WebSocket message, and back.
 *
 * The local connector's handshake is one byte from the server: 0 once the WebSocket is open, or
 * an errno when it cannot be (flux-core usock_client_read_zero), so a Flux tool fails at once
 * with a reason instead of hanging.
 */
import { mkdtempSync, rmSync, chmodSync } from "node:fs";
import net from "node:net";
import { endianness, tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";

const FRAME_MAGIC = 0xffee0012;
const HEADER_BYTES = 8;
/** The largest message relayed from a local client (the sidecar enforces its own, smaller, limit). */
export const MAX_LOCAL_MESSAGE_BYTES = 512 * 1024 * 1024;
/** Past this much unsent data toward the sidecar, the local socket stops being read. */
const HIGH_WATER_BYTES = 1024 * 1024;
const OPEN_TIMEOUT_MS = 15_000;
const ERRNO = { EPERM: 1, EAGAIN: 11, EACCES: 13, ECONNREFUSED: 111, EHOSTUNREACH: 113, EPROTO: 71 } as const;

export interface ProxyOptions {
  /** The sidecar's URL (http or https). */
  host: string;
  user?: string;
  token?: string;
  /** A CA certificate (PEM) the endpoint's certificate chains to. */
  ca?: string;
  /** Where to listen (default: `local` in a new 0700 directory under the temp dir). */
  socketPath?: string;
  /** Said once per failing connection: why a local client was refused or cut off. */
  onNotice?(text: string): void;
}

export interface ProxyListener {
  socketPath: string;
  /** FLUX_URI for Flux tools. */
  uri: string;
  /** Local connections open now. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Splits the local connector's byte stream into whole framed messages. */
export class FrameSplitter {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly littleEndian = endianness() === "LE";

  constructor(private readonly maxMessageBytes = MAX_LOCAL_MESSAGE_BYTES) {}

  /** The complete framed messages so far (header included); throws on a bad header or size. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.buffered < HEADER_BYTES) return out;
      if (this.chunks[0].length < HEADER_BYTES) this.chunks = [Buffer.concat(this.chunks)];
      const head = this.chunks[0];
      const magic = this.littleEndian ? head.readUInt32LE(0) : head.readUInt32BE(0);
      if (magic !== FRAME_MAGIC) throw new Error("bad frame magic from the local client");
      const length = head.readUInt32BE(4);
      if (length > this.maxMessageBytes) throw new Error(`a message of ${length} bytes is over the ${this.maxMessageBytes}-byte limit`);
      const total = HEADER_BYTES + length;
      if (this.buffered < total) return out;
      const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      out.push(all.subarray(0, total));
      const rest = all.subarray(total);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
    }
  }
}

/** The WebSocket URL of a sidecar's proxy route. */
export function proxyUrl(host: string): string {
  const url = new URL(host);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/flux/proxy`;
  url.search = "";
  return url.toString();
}

export async function listenProxy(options: ProxyOptions): Promise<ProxyListener> {
  const ownDir = options.socketPath ? undefined : mkdtempSync(path.join(tmpdir(), "flux-restful-proxy-")); // mode 0700
  const socketPath = options.socketPath ?? path.join(ownDir!, "local");
  const url = proxyUrl(options.host);
  const headers: Record<string, string> = {};
  if (options.user !== undefined && options.token !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${options.user}:${options.token}`).toString("base64")}`;
  }
  const notice = options.onNotice ?? (() => undefined);
  const open = new Set<net.Socket>();

  const server = net.createServer((local) => {
    open.add(local);
    local.once("close", () => open.delete(local));
    relay(local, new WebSocket(url, { headers, ca: options.ca, maxPayload: MAX_LOCAL_MESSAGE_BYTES + HEADER_BYTES, perMessageDeflate: false, handshakeTimeout: OPEN_TIMEOUT_MS }), notice);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
  return {
    socketPath,
    uri: `local://${socketPath}`,
    get connections() {
      return open.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const local of open) local.destroy();
        server.close(() => {
          if (ownDir) rmSync(ownDir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

function relay(local: net.Socket, ws: WebSocket, notice: (text: string) => void): void {
  local.pause(); // nothing is read until the WebSocket is open
  local.on("error", () => local.destroy());
  let opened = false;
  let refused = false;
  const refuse = (errno: number, why: string) => {
    if (refused || local.destroyed) return;
    refused = true;
    notice(why);
    // The handshake byte says why; a Flux tool then reports e.g. "Connection refused".
    if (!opened) local.end(Buffer.from([errno]));
    else local.destroy();
    ws.terminate();
  };
  ws.on("unexpected-response", (_req, res) => {
    const status = res.statusCode ?? 0;
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => (body = (body + chunk).slice(0, 500)));
    res.on("end", () => {
      let detail = body;
      try {
        detail = String((JSON.parse(body) as { detail?: unknown }).detail ?? body);
      } catch { /* not JSON: the text as it is */ }
      const errno = status === 401 || status === 403 ? ERRNO.EPERM : status === 429 || status === 503 ? ERRNO.EAGAIN : ERRNO.ECONNREFUSED;
      refuse(errno, `the sidecar refused the proxy connection: HTTP ${status}${detail ? ` (${detail})` : ""}${status === 404 ? ": is FLUX_PROXY on?" : ""}`);
    });
    res.on("error", () => refuse(ERRNO.ECONNREFUSED, `the sidecar refused the proxy connection: HTTP ${status}`));
  });
  ws.on("error", (err) => {
    if (!opened) refuse(ERRNO.EHOSTUNREACH, `cannot reach the sidecar at ${ws.url}: ${err.message}`);
    else refuse(ERRNO.EPROTO, `proxy connection failed: ${err.message}`);
  });
  ws.on("open", () => {
    opened = true;
    local.write(Buffer.from([0]));
    local.resume();
  });
  ws.on("close", (code, reason) => {
    if (opened && code !== 1000 && code !== 1005) notice(`the sidecar closed the proxy connection (${code}${reason.length ? ` ${reason.toString()}` : ""})`);
    local.destroy();
  });
  // Sidecar -> local: each message is one framed Flux message; pause the WebSocket while the local client is slow.
  ws.on("message", (data) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (!local.write(buf)) ws.pause();
  });
  local.on("drain", () => ws.resume());
  // Local -> sidecar.
  const splitter = new FrameSplitter();
  local.on("data", (chunk: Buffer) => {
    let messages: Buffer[];
    try {
      messages = splitter.push(chunk);
    } catch (err) {
      notice(`local client: ${(err as Error).message}`);
      local.destroy();
      ws.close(1008, "bad local message");
      return;
    }
    for (const msg of messages) {
      ws.send(msg, { binary: true }, () => {
        if (ws.bufferedAmount < HIGH_WATER_BYTES / 2 && local.isPaused()) local.resume();
      });
    }
    if (ws.bufferedAmount >= HIGH_WATER_BYTES) local.pause();
  });
  local.on("close", () => {
    // A WebSocket paused for a slow local reader would never read the sidecar's closing answer,
    // and would hold the connection for the library's 30 s close timeout.
    ws.resume();
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    else ws.terminate();
  });
}
