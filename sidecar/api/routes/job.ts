/** GET /v1/jobs/{id} and its eventlog as Server-Sent Events (GET /v1/jobs/{id}/events). */
import type { ApiApp, ApiDeps } from "../deps";
import { jsonResponse } from "../json";
import { sseEvent, sseResponse } from "../stream";

export function registerJob(app: ApiApp, deps: ApiDeps): void {
  const { service } = deps;
  app.get("/v1/jobs/:id", async (c) => jsonResponse(await service.getJob(c.req.param("id"))));

  app.get("/v1/jobs/:id/events", async (c) => {
    const id = await service.assertJobExists(c.req.param("id"));
    return sseResponse(async function* (signal) {
      for await (const entry of service.flux.eventlog(id, { follow: true, signal })) {
        yield sseEvent("eventlog", { name: entry.name, timestamp: entry.timestamp, context: entry.context ?? {} });
      }
      yield sseEvent("end", {});
    }, deps, c.req.raw);
  });
}
