/**
 * Remote procedure calls over a BrokerLink: matchtags, per-call timeouts, streaming
 * responses, cancellation (RFC 6), and error replies turned into FluxError. Knows no
 * services and no sockets. Flux streams have no flow control, so what a stream holds for its
 * consumer is bounded here: past the bound it fails, or the connection stops reading.
 */
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  MessageFlags,
  MessageType,
  NODEID_ANY,
  ROLE_NONE,
  USERID_UNKNOWN,
  decodeJsonPayload,
  decodeStringPayload,
  encodeJsonPayload,
  type FluxMessage,
  type OversizedMessage,
} from "./codec";
import { BrokerLink, type BackoffOptions, type ConnectOptions } from "./connection";
import {
  Errno,
  FluxBacklogError,
  FluxError,
  FluxMessageTooLargeError,
  FluxProtocolError,
  FluxTimeoutError,
  FluxUnavailableError,
  FluxUnsupportedError,
} from "./errors";

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
  /**
   * Bytes of replies a stream may hold that its consumer has not taken (default 8 MiB). Past
   * it the stream fails with FluxBacklogError and is cancelled, unless pauseReading is set.
   */
  streamBufferBytes?: number;
  /**
   * Instead, stop reading the connection while its streams hold more than streamBufferBytes and
   * read again below a quarter of it: backpressure to the broker, which buffers meanwhile. Only
   * for a client whose connection serves one stream: pausing a shared one stalls every call.
   */
  pauseReading?: boolean;
}

type Failure = FluxError | FluxUnavailableError | FluxProtocolError | FluxTimeoutError | Error;

interface PendingCall {
  /** a response arrived; return true when the tag is finished */
  onResponse(msg: FluxMessage): boolean;
  /** a response over the message limit was skipped; return true when the tag is finished */
  onOversized(msg: OversizedMessage): boolean;
  onFailure(err: Failure): void;
}

const MAX_MATCHTAG = 0xffffffff;
export const DEFAULT_STREAM_BUFFER_BYTES = 8 * 1024 * 1024;
/** What a held reply costs besides its payload (the message object), so empty replies count. */
const MESSAGE_OVERHEAD = 64;

