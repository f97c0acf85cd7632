/** GET /v1/jobs/{id} and its eventlog as Server-Sent Events (GET /v1/jobs/{id}/events). */
import type { ApiApp, ApiDeps } from "../deps";
import { jsonResponse } from "../json";
import { sseEvent, sseResponse } from "../stream";

export function registerJob(app: ApiApp, { service }: ApiDeps): void {
  app.get("/v1/jobs/:id", async (req) => jsonResponse(await service.getJob(req.params.id)));

  app.get("/v1/jobs/:id/events", async (req) => {
    const id = await service.assertJobExists(req.params.id);
    return sseResponse(async function* (signal) {
      for await (const entry of service.flux.eventlog(id, { follow: true, signal })) {
        yield sseEvent("eventlog", { name: entry.name, timestamp: entry.timestamp, context: entry.context ?? {} });
      }
      yield sseEvent("end", {});
    });
  });
}
