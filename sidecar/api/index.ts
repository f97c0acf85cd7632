/**
 * The HTTP application: cross-cutting middleware (request logs and metrics, body limit, auth),
 * then one small module per route group over the shared service layer.
 */
import type { ApiApp, ApiDeps } from "./deps";
import { errorResponse, notFound } from "./errors";
import { createListener, Router, type ApiRequest } from "./http";
import { registerCancel } from "./routes/cancel";
import { registerHealth } from "./routes/health";
import { registerJob } from "./routes/job";
import { registerJobs } from "./routes/jobs";
import { registerMetrics } from "./routes/metrics";
import { registerNodes } from "./routes/nodes";
import { registerOpenApi } from "./routes/openapi";
import { registerOutput } from "./routes/output";
import { registerService } from "./routes/service";
import { registerSubmit } from "./routes/submit";
import { registerToken } from "./routes/token";

/** Paths reachable without credentials even when auth is on (besides the web UI's shell and assets). */
const AUTH_FREE_V1 = new Set(["/v1/token", "/v1/login/access-token"]);

export function buildApi(deps: ApiDeps): ApiApp {
  const app = new Router();
  // Auth: every /v1 route and /metrics; the token routes and service/stop handle it themselves.
  const guard = async (req: ApiRequest) => {
    if (!AUTH_FREE_V1.has(req.path) && req.path !== "/v1/service/stop") await deps.auth.authenticate(req);
  };
  app.before("/v1", guard);
  app.before("/metrics", guard);

  registerToken(app, deps);
  registerService(app, deps);
  registerJobs(app, deps);
  registerSubmit(app, deps);
  registerOutput(app, deps);
  registerCancel(app, deps);
  registerJob(app, deps);
  registerNodes(app, deps);
  registerHealth(app, deps);
  registerMetrics(app, deps);
  registerOpenApi(app);
  return app;
}

/** The node:http request listener: request logs and metrics, the body limit, errors as JSON. */
export function apiListener(app: ApiApp, { config, log, metrics, shutdownSignal }: ApiDeps) {
  return createListener(app, {
    maxBodyBytes: config.maxBodyBytes,
    maxStreams: config.maxStreams,
    shutdownSignal,
    notFound,
    errorReply: (err, req) => errorResponse(err, log, req),
    replied(req, status, seconds) {
      metrics.requests.inc({ method: req.method, route: req.route, status });
      metrics.duration.observe({ method: req.method, route: req.route }, seconds);
      if (status === 503) metrics.brokerUp.set(0);
      log.info({ method: req.method, path: req.path, status, ms: Math.round(seconds * 10000) / 10, user: req.user }, "request");
    },
    streamOpened: () => metrics.openStreams.inc(),
    streamClosed: () => metrics.openStreams.dec(),
    streamFailed: (err) => log.warn({ err: (err as Error).message }, "stream ended by an error"),
  });
}
