/** GET /v1/nodes: the up nodes' host names. */
import type { ApiApp, ApiDeps } from "../deps";
import { jsonResponse } from "../json";

export function registerNodes(app: ApiApp, { service }: ApiDeps): void {
  app.get("/v1/nodes", async () => jsonResponse(await service.nodes()));
}
