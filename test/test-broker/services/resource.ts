/**
 * Resource status: resource.sched-status (since 0.61, so ENOSYS when emulating 0.55),
 * sched.resource-status (the scheduler's own, on every version) and resource.status.
 */
import type { WireServer } from "../server";
import type { ServiceContext } from "./context";

export function registerResource(server: WireServer, ctx: ServiceContext): void {
  const pool = ctx.instance.pool;
  if (ctx.versionCode >= 61) server.register("resource.sched-status", (req) => req.respond(pool.schedStatus()));
  server.register("sched.resource-status", (req) => req.respond(pool.schedStatus()));
  server.register("resource.status", (req) => req.respond(pool.status(ctx.versionCode >= 61)));
}
