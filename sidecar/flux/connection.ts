/**
 * One byte-stream connection to a broker's local connector: connect, the 1-byte auth
 * handshake (0 = accepted, else an errno), then framed messages both ways. Knows nothing of
 * matchtags or services. Reading can be paused (the broker then buffers, as for a stalled
 * `flux job attach`), and a message over maxMessageBytes is read past, never buffered.
 * BrokerLink adds reconnection with bounded backoff on top.
 */
import net from "node:net";
import {
  MessageReader,
  encodeMessage,
  frameMessage,
  type FluxMessage,
  type MessageSink,
  type OversizedMessage,
} from "./codec";
import { FluxProtocolError, FluxUnavailableError, errnoCode } from "./errors";

export interface ConnectionHandlers {
  onMessage(msg: FluxMessage): void;
  /** A message over maxMessageBytes was skipped; its proto header says which request it answered. */
  onOversized(msg: OversizedMessage): void;
  /** Called exactly once when the connection ends, with the reason. */
  onClose(reason: FluxUnavailableError | FluxProtocolError): void;
}

export interface ConnectOptions {
  /** how long connect + handshake may take (default 5000 ms) */
  connectTimeoutMs?: number;
  /** largest message delivered (default 512 MiB); larger ones are skipped and reported */
  maxMessageBytes?: number;
}

export class Connection {
  private closed = false;
  private outbox: Buffer[] = [];
  private flushScheduled = false;
  private readonly sink: MessageSink = {
    message: (msg) => this.deliver(() => this.handlers.onMessage(msg)),
    oversized: (msg) => this.deliver(() => this.handlers.onOversized(msg)),
  };

  private constructor(
    private readonly socket: net.Socket,
    private readonly socketPath: string,
    private readonly handlers: ConnectionHandlers,
    private readonly reader: MessageReader,
  ) {}

  /** Connects and completes the handshake; rejects with FluxUnavailableError. */
  static open(socketPath: string, handlers: ConnectionHandlers, opts: ConnectOptions = {}): Promise<Connection> {
    const timeoutMs = opts.connectTimeoutMs ?? 5000;
    const reader = new MessageReader({ maxMessageBytes: opts.maxMessageBytes });
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: socketPath });
      let settled = false;
      const fail = (why: string, cause?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.on("error", () => {}); // a late error on a socket we gave up on must not go uncaught
        socket.destroy();
        reject(new FluxUnavailableError(`cannot connect to the Flux broker at ${socketPath}: ${why}`, { cause }));
      };
      const timer = setTimeout(() => fail(`no handshake within ${timeoutMs} ms`), timeoutMs);
      socket.once("error", (err: NodeJS.ErrnoException) => fail(describeSocketError(err), err));
      socket.once("close", () => fail("connection closed during the handshake (ECONNRESET)"));
      socket.once("data", (chunk: Buffer) => {
        if (settled) return;
        const status = chunk[0];
        if (status !== 0) {
          fail(`broker refused the connection: ${errnoCode(status)}${status === 1 ? " (not the instance owner and guest access is off)" : ""}`);
          return;
        }
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners();
        const conn = new Connection(socket, socketPath, handlers, reader);
        conn.attach();
        resolve(conn);
        if (chunk.length > 1) conn.receive(chunk.subarray(1)); // bytes after the auth byte are already framed messages
      });
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Stops reading from the socket: the broker's replies wait in the kernel and the broker. */
  pause(): void {
    if (!this.closed) this.socket.pause();
  }

  resume(): void {
    if (!this.closed) this.socket.resume();
  }

  /** Queues a message; writes are batched per tick into one writev. */
  send(msg: FluxMessage): void {
    if (this.closed) throw new FluxUnavailableError(`connection to the Flux broker at ${this.socketPath} is closed`);
    this.outbox.push(frameMessage(encodeMessage(msg)));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  close(): void {
    this.shutdown(new FluxUnavailableError(`connection to the Flux broker at ${this.socketPath} was closed by the client`));
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.outbox.length === 0) return;
    const batch = this.outbox;
    this.outbox = [];
    this.socket.cork();
    for (const buf of batch) this.socket.write(buf);
    this.socket.uncork();
  }

  private attach(): void {
    this.socket.setNoDelay(true);
    this.socket.on("data", (chunk: Buffer) => this.receive(chunk));
    this.socket.on("error", (err: NodeJS.ErrnoException) =>
      this.shutdown(new FluxUnavailableError(`lost the connection to the Flux broker at ${this.socketPath}: ${describeSocketError(err)}`, { cause: err })),
    );
    this.socket.on("close", () =>
      this.shutdown(new FluxUnavailableError(`the Flux broker at ${this.socketPath} closed the connection`)),
    );
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.reader.feed(chunk, this.sink);
    } catch (err) {
      const reason = err instanceof FluxProtocolError ? err : new FluxProtocolError(String(err));
      reason.message = `malformed message from the Flux broker at ${this.socketPath}: ${reason.message}`;
      this.shutdown(reason);
    }
  }

  private deliver(handle: () => void): void {
    if (this.closed) return;
    try {
      handle();
    } catch (err) {
      // a consumer bug must not tear down the socket handler; surface it without crashing
      process.emitWarning(`flux client message handler failed: ${String(err)}`);
    }
  }

  private shutdown(reason: FluxUnavailableError | FluxProtocolError): void {
    if (this.closed) return;
    this.closed = true;
    this.outbox = [];
    this.socket.destroy();
    this.handlers.onClose(reason);
  }
}

