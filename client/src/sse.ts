/** Server-sent events from a fetch body, parsed by eventsource-parser. */
import { EventSourceParserStream } from "eventsource-parser/stream";

export interface SseMessage {
  event?: string;
  id?: string;
  data: string;
}

/** Yields the messages; stopping early (return/throw) cancels the body. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const text = body.pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>);
  const reader = text.pipeThrough(new EventSourceParserStream()).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}
