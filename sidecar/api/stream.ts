/**
 * Streaming responses (chunked text and Server-Sent Events) fed by async iterators over broker
 * streams. The iterator gets an AbortSignal that fires when the client goes away or the server
 * shuts down, so the broker-side watch is cancelled too.
 */
import type { ApiDeps } from "./deps";
import { toJson } from "./json";

const encoder = new TextEncoder();
const HEARTBEAT_MS = 15_000;

export interface StreamOptions {
  deps: ApiDeps;
  request: Request;
  headers: Record<string, string>;
  /** Text between chunks while idle (SSE comment), keeps proxies from closing the connection. */
  heartbeat?: string;
  /**
   * Written when the source fails after the response started (SSE: an error event). Without it
   * the body is aborted, so a client of a plain chunked stream sees that it was cut short.
   */
  onError?: (err: unknown) => string;
}

export function streamResponse(produce: (signal: AbortSignal) => AsyncIterable<string>, opts: StreamOptions): Response {
  const abort = new AbortController();
  const { deps } = opts;
  const onShutdown = () => abort.abort();
  let timer: NodeJS.Timeout | undefined;
  const cleanup = () => {
    if (timer) clearInterval(timer);
    deps.shutdownSignal.removeEventListener("abort", onShutdown);
    opts.request.signal.removeEventListener("abort", onShutdown);
  };
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      deps.metrics.openStreams.inc();
      deps.shutdownSignal.addEventListener("abort", onShutdown, { once: true });
      opts.request.signal.addEventListener("abort", onShutdown, { once: true });
      let open = true;
      const write = (text: string) => {
        if (open) controller.enqueue(encoder.encode(text));
      };
      if (opts.heartbeat) timer = setInterval(() => write(opts.heartbeat!), HEARTBEAT_MS);
      const aborted = new Promise<"aborted">((resolve) => abort.signal.addEventListener("abort", () => resolve("aborted"), { once: true }));
      void (async () => {
        let failure: unknown;
        const iterator = produce(abort.signal)[Symbol.asyncIterator]();
        try {
          for (;;) {
            // A broker watch may not notice the abort at once: stop waiting for it here.
            const next = await Promise.race([iterator.next(), aborted]);
            if (next === "aborted" || next.done) break;
            write(next.value);
          }
        } catch (err) {
          if (!abort.signal.aborted) {
            deps.log.warn({ err: (err as Error).message }, "stream ended by an error");
            if (opts.onError) write(opts.onError(err));
            else failure = err;
          }
        } finally {
          open = false;
          cleanup();
          deps.metrics.openStreams.dec();
          void iterator.return?.().catch(() => undefined);
          try {
            if (failure) controller.error(failure);
            else controller.close();
          } catch {
            // already cancelled by the client
          }
        }
      })();
    },
    cancel() {
      abort.abort();
    },
  });
  return new Response(body, { status: 200, headers: { "cache-control": "no-cache", ...opts.headers } });
}

export function sseEvent(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${toJson(data)}\n\n`;
}

export const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "x-accel-buffering": "no" };

/** A Server-Sent Events response: keep-alive comments while idle, `event: error` if the source fails. */
export function sseResponse(produce: (signal: AbortSignal) => AsyncIterable<string>, deps: ApiDeps, request: Request): Response {
  return streamResponse(produce, {
    deps,
    request,
    headers: SSE_HEADERS,
    heartbeat: ": keep-alive\n\n",
    onError: (err) => sseEvent("error", { detail: (err as Error).message }),
  });
}
