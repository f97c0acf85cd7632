/** /healthz (the process is up) and /readyz (the broker answers, with its flux-core version; else 503 with the reason). */
import type { ApiApp, ApiDeps } from "../deps";
import { jsonResponse } from "../json";

export function registerHealth(app: ApiApp, { service, metrics }: ApiDeps): void {
  app.get("/healthz", () => jsonResponse({ status: "ok" }));
  app.get("/readyz", async () => {
    try {
      const { fluxVersion } = await service.ready();
      metrics.brokerUp.set(1);
      return jsonResponse({ status: "ready", uri: service.flux.uri, fluxVersion });
    } catch (err) {
      metrics.brokerUp.set(0);
      return jsonResponse({ status: "unavailable", reason: (err as Error).message, uri: service.flux.uri }, 503);
    }
  });
}
