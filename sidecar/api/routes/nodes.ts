/** GET /v1/nodes: the up nodes' host names (flux-restful-api). GET /v1/cluster: the full summary. */
import type { ApiApp, ApiDeps } from "../deps";
import { jsonResponse } from "../json";

export function registerNodes(app: ApiApp, { service }: ApiDeps): void {
  app.get("/v1/nodes", async () => jsonResponse(await service.nodes()));
  app.get("/v1/cluster", async () => jsonResponse(await service.cluster()));
}