function describeSocketError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "ENOENT":
      return "socket does not exist (ENOENT): is the broker running, and is FLUX_URI right?";
    case "ECONNREFUSED":
      return "nothing is listening on the socket (ECONNREFUSED)";
    case "EACCES":
      return "permission denied (EACCES): the socket or its directory is not accessible to this user";
    default:
      return err.code ? `${err.message}` : String(err);
  }
}

export interface BackoffOptions {
  /** delay before retrying after the first failed connect (default 100 ms) */
  initialMs?: number;
  /** cap on the doubling delay (default 1000 ms: a returning broker is found within a second;
   *  a failed unix-socket connect is cheap, so retrying that often costs nothing) */
  maxMs?: number;
}

export interface LinkHandlers {
  onMessage(msg: FluxMessage): void;
  onOversized(msg: OversizedMessage): void;
  /** The open connection ended; everything sent on it is lost. */
  onDisconnect(reason: FluxUnavailableError | FluxProtocolError): void;
}

/**
 * Keeps at most one Connection open, opening it on demand. After a failed attempt, callers
 * fail fast with the last error until a doubling delay (bounded by maxMs) has passed, so a
 * broker that is gone never makes calls wait, and a broker that comes back is found again.
 */
export class BrokerLink {
  private current: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private lastError: FluxUnavailableError | undefined;
  private retryAt = 0;
  private delayMs = 0;
  private closed = false;
  private readonly initialMs: number;
  private readonly maxMs: number;

  constructor(
    readonly socketPath: string,
    private readonly handlers: LinkHandlers,
    private readonly opts: ConnectOptions & { backoff?: BackoffOptions } = {},
  ) {
    this.initialMs = opts.backoff?.initialMs ?? 100;
    this.maxMs = opts.backoff?.maxMs ?? 1000;
  }

  get isConnected(): boolean {
    return this.current?.isOpen ?? false;
  }

  /** The open connection, connecting first if needed. Rejects with FluxUnavailableError. */
  connection(): Promise<Connection> {
    if (this.closed) return Promise.reject(new FluxUnavailableError(`Flux client for ${this.socketPath} is closed`));
    if (this.current?.isOpen) return Promise.resolve(this.current);
    if (this.connecting) return this.connecting;
    const now = Date.now();
    if (this.lastError && now < this.retryAt) {
      return Promise.reject(new FluxUnavailableError(`${this.lastError.message} (next attempt in ${this.retryAt - now} ms)`, { cause: this.lastError }));
    }
    this.connecting = this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Stops reading the open connection (see Connection.pause); a new connection starts reading. */
  pause(): void {
    this.current?.pause();
  }

  resume(): void {
    this.current?.resume();
  }

  close(): void {
    this.closed = true;
    this.current?.close();
    this.current = undefined;
  }

  private async open(): Promise<Connection> {
    try {
      const conn = await Connection.open(
        this.socketPath,
        {
          onMessage: (msg) => this.handlers.onMessage(msg),
          onOversized: (msg) => this.handlers.onOversized(msg),
          onClose: (reason) => {
            if (this.current === conn) this.current = undefined;
            this.handlers.onDisconnect(reason);
          },
        },
        this.opts,
      );
      if (this.closed) {
        conn.close();
        throw new FluxUnavailableError(`Flux client for ${this.socketPath} is closed`);
      }
      this.current = conn;
      this.lastError = undefined;
      this.delayMs = 0;
      return conn;
    } catch (err) {
      const error = err instanceof FluxUnavailableError ? err : new FluxUnavailableError(String(err), { cause: err });
      this.delayMs = this.delayMs === 0 ? this.initialMs : Math.min(this.delayMs * 2, this.maxMs);
      this.retryAt = Date.now() + this.delayMs;
      this.lastError = error;
      throw error;
    }
  }
}
