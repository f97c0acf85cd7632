/**
 * The wire side of the test broker: a unix-socket server speaking the local connector protocol
 * (1-byte handshake, framed messages), stamping credentials like the broker's router, dispatching
 * requests by topic, and answering like a real broker: responses carry the ROUTE flag with an
 * empty route stack, keep the request's topic, matchtag and STREAMING flag, and errors carry the
 * errno plus an optional NUL-terminated message. Streams end with one error response (ENODATA
 * for a normal end) and can be cancelled through `<method>-cancel`.
 */
import * as net from "node:net";
import {
  MessageFlags,
  MessageReader,
  MessageType,
  USERID_UNKNOWN,
  decodeJsonPayload,
  encodeJsonPayload,
  encodeMessage,
  encodeStringPayload,
  frameMessage,
  type FluxMessage,
} from "../../sidecar/flux/codec";

export const Errno = { EPERM: 1, ENOENT: 2, EINVAL: 22, ENOSYS: 38, ENODATA: 61, EPROTO: 71 } as const;
export const Role = { OWNER: 1, USER: 2, LOCAL: 4 } as const;

/** Thrown by a service handler to answer with an error. */
export class RpcError extends Error {
  constructor(
    readonly errnum: number,
    readonly text?: string,
  ) {
    super(text ?? `errno ${errnum}`);
  }
}

export type Handler = (req: ServiceRequest) => void | Promise<void>;

/** What a fault hook does instead of answering the next request for a topic. */
export type Interception = "garbage" | "oversized" | "drop" | "silence";

export interface ServerOptions {
  ownerUid: number;
  /** uid the server pretends each client connected as (SO_PEERCRED is not available in Node) */
  peerUid: number;
  allowGuests: boolean;
}

export class Connection {
  readonly streams = new Map<number, ServiceRequest>();
  /** cleanups for non-stream requests that wait (list-id with a state) */
  readonly waits = new Set<() => void>();
  closed = false;

  constructor(
    readonly server: WireServer,
    readonly socket: net.Socket,
    readonly uid: number,
    readonly rolemask: number,
  ) {}

  send(msg: FluxMessage): void {
    const bytes = frameMessage(encodeMessage(msg));
    this.write(bytes);
  }

  write(bytes: Buffer): void {
    const delay = this.server.replyDelayMs;
    const doWrite = () => {
      if (!this.closed) this.socket.write(bytes);
    };
    if (delay > 0) setTimeout(doWrite, delay).unref();
    else doWrite();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    for (const stream of this.streams.values()) stream.abort();
    this.streams.clear();
    for (const cleanup of this.waits) cleanup();
    this.waits.clear();
    this.server.connections.delete(this);
  }
}

/** One received request and the means to answer it once (or, when streaming, many times). */
export class ServiceRequest {
  private finished = false;
  private cancelHandler: (() => void) | undefined;

  constructor(
    readonly conn: Connection,
    readonly msg: FluxMessage,
    /** credentials after stamping */
    readonly userid: number,
    readonly rolemask: number,
  ) {}

  get topic(): string {
    return this.msg.topic ?? "";
  }
  get matchtag(): number {
    return this.msg.aux2;
  }
  get nodeid(): number {
    return this.msg.aux1;
  }
  get streaming(): boolean {
    return (this.msg.flags & MessageFlags.STREAMING) !== 0;
  }
  get noResponse(): boolean {
    return (this.msg.flags & MessageFlags.NORESPONSE) !== 0;
  }
  get isOwner(): boolean {
    return (this.rolemask & Role.OWNER) !== 0;
  }

  /** The JSON object payload; EPROTO when missing or malformed, like flux_request_unpack. */
  json(): Record<string, unknown> {
    if (!this.msg.payload) throw new RpcError(Errno.EPROTO);
    const p = this.msg.payload;
    if (p.length === 0 || p[p.length - 1] !== 0) throw new RpcError(Errno.EPROTO);
    try {
      return decodeJsonPayload(p);
    } catch {
      throw new RpcError(Errno.EPROTO);
    }
  }

  /** Sends a success response; streaming requests stay open, others are finished. Payload undefined = no payload frame. */
  respond(payload?: object): void {
    if (this.finished) return;
    if (!this.streaming) this.finished = true;
    this.sendResponse(0, payload === undefined ? undefined : encodeJsonPayload(payload));
  }

  /** Sends an error response, which also ends a stream. */
  fail(errnum: number, text?: string): void {
    if (this.finished) return;
    this.finished = true;
    this.conn.streams.delete(this.matchtag);
    this.cancelHandler?.();
    this.sendResponse(errnum, text === undefined ? undefined : encodeStringPayload(text));
  }

  /** Normal end of a stream. */
  end(): void {
    this.fail(Errno.ENODATA);
  }

  /** Registers this request as an open stream; `onCancel` runs on -cancel, disconnect, or end. */
  openStream(onCancel: () => void): void {
    this.cancelHandler = onCancel;
    this.conn.streams.set(this.matchtag, this);
  }

  /** Stops the stream without answering (the client went away). */
  abort(): void {
    this.finished = true;
    this.cancelHandler?.();
  }

  private sendResponse(errnum: number, payload: Buffer | undefined): void {
    if (this.noResponse || this.conn.closed) return;
    const intercept = this.conn.server.takeInterception(this.topic);
    if (intercept) return this.conn.server.applyInterception(this.conn, intercept);
    let flags = MessageFlags.ROUTE | MessageFlags.TOPIC;
    if (payload) flags |= MessageFlags.PAYLOAD;
    if (this.streaming) flags |= MessageFlags.STREAMING;
    this.conn.send({
      type: MessageType.RESPONSE,
      flags,
      userid: this.userid,
      rolemask: this.rolemask,
      aux1: errnum,
      aux2: this.matchtag,
      routes: [],
      topic: this.topic,
      payload,
    });
  }
}

