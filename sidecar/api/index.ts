/**
 * The HTTP application: cross-cutting middleware (request logs and metrics, body limit, auth),
 * then one small module per route group over the shared service layer.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { routePath } from "hono/route";
import type { ApiApp, ApiDeps, ApiEnv } from "./deps";
import { errorResponse, notFound } from "./errors";
import { jsonResponse } from "./json";
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
  const { config, auth, log, metrics } = deps;
  const app = new Hono<ApiEnv>();

  app.onError((err, c) => errorResponse(err, log, c));
  app.notFound(() => notFound());

  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = routePath(c, -1) || "unmatched";
    const status = c.res.status;
    metrics.requests.inc({ method: c.req.method, route, status });
    metrics.duration.observe({ method: c.req.method, route }, seconds);
    if (status === 503) metrics.brokerUp.set(0);
    log.info({ method: c.req.method, path: c.req.path, status, ms: Math.round(seconds * 10000) / 10, user: c.get("user") }, "request");
  });

  app.use(
    "*",
    bodyLimit({
      maxSize: config.maxBodyBytes,
      onError: () => jsonResponse({ detail: `Request body too large (limit ${config.maxBodyBytes} bytes)` }, 413),
    }),
  );

  // Auth: every /v1 route and /metrics; the token routes and service/stop handle it themselves.
  const authenticate = auth.middleware();
  const guard: MiddlewareHandler<ApiEnv> = async (c, next) => {
    if (AUTH_FREE_V1.has(c.req.path) || c.req.path === "/v1/service/stop") return next();
    return authenticate(c, next);
  };
  app.use("/v1/*", guard);
  app.use("/metrics", guard);

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
