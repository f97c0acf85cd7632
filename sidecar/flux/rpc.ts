/**
 * Remote procedure calls over a BrokerLink: matchtags, per-call timeouts, streaming
 * responses, cancellation (RFC 6), and error replies turned into FluxError. Knows no
 * services and no sockets.
 */
import {
  MessageFlags,
  MessageType,
  NODEID_ANY,
  ROLE_NONE,
  USERID_UNKNOWN,
  decodeJsonPayload,
  decodeStringPayload,
  encodeJsonPayload,
  type FluxMessage,
} from "./codec";
import { BrokerLink, type BackoffOptions, type ConnectOptions } from "./connection";
import { Errno, FluxError, FluxProtocolError, FluxTimeoutError, FluxUnavailableError, FluxUnsupportedError } from "./errors";

export type Payload = Record<string, unknown>;

export interface CallOptions {
  /** destination broker rank; default any */
  nodeid?: number;
  /** overrides the client's default timeout; 0 disables it */
  timeoutMs?: number;
  /** header userid; default FLUX_USERID_UNKNOWN so the broker stamps ours */
  userid?: number;
  signal?: AbortSignal;
}

export interface StreamOptions extends CallOptions {
  /** topic of the RFC 6 cancel request sent when the consumer stops early; default "<topic>-cancel" */
  cancelTopic?: string;
}

export interface RpcOptions extends ConnectOptions {
  /** default per-call timeout (ms); streams have none unless given one */
  timeoutMs?: number;
  backoff?: BackoffOptions;
}

type Failure = FluxError | FluxUnavailableError | FluxProtocolError | FluxTimeoutError | Error;

interface PendingCall {
  /** a response arrived; return true when the tag is finished */
  onResponse(msg: FluxMessage): boolean;
  onFailure(err: Failure): void;
}

const MAX_MATCHTAG = 0xffffffff;

function toFluxError(msg: FluxMessage, topic: string): FluxError {
  // ENOSYS: no such service on this broker (another flux-core release, or a module not loaded)
  if (msg.aux1 === Errno.ENOSYS) return new FluxUnsupportedError(msg.aux1, decodeStringPayload(msg.payload), topic);
  return new FluxError(msg.aux1, decodeStringPayload(msg.payload), topic);
}

/** Raised inside RpcClient when a signal aborts a call. */
function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("aborted");
}

export class RpcClient {
  private readonly link: BrokerLink;
  private pending = new Map<number, PendingCall>();
  private nextTag = 1;
  private readonly defaultTimeoutMs: number;

  constructor(socketPath: string, opts: RpcOptions = {}) {
    this.defaultTimeoutMs = opts.timeoutMs ?? 10_000;
    this.link = new BrokerLink(
      socketPath,
      {
        onMessage: (msg) => this.dispatch(msg),
        onDisconnect: (reason) => this.failAll(reason),
      },
      opts,
    );
  }

  get socketPath(): string {
    return this.link.socketPath;
  }

  get isConnected(): boolean {
    return this.link.isConnected;
  }

  /** Number of matchtags in use (calls, streams, and tags awaiting a late reply). */
  get pendingCount(): number {
    return this.pending.size;
  }

  async connect(): Promise<void> {
    await this.link.connection();
  }

  close(): void {
    this.failAll(new FluxUnavailableError(`Flux client for ${this.link.socketPath} is closed`));
    this.link.close();
  }

  /** One request, one response. Rejects with FluxError on an error reply. */
  async call(topic: string, payload?: Payload, opts: CallOptions = {}): Promise<Payload> {
    const msg = await this.request(topic, payload, opts);
    return decodeJsonPayload(msg.payload);
  }

  /** Like call, but the response payload's bytes as they came (empty without one). */
  async callBytes(topic: string, payload?: Payload, opts: CallOptions = {}): Promise<Buffer> {
    const msg = await this.request(topic, payload, opts);
    return msg.payload ?? Buffer.alloc(0);
  }

