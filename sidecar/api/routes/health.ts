/** /healthz (the process is up) and /readyz (the broker answers, with its flux-core version; else 503 with a reason that names no path). */
import type { ApiApp, ApiDeps } from "../deps";
import { publicBrokerReason } from "../errors";
import type { RouteOptions } from "../http";
import { jsonResponse } from "../json";

/** Unauthenticated (probes carry no credentials) and answered even on connections past the cap. */
const HEALTH: RouteOptions = { access: "public", reserve: true };

export function registerHealth(app: ApiApp, { service, metrics, log }: ApiDeps): void {
  app.get("/healthz", () => jsonResponse({ status: "ok" }), HEALTH);
  app.get("/readyz", async () => {
    try {
      const { fluxVersion } = await service.ready();
      metrics.brokerUp.set(1);
      return jsonResponse({ status: "ready", fluxVersion });
    } catch (err) {
      metrics.brokerUp.set(0);
      log.debug({ err: (err as Error).message }, "not ready");
      return jsonResponse({ status: "unavailable", reason: publicBrokerReason(err) }, 503);
    }
  }, HEALTH);
}
