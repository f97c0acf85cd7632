/** Helpers for the file routes and job files: encodings, idle deadlines and local file streams. */
import { createReadStream } from "node:fs";
import type { JobFile } from "./types";

/** A file as the submit API takes it (the RFC 37 fileref fields the server reads). */
export interface EncodedJobFile {
  data: string;
  encoding: "utf-8" | "base64";
  mode?: number | string;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** UTF-8 text when the bytes are exactly that (and hold no NUL, which C strings would cut), else base64. */
function encodeBytes(bytes: Uint8Array): EncodedJobFile {
  if (!bytes.includes(0)) {
    try {
      return { data: strictUtf8.decode(bytes), encoding: "utf-8" };
    } catch {
      // not UTF-8: base64 below
    }
  }
  return { data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"), encoding: "base64" };
}

export function encodeJobFile(file: JobFile): EncodedJobFile {
  if (typeof file === "string") return { data: file, encoding: "utf-8" };
  if (file instanceof Uint8Array) return encodeBytes(file);
  const content = typeof file.data === "string" ? { data: file.data, encoding: file.encoding ?? "utf-8" } : encodeBytes(file.data);
  return file.mode === undefined ? content : { ...content, mode: file.mode };
}

/**
 * Aborts its signal when touch() has not been called for `ms` (0: never): a transfer may take as
 * long as it needs while bytes move, but not hang on a peer that went silent.
 */
export class IdleDeadline {
  private readonly controller = new AbortController();
  private timer?: NodeJS.Timeout;
  readonly signal: AbortSignal;

  constructor(readonly ms: number, outer?: AbortSignal) {
    this.signal = outer ? AbortSignal.any([outer, this.controller.signal]) : this.controller.signal;
    this.touch();
  }

  get expired(): boolean {
    return this.controller.signal.aborted;
  }

  touch(): void {
    clearTimeout(this.timer);
    if (this.ms > 0) this.timer = setTimeout(() => this.controller.abort(), this.ms);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/** A local file as a web stream, opened on the first read (so a stream never sent holds no descriptor). */
export function localFileStream(file: string, onChunk: () => void): ReadableStream<Uint8Array> {
  let chunks: AsyncIterator<Buffer> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      chunks ??= createReadStream(file)[Symbol.asyncIterator]();
      const { done, value } = await chunks.next();
      if (done) return controller.close();
      onChunk();
      controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    },
    async cancel() {
      await chunks?.return?.();
    },
  });
}

/** Bytes in memory as a web stream of 64 KiB slices, so a long upload counts as moving while it moves. */
export function bytesStream(bytes: Uint8Array, onChunk: () => void): ReadableStream<Uint8Array> {
  const sliceBytes = 64 * 1024;
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      onChunk();
      controller.enqueue(bytes.subarray(offset, offset + sliceBytes));
      offset += sliceBytes;
    },
  });
}

/** Reads a stream chunk by chunk, calling `onChunk` with each. */
export async function eachChunk(body: ReadableStream<Uint8Array>, onChunk: (chunk: Uint8Array) => void | Promise<void>): Promise<void> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      await onChunk(value);
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}
