/**
 * The HTTP application: cross-cutting middleware (request logs and metrics, body limit, auth),
 * then one small module per route group over the shared service layer.
 */
import { requestLogger } from "../log";
import type { ApiApp, ApiDeps } from "./deps";
import { errorResponse, notFound } from "./errors";
import { createListener, Router, type ListenerOptions } from "./http";
import { registerCancel } from "./routes/cancel";
import { registerFiles } from "./routes/files";
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

export function buildApi(deps: ApiDeps): ApiApp {
  // Every route needs the user unless it is registered as public; service/stop needs the owner.
  const app = new Router((req, access) => deps.auth.authenticate(req, { required: access === "owner" }));

  registerToken(app, deps);
  registerService(app, deps);
  registerJobs(app, deps);
  registerSubmit(app, deps);
  registerOutput(app, deps);
  registerCancel(app, deps);
  registerJob(app, deps);
  registerNodes(app, deps);
  registerFiles(app, deps);
  registerHealth(app, deps);
  registerMetrics(app, deps);
  registerOpenApi(app);
  return app;
}

/** The node:http request listener: request logs and metrics, the body limit, errors as JSON. */
export function apiListener(app: ApiApp, { config, log, metrics, shutdownSignal }: ApiDeps, reserveOnly?: ListenerOptions["reserveOnly"]) {
  const requestLog = requestLogger(log);
  return createListener(app, {
    reserveOnly,
    maxBodyBytes: config.maxBodyBytes,
    maxStreams: config.maxStreams,
    shutdownSignal,
    notFound,
    errorReply: (err, req) => errorResponse(err, log, req),
    replied(req, status, seconds) {
      metrics.requests.inc({ method: req.method, route: req.route, status });
      metrics.duration.observe({ method: req.method, route: req.route }, seconds);
      if (status === 503) metrics.brokerUp.set(0);
      requestLog.info({ method: req.method, path: req.path, status, ms: Math.round(seconds * 10000) / 10, user: req.user }, "request");
    },
    streamOpened: () => metrics.openStreams.inc(),
    streamClosed: () => metrics.openStreams.dec(),
    streamFailed: (err) => log.warn({ err: (err as Error).message }, "stream ended by an error"),
  });
}
