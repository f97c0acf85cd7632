/** POST /v1/jobs/{id}/cancel with the Python server's two messages. */
import type { ApiApp, ApiDeps } from "../deps";
import { jsonResponse } from "../json";

export function registerCancel(app: ApiApp, { service }: ApiDeps): void {
  app.post("/v1/jobs/:id/cancel", async (req) => {
    const { status, body } = await service.cancel(req.params.id);
    return jsonResponse(body, status);
  });
}
