/**
 * GET /v1/jobs/{id}/output (an immediate snapshot), /output/stream (chunked text until the
 * output ends) and /output/events (the same as Server-Sent Events with stream and rank).
 */
import type { ApiApp, ApiDeps } from "../deps";
import { jsonResponse } from "../json";
import { sseEvent, sseResponse, streamResponse } from "../stream";

export function registerOutput(app: ApiApp, { service }: ApiDeps): void {
  app.get("/v1/jobs/:id/output", async (req) => jsonResponse(await service.outputSnapshot(req.params.id)));

  app.get("/v1/jobs/:id/output/stream", async (req) => {
    const id = await service.assertJobExists(req.params.id);
    return streamResponse(
      async function* (signal) {
        for await (const chunk of service.outputChunks(id, true, signal)) yield chunk.data;
      },
      { "content-type": "text/plain; charset=utf-8", "x-accel-buffering": "no" },
    );
  });

  app.get("/v1/jobs/:id/output/events", async (req) => {
    const id = await service.assertJobExists(req.params.id);
    return sseResponse(async function* (signal) {
      for await (const chunk of service.outputChunks(id, true, signal)) yield sseEvent("output", chunk);
      yield sseEvent("end", {});
    });
  });
}