  /**
   * A streaming RPC: yields each success payload; ends normally on ENODATA; throws the
   * FluxError of any other error reply. Stopping early (break, return, signal) sends the
   * cancel request and keeps the matchtag reserved until the broker's final reply.
   */
  async *stream(topic: string, payload: Payload | undefined, opts: StreamOptions = {}): AsyncGenerator<Payload, void, undefined> {
    let queue: FluxMessage[] = [];
    let failure: Failure | undefined; // delivered after the data that arrived before it
    let interruption: Error | undefined; // abort or timeout: delivered at once
    let ended = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    const conn = await this.link.connection();
    if (opts.signal?.aborted) throw abortError(opts.signal); // checked after the await: the listener is added below
    const tag = this.allocTag();
    let finished = false; // the broker sent the terminating reply (or the connection died)
    this.pending.set(tag, {
      onResponse: (msg) => {
        const done = msg.aux1 !== 0 || (msg.flags & MessageFlags.STREAMING) === 0;
        if (msg.aux1 === 0) queue.push(msg);
        else if (msg.aux1 !== Errno.ENODATA) failure = toFluxError(msg, topic);
        if (done) {
          finished = true;
          ended = true;
        }
        notify();
        return done;
      },
      onFailure: (err) => {
        finished = true;
        failure = err;
        notify();
      },
    });
    const onAbort = () => {
      interruption = abortError(opts.signal!);
      notify();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const timeoutMs = opts.timeoutMs ?? 0;
    const timer = timeoutMs > 0 ? setTimeout(() => {
      interruption = new FluxTimeoutError(`${topic}: no end of stream within ${timeoutMs} ms`);
      notify();
    }, timeoutMs) : undefined;
    try {
      conn.send(this.requestMessage(topic, payload, opts, MessageFlags.STREAMING, tag));
      for (;;) {
        if (interruption) throw interruption;
        if (queue.length > 0) {
          const batch = queue;
          queue = [];
          for (let i = 0; i < batch.length; i++) {
            if (interruption) throw interruption;
            yield decodeJsonPayload(batch[i].payload);
          }
          continue;
        }
        if (failure) throw failure;
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (!finished && conn.isOpen) {
        // keep the tag until the broker's terminating reply so it cannot be reused early
        this.pending.set(tag, { onResponse: (msg) => msg.aux1 !== 0 || (msg.flags & MessageFlags.STREAMING) === 0, onFailure: () => {} });
        try {
          conn.send(this.requestMessage(opts.cancelTopic ?? `${topic}-cancel`, { matchtag: tag }, opts, MessageFlags.NORESPONSE, 0));
        } catch {
          this.pending.delete(tag); // connection already gone: nothing left to cancel
        }
      } else if (!finished) this.pending.delete(tag);
    }
  }

  private async request(topic: string, payload: Payload | undefined, opts: CallOptions): Promise<FluxMessage> {
    const conn = await this.link.connection();
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    if (opts.signal?.aborted) throw abortError(opts.signal); // checked after the await: the listener is added below
    return new Promise<FluxMessage>((resolve, reject) => {
      const tag = this.allocTag();
      let timer: NodeJS.Timeout | undefined;
      const settle = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
      };
      // After a timeout or abort the tag stays reserved for the late reply, so it is never misrouted.
      const orphan = () => this.pending.set(tag, { onResponse: () => true, onFailure: () => {} });
      const onAbort = () => {
        settle();
        orphan();
        reject(abortError(opts.signal!));
      };
      this.pending.set(tag, {
        onResponse: (msg) => {
          settle();
          if (msg.aux1 !== 0) reject(toFluxError(msg, topic));
          else resolve(msg);
          return true;
        },
        onFailure: (err) => {
          settle();
          reject(err);
        },
      });
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          settle();
          orphan();
          reject(new FluxTimeoutError(`${topic}: no reply from the Flux broker within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      try {
        conn.send(this.requestMessage(topic, payload, opts, 0, tag));
      } catch (err) {
        this.pending.delete(tag);
        settle();
        reject(err);
      }
    });
  }

  private requestMessage(topic: string, payload: Payload | undefined, opts: Pick<CallOptions, "nodeid" | "userid">, flags: number, matchtag: number): FluxMessage {
    const msg: FluxMessage = {
      type: MessageType.REQUEST,
      flags: flags | MessageFlags.TOPIC | (payload ? MessageFlags.PAYLOAD : 0),
      userid: opts.userid ?? USERID_UNKNOWN,
      rolemask: ROLE_NONE,
      aux1: opts.nodeid ?? NODEID_ANY,
      aux2: matchtag,
      topic,
    };
    if (payload) msg.payload = encodeJsonPayload(payload);
    return msg;
  }

  /** Matchtags count up from 1, wrapping, skipping any still in use (never 0 = FLUX_MATCHTAG_NONE). */
  private allocTag(): number {
    if (this.pending.size >= MAX_MATCHTAG) throw new FluxUnavailableError("no free matchtags");
    while (this.pending.has(this.nextTag)) this.nextTag = this.nextTag >= MAX_MATCHTAG ? 1 : this.nextTag + 1;
    const tag = this.nextTag;
    this.nextTag = tag >= MAX_MATCHTAG ? 1 : tag + 1;
    return tag;
  }

  private dispatch(msg: FluxMessage): void {
    if (msg.type !== MessageType.RESPONSE) return; // no event subscriptions; nothing else is addressed to us
    const call = this.pending.get(msg.aux2);
    if (!call) return;
    if (call.onResponse(msg)) this.pending.delete(msg.aux2);
  }

  private failAll(reason: Failure): void {
    const calls = [...this.pending.values()];
    this.pending.clear();
    this.nextTag = 1;
    for (const call of calls) call.onFailure(reason);
  }
}
