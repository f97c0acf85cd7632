/**
 * Stream framing of the local connector (flux-core librouter/sendfd.c): an 8-byte header of
 * the magic 0xffee0012 in HOST byte order and the big-endian length of the encoded message
 * that follows, not counting the header. (RFC 3 says big-endian magic and a length that
 * includes the header; the implementation, which is what brokers speak, does not.)
 */
import { endianness } from "node:os";
import { FluxProtocolError } from "../errors";
import { decodeMessage, type FluxMessage } from "./message";

export const FRAME_MAGIC = 0xffee0012;
export const FRAME_HEADER_SIZE = 8;
/** Default cap on one message; a larger length prefix is treated as a protocol error. */
export const DEFAULT_MAX_MESSAGE_BYTES = 512 * 1024 * 1024;

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
 * when a message spans chunks, so decoding stays linear in the bytes received. After it has
 * thrown once, the reader is broken and every later push throws the same error.
 */
export class MessageReader {
  private readonly maxMessageBytes: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** total bytes (header included) of the message being assembled, or -1 before its header */
  private expected = -1;
  private failure: FluxProtocolError | undefined;

  constructor(opts: { maxMessageBytes?: number } = {}) {
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Bytes received but not yet returned as messages. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): FluxMessage[] {
    if (this.failure) throw this.failure;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const messages: FluxMessage[] = [];
    try {
      for (;;) {
        if (this.expected < 0) {
          if (this.buffered < FRAME_HEADER_SIZE) break;
          const header = this.peek(FRAME_HEADER_SIZE);
          const magic = readMagic(header);
          if (magic !== FRAME_MAGIC) {
            throw new FluxProtocolError(`bad frame magic 0x${magic.toString(16).padStart(8, "0")} (expected 0x${FRAME_MAGIC.toString(16)})`);
          }
          const length = header.readUInt32BE(4);
          if (length > this.maxMessageBytes) {
            throw new FluxProtocolError(`message of ${length} bytes exceeds the ${this.maxMessageBytes}-byte limit`);
          }
          this.expected = FRAME_HEADER_SIZE + length;
        }
        if (this.buffered < this.expected) break;
        const framed = this.take(this.expected);
        this.expected = -1;
        messages.push(decodeMessage(framed.subarray(FRAME_HEADER_SIZE)));
      }
    } catch (err) {
      this.failure = err instanceof FluxProtocolError ? err : new FluxProtocolError(String(err));
      this.chunks = [];
      this.buffered = 0;
      throw this.failure;
    }
    return messages;
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
