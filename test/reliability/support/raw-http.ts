/**
 * A minimal HTTP/1.1 client over a raw TCP socket, for requests that well-behaved clients
 * (fetch, node:http) refuse to send: oversized or malformed headers, bad framing, odd bytes.
 * It sends the bytes as given and parses one response (Content-Length, chunked, or until close).
 */
import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** Serialises a request; Host and Connection: close are added unless given, Content-Length only when a body is. */
export function buildRequest(port: number, req: RawRequest): Buffer {
  const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, "utf8");
  const headers: Record<string, string> = { host: `127.0.0.1:${port}`, connection: "close", ...req.headers };
  const lower = Object.keys(headers).map((k) => k.toLowerCase());
  if (body && !lower.includes("content-length") && !lower.includes("transfer-encoding")) {
    headers["content-length"] = String(body.length);
  }
  const head = `${req.method} ${req.path} HTTP/1.1\r\n` + Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
  return body ? Buffer.concat([Buffer.from(head, "latin1"), body]) : Buffer.from(head, "latin1");
}

/** Sends raw bytes to 127.0.0.1:port and parses the first response; rejects on timeout (a hang is a failure). */
export function sendRaw(port: number, bytes: Buffer | string, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) return reject(err);
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (parseErr) {
        reject(parseErr as Error);
      }
    };
    const timer = setTimeout(() => finish(new Error(`no complete response within ${timeoutMs} ms`)), timeoutMs);
    socket.on("data", (chunk) => {
      chunks.push(chunk);
      if (isComplete(Buffer.concat(chunks))) finish();
    });
    // The server may reset the connection after answering an oversized request; keep what arrived.
    socket.on("error", (err) => (chunks.length ? finish() : finish(err)));
    socket.on("end", () => finish());
    socket.on("close", () => finish());
    socket.write(bytes);
  });
}

export function rawRequest(port: number, req: RawRequest, timeoutMs?: number): Promise<RawResponse> {
  return sendRaw(port, buildRequest(port, req), timeoutMs);
}

function splitHead(data: Buffer): { head: string; rest: Buffer } | undefined {
  const end = data.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  return { head: data.subarray(0, end).toString("latin1"), rest: data.subarray(end + 4) };
}

function parseHead(head: string): { status: number; headers: Record<string, string> } {
  const [statusLine, ...lines] = head.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine.slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(match[1]), headers };
}

/** Decodes a chunked body; undefined while the terminating chunk has not arrived. */
function dechunk(data: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const lineEnd = data.indexOf("\r\n", pos);
    if (lineEnd < 0) return undefined;
    const size = parseInt(data.subarray(pos, lineEnd).toString("latin1"), 16);
    if (Number.isNaN(size)) throw new Error("malformed chunked body");
    if (size === 0) return Buffer.concat(parts);
    if (data.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    pos = lineEnd + 2 + size + 2;
  }
}

function isComplete(data: Buffer): boolean {
  const split = splitHead(data);
  if (!split) return false;
  const { status, headers } = parseHead(split.head);
  if (status === 204 || status === 304) return true;
  if (headers["transfer-encoding"]?.toLowerCase().includes("chunked")) return dechunk(split.rest) !== undefined;
  if (headers["content-length"] !== undefined) return split.rest.length >= Number(headers["content-length"]);
  return false; // read until close
}

function parseResponse(data: Buffer): RawResponse {
  const split = splitHead(data);
  if (!split) throw new Error(`incomplete response: ${JSON.stringify(data.toString("latin1").slice(0, 120))}`);
  const { status, headers } = parseHead(split.head);
  let body = split.rest;
  if (headers["transfer-encoding"]?.toLowerCase().includes("chunked")) body = dechunk(body) ?? body;
  else if (headers["content-length"] !== undefined) body = body.subarray(0, Number(headers["content-length"]));
  return { status, headers, body: body.toString("utf8") };
}
