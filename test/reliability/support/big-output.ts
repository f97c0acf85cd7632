/**
 * Jobs with a lot of output, read through the sidecar's output routes over raw node:http (so the
 * reader itself holds nothing but counters), and the sidecar process's memory read from
 * /proc/<pid>/status: VmHWM (peak RSS, reset per phase through /proc/<pid>/clear_refs) and
 * VmRSS. Shared by test/reliability/big-output.spec.ts and `npm run test:bigoutput`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";

export const MiB = 1024 * 1024;
/** Output lines of the big jobs: 999 "x" and a newline. */
export const LINE_BYTES = 1000;

/** A job command printing exactly `bytes` bytes of 1000-byte lines on stdout. */
export function bigOutputCommand(bytes: number): string {
  return `sh -c "yes ${"x".repeat(LINE_BYTES - 1)} | head -c ${bytes}"`;
}

/** A line of /proc/<pid>/status in bytes (VmRSS, VmHWM). */
export function procStatusBytes(pid: number, field: "VmRSS" | "VmHWM"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/**
 * The peak RSS of a process over a phase: VmHWM after resetting it (clear_refs "5", Linux 4.0+),
 * and the largest VmRSS sampled every 20 ms as a cross-check where the reset is not allowed.
 */
export class PeakRss {
  private sampled = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly resetWorked: boolean;

  constructor(readonly pid: number) {
    let reset = true;
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, "5");
    } catch {
      reset = false;
    }
    this.resetWorked = reset;
    this.sample();
    this.timer = setInterval(() => this.sample(), 20);
  }

  private sample(): void {
    try {
      this.sampled = Math.max(this.sampled, procStatusBytes(this.pid, "VmRSS"));
    } catch {
      // the process is gone; the peak so far stands
    }
  }

  /** Stops sampling; the peak in bytes. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    let hwm = 0;
    try {
      if (this.resetWorked) hwm = procStatusBytes(this.pid, "VmHWM");
    } catch {
      // gone
    }
    return Math.max(hwm, this.sampled);
  }
}

export interface ReadResult {
  status: number;
  /** the body's bytes (chunked text), or the sum of the `data` strings' UTF-8 bytes (SSE) */
  bytes: number;
  newlines: number;
  /** SSE: the event that ended the stream ("end", "error") */
  lastEvent?: string;
  error?: string;
}

function get(url: string, authorization: string, onResponse: (res: http.IncomingMessage) => void, fail: (err: Error) => void): http.ClientRequest {
  const req = http.get(url, { headers: { authorization }, agent: false }, onResponse);
  req.on("error", fail);
  return req;
}

/** GET a plain streaming body, counting its bytes and newlines. */
export function readPlainStream(url: string, authorization: string): Promise<ReadResult> {
  return new Promise((resolve, reject) => {
    get(url, authorization, (res) => {
      const out: ReadResult = { status: res.statusCode ?? 0, bytes: 0, newlines: 0 };
      res.on("data", (chunk: Buffer) => {
        out.bytes += chunk.length;
        for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) out.newlines++;
      });
      res.on("end", () => resolve(out));
      res.on("error", (err) => resolve({ ...out, error: err.message }));
      res.on("aborted", () => resolve({ ...out, error: "aborted" }));
    }, reject);
  });
}

/** GET an SSE output stream, adding up the output events' data as they arrive. */
export function readSseOutput(url: string, authorization: string): Promise<ReadResult> {
  return new Promise((resolve, reject) => {
    get(url, authorization, (res) => {
      const out: ReadResult = { status: res.statusCode ?? 0, bytes: 0, newlines: 0 };
      let pending = "";
      res.setEncoding("utf8");
      res.on("data", (text: string) => {
        pending += text;
        for (let end = pending.indexOf("\n\n"); end >= 0; end = pending.indexOf("\n\n")) {
          const block = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!event) continue; // keep-alive comment
          out.lastEvent = event;
          if (event === "output" && data) {
            const chunk = JSON.parse(data) as { data: string };
            out.bytes += Buffer.byteLength(chunk.data);
            for (let i = chunk.data.indexOf("\n"); i >= 0; i = chunk.data.indexOf("\n", i + 1)) out.newlines++;
          } else if (event === "error") out.error = data;
        }
      });
      res.on("end", () => resolve(out));
      res.on("error", (err) => resolve({ ...out, error: err.message }));
      res.on("aborted", () => resolve({ ...out, error: "aborted" }));
    }, reject);
  });
}

/** GET a JSON reply in full: status and parsed body. */
export function getJson(url: string, authorization: string): Promise<{ status: number; body: unknown; bytes: number }> {
  return new Promise((resolve, reject) => {
    get(url, authorization, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, body, bytes: Buffer.byteLength(text) });
      });
      res.on("error", reject);
    }, reject);
  });
}

/**
 * A client that sends a GET and then never reads: its socket is paused from the start, so the
 * server's writes fill the kernel buffers and then wait. Returns the socket to destroy later.
 */
export function stalledGet(port: number, path: string, authorization: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: ${authorization}\r\n\r\n`);
      socket.pause();
      resolve(socket);
    });
    socket.on("error", reject);
  });
}

export const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
