/**
 * Streaming replies (chunked text and Server-Sent Events) fed by async iterators over broker
 * streams. The HTTP layer writes them and gives the iterator an AbortSignal that fires when the
 * client goes away or the server shuts down, so the broker-side watch is cancelled too.
 */
import type { Headers, Reply, StreamBody } from "./http";
import { toJson } from "./json";

export function streamResponse(produce: StreamBody["produce"], headers: Headers, extra: Omit<StreamBody, "produce"> = {}): Reply {
  return { status: 200, headers: { "cache-control": "no-cache", ...headers }, body: { produce, ...extra } };
}

export function sseEvent(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${toJson(data)}\n\n`;
}

export const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "x-accel-buffering": "no" };

/** A Server-Sent Events reply: keep-alive comments while idle, `event: error` if the source fails. */
export function sseResponse(produce: StreamBody["produce"]): Reply {
  return streamResponse(produce, SSE_HEADERS, {
    heartbeat: ": keep-alive\n\n",
    onError: (err) => sseEvent("error", { detail: (err as Error).message }),
  });
}
