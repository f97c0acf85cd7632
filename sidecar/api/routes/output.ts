/**
 * GET /v1/jobs/{id}/output (an immediate snapshot), /output/stream (chunked text until the
 * output ends) and /output/events (the same as Server-Sent Events with stream and rank).
 */
import type { ApiApp, ApiDeps } from "../deps";
import { jsonResponse } from "../json";
import { sseEvent, sseResponse, streamResponse } from "../stream";

export function registerOutput(app: ApiApp, deps: ApiDeps): void {
  const { service } = deps;
  app.get("/v1/jobs/:id/output", async (c) => jsonResponse(await service.outputSnapshot(c.req.param("id"))));

  app.get("/v1/jobs/:id/output/stream", async (c) => {
    const id = await service.assertJobExists(c.req.param("id"));
    return streamResponse(
      async function* (signal) {
        for await (const chunk of service.outputChunks(id, true, signal)) yield chunk.data;
      },
      { deps, request: c.req.raw, headers: { "content-type": "text/plain; charset=utf-8", "x-accel-buffering": "no" } },
    );
  });

  app.get("/v1/jobs/:id/output/events", async (c) => {
    const id = await service.assertJobExists(c.req.param("id"));
    return sseResponse(async function* (signal) {
      for await (const chunk of service.outputChunks(id, true, signal)) yield sseEvent("output", chunk);
      yield sseEvent("end", {});
    }, deps, c.req.raw);
  });
}