export class WireServer {
  readonly connections = new Set<Connection>();
  readonly handlers = new Map<string, Handler>();
  replyDelayMs = 0;
  /** errno byte to send instead of accepting the next connection */
  rejectNextWith: number | undefined;
  private readonly interceptions: Array<{ topic: string; action: Interception }> = [];
  private server: net.Server | undefined;
  /** observers of every decoded request (tests use it to check what a client sent) */
  readonly requestLog: Array<{ topic: string; flags: number; payload?: Buffer; userid: number; nodeid: number }> = [];

  constructor(private readonly opts: ServerOptions) {}

  register(topic: string, handler: Handler): void {
    this.handlers.set(topic, handler);
  }

  listen(path: string): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
  }

  /** Stops accepting and drops every client. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const conn of [...this.connections]) conn.close();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  dropConnections(): void {
    for (const conn of [...this.connections]) conn.close();
  }

  applyInterceptionToAll(action: Interception): void {
    for (const conn of [...this.connections]) this.applyInterception(conn, action);
  }

  intercept(topic: string, action: Interception): void {
    this.interceptions.push({ topic, action });
  }

  clearInterceptions(): void {
    this.interceptions.length = 0;
  }

  takeInterception(topic: string): Interception | undefined {
    const i = this.interceptions.findIndex((x) => x.topic === topic);
    if (i < 0) return undefined;
    return this.interceptions.splice(i, 1)[0].action;
  }

  applyInterception(conn: Connection, action: Interception): void {
    if (action === "garbage") conn.write(GARBAGE);
    else if (action === "oversized") conn.write(oversizedHeader());
    else if (action === "drop") conn.close();
    // "silence": the reply is swallowed, as by a broker that never answers
  }

  private accept(socket: net.Socket): void {
    const uid = this.opts.peerUid;
    const owner = uid === this.opts.ownerUid;
    if (this.rejectNextWith !== undefined || (!owner && !this.opts.allowGuests)) {
      const errnum = this.rejectNextWith ?? Errno.EPERM;
      this.rejectNextWith = undefined;
      socket.end(Buffer.from([errnum]));
      return;
    }
    const conn = new Connection(this, socket, uid, (owner ? Role.OWNER : Role.USER) | Role.LOCAL);
    this.connections.add(conn);
    socket.write(Buffer.from([0]));
    const reader = new MessageReader();
    socket.on("data", (chunk: Buffer) => {
      let messages: FluxMessage[];
      try {
        messages = reader.push(chunk);
      } catch {
        conn.close(); // like the broker: a bad frame drops the client (EPROTO)
        return;
      }
      for (const msg of messages) this.dispatch(conn, msg);
    });
    socket.on("error", () => conn.close());
    socket.on("close", () => conn.close());
  }

  /** Credential stamping of librouter/auth.c: owners keep what they set, guests are overwritten. */
  private stamp(conn: Connection, msg: FluxMessage): { userid: number; rolemask: number } {
    if (!(conn.rolemask & Role.OWNER)) return { userid: conn.uid, rolemask: conn.rolemask };
    return {
      userid: msg.userid === USERID_UNKNOWN ? conn.uid : msg.userid,
      rolemask: msg.rolemask === 0 ? conn.rolemask : msg.rolemask,
    };
  }

  private dispatch(conn: Connection, msg: FluxMessage): void {
    if (msg.type !== MessageType.REQUEST) return; // clients send only requests; events/responses are ignored
    const { userid, rolemask } = this.stamp(conn, msg);
    const req = new ServiceRequest(conn, msg, userid, rolemask);
    this.requestLog.push({ topic: req.topic, flags: msg.flags, payload: msg.payload, userid, nodeid: msg.aux1 });
    if (this.requestLog.length > 10000) this.requestLog.splice(0, 5000);
    const handler = this.handlers.get(req.topic) ?? (req.topic.endsWith("-cancel") ? cancelHandler : undefined);
    if (!handler) return req.fail(Errno.ENOSYS, `No service matching ${req.topic} is registered`);
    try {
      const result = handler(req);
      if (result) result.catch((err) => answerError(req, err));
    } catch (err) {
      answerError(req, err);
    }
  }
}

/** `<method>-cancel {"matchtag": N}`: ends this connection's stream N of `<method>` with ENODATA. */
const cancelHandler: Handler = (req) => {
  const method = req.topic.slice(0, -"-cancel".length);
  const { matchtag } = req.json();
  const stream = req.conn.streams.get(Number(matchtag));
  if (stream && stream.topic === method) stream.end();
  req.respond();
};

function answerError(req: ServiceRequest, err: unknown): void {
  if (err instanceof RpcError) req.fail(err.errnum, err.text);
  else req.fail(Errno.EPROTO, `test broker: ${(err as Error).message}`);
}

/** Bytes that cannot start a frame (bad magic). */
const GARBAGE = Buffer.from("this is not a flux frame\n\x00\xff\xfe", "latin1");

/** A frame header announcing a 4 GiB message. */
function oversizedHeader(): Buffer {
  const header = frameMessage(Buffer.alloc(0));
  header.writeUInt32BE(0xfffffff0, 4);
  return header;
}
