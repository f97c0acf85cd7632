/**
 * Stream framing of the local connector (flux-core librouter/sendfd.c): an 8-byte header of
 * the magic 0xffee0012 in HOST byte order and the big-endian length of the encoded message
 * that follows, not counting the header. (RFC 3 says big-endian magic and a length that
 * includes the header; the implementation, which is what brokers speak, does not.)
 */
import { endianness } from "node:os";
import { FluxProtocolError } from "../errors";
import { PROTO_SIZE, decodeMessage, decodeProto, type FluxMessage } from "./message";

export const FRAME_MAGIC = 0xffee0012;
export const FRAME_HEADER_SIZE = 8;
/** Default cap on one message returned by MessageReader. */
export const DEFAULT_MAX_MESSAGE_BYTES = 512 * 1024 * 1024;
/**
 * A length prefix above this is not believed: it is treated as a protocol error even by a reader
 * that skips oversized messages, since skipping a bogus length would swallow the stream.
 */
export const MAX_SKIPPABLE_BYTES = 1024 * 1024 * 1024;

/** A message over the reader's limit: its proto header (from its last 20 bytes) and its size. */
export type OversizedMessage = Omit<FluxMessage, "routes" | "topic" | "payload"> & { size: number };

export interface MessageSink {
  message(msg: FluxMessage): void;
  /**
   * A message over maxMessageBytes was read past without being buffered. Without this handler
   * such a message is a protocol error.
   */
  oversized?(msg: OversizedMessage): void;
}

const littleEndianHost = endianness() === "LE";

function writeMagic(buf: Buffer): void {
  if (littleEndianHost) buf.writeUInt32LE(FRAME_MAGIC, 0);
  else buf.writeUInt32BE(FRAME_MAGIC, 0);
}

function readMagic(buf: Buffer): number {
  return littleEndianHost ? buf.readUInt32LE(0) : buf.readUInt32BE(0);
}

/** Prepends the 8-byte header to an encoded message. */
export function frameMessage(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + body.length);
  writeMagic(out);
  out.writeUInt32BE(body.length, 4);
  body.copy(out, FRAME_HEADER_SIZE);
  return out;
}

/**
 * Incremental parser for the framed byte stream. Chunks are kept as received and joined only
 * when a message spans chunks, so decoding stays linear in the bytes received. A message over
 * maxMessageBytes is never buffered: it is either a protocol error or, for a sink that handles
 * it, skipped while its last bytes (the proto frame, which names the request) are kept. After
 * it has thrown once, the reader is broken and every later call throws the same error.
 */
export class MessageReader {
  readonly maxMessageBytes: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** total bytes (header included) of the message being assembled, or -1 before its header */
  private expected = -1;
  /** the oversized message being skipped: bytes still to discard, and its tail so far */
  private skip: { size: number; remaining: number; tail: Buffer } | undefined;
  private failure: FluxProtocolError | undefined;

  constructor(opts: { maxMessageBytes?: number } = {}) {
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Bytes received but not yet returned as messages. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** The complete messages in the bytes so far; a message over the limit is a protocol error. */
  push(chunk: Buffer): FluxMessage[] {
    const messages: FluxMessage[] = [];
    this.feed(chunk, { message: (msg) => messages.push(msg) });
    return messages;
  }

  /**
   * Hands each complete message to the sink in arrival order. Only decoding errors break the
   * reader; an exception from the sink propagates and leaves the reader usable.
   */
  feed(chunk: Buffer, sink: MessageSink): void {
    if (this.failure) throw this.failure;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    for (;;) {
      let next: FluxMessage | OversizedMessage | undefined;
      try {
        next = this.next(sink.oversized !== undefined);
      } catch (err) {
        this.failure = err instanceof FluxProtocolError ? err : new FluxProtocolError(String(err));
        this.chunks = [];
        this.buffered = 0;
        throw this.failure;
      }
      if (!next) return;
      if ("size" in next) sink.oversized!(next);
      else sink.message(next);
    }
  }

  /** The next complete message (or skipped oversized one) in the buffer, if any. */
  private next(skipOversized: boolean): FluxMessage | OversizedMessage | undefined {
    for (;;) {
      if (this.skip) return this.skipBytes();
      if (this.expected < 0) {
        if (this.buffered < FRAME_HEADER_SIZE) return undefined;
        const header = this.peek(FRAME_HEADER_SIZE);
        const magic = readMagic(header);
        if (magic !== FRAME_MAGIC) {
          throw new FluxProtocolError(`bad frame magic 0x${magic.toString(16).padStart(8, "0")} (expected 0x${FRAME_MAGIC.toString(16)})`);
        }
        const length = header.readUInt32BE(4);
        if (length > this.maxMessageBytes) {
          if (!skipOversized || length > MAX_SKIPPABLE_BYTES || length < PROTO_SIZE + 1) {
            throw new FluxProtocolError(`message of ${length} bytes exceeds the ${this.maxMessageBytes}-byte limit`);
          }
          this.take(FRAME_HEADER_SIZE);
          this.skip = { size: length, remaining: length, tail: Buffer.alloc(PROTO_SIZE + 1) };
          continue;
        }
        this.expected = FRAME_HEADER_SIZE + length;
      }
      if (this.buffered < this.expected) return undefined;
      const framed = this.take(this.expected);
      this.expected = -1;
      return decodeMessage(framed.subarray(FRAME_HEADER_SIZE));
    }
  }

  /** Discards buffered bytes of the oversized message, keeping its last 21 (proto frame with its size byte). */
  private skipBytes(): OversizedMessage | undefined {
    const skip = this.skip!;
    const tailStart = skip.size - skip.tail.length; // offset in the message where the kept tail begins
    while (skip.remaining > 0 && this.chunks.length > 0) {
      const chunk = this.chunks[0];
      const n = Math.min(chunk.length, skip.remaining);
      const offset = skip.size - skip.remaining; // of chunk[0] within the message
      if (offset + n > tailStart) {
        const from = Math.max(offset, tailStart);
        chunk.copy(skip.tail, from - tailStart, from - offset, n);
      }
      skip.remaining -= n;
      this.buffered -= n;
      if (n === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(n);
    }
    if (skip.remaining > 0) return undefined;
    this.skip = undefined;
    if (skip.tail[0] !== PROTO_SIZE) throw new FluxProtocolError(`oversized message of ${skip.size} bytes does not end with a proto frame`);
    return { ...decodeProto(skip.tail.subarray(1)), size: skip.size };
  }
  /** The first n buffered bytes without consuming them (n <= buffered). */
  private peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first.length >= n) return first.subarray(0, n);
    this.chunks = [Buffer.concat(this.chunks)]; // only while a header spans chunks
    return this.chunks[0].subarray(0, n);
  }

  /** Removes and returns the first n buffered bytes (n <= buffered). */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const chunk = this.chunks[0];
      const want = n - off;
      if (chunk.length <= want) {
        chunk.copy(out, off);
        off += chunk.length;
        this.chunks.shift();
      } else {
        chunk.copy(out, off, 0, want);
        this.chunks[0] = chunk.subarray(want);
        off += want;
      }
    }
    return out;
  }
}
