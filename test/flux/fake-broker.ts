/**
 * A minimal in-test broker endpoint for connection/RPC behaviour tests: a unix socket in a
 * temp dir that does the handshake and hands decoded requests to the test. Not the project's
 * test broker (test/test-broker); this one only exists to provoke edge cases.
 */
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  MessageFlags,
  MessageReader,
  MessageType,
  encodeJsonPayload,
  encodeMessage,
  encodeStringPayload,
  frameMessage,
  type FluxMessage,
} from "../../sidecar/flux/codec";

export interface FakeRequest {
  msg: FluxMessage;
  socket: net.Socket;
}

export class FakeBroker {
  readonly requests: FluxMessage[] = [];
  readonly sockets = new Set<net.Socket>();
  onRequest: (req: FakeRequest) => void = () => {};
  /** byte sent on accept: 0 = welcome, else an errno; "silent" sends nothing */
  handshake: number | "silent" = 0;

  private constructor(
    readonly dir: string,
    readonly socketPath: string,
    private server: net.Server,
  ) {}

  static async start(dir = mkdtempSync(path.join(tmpdir(), "flux-fake-"))): Promise<FakeBroker> {
    const socketPath = path.join(dir, "local");
    const server = net.createServer();
    const broker = new FakeBroker(dir, socketPath, server);
    server.on("connection", (socket) => broker.accept(socket));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    return broker;
  }

  get uri(): string {
    return `local://${this.socketPath}`;
  }

  respond(socket: net.Socket, req: FluxMessage, payload?: object, opts: { errnum?: number; errmsg?: string } = {}): void {
    const body = opts.errmsg !== undefined ? encodeStringPayload(opts.errmsg) : payload ? encodeJsonPayload(payload) : undefined;
    const msg: FluxMessage = {
      type: MessageType.RESPONSE,
      flags: MessageFlags.ROUTE | MessageFlags.TOPIC | (body ? MessageFlags.PAYLOAD : 0) | (req.flags & MessageFlags.STREAMING),
      userid: 0,
      rolemask: 5,
      aux1: opts.errnum ?? 0,
      aux2: req.aux2,
      routes: [],
      topic: req.topic,
    };
    if (body) msg.payload = body;
    socket.write(frameMessage(encodeMessage(msg)));
  }

  /** Stops accepting and drops every connection. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async dispose(): Promise<void> {
    if (this.server.listening) await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => {});
    if (this.handshake === "silent") return;
    socket.write(Buffer.of(this.handshake));
    if (this.handshake !== 0) {
      socket.end();
      return;
    }
    const reader = new MessageReader();
    socket.on("data", (chunk) => {
      for (const msg of reader.push(chunk)) {
        this.requests.push(msg);
        this.onRequest({ msg, socket });
      }
    });
  }
}
