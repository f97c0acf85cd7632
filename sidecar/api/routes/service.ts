/** POST /v1/service/stop: superuser only (even with auth off, as in Python); answers, then shuts down. */
import type { ApiApp, ApiDeps } from "../deps";
import { jsonResponse } from "../json";

export function registerService(app: ApiApp, deps: ApiDeps): void {
  app.post("/v1/service/stop", (req) => {
    deps.log.info({ user: req.user }, "service stop requested");
    deps.requestStop();
    return jsonResponse({ Message: "The service is stopping." });
  }, { access: "owner" });
}
