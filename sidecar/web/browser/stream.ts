// Follows one of the API's event streams, reconnecting after a dropped connection.
import { request } from "./api";
import { isAbort, sleep } from "./app";
import { SseEvent, readEvents } from "./sse";

export interface FollowHandlers {
  /** Called before each (re)connection: a stream replays from the start, so clear what was shown. */
  onStart(): void;
  onEvent(event: SseEvent): void;
  /** The stream ended normally (`event: end`). */
  onEnd(): void;
  onError(err: unknown): void;
}

/** Follows `path` until `event: end`, the signal aborts, or a non-retryable error. */
export async function follow(path: string, signal: AbortSignal, handlers: FollowHandlers): Promise<void> {
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      const response = await request(path, { signal, accept: "text/event-stream" });
      handlers.onStart();
      if (!response.body) throw new Error("This browser cannot read streamed responses.");
      for await (const event of readEvents(response.body)) {
        if (event.event === "end") return handlers.onEnd();
        // The server failed mid-stream (e.g. lost the broker); it closes the stream next.
        if (event.event === "error") handlers.onError(new Error(streamErrorMessage(event.data)));
        else handlers.onEvent(event);
      }
      // The connection closed without `end`: reconnect below.
    } catch (err) {
      if (isAbort(err) || signal.aborted) return;
      handlers.onError(err);
      // 4xx answers will not change by retrying (a 401 is handled by the caller).
      const status = (err as { status?: number }).status;
      if (status !== undefined && status >= 400 && status < 500) return;
    }
    try {
      await sleep(Math.min(1000 * 2 ** attempt, 10000), signal);
    } catch {
      return;
    }
  }
}

function streamErrorMessage(data: string): string {
  try {
    const body = JSON.parse(data) as { detail?: unknown; message?: unknown };
    return String(body.detail ?? body.message ?? data);
  } catch {
    return data || "The stream failed.";
  }
}
