/** GET /metrics in the Prometheus text format. */
import type { ApiApp, ApiDeps } from "../deps";

export function registerMetrics(app: ApiApp, { metrics }: ApiDeps): void {
  app.get("/metrics", async () => {
    const body = await metrics.registry.metrics();
    return { status: 200, headers: { "content-type": metrics.registry.contentType }, body };
  });
}