const replyCost = (msg: FluxMessage) => (msg.payload?.length ?? 0) + MESSAGE_OVERHEAD;
/** The reply that ends a call or stream: an error, or a reply without the STREAMING flag. */
const isLast = (msg: { aux1: number; flags: number }) => msg.aux1 !== 0 || (msg.flags & MessageFlags.STREAMING) === 0;

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
  private readonly maxMessageBytes: number;
  private readonly streamBufferBytes: number;
  private readonly pauseReading: boolean;
  /** bytes held by all streams for their consumers */
  private streamBytes = 0;
  private paused = false;

  constructor(socketPath: string, opts: RpcOptions = {}) {
    this.defaultTimeoutMs = opts.timeoutMs ?? 10_000;
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.streamBufferBytes = opts.streamBufferBytes ?? DEFAULT_STREAM_BUFFER_BYTES;
    this.pauseReading = opts.pauseReading ?? false;
    this.link = new BrokerLink(
      socketPath,
      {
        onMessage: (msg) => this.dispatch(msg),
        onOversized: (msg) => this.dispatchOversized(msg),
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

  /** Bytes of stream replies held for consumers that have not taken them yet. */
  get bufferedStreamBytes(): number {
    return this.streamBytes;
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
   * cancel request and keeps the matchtag reserved until the broker's final reply. Replies
   * wait for the consumer within streamBufferBytes (see RpcOptions).
   */
  async *stream(topic: string, payload: Payload | undefined, opts: StreamOptions = {}): AsyncGenerator<Payload, void, undefined> {
    let queue: FluxMessage[] = [];
    let head = 0; // queue[head] is the next reply to yield
    let queuedBytes = 0;
    let failure: Failure | undefined; // delivered after the data that arrived before it
    let interruption: Error | undefined; // abort, timeout or overflow: delivered at once
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
    let cancelled = false;
    /** Asks the broker to end the stream; the tag stays reserved until its terminating reply. */
    const cancel = () => {
      if (finished || cancelled) return;
      cancelled = true;
      if (!conn.isOpen) {
        this.pending.delete(tag);
        return;
      }
      this.pending.set(tag, { onResponse: isLast, onOversized: isLast, onFailure: () => {} });
      try {
        conn.send(this.requestMessage(opts.cancelTopic ?? `${topic}-cancel`, { matchtag: tag }, opts, MessageFlags.NORESPONSE, 0));
      } catch {
        this.pending.delete(tag); // connection already gone: nothing left to cancel
      }
    };
    const release = (bytes: number) => {
      queuedBytes -= bytes;
      this.streamBytes -= bytes;
      if (this.paused && this.streamBytes <= this.streamBufferBytes / 4) {
        this.paused = false;
        this.link.resume();
      }
    };
    const hold = (msg: FluxMessage) => {
      const cost = replyCost(msg);
      queue.push(msg);
      queuedBytes += cost;
      this.streamBytes += cost;
      if (this.pauseReading) {
        if (!this.paused && this.streamBytes > this.streamBufferBytes) {
          this.paused = true;
          this.link.pause();
        }
      } else if (queuedBytes > this.streamBufferBytes) {
        interruption = new FluxBacklogError(
          `${topic}: the consumer fell behind by more than the ${this.streamBufferBytes}-byte stream buffer; the stream was cancelled`,
        );
        release(queuedBytes);
        queue = [];
        head = 0;
        cancel();
      }
    };
    this.pending.set(tag, {
      onResponse: (msg) => {
        const done = isLast(msg);
        if (done) {
          finished = true;
          ended = true;
        }
        if (!interruption && !failure) {
          if (msg.aux1 === 0) hold(msg);
          else if (msg.aux1 !== Errno.ENODATA) failure = toFluxError(msg, topic);
        }
        notify();
        return done;
      },
      onOversized: (msg) => {
        const done = isLast(msg);
        if (done) finished = true;
        failure ??= new FluxMessageTooLargeError(topic, msg.size, this.maxMessageBytes);
        cancel();
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
        if (head < queue.length) {
          const msg = queue[head++];
          if (head === queue.length) {
            queue = [];
            head = 0;
          } else if (head >= 1024 && head * 2 >= queue.length) {
            queue = queue.slice(head); // a backlog that never empties must not keep taken replies
            head = 0;
          }
          release(replyCost(msg));
          yield decodeJsonPayload(msg.payload);
          continue;
        }
        if (failure) throw failure;
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      release(queuedBytes);
      queue = [];
      cancel();
    }
  }

  private async request(topic: string, payload: Payload | undefined, opts: CallOptions): Promise<FluxMessage> {
    let conn: Awaited<ReturnType<BrokerLink["connection"]>>;
    try {
      conn = await this.link.connection();
    } catch (err) {
      // Said apart from a connection lost after sending: a caller may then know nothing was done.
      throw new FluxUnavailableError((err as Error).message, { cause: err, notSent: true });
    }
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
      const orphan = () => this.pending.set(tag, { onResponse: () => true, onOversized: () => true, onFailure: () => {} });
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
        onOversized: (msg) => {
          settle();
          reject(new FluxMessageTooLargeError(topic, msg.size, this.maxMessageBytes));
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

  private dispatchOversized(msg: OversizedMessage): void {
    if (msg.type !== MessageType.RESPONSE) return;
    const call = this.pending.get(msg.aux2);
    if (call?.onOversized(msg)) this.pending.delete(msg.aux2);
  }

  private failAll(reason: Failure): void {
    const calls = [...this.pending.values()];
    this.pending.clear();
    this.nextTag = 1;
    this.paused = false; // the next connection starts reading
    for (const call of calls) call.onFailure(reason);
  }
}
