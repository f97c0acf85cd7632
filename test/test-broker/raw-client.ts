/**
 * A bare wire-level client for tests of the brokers themselves: sends requests with exactly the
 * flags given and collects the raw responses, so protocol details (flags, errnums, error texts,
 * payload bytes) can be compared with captured exchanges.
 */
import * as net from "node:net";
import {
  MessageFlags,
  MessageReader,
  MessageType,
  NODEID_ANY,
  ROLE_NONE,
  USERID_UNKNOWN,
  decodeStringPayload,
  encodeJsonPayload,
  encodeMessage,
  frameMessage,
  type FluxMessage,
} from "../../sidecar/flux/codec";

export interface RawReply {
  msg: FluxMessage;
  errnum: number;
  /** payload text without the NUL ("" when absent) */
  text: string;
}

export class RawClient {
  private readonly reader = new MessageReader();
  private readonly replies = new Map<number, RawReply[]>();
  private readonly waiters = new Map<number, () => void>();
  private nextTag = 1;

  private constructor(private readonly socket: net.Socket) {
    socket.on("data", (chunk) => {
      for (const msg of this.reader.push(chunk)) {
        const list = this.replies.get(msg.aux2) ?? [];
        list.push({ msg, errnum: msg.aux1, text: decodeStringPayload(msg.payload) });
        this.replies.set(msg.aux2, list);
        this.waiters.get(msg.aux2)?.();
      }
    });
  }

  /** Connects and reads the handshake byte; rejects when it is not 0. */
  static connect(socketPath: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(socketPath);
      socket.once("error", reject);
      socket.once("data", (first) => {
        if (first[0] !== 0) return reject(new Error(`handshake refused with errno ${first[0]}`));
        const client = new RawClient(socket);
        if (first.length > 1) socket.emit("data", first.subarray(1));
        resolve(client);
      });
    });
  }

  /** Sends a request; payload `undefined` sends none, a Buffer is sent as is. Returns the matchtag. */
  send(topic: string, payload: object | Buffer | undefined, opts: { flags?: number; nodeid?: number; matchtag?: number } = {}): number {
    const matchtag = opts.matchtag ?? this.nextTag++;
    const body = payload === undefined ? undefined : Buffer.isBuffer(payload) ? payload : encodeJsonPayload(payload);
    let flags = MessageFlags.TOPIC | (opts.flags ?? 0);
    if (body) flags |= MessageFlags.PAYLOAD;
    this.socket.write(
      frameMessage(encodeMessage({ type: MessageType.REQUEST, flags, userid: USERID_UNKNOWN, rolemask: ROLE_NONE, aux1: opts.nodeid ?? NODEID_ANY, aux2: matchtag, topic, payload: body })),
    );
    return matchtag;
  }

  /** Waits until `count` replies (or a terminating error when count is "stream") arrived for the tag. */
  async collect(matchtag: number, count: number | "stream", timeoutMs = 5000): Promise<RawReply[]> {
    const done = () => {
      const list = this.replies.get(matchtag) ?? [];
      return count === "stream" ? list.some((r) => r.errnum !== 0) : list.length >= count;
    };
    if (!done()) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${count} reply for matchtag ${matchtag} within ${timeoutMs} ms`)), timeoutMs);
        this.waiters.set(matchtag, () => {
          if (!done()) return;
          clearTimeout(timer);
          resolve();
        });
      });
      this.waiters.delete(matchtag);
    }
    return this.replies.get(matchtag) ?? [];
  }

  /** One request, one reply. */
  async rpc(topic: string, payload: object | Buffer | undefined, opts: { flags?: number; nodeid?: number } = {}): Promise<RawReply> {
    return (await this.collect(this.send(topic, payload, opts), 1))[0];
  }

  close(): void {
    this.socket.destroy();
  }
}
