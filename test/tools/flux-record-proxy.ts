/**
 * Recording proxy for the Flux local connector: listens on a unix socket, forwards every byte to a
 * real broker's socket, and records each framed message (hex) in both directions. Used to build
 * the wire fixtures in test/fixtures/flux/captured/ from a real broker; handy to debug a client too.
 *
 *   npx tsx test/tools/flux-record-proxy.ts --listen /tmp/proxy.sock \
 *       --upstream /tmp/flux-XXXX/local-0 --out /tmp/capture.json
 *   FLUX_URI=local:///tmp/proxy.sock flux submit true
 *
 * The capture is written when the proxy receives SIGINT/SIGTERM. Messages are split on the outer
 * 8-byte header only; decoding is done afterwards with the project's codec
 * (test/tools/flux-capture-to-fixture.ts; test/tools/capture/ re-records every fixture).
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import { parseArgs } from "node:util";

export interface RawCaptureRecord {
  conn: number;
  /** "c2s" = client to broker, "s2c" = broker to client. */
  dir: "c2s" | "s2c";
  /** Milliseconds since the proxy started. */
  t: number;
  /** "handshake" is the broker's 1-byte auth answer; "message" is one framed message incl. its 8-byte header. */
  kind: "handshake" | "message";
  hex: string;
}

const HEADER_SIZE = 8;

/** Splits a byte stream into whole framed messages (8-byte header + body); keeps the partial tail. */
class MessageSplitter {
  private buffer = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const messages: Buffer[] = [];
    while (this.buffer.length >= HEADER_SIZE) {
      const size = this.buffer.readUInt32BE(4);
      if (this.buffer.length < HEADER_SIZE + size) break;
      messages.push(this.buffer.subarray(0, HEADER_SIZE + size));
      this.buffer = this.buffer.subarray(HEADER_SIZE + size);
    }
    return messages;
  }
}

export function startRecordingProxy(opts: { listen: string; upstream: string; onRecord: (r: RawCaptureRecord) => void }): net.Server {
  const started = Date.now();
  let nextConn = 1;
  const record = (conn: number, dir: RawCaptureRecord["dir"], kind: RawCaptureRecord["kind"], bytes: Buffer) =>
    opts.onRecord({ conn, dir, t: Date.now() - started, kind, hex: bytes.toString("hex") });

  const server = net.createServer((client) => {
    const conn = nextConn++;
    const upstream = net.createConnection(opts.upstream);
    const fromClient = new MessageSplitter();
    const fromBroker = new MessageSplitter();
    let handshakeSeen = false;
    client.on("data", (chunk) => {
      for (const m of fromClient.push(chunk)) record(conn, "c2s", "message", m);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      let rest = chunk;
      if (!handshakeSeen && rest.length > 0) {
        handshakeSeen = true;
        record(conn, "s2c", "handshake", rest.subarray(0, 1));
        rest = rest.subarray(1);
      }
      for (const m of fromBroker.push(rest)) record(conn, "s2c", "message", m);
      client.write(chunk);
    });
    let closed = false;
    const closeBoth = () => {
      if (closed) return;
      closed = true;
      client.destroy();
      upstream.destroy();
    };
    client.on("close", closeBoth).on("error", closeBoth);
    upstream.on("close", closeBoth).on("error", closeBoth);
  });
  server.listen(opts.listen);
  return server;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      listen: { type: "string" },
      upstream: { type: "string" },
      out: { type: "string" },
    },
  });
  if (!values.listen || !values.upstream || !values.out) {
    process.stderr.write("usage: flux-record-proxy --listen SOCK --upstream BROKER_SOCK --out FILE.json\n");
    process.exit(2);
  }
  if (os.endianness() !== "LE") process.stderr.write("warning: captures from a big-endian host carry a big-endian outer magic\n");
  fs.rmSync(values.listen, { force: true });
  const records: RawCaptureRecord[] = [];
  const server = startRecordingProxy({ listen: values.listen, upstream: values.upstream, onRecord: (r) => records.push(r) });
  const finish = () => {
    fs.writeFileSync(values.out!, JSON.stringify({ upstream: values.upstream, records }, null, 1) + "\n");
    server.close();
    process.exit(0);
  };
  process.on("SIGINT", finish).on("SIGTERM", finish);
  server.on("listening", () => process.stdout.write(`proxy listening on ${values.listen}\n`));
}

if (require.main === module) main();
